"""GPT-Live side by side: connect time against openai-python, model cost per event against
Realtime's.

    PYTHONPATH=machines:sdk .venv/bin/python bench/live.py [--runs 21] [--repeat 50]

1. Live WebSocket connect time. ``RealtimeClient(api="live", transport="websocket")
   .connect()`` (it returns when the Connection chart reaches ``connected``: the socket is
   open, ``session.start`` was sent and ``session.started`` arrived, the silence pump running)
   against the official client: ``AsyncOpenAI(...).live.connect()`` entered,
   ``session.start`` sent and the first ``recv()`` (the ``session.started``). Interleaved in
   one run against the same emulator (127.0.0.1), the order alternating; both clients are built
   before the clock starts, both use the API key as the bearer; closing is not timed. Prints
   both medians and the ratio.

2. Model cost per event on comparable traffic: the same scripted conversation (a greeting, an
   answer streamed in deltas, a tool round, a goodbye) recorded as a Realtime trace
   (``realtime demo`` in memory) and as a GPT-Live trace (``realtime demo --api live`` over
   WebSocket; its output audio deltas left out, as a Realtime text session has none), each
   replayed ``--repeat`` times through a fresh ``SessionModel`` / ``LiveSessionModel``
   (events pre-parsed; ``receive`` for received events, ``send`` for sent ones). Prints the
   median µs per event of each and the ratio (Live / Realtime).

Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import time
from typing import Any

from openai import AsyncOpenAI

from realtime_machines.live import LiveSessionModel
from realtime_machines.session import SessionModel
from realtime_sdk import RealtimeClient
from realtime_sdk.cli.demo import run_demo
from realtime_sdk.cli.demo_live import run_live_demo
from realtime_sdk.emulator import Emulator


async def connect_ours(emu: Emulator) -> float:
    client = RealtimeClient(
        api="live",
        api_key=emu.api_key,
        base_url=emu.base_url,
        transport="websocket",
        session={"model": "gpt-live-1.1"},
    )
    start = time.perf_counter()
    await client.connect()
    elapsed = time.perf_counter() - start
    await client.disconnect()
    return elapsed


async def connect_official(emu: Emulator, openai: AsyncOpenAI) -> float:
    start = time.perf_counter()
    manager = openai.live.connect()
    conn = await manager.enter()
    await conn.session.start(session={"model": "gpt-live-1.1"})
    first = json.loads(await conn.recv_bytes())
    elapsed = time.perf_counter() - start
    assert first["type"] == "session.started", first
    await conn.session.close()
    await conn.close()
    return elapsed


async def connect_times(runs: int) -> tuple[list[float], list[float]]:
    ours: list[float] = []
    official: list[float] = []
    async with Emulator() as emu:
        openai = AsyncOpenAI(api_key=emu.api_key, base_url=emu.openai_base_url, max_retries=0)
        try:
            await connect_ours(emu)  # warm both paths (imports, first sockets)
            await connect_official(emu, openai)
            for index in range(runs):
                if index % 2:
                    official.append(await connect_official(emu, openai))
                    ours.append(await connect_ours(emu))
                else:
                    ours.append(await connect_ours(emu))
                    official.append(await connect_official(emu, openai))
        finally:
            await openai.close()
    return ours, official


def trace_lines(text: str, *, drop: frozenset[str] = frozenset()) -> list[tuple[str, Any]]:
    lines = []
    for line in text.splitlines():
        entry = json.loads(line)
        if entry["data"].get("type") in drop:
            continue
        lines.append((entry["direction"], entry["data"]))
    return lines


def per_event_us(lines: list[tuple[str, Any]], make: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        model = make()
        start = time.perf_counter()
        for direction, event in lines:
            if direction == "sent":
                model.send(event)
            else:
                model.receive(event)
        samples.append((time.perf_counter() - start) / len(lines) * 1e6)
    return statistics.median(samples)


async def traces() -> tuple[str, str]:
    realtime, live = io.StringIO(), io.StringIO()
    result = await run_demo(trace=realtime, transport="memory", delta_delay_s=0.0)
    assert result.ok, result.checks
    live_result = await run_live_demo(trace=live, transport="websocket")
    assert live_result.ok, live_result.checks
    return realtime.getvalue(), live.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    ours, official = asyncio.run(connect_times(args.runs))
    ours_ms, official_ms = statistics.median(ours) * 1e3, statistics.median(official) * 1e3
    print(f"1. Live WebSocket connect, median of {args.runs} (127.0.0.1)")
    print(f"   RealtimeClient(api='live')   {ours_ms:7.2f} ms")
    print(f"   openai client.live.connect   {official_ms:7.2f} ms")
    print(f"   ratio ours / official        {ours_ms / official_ms:7.2f}")

    realtime_text, live_text = asyncio.run(traces())
    realtime = trace_lines(realtime_text)
    live = trace_lines(live_text, drop=frozenset({"session.output_audio.delta"}))
    realtime_us = per_event_us(
        realtime, lambda: SessionModel(record_limit=None, settled_limit=None), args.repeat
    )
    live_us = per_event_us(
        live, lambda: LiveSessionModel(record_limit=None, settled_limit=None), args.repeat
    )
    print(f"\n2. Model cost per event, median of {args.repeat} replays")
    print(f"   SessionModel      {len(realtime):4d} events  {realtime_us:7.1f} µs/event")
    print(f"   LiveSessionModel  {len(live):4d} events  {live_us:7.1f} µs/event")
    print(f"   ratio Live / Realtime         {live_us / realtime_us:7.2f}")


if __name__ == "__main__":
    main()
