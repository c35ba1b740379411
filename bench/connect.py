"""Connect time against the emulator vs a bare aiortc peer pair; real-time audio capacity.

    PYTHONPATH=machines:sdk python bench/connect.py [--runs 10] [--levels 1,2,4,6,8] [--window 5]

1. Offer → DataChannel open → first event: the emulator (``POST /v1/realtime/calls``, answered
   by the emulator, ``session.created`` on open) and, interleaved in the same run, a bare aiortc
   answerer behind a minimal aiohttp endpoint that sends one JSON message on open. Both run in
   this process; prints both medians and their ratio.
2. Concurrent full-duplex WebRTC sessions: the emulator runs in a child process; for each level
   N, N clients connect, the emulator speaks to each continuously while each client sends mic
   frames; over the window, frames more than 20 ms late on either side are counted. Real time =
   fewer than 1 % late frames.

127.0.0.1 only (iceServers=[], loopback ICE host candidates).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from realtime_sdk.emulator import Emulator, loopback_ice, rtc_configuration, serve
from realtime_sdk.emulator.audio import SpeechTrack
from realtime_sdk.emulator.testing import RtcClient


async def _time_client(base_url: str, key: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    client = await RtcClient.connect(base_url, key, wait_open=True)
    t_open = time.perf_counter() - t0
    await client.next(timeout=10)
    t_first = time.perf_counter() - t0
    await client.close()
    return t_open * 1000, t_first * 1000


def _bare_app(peers: set[RTCPeerConnection]) -> web.Application:
    async def offer(request: web.Request) -> web.Response:
        pc = RTCPeerConnection(rtc_configuration())
        peers.add(pc)

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            def hello() -> None:
                channel.send(json.dumps({"type": "session.created"}))

            if channel.readyState == "open":
                hello()
            else:
                channel.on("open", hello)

        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        pc.addTrack(SpeechTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": "/v1/realtime/calls/bare"},
        )

    app = web.Application()
    app.router.add_post("/v1/realtime/calls", offer)
    return app


async def connect_bench(runs: int) -> None:
    peers: set[RTCPeerConnection] = set()
    runner = web.AppRunner(_bare_app(peers), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    bare_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    emu_open: list[float] = []
    emu_first: list[float] = []
    bare_open: list[float] = []
    bare_first: list[float] = []
    try:
        async with Emulator() as emu:
            await _time_client(emu.base_url, emu.api_key)  # warm-up both paths
            await _time_client(bare_url, "x")
            for _ in range(runs):
                o, f = await _time_client(emu.base_url, emu.api_key)
                emu_open.append(o)
                emu_first.append(f)
                o, f = await _time_client(bare_url, "x")
                bare_open.append(o)
                bare_first.append(f)
                for pc in list(peers):
                    await pc.close()
                    peers.discard(pc)
    finally:
        for pc in list(peers):
            await pc.close()
        await runner.cleanup()
    e_open, e_first = statistics.median(emu_open), statistics.median(emu_first)
    b_open, b_first = statistics.median(bare_open), statistics.median(bare_first)
    print(f"connect, median of {runs} (ms)     emulator   bare pair   ratio")
    for label, emu_ms, bare_ms in (
        ("offer -> DataChannel open", e_open, b_open),
        ("offer -> first event", e_first, b_first),
    ):
        print(f"  {label:28s} {emu_ms:8.1f}   {bare_ms:9.1f}   {emu_ms / bare_ms:5.2f}")


async def _stats(base_url: str) -> dict[str, int]:
    async with aiohttp.ClientSession() as http, http.get(base_url + "/emulator/stats") as r:
        return dict(await r.json())


async def capacity_level(
    base_url: str, key: str, n: int, window: float
) -> tuple[float, float, float]:
    clients = [await RtcClient.connect(base_url, key) for _ in range(n)]
    try:
        long_text = "This is a long answer that keeps the assistant talking. " * 20
        for c in clients:
            await c.wait_for("session.created")
            c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                }
            )
            c.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": long_text}],
                    },
                }
            )
            c.send({"type": "response.create"})
        for c in clients:
            await c.wait_for("output_audio_buffer.started", timeout=10)
        await asyncio.sleep(1.0)  # warm-up (bench, not a test)
        s0 = await _stats(base_url)
        c0 = [(c.mic.frames_sent, c.mic.late_frames) for c in clients]
        r0 = sum(c.sink.frames for c in clients if c.sink is not None)
        await asyncio.sleep(window)
        s1 = await _stats(base_url)
        c1 = [(c.mic.frames_sent, c.mic.late_frames) for c in clients]
        r1 = sum(c.sink.frames for c in clients if c.sink is not None)
        delivered = (r1 - r0) / (n * 50 * window)
        emu_frames = s1["frames_sent"] - s0["frames_sent"]
        emu_late = s1["late_frames"] - s0["late_frames"]
        cli_frames = sum(b[0] - a[0] for a, b in zip(c0, c1, strict=True))
        cli_late = sum(b[1] - a[1] for a, b in zip(c0, c1, strict=True))
        return emu_late / max(1, emu_frames), cli_late / max(1, cli_frames), delivered
    finally:
        for c in clients:
            await c.close()


async def capacity_bench(levels: list[int], window: float) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        base_url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        print("concurrent full-duplex sessions (emulator in a child process)")
        print("  sessions   emulator late >20ms   client mic late >20ms   delivered   real time")
        for n in levels:
            emu_late, cli_late, delivered = await capacity_level(base_url, "sk-emulator", n, window)
            ok = "yes" if emu_late < 0.01 and cli_late < 0.01 and delivered > 0.99 else "no"
            print(f"  {n:8d}   {emu_late:18.2%}   {cli_late:20.2%}   {delivered:9.1%}   {ok}")
    finally:
        proc.send_signal(signal.SIGINT)  # serve() shuts down cleanly on KeyboardInterrupt
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _serve_child() -> None:
    def ready(url: str) -> None:
        print(url, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(port=0, ready=ready))


async def main(args: argparse.Namespace) -> None:
    with loopback_ice():
        await connect_bench(args.runs)
        levels = [int(x) for x in args.levels.split(",") if x]
        if levels:
            await capacity_bench(levels, args.window)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--levels", default="1,2,4,6,8")
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        _serve_child()
    else:
        asyncio.run(main(ns))
