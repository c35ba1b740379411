"""Each injectable fault, observed from a client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from realtime_sdk.emulator import FAULTS_HEADER, Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.testing import RtcClient, WsClient
from tests.emulator.kit import user_text

Runner = Any


def test_refuse_token(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(faults=Faults(refuse_token=503)) as emu,
            aiohttp.ClientSession() as http,
            http.post(
                emu.base_url + "/v1/realtime/client_secrets",
                json={"session": {"type": "realtime"}},
                headers={"Authorization": f"Bearer {emu.api_key}"},
            ) as r,
        ):
            assert r.status == 503
            body = await r.json()
            assert body["error"]["type"] == "server_error"

    run(main())


def test_fail_calls_per_request_header(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            header = {FAULTS_HEADER: Faults(calls_status=500).to_header()}
            with pytest.raises(RuntimeError, match="→ 500"):
                await RtcClient.connect(emu.base_url, emu.api_key, headers=header)
            assert emu.calls == {}
            # Other requests are unaffected: the fault was for that call only.
            async with await RtcClient.connect(emu.base_url, emu.api_key) as ok:
                await ok.wait_for("session.created")

    run(main())


def test_stall_calls_until_client_gives_up(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(stall_calls=True)) as emu:
            with pytest.raises(TimeoutError):
                await RtcClient.connect(emu.base_url, emu.api_key, timeout=0.3)
            assert emu.calls == {}

    run(main())


def test_close_datachannel_mid_response(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(faults=Faults(close_mid_response=True)) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            c.send(user_text("hello there"))
            c.send({"type": "response.create"})
            await c.wait_for("response.output_audio_transcript.delta")
            await asyncio.wait_for(c.channel_closed.wait(), 5)
            assert "response.done" not in c.stream.types()

    run(main())


def test_close_websocket_mid_response(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(faults=Faults(close_mid_response=True)) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.send(user_text("hello there"))
            await c.send({"type": "response.create"})
            await c.wait_for("response.output_audio_transcript.delta")
            await asyncio.wait_for(c.closed.wait(), 5)
            assert "response.done" not in c.stream.types()

    run(main())


def test_vanish_mid_response(run: Runner) -> None:
    async def main() -> None:
        config = EmulatorConfig(ms_per_char=40.0)
        async with (
            Emulator(config=config, faults=Faults(vanish_mid_response=True)) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            c.send(user_text("hello there"))
            c.send({"type": "response.create"})
            await c.wait_for("response.output_audio_transcript.delta")
            c.send({"type": "response.cancel"})  # ignored: the server is gone
            with pytest.raises(TimeoutError):
                await c.wait_for("response.done", timeout=0.5)
            assert c.stream.types()[-1] == "response.output_audio_transcript.delta"
            assert not c.channel_closed.is_set()  # nothing was closed
            assert c.sink is not None
            assert c.sink.audible == 0

    run(main())


def test_nonjson_and_oversized_frames(run: Runner) -> None:
    async def main() -> None:
        faults = Faults(nonjson_frame=True, oversized_frame_bytes=300_000)
        async with (
            Emulator(faults=faults) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("emulator.padding")
            assert c.raw[0].startswith('{"type": "session.created"')
            assert c.raw[1] == "this is not JSON {"
            assert len(c.raw[2]) >= 300_000 - 64
            await c.send({"type": "session.update", "session": {"type": "realtime"}})
            await c.wait_for("session.updated")  # the session goes on
        rtc_faults = Faults(nonjson_frame=True, oversized_frame_bytes=60_000)
        async with (
            Emulator(faults=rtc_faults) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as r,
        ):
            assert (await r.next())["type"] == "session.created"
            assert (await r.next())["type"] == "<non-json>"
            assert (await r.next())["type"] == "emulator.padding"

    run(main())


def test_delay_responses(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(faults=Faults(response_delay_s=0.3)) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            await c.send(user_text("hi"))
            started = time.monotonic()
            await c.send({"type": "response.create"})
            await c.wait_for("response.created")
            assert time.monotonic() - started >= 0.3
            # While delayed, the response is already active.
            await c.wait_for("response.done")

    run(main())


def test_reject_session_update(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(faults=Faults(reject_session_update=True)) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.send(
                {"type": "session.update", "event_id": "u1", "session": {"type": "realtime"}}
            )
            err = (await c.wait_for("error"))["error"]
            assert err["event_id"] == "u1"
            assert err["param"] == "session"
            assert "session.updated" not in c.stream.types()

    run(main())


def test_faults_header_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.from_header('{"explode": true}')
    assert Faults.from_header(Faults(stall_calls=True).to_header()).stall_calls
