"""Transports side by side: WebSocket connect vs openai-python, event latency, feature wall time.

    PYTHONPATH=machines:sdk .venv/bin/python bench/transports.py [--runs 21] [--words 300]
        [--rounds 3] [--suite-rounds 5]

1. WebSocket connect time. ``RealtimeClient(transport="websocket").connect()`` (returns when
   the Connection chart reaches ``connected``, i.e. once ``session.created`` has arrived)
   against the official openai-python client, ``AsyncOpenAI(...).realtime.connect(model=...)``
   entered and its first ``recv()`` (the ``session.created``), interleaved in one run against
   the same emulator (127.0.0.1), the order alternating. Both clients are built before the
   clock starts (as an app builds them once) and both use the API key directly as the bearer.
   Closing is not timed. Prints both medians and the ratio (the goal is ≤ 1.0).

2. Latency per incoming event, from the first SDK code that sees the event's text to a
   ``client.on("assistant:delta")`` handler, on each transport: WebRTC — aiortc's DataChannel
   ``message`` callback (``Peer._message``); WebSocket — ``WebSocketTransport._deliver``, called
   with each text frame aiohttp read; memory — ``MemoryTransport._sink``, called with the text
   the emulator's engine serialised (so the memory figure includes the transport's hop to the
   event loop). Each is wrapped (class attribute) to note ``perf_counter_ns()``; messages are
   handled in arrival order, so the n-th ``response.output_text.delta`` pairs with the n-th
   notice. One delta per word of a ``--words``-word answer, paced 5 ms apart, then unpaced.
   The emulator shares this process and event loop: upper bounds. Median and p99.

3. Feature scenarios' wall time per transport. Five scenarios in the manner of the client
   feature tests, each set up and torn down as a test does (an emulator started and stopped
   per scenario on WebRTC and WebSocket; a fresh ``MemoryTransport`` in memory): connect and
   disconnect; a text answer (``ask``); three turns in a row; a tool call with its follow-up
   answer; a long answer cancelled mid-stream (deltas paced 5 ms apart on every transport).
   Each round runs the set once per transport (order rotating); prints the median of
   ``--suite-rounds`` rounds and memory's ratio to each loopback transport.

   With ``--pytest PATH [--pytest PATH ...]``, also the test suite itself: ``python -m pytest
   PATH... -k <transport>`` in a subprocess per transport (the client feature tests are
   parametrised by transport, so ``-k memory`` selects the in-memory runs), interleaved,
   ``--suite-rounds`` rounds, median wall time per transport (interpreter start and
   collection included, the same for each).

127.0.0.1 only (``iceServers=[]``, loopback ICE host candidates). Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from realtime_machines import AssistantCompleted, AssistantDelta
from realtime_sdk import peer as peer_module
from realtime_sdk.cli.demo import (
    STORY,
    STORY_REQUEST,
    WEATHER_QUESTION,
    WEATHER_TOOL,
    DemoBrain,
    demo_weather,
    embedded_wire,
)
from realtime_sdk.client import RealtimeClient
from realtime_sdk.config import DEFAULTS
from realtime_sdk.emulator import Emulator, Faults, loopback_ice
from realtime_sdk.transports.memory import MemoryTransport
from realtime_sdk.transports.websocket import WebSocketTransport

TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}
MODEL = str(DEFAULTS["model"])
TRANSPORTS = ("webrtc", "websocket", "memory")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ------------------------------------------------------------------------------------------
# 1. WebSocket connect: RealtimeClient vs openai-python
# ------------------------------------------------------------------------------------------


async def time_sdk(emu: Emulator) -> float:
    api_key = emu.api_key
    client = RealtimeClient(
        token_provider=lambda: api_key,
        base_url=emu.base_url,
        transport="websocket",
        model=MODEL,
        greet_enabled=False,
        session=TEXT_ONLY,
    )
    t0 = time.perf_counter()
    await client.connect()
    elapsed = time.perf_counter() - t0
    await client.disconnect()
    return elapsed * 1000


async def time_openai(oai: AsyncOpenAI) -> float:
    manager = oai.realtime.connect(model=MODEL)
    t0 = time.perf_counter()
    connection = await manager.enter()
    first = await connection.recv()
    elapsed = time.perf_counter() - t0
    await connection.close()
    assert first.type == "session.created", first.type
    return elapsed * 1000


async def connect_bench(runs: int) -> tuple[float, float]:
    sdk: list[float] = []
    official: list[float] = []
    async with Emulator() as emu:
        oai = AsyncOpenAI(api_key=emu.api_key, base_url=f"{emu.base_url}/v1")
        try:
            await time_sdk(emu)  # warm-up both paths
            await time_openai(oai)
            for i in range(runs):
                # Alternate which goes first, so neither always follows the other's teardown.
                if i % 2 == 0:
                    await emu.wait_idle()
                    sdk.append(await time_sdk(emu))
                await emu.wait_idle()
                official.append(await time_openai(oai))
                if i % 2 == 1:
                    await emu.wait_idle()
                    sdk.append(await time_sdk(emu))
        finally:
            await oai.close()
    return statistics.median(sdk), statistics.median(official)


# ------------------------------------------------------------------------------------------
# 2. Per-event latency, first SDK code that sees the text -> handler
# ------------------------------------------------------------------------------------------

#: Per transport: the class and method that first see an incoming event's text (its first
#: argument after ``self``).
ENTRY_POINTS: dict[str, tuple[type, str]] = {
    "webrtc": (peer_module.Peer, "_message"),
    "websocket": (WebSocketTransport, "_deliver"),
    "memory": (MemoryTransport, "_sink"),
}


async def latency_bench(transport: str, words: int, rounds: int, delay_s: float) -> list[float]:
    """Microseconds from the transport's entry point to ``assistant:delta`` handler, per delta."""
    arrivals: list[tuple[int, str]] = []
    cls, name = ENTRY_POINTS[transport]
    original: Any = getattr(cls, name)

    def timed(self: Any, message: Any, *rest: Any) -> Any:
        arrivals.append((time.perf_counter_ns(), message if isinstance(message, str) else ""))
        return original(self, message, *rest)

    handled: list[int] = []
    setattr(cls, name, timed)
    try:
        # The emulator's default brain echoes the question: one delta per word.
        async with embedded_wire(transport, None, Faults(delta_delay_s=delay_s)) as (
            _where,
            options,
        ):
            client = RealtimeClient(
                **options, ice_servers=[], greet_enabled=False, session=TEXT_ONLY
            )
            client.on("assistant:delta", lambda _n: handled.append(time.perf_counter_ns()))
            async with client:
                question = " ".join(f"w{i}" for i in range(words))
                for _ in range(rounds):
                    await client.ask(question, timeout=120)
    finally:
        setattr(cls, name, original)
    delta_arrivals = [t for t, text in arrivals if '"response.output_text.delta"' in text]
    assert len(delta_arrivals) == len(handled), (len(delta_arrivals), len(handled))
    return [(h - a) / 1000 for a, h in zip(delta_arrivals, handled, strict=True)]


# ------------------------------------------------------------------------------------------
# 3. Feature scenarios' wall time per transport
# ------------------------------------------------------------------------------------------

Scenario = Callable[[RealtimeClient], Awaitable[None]]


async def connect_only(client: RealtimeClient) -> None:
    assert client.status == "connected"


async def one_answer(client: RealtimeClient) -> None:
    answer = await client.ask("What is the capital of France?")
    assert "Paris" in answer.text


async def three_turns(client: RealtimeClient) -> None:
    for _ in range(3):
        await client.ask("What is the capital of France?")


async def tool_round(client: RealtimeClient) -> None:
    answer = await client.ask(WEATHER_QUESTION)
    assert "sunny" in answer.text, answer.text


async def cancel_mid_stream(client: RealtimeClient) -> None:
    streamed, ended = asyncio.Event(), asyncio.Event()
    deltas: list[str] = []

    def on_delta(notice: AssistantDelta) -> None:
        deltas.append(notice.delta)
        if len(deltas) >= 3:
            streamed.set()

    def on_completed(notice: AssistantCompleted) -> None:
        if notice.response_status == "cancelled":
            ended.set()

    client.on(AssistantDelta.name, on_delta)
    client.on(AssistantCompleted.name, on_completed)
    await client.send_text_message(STORY_REQUEST)
    async with asyncio.timeout(30):
        await streamed.wait()
    await client.cancel_response()
    async with asyncio.timeout(30):
        await ended.wait()
    assert len("".join(deltas)) < len(STORY)


SCENARIOS: dict[str, tuple[Scenario, float]] = {
    "connect/disconnect": (connect_only, 0.0),
    "one answer": (one_answer, 0.0),
    "three turns": (three_turns, 0.0),
    "tool call + follow-up": (tool_round, 0.0),
    "cancel mid-stream": (cancel_mid_stream, 0.005),
}


async def run_scenario(transport: str, scenario: Scenario, delay_s: float) -> None:
    async with embedded_wire(transport, DemoBrain(), Faults(delta_delay_s=delay_s)) as (
        _where,
        options,
    ):
        client = RealtimeClient(
            **options,
            ice_servers=[],
            greet_enabled=False,
            session={**TEXT_ONLY, "tools": [WEATHER_TOOL]},
            on_tool_call=demo_weather,
        )
        async with asyncio.timeout(60), client:
            await scenario(client)


async def suite_once(transport: str) -> dict[str, float]:
    """Seconds per scenario (and ``"total"``) for one run of the set on ``transport``."""
    times: dict[str, float] = {}
    for label, (scenario, delay) in SCENARIOS.items():
        t0 = time.perf_counter()
        await run_scenario(transport, scenario, delay)
        times[label] = time.perf_counter() - t0
    times["total"] = sum(times.values())
    return times


async def suite_bench(rounds: int) -> dict[str, dict[str, float]]:
    """Per transport, per scenario: the median seconds over ``rounds`` interleaved rounds."""
    for transport in TRANSPORTS:  # warm-up: imports, first connections
        await suite_once(transport)
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in TRANSPORTS}
    for i in range(rounds):
        order = TRANSPORTS[i % 3 :] + TRANSPORTS[: i % 3]
        for transport in order:
            runs[transport].append(await suite_once(transport))
    labels = [*SCENARIOS, "total"]
    return {
        t: {label: statistics.median(r[label] for r in runs[t]) for label in labels}
        for t in TRANSPORTS
    }


def pytest_bench(paths: list[str], rounds: int) -> dict[str, tuple[float, str]]:
    """Per transport: median seconds of ``pytest PATHS -k transport`` and its last summary."""
    runs: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    summaries: dict[str, str] = {}
    for i in range(rounds):
        order = TRANSPORTS[i % 3 :] + TRANSPORTS[: i % 3]
        for transport in order:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            t0 = time.perf_counter()
            done = subprocess.run(
                [*command, *paths, "-k", transport],
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
            runs[transport].append(time.perf_counter() - t0)
            lines = done.stdout.strip().splitlines()
            summaries[transport] = lines[-1] if lines else f"exit {done.returncode}"
    return {t: (statistics.median(runs[t]), summaries[t]) for t in TRANSPORTS}


def print_pytest_bench(paths: list[str], rounds: int) -> None:
    figures = pytest_bench(paths, rounds)
    print(f"pytest {' '.join(paths)} -k TRANSPORT, wall time, median of {rounds} rounds (s)")
    for transport, (seconds, summary) in figures.items():
        print(f"  {transport:9s} {seconds:7.2f}   ({summary})")
    memory = figures["memory"][0]
    print(
        f"  memory / webrtc {memory / figures['webrtc'][0]:.3f}   "
        f"memory / websocket {memory / figures['websocket'][0]:.3f}"
    )


async def main(args: argparse.Namespace) -> None:
    with loopback_ice():
        sdk_ms, official_ms = await connect_bench(args.runs)
        ratio = sdk_ms / official_ms
        print(f"WebSocket connect to session.created, median of {args.runs} interleaved runs (ms)")
        print(
            f"  RealtimeClient {sdk_ms:7.2f}   openai-python realtime.connect {official_ms:7.2f}"
            f"   ratio {ratio:5.2f} (goal <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'})"
        )
        print("latency, first SDK code that sees the event -> client.on('assistant:delta') (µs)")
        for transport in TRANSPORTS:
            for label, delay in (("paced 5 ms", 0.005), ("burst", 0.0)):
                lat = await latency_bench(transport, args.words, args.rounds, delay)
                print(
                    f"  {transport:9s} {label:10s} n={len(lat):5d}   "
                    f"median {statistics.median(lat):7.0f}   p99 {percentile(lat, 0.99):7.0f}"
                    f"   max {max(lat):7.0f}"
                )
        medians = await suite_bench(args.suite_rounds)
        print(f"feature scenarios, wall time, median of {args.suite_rounds} rounds (ms)")
        print(f"  {'scenario':24s}" + "".join(f"{t:>11s}" for t in TRANSPORTS))
        for label in medians["memory"]:
            row = "".join(f"{medians[t][label] * 1000:11.1f}" for t in TRANSPORTS)
            print(f"  {label:24s}{row}")
        total = {t: medians[t]["total"] for t in TRANSPORTS}
        print(
            f"  memory / webrtc {total['memory'] / total['webrtc']:.3f}   "
            f"memory / websocket {total['memory'] / total['websocket']:.3f}"
        )


def load_average(when: str) -> None:
    print(f"load average at {when}: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suite-rounds", type=int, default=5)
    parser.add_argument("--pytest", action="append", default=[], metavar="PATH")
    parser.add_argument("--skip-scripted", action="store_true", help="only the --pytest runs")
    ns = parser.parse_args()
    load_average("start")
    if not ns.skip_scripted:
        asyncio.run(main(ns))
    if ns.pytest:
        print_pytest_bench(ns.pytest, ns.suite_rounds)
    load_average("end")
