"""``serve()``: what the CLI runs — ready callback first, clean shutdown on cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

from realtime_sdk.emulator import loopback_ice_enabled, serve
from realtime_sdk.emulator.testing import RtcClient, WsClient

Runner = Any


def test_serve_reports_url_and_shuts_down_cleanly(run: Runner) -> None:
    async def main() -> None:
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve(port=0, api_key="sk-cli", ready=ready.set_result))
        base_url = await asyncio.wait_for(ready, 10)
        assert base_url.startswith("http://127.0.0.1:")
        rtc = await RtcClient.connect(base_url, "sk-cli")
        ws = await WsClient.connect(base_url, "sk-cli")
        await rtc.wait_for("session.created")
        await ws.wait_for("session.created")
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await asyncio.wait_for(rtc.disconnected.wait(), 5)  # the emulator closed its peer
        await asyncio.wait_for(ws.closed.wait(), 5)
        assert ws.close_code == 1001
        await rtc.close()
        await ws.close()
        assert not loopback_ice_enabled()

    run(main())
