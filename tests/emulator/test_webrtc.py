"""WebRTC: a bare aiortc client against the emulator (127.0.0.1 only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from realtime_sdk.emulator import Emulator, EmulatorConfig, loopback_ice_enabled
from realtime_sdk.emulator.testing import RtcClient, WsClient, normalize_types, recorded_types
from realtime_sdk.emulator.webrtc import Call
from tests.emulator.kit import user_text

Runner = Any
FAST = EmulatorConfig(ms_per_char=12.0)


async def mint(emu: Emulator, session: dict[str, Any]) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            emu.base_url + "/v1/realtime/client_secrets",
            json={"session": session},
            headers={"Authorization": f"Bearer {emu.api_key}"},
        ) as r,
    ):
        assert r.status == 200
        return str((await r.json())["value"])


def test_text_turn_over_datachannel_with_ephemeral_key(run: Runner, recorded: Path) -> None:
    async def main() -> None:
        async with Emulator(config=FAST) as emu:
            assert loopback_ice_enabled()
            key = await mint(emu, {"type": "realtime", "instructions": "From the secret."})
            async with await RtcClient.connect(emu.base_url, key) as c:
                call = emu.calls[c.call_id or ""]
                assert isinstance(call, Call)  # a WebRTC call (SIP calls are listed too)
                assert "127.0.0.1" in call.pc.localDescription.sdp
                created = await c.next()
                assert created["type"] == "session.created"
                assert created["session"]["instructions"] == "From the secret."
                c.send(
                    {
                        "type": "session.update",
                        "session": {"type": "realtime", "output_modalities": ["text"]},
                    }
                )
                await c.wait_for("session.updated")
                c.send(user_text("Say hello."))
                c.send({"type": "response.create"})
                done = await c.wait_for("response.done")
                assert done["response"]["output"][0]["content"][0]["text"] == "You said: Say hello."
                types = [t for t in c.stream.types() if t != "session.created"]
                expected = recorded_types(str(recorded / "webrtc_sideband_text_turn.jsonl"))
                assert normalize_types(types) == normalize_types(expected)
            assert c.location is not None
            assert c.location.startswith("/v1/realtime/calls/rtc_")
        assert not loopback_ice_enabled()

    run(main())


def test_audio_turn_plays_real_audio_on_the_track(run: Runner, recorded: Path) -> None:
    async def main() -> None:
        async with (
            Emulator(config=FAST) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["audio"]},
                }
            )
            c.send(user_text("Say hello to the whole wide world."))
            c.send({"type": "response.create"})
            done = await c.wait_for("response.done")
            assert (await c.next())["type"] == "rate_limits.updated"
            stopped = await c.wait_for("output_audio_buffer.stopped", timeout=5)
            assert stopped["response_id"] == done["response"]["id"]
            types = c.stream.types()
            assert "response.output_audio.delta" not in types
            assert types.index("output_audio_buffer.started") < types.index(
                "response.output_audio.done"
            )
            assert types.index("response.done") < types.index("output_audio_buffer.stopped")
            expected = recorded_types(str(recorded / "webrtc_sideband_audio_turn.jsonl"))
            got = [t for t in types if t != "session.created"]
            assert normalize_types(got) == normalize_types(expected)
            transcript = done["response"]["output"][0]["content"][0]["transcript"]
            expected_frames = len(transcript) * 12 // 20
            assert c.sink is not None
            assert c.sink.audible >= expected_frames * 0.5  # speech (with pauses) arrived as RTP

    run(main())


def test_voice_turn_from_microphone_energy_and_barge_in(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(config=EmulatorConfig(ms_per_char=60.0)) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            c.speak("Hello there, emulator.", ms_per_char=30.0)
            started = await c.wait_for("input_audio_buffer.speech_started")
            stopped = await c.wait_for("input_audio_buffer.speech_stopped")
            committed = await c.wait_for("input_audio_buffer.committed")
            assert started["item_id"] == stopped["item_id"] == committed["item_id"]
            await c.wait_for("response.created")
            playing = await c.wait_for("output_audio_buffer.started")
            done = await c.wait_for("response.done")
            item_id = done["response"]["output"][0]["id"]
            # The user talks over the assistant's playback tail: the server cuts and truncates.
            c.speak("Stop please.", ms_per_char=30.0)
            await c.wait_for("input_audio_buffer.speech_started")
            cleared = await c.next()
            assert cleared["type"] == "output_audio_buffer.cleared"
            assert cleared["response_id"] == playing["response_id"]
            truncated = await c.next()
            assert truncated["type"] == "conversation.item.truncated"
            assert truncated["item_id"] == item_id
            assert 0 < truncated["audio_end_ms"] < 60 * len("You said: Hello.")
            await c.wait_for("input_audio_buffer.committed")
            assert "output_audio_buffer.stopped" not in c.stream.types()

    run(main())


def test_multipart_call_with_sideband_websocket_and_hangup(run: Runner) -> None:
    async def main() -> None:
        session = {
            "type": "realtime",
            "model": "gpt-realtime",
            "output_modalities": ["text"],
            "instructions": "Two words.",
        }
        async with (
            Emulator(config=FAST) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key, session=session) as c,
        ):
            created = await c.wait_for("session.created")
            assert created["session"]["output_modalities"] == ["text"]
            async with await WsClient.connect(emu.base_url, emu.api_key, call_id=c.call_id) as side:
                await side.send(
                    {
                        "type": "session.update",
                        "session": {"type": "realtime", "instructions": "Sideband."},
                    }
                )
                updated = await side.next()
                assert updated["type"] == "session.updated"  # no session.created on a sideband
                assert (await c.wait_for("session.updated"))["session"][
                    "instructions"
                ] == "Sideband."
                c.send(user_text("hi"))
                c.send({"type": "response.create"})
                done_rtc = await c.wait_for("response.done")
                done_side = await side.wait_for("response.done")
                assert done_rtc["event_id"] == done_side["event_id"]
                async with (
                    aiohttp.ClientSession() as http,
                    http.post(
                        emu.base_url + f"/v1/realtime/calls/{c.call_id}/hangup",
                        headers={"Authorization": f"Bearer {emu.api_key}"},
                    ) as r,
                ):
                    assert r.status == 200
                await c.disconnected.wait()
                await side.closed.wait()
                assert side.close_code == 1000  # the call ended: a normal closure, final
            assert emu.calls == {}

    run(main())


def test_output_audio_buffer_clear_is_webrtc_only(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(config=EmulatorConfig(ms_per_char=80.0)) as emu,
            await RtcClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.wait_for("session.created")
            c.send(user_text("A long enough answer to interrupt"))
            c.send({"type": "response.create"})
            started = await c.wait_for("output_audio_buffer.started")
            c.send({"type": "response.cancel"})
            c.send({"type": "output_audio_buffer.clear"})
            done = await c.wait_for("response.done")
            assert done["response"]["status"] in ("cancelled", "completed")
            cleared = await c.wait_for("output_audio_buffer.cleared")
            assert cleared["response_id"] == started["response_id"]
            async with await WsClient.connect(emu.base_url, emu.api_key) as ws:
                await ws.send(json.dumps({"type": "output_audio_buffer.clear"}))
                assert (await ws.wait_for("error"))["error"]["param"] == "type"

    run(main())


def test_client_close_ends_the_call(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            c = await RtcClient.connect(emu.base_url, emu.api_key)
            await c.wait_for("session.created")
            call = emu.calls[c.call_id or ""]
            await c.close()
            await call.closed.wait()
            assert emu.calls == {}

    run(main())
