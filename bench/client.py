"""RealtimeClient overhead: connect time vs a bare aiortc client, and per-event latency.

    PYTHONPATH=machines:sdk .venv/bin/python bench/client.py [--runs 15] [--words 300]

1. Connect time. ``RealtimeClient.connect()`` (returns when the Connection chart reaches
   ``connected``, i.e. the ``oai-events`` channel is open) against the bare aiortc client
   the emulator bench uses (``realtime_sdk.emulator.testing.RtcClient``: offer → POST
   ``/v1/realtime/calls`` → answer → channel open), interleaved in one run against the same
   emulator. Both get the same work: a sendrecv audio transceiver with a silent
   ``SpeechTrack`` as the microphone, the API key used directly as the bearer (no
   ``client_secrets`` round trip), ``iceServers=[]``. The client additionally runs its charts,
   its connect-step tasks and timers, and queues ``session.update`` on connect (the greeting is
   off, as in the bare client). Prints both medians and the ratio (the target is ≤ 1.2).

2. Added latency per incoming event, DataChannel → ``client.on("assistant:delta")`` handler.
   ``Peer._message`` is aiortc's ``message`` callback for the channel — the first Python code
   that sees a message. The bench wraps it (class attribute, before the client creates its
   peer) to note ``perf_counter_ns()`` and the text of each message; the handler notes the time
   each delta notice arrives. Messages are handled strictly in arrival order, so the n-th
   ``response.output_text.delta`` message pairs with the n-th ``assistant:delta`` notice;
   the difference is everything the SDK adds: the inbox queue and its consumer task, JSON
   parsing, the model (normalisation, accumulators, chat projection), effect draining and the
   notice dispatch. Network time is excluded by construction. The emulator streams one delta
   per word of a ``--words``-word answer, paced 5 ms apart (≈ 200 events/s, above what OpenAI
   streams), and again with no pacing (``delta_delay_s=0``: the emulator only yields between
   deltas). The emulator shares this process and event loop, so its work interleaves with the
   client's and the figures are an upper bound. Median and p99 over all deltas of ``--rounds``
   answers.

127.0.0.1 only (``iceServers=[]``, loopback ICE host candidates). Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from realtime_sdk import peer as peer_module
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, Faults, loopback_ice
from realtime_sdk.emulator.audio import SpeechTrack
from realtime_sdk.emulator.testing import RtcClient

TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}


def make_client(emu: Emulator, **kwargs: Any) -> RealtimeClient:
    api_key = emu.api_key
    return RealtimeClient(
        token_provider=lambda: api_key,
        base_url=emu.base_url,
        ice_servers=[],
        greet_enabled=False,
        session=TEXT_ONLY,
        microphone=SpeechTrack,
        **kwargs,
    )


async def time_sdk(emu: Emulator) -> float:
    client = make_client(emu)
    t0 = time.perf_counter()
    await client.connect()
    elapsed = time.perf_counter() - t0
    await client.disconnect()
    return elapsed * 1000


async def time_bare(emu: Emulator) -> float:
    t0 = time.perf_counter()
    bare = await RtcClient.connect(emu.base_url, emu.api_key, wait_open=True)
    elapsed = time.perf_counter() - t0
    await bare.close()
    return elapsed * 1000


async def connect_bench(runs: int) -> tuple[float, float]:
    sdk: list[float] = []
    bare: list[float] = []
    async with Emulator() as emu:
        await time_sdk(emu)  # warm-up both paths
        await time_bare(emu)
        for i in range(runs):
            # Alternate which goes first, so neither always follows the other's teardown.
            order = (time_sdk, time_bare) if i % 2 == 0 else (time_bare, time_sdk)
            for timer in order:
                await emu.wait_idle()
                (sdk if timer is time_sdk else bare).append(await timer(emu))
    return statistics.median(sdk), statistics.median(bare)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency_bench(words: int, rounds: int, delay_s: float) -> list[float]:
    """Microseconds from DataChannel message to ``assistant:delta`` handler, per delta."""
    arrivals: list[tuple[int, str]] = []
    original: Any = peer_module.Peer._message

    def timed(self: Any, message: str | bytes) -> None:
        arrivals.append((time.perf_counter_ns(), message if isinstance(message, str) else ""))
        original(self, message)

    handled: list[int] = []
    peer_module.Peer._message = timed  # type: ignore[method-assign]
    try:
        async with Emulator(faults=Faults(delta_delay_s=delay_s)) as emu:
            client = make_client(emu)
            client.on("assistant:delta", lambda _n: handled.append(time.perf_counter_ns()))
            done: asyncio.Queue[object] = asyncio.Queue()
            client.on("assistant:completed", done.put_nowait)
            async with client:
                question = " ".join(f"w{i}" for i in range(words))
                for _ in range(rounds):
                    await client.send_text_message(question)
                    await asyncio.wait_for(done.get(), 60)
    finally:
        peer_module.Peer._message = original  # type: ignore[method-assign]
    delta_arrivals = [t for t, text in arrivals if '"response.output_text.delta"' in text]
    assert len(delta_arrivals) == len(handled), (len(delta_arrivals), len(handled))
    return [(h - a) / 1000 for a, h in zip(delta_arrivals, handled, strict=True)]


async def main(args: argparse.Namespace) -> None:
    with loopback_ice():
        sdk_ms, bare_ms = await connect_bench(args.runs)
        ratio = sdk_ms / bare_ms
        verdict = "met" if ratio <= 1.2 else "NOT met"
        print(f"connect to channel open, median of {args.runs} interleaved runs (ms)")
        print(f"  RealtimeClient {sdk_ms:7.1f}   bare aiortc {bare_ms:7.1f}   ratio {ratio:5.2f}")
        print(f"  required ratio <= 1.2: {verdict}")
        print("added latency, DataChannel message -> client.on('assistant:delta') handler (µs)")
        for label, delay in (("paced 5 ms", 0.005), ("burst", 0.0)):
            lat = await latency_bench(args.words, args.rounds, delay)
            print(
                f"  {label:10s} n={len(lat):5d}   median {statistics.median(lat):7.0f}   "
                f"p99 {percentile(lat, 0.99):7.0f}   max {max(lat):7.0f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
