"""The GPT-Live engine in process (no socket): fixtures, expiry, close reasons, usage, G.711,
data-channel permissions, barge-in and the configuration rules; every event checked against
``openai.types.live``."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pydantic
import pytest
from openai.types.live import SessionResource

from realtime_sdk.emulator import Say, ScriptedBrain
from realtime_sdk.emulator.audio import synthesize
from realtime_sdk.emulator.live import LiveConnection, LiveEngine, LiveOptions
from realtime_sdk.emulator.live.config import apply_update, session_resource, validate_config
from realtime_sdk.emulator.live.media import encode_audio
from realtime_sdk.emulator.session import ProtocolError
from tests.emulator.live_kit import CONNECT_EVENT, MS_PER_CHAR, SERVER_EVENT, assert_valid, speech

Runner = Callable[..., Any]


class Peer:
    """A connection that keeps what the engine sends it."""

    def __init__(self, engine: LiveEngine, kind: Any = "websocket") -> None:
        self.events: list[dict[str, Any]] = []
        self.ended: list[tuple[int, str]] = []
        self.engine = engine
        self.conn = LiveConnection(
            kind, lambda text: self.events.append(json.loads(text)), self._end
        )
        self.done = asyncio.Event()

    def _end(self, code: int, reason: str) -> None:
        self.ended.append((code, reason))
        self.done.set()

    def send(self, event: dict[str, Any]) -> None:
        self.engine.handle_event(self.conn, event)

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def said(self) -> str:
        return "".join(e["delta"] for e in self.of("session.output_transcript.delta"))


def make(
    session: dict[str, Any] | None = None, brain: Any = None, **options: Any
) -> tuple[LiveEngine, Peer]:
    opts = LiveOptions(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: "hello", **options)
    engine = LiveEngine(transport="websocket", brain=brain, options=opts)
    peer = Peer(engine)
    engine.connect(peer.conn)
    peer.send({"type": "session.start", "session": session or {"model": "gpt-live-1"}})
    assert peer.events[0]["type"] == "session.started", peer.events
    return engine, peer


def silence(engine: LiveEngine, ms: int) -> None:
    engine.feed_audio(bytes(48 * ms))


def test_a_fixture_plays_blocks_appends_and_reports_played(run: Runner) -> None:
    async def main() -> Peer:
        engine, peer = make()
        pcm = np.full(24 * 300, 1000, dtype=np.int16)  # 300 ms
        audio = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
        peer.send({"type": "session.output_audio.fixture.play", "audio": audio, "event_id": "f"})
        peer.send({"type": "session.thinking.append", "content": "x", "delegation_id": None})
        peer.send({"type": "session.output_audio.fixture.play", "audio": audio})
        assert not peer.of("session.output_audio.fixture.played")
        silence(engine, 400)
        peer.send({"type": "session.input_audio.append", "audio": "AA=="})  # odd PCM16
        return peer

    peer = run(main())
    assert peer.of("session.output_audio.fixture.playing")[0]["client_event_id"] == "f"
    assert peer.of("session.output_audio.fixture.played")[0]["client_event_id"] == "f"
    codes = [e["error"]["code"] for e in peer.of("error")]
    assert codes == ["fixture_active", "fixture_active", "invalid_audio"]
    played = sum(len(base64.b64decode(e["delta"])) for e in peer.of("session.output_audio.delta"))
    assert played == 300 * 48
    assert_valid(peer.events, SERVER_EVENT)


def test_expiry_closes_the_session(run: Runner) -> None:
    async def main() -> Peer:
        engine, peer = make(session_ttl_s=0.05)
        await asyncio.wait_for(peer.done.wait(), 5)
        assert engine.is_over
        return peer

    peer = run(main())
    assert peer.of("session.closed")[0]["reason"] == "expired"
    assert peer.ended == [(1000, "expired")]
    assert_valid(peer.events, SERVER_EVENT)


@pytest.mark.parametrize(("lost", "reason"), [(False, "remote_hangup"), (True, "connection_lost")])
def test_a_sideband_sees_why_the_primary_went_away(run: Runner, lost: bool, reason: str) -> None:
    async def main() -> Peer:
        engine, peer = make()
        side = Peer(engine, "sideband")
        engine.connect(side.conn)
        engine.disconnect(peer.conn, lost=lost)
        return side

    side = run(main())
    assert [e["type"] for e in side.events] == ["session.started", "session.closed"]
    assert side.events[-1]["reason"] == reason
    assert side.ended == [(1000, reason)]
    assert_valid(side.events, CONNECT_EVENT)


def test_usage_is_a_snapshot_of_the_timeline(run: Runner) -> None:
    async def main() -> Peer:
        engine, peer = make(usage_interval_s=1.0)
        silence(engine, 2500)
        peer.send({"type": "session.close"})
        return peer

    peer = run(main())
    seconds = [e["usage"]["seconds"] for e in peer.of("session.usage.updated")]
    assert seconds == [1, 2]
    assert peer.of("session.closed")[0]["usage"] == {"seconds": 2}
    assert_valid(peer.events, SERVER_EVENT)


@pytest.mark.parametrize("kind", ["audio/pcmu", "audio/pcma"])
def test_g711_sessions_hear_and_speak_in_their_format(run: Runner, kind: str) -> None:
    fmt = {"type": kind, "rate": 8000}

    async def main() -> Peer:
        engine, peer = make({"model": "gpt-live-1", "audio": {"format": fmt}})
        coded = encode_audio(speech("hello"), fmt)
        for offset in range(0, len(coded), 800):
            chunk = base64.b64encode(coded[offset : offset + 800]).decode()
            peer.send({"type": "session.input_audio.append", "audio": chunk})
        while peer.said() != "You said: hello":
            silence(engine, 100)
        return peer

    peer = run(main())
    assert peer.events[0]["session"]["audio"]["format"] == fmt
    assert peer.said() == "You said: hello"
    heard = peer.of("session.input_transcript.delta")
    assert heard[0]["start_ms"] < heard[-1]["end_ms"]
    sent = sum(len(base64.b64decode(e["delta"])) for e in peer.of("session.output_audio.delta"))
    duration = synthesize("You said: hello", ms_per_char=MS_PER_CHAR).size // 24
    assert abs(sent - duration * 8) <= 8  # one byte per 8 kHz sample
    assert_valid(peer.events, SERVER_EVENT)


def test_a_data_channel_gets_only_its_allowed_server_events(run: Runner) -> None:
    config = validate_config(
        {
            "model": "gpt-live-1",
            "client": {
                "data_channel": {
                    "allowed_server_events": [{"type": "session.output_transcript.delta"}]
                }
            },
        },
        "webrtc",
    )

    async def main() -> Peer:
        engine = LiveEngine(
            transport="webrtc",
            config=config,
            options=LiveOptions(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: "hi"),
        )
        channel = Peer(engine, "datachannel")
        engine.connect(channel.conn)
        engine.start_webrtc()
        engine.feed_audio(speech("hi").astype("<i2").tobytes())
        while not channel.said().endswith("hi"):
            silence(engine, 100)
        return channel

    channel = run(main())
    # session.started always arrives (the permissions apply from then on); then only what is allowed
    assert channel.events[0]["type"] == "session.started"
    assert {e["type"] for e in channel.events[1:]} == {"session.output_transcript.delta"}
    assert_valid(channel.events, CONNECT_EVENT)


def test_user_speech_interrupts_the_assistant(run: Runner) -> None:
    answer = "This answer is long enough to be interrupted before it ends, surely."
    brain = ScriptedBrain([[Say(answer)], [Say("Sorry, go on.")]])

    async def main() -> Peer:
        engine, peer = make(brain=brain)
        engine.feed_audio(speech("hello").astype("<i2").tobytes())
        while not peer.of("session.output_transcript.delta"):
            silence(engine, 20)
        engine.feed_audio(speech("wait").astype("<i2").tobytes())  # barge-in
        while "Sorry, go on." not in peer.said():
            silence(engine, 100)
        return peer

    peer = run(main())
    said = peer.said()
    cut = said[: said.index("Sorry")]
    assert cut
    assert answer.startswith(cut)
    assert cut != answer
    heard = peer.of("session.input_transcript.delta")
    spoken = [e for e in peer.of("session.output_transcript.delta") if e["delta"] in answer]
    assert heard[-1]["start_ms"] < spoken[-1]["end_ms"]  # the two speakers overlap
    assert_valid(peer.events, SERVER_EVENT)


def test_the_resource_and_updates_follow_the_rules() -> None:
    delegation = {"type": "responses", "responses": {"model": "gpt-5", "instructions": "a"}}
    config = validate_config({"model": "gpt-live-1", "delegation": delegation}, "websocket")
    resource = session_resource(config, session_id="live_x", expires_at=1, kind="websocket")
    parsed = pydantic.TypeAdapter(SessionResource).validate_python(resource)
    assert parsed.status == "active"
    assert resource["delegation"]["acknowledgement_delay_ms"] == 0
    patch = {"delegation": {"type": "responses", "responses": {"instructions": "b"}}}
    updated = apply_update(resource, patch)
    assert updated["delegation"]["responses"] == {"model": "gpt-5", "instructions": "b"}
    assert resource["delegation"]["responses"]["instructions"] == "a"  # not changed in place
    for bad, param in [
        ({"delegation": None}, "session.delegation.type"),
        ({"audio": {}}, "session.audio"),
        ({"model": "gpt-live-1.1"}, "session.model"),
    ]:
        with pytest.raises(ProtocolError) as refused:
            apply_update(resource, bad)
        assert (refused.value.code, refused.value.param) == ("immutable_field_update", param)
    assert apply_update(resource, {"triggers": []})["triggers"] == []
    decisions = {"type": "decisions", "decisions": {"model": "m", "questions": []}}
    resolved = session_resource(
        validate_config({"model": "gpt-live-1", "delegation": decisions}, "webrtc"),
        session_id="live_y",
        expires_at=1,
        kind="webrtc",
    )
    assert resolved["delegation"]["acknowledgement_delay_ms"] == 400
    assert "format" not in resolved["audio"]
    np.testing.assert_equal(resolved["input"], [])
