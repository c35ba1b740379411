"""GPT-Live over WebRTC on the emulator: the official client's ``client.live.create`` with a
loopback aiortc peer; ``session.started`` on the data channel, pause on idle, resume on speech."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc import RTCSessionDescription
from openai import AsyncOpenAI

from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.testing import RtcClient
from tests.emulator.live_kit import CONNECT_EVENT, MS_PER_CHAR, assert_valid

Runner = Callable[..., Any]


def test_official_client_creates_a_webrtc_session_that_pauses_when_idle(run: Runner) -> None:
    async def main() -> list[dict[str, Any]]:
        config = EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: "wake up")
        async with Emulator(config=config) as emu:
            client = AsyncOpenAI(api_key=emu.api_key, base_url=emu.openai_base_url, max_retries=0)
            rtc = RtcClient()
            try:
                await rtc.pc.setLocalDescription(await rtc.pc.createOffer())
                created = await client.live.create(
                    session={
                        "model": "gpt-live-1",
                        "idle_timeout_s": 1,
                        "wake_policy": {"type": "speech"},
                        "client": {
                            "data_channel": {
                                "allowed_client_events": ["session.close", "session.update"]
                            }
                        },
                    },
                    transport={"type": "webrtc", "sdp": rtc.pc.localDescription.sdp},
                )
                assert created.session.id.startswith("live_")
                answer = RTCSessionDescription(sdp=created.transport.sdp, type="answer")
                await rtc.pc.setRemoteDescription(answer)
                started = await rtc.wait_for("session.started", 10)
                assert started["session"]["id"] == created.session.id
                assert "format" not in started["session"]["audio"]  # negotiated by the media
                info = await rtc.wait_for("info")
                assert info["code"] == "data_channel_permissions"
                await rtc.wait_for("session.paused", 5)  # a second of silence on the track
                rtc.speak("wake up", ms_per_char=MS_PER_CHAR)
                await rtc.wait_for("session.resumed", 5)
                heard = await rtc.wait_for("session.input_transcript.delta", 5)
                assert heard["delta"] == "wake "
                await rtc.wait_for("session.output_transcript.delta", 5)
                rtc.send({"type": "session.input_audio.mute", "event_id": "m"})
                refused = await rtc.wait_for("error")
                assert refused["error"]["code"] == "event_not_allowed"
                rtc.send({"type": "session.start", "session": {"model": "gpt-live-1"}})
                twice = await rtc.wait_for("error")
                assert twice["error"]["code"] in ("event_not_allowed", "session_already_started")
                rtc.send({"type": "session.close", "event_id": "bye"})
                closed = await rtc.wait_for("session.closed", 5)
                usage = closed["usage"]
                assert usage["active_seconds"] + usage["paused_seconds"] == usage["seconds"]
                assert closed["client_event_id"] == "bye"
                await rtc.disconnected.wait()  # the emulator ends the peer after the final event
            finally:
                await rtc.close()
                await client.close()
            return rtc.stream.events

    events = run(main(), timeout=30)
    seen = assert_valid(events, CONNECT_EVENT)
    assert {"session.paused", "session.resumed", "session.closed"} <= seen
