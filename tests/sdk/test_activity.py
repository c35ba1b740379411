"""Speech activity (pure, from events and Playback transitions) and microphone activity (from
the real captured signal of the private PulseAudio's 440 Hz source)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import pytest

from realtime_machines import SessionModel, SpeechActivity, SpeechSnapshot
from realtime_sdk.activity import (
    MicrophoneActivity,
    MicrophoneSnapshot,
    speech_activity_middleware,
)
from realtime_sdk.audio import MicrophoneTrack, microphone_factory
from realtime_sdk.middleware import IncomingContext

Runner = Callable[..., Any]


async def _no_send(event: Any) -> None:
    return None


def on(activity: Any, name: str) -> Any:
    """A fresh read of ``activity.<name>`` (keeps mypy from narrowing properties)."""
    return getattr(activity, name)


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"e_{kind}", **fields}


# ---------------------------------------------------------------------------------------------
# SpeechActivity
# ---------------------------------------------------------------------------------------------


def test_user_speech_follows_the_input_buffer_events() -> None:
    changes: list[SpeechSnapshot] = []
    activity = SpeechActivity(changes.append)
    activity.receive(ev("input_audio_buffer.speech_started", item_id="i1"), time=10.0)
    assert on(activity, "is_user_speaking")
    assert on(activity, "input_buffered")
    assert activity.last_user_event_at == 10.0
    activity.receive(ev("input_audio_buffer.speech_stopped", item_id="i1"), time=11.0)
    assert not on(activity, "is_user_speaking")
    assert on(activity, "input_buffered")  # spoken, not yet committed
    activity.receive(ev("input_audio_buffer.committed", item_id="i1"), time=11.1)
    assert not on(activity, "input_buffered")
    activity.receive(ev("conversation.item.input_audio_transcription.delta", delta="hi"), time=12)
    assert activity.last_user_event_at == 12
    assert activity.last_assistant_event_at is None
    assert [(c.is_user_speaking, c.input_buffered) for c in changes] == [
        (True, True),
        (False, True),
        (False, False),
    ]  # the time-only update notified nobody
    activity.receive(ev("input_audio_buffer.speech_started"), time=13.0)
    activity.receive(ev("input_audio_buffer.cleared"), time=13.5)
    assert activity.snapshot.flags() == (False, False, False, False)


def test_without_a_model_the_output_buffer_events_drive_the_assistant_side() -> None:
    activity = SpeechActivity()
    activity.receive(ev("output_audio_buffer.started", response_id="r1"), time=1.0)
    assert on(activity, "is_assistant_speaking")
    assert on(activity, "output_buffered")
    assert activity.last_assistant_event_at == 1.0
    activity.receive(ev("response.output_audio_transcript.delta", delta="x"), time=1.5)
    assert activity.last_assistant_event_at == 1.5
    activity.receive(ev("output_audio_buffer.cleared", response_id="r1"), time=2.0)
    assert not on(activity, "is_assistant_speaking")
    assert not on(activity, "output_buffered")
    activity.receive({"type": 3})  # not an event: ignored
    activity.receive(ev("response.done"))
    assert activity.last_assistant_event_at == 2.0


def test_following_the_model_barge_in_silences_before_the_server_clears() -> None:
    model = SessionModel(transport="webrtc", time=0.0)
    changes: list[SpeechSnapshot] = []
    activity = SpeechActivity(changes.append)
    unsubscribe = activity.follow(model)
    assert on(activity, "following")

    def both(event: dict[str, Any], at: float) -> None:
        activity.receive(event, time=at)  # as the middleware does, before the model
        model.receive(event, time=at)

    both(ev("output_audio_buffer.started", response_id="r1"), 1.0)
    assert on(activity, "is_assistant_speaking")
    assert on(activity, "output_buffered")
    both(ev("input_audio_buffer.speech_started", item_id="u1", audio_start_ms=0), 2.0)
    # Barge-in: the Playback chart is 'interrupted' — local playback already stopped, the
    # server's buffer not yet cleared.
    assert model.playback.state == "interrupted"
    assert on(activity, "is_user_speaking")
    assert not on(activity, "is_assistant_speaking")
    assert on(activity, "output_buffered")
    both(ev("output_audio_buffer.cleared", response_id="r1"), 2.1)
    assert not on(activity, "output_buffered")
    assert activity.last_assistant_event_at == 2.1
    assert [c.flags() for c in changes] == [
        (False, True, False, True),
        (True, True, True, True),
        (True, False, True, True),
        (True, False, True, False),
    ]
    unsubscribe()
    assert not on(activity, "following")


def test_a_clock_stamps_events_that_come_without_a_time() -> None:
    activity = SpeechActivity(clock=lambda: 42.0)
    activity.receive(ev("input_audio_buffer.speech_started"))
    assert activity.last_user_event_at == 42.0
    assert SpeechActivity().last_user_event_at is None


def test_the_middleware_feeds_the_activity_and_follows_the_client_model(run: Runner) -> None:
    class FakeClient:
        def __init__(self) -> None:
            self.model = SessionModel(transport="webrtc", time=0.0)

    async def scenario() -> None:
        client = FakeClient()
        activity = SpeechActivity()
        middleware = speech_activity_middleware(activity, clock=lambda: 5.0)
        ctx = IncomingContext(ev("input_audio_buffer.speech_started"), _no_send, client)
        assert middleware(ctx) is None  # passes the event on unchanged
        assert on(activity, "following")
        assert on(activity, "is_user_speaking")
        assert activity.last_user_event_at == 5.0
        client.model.receive(ev("output_audio_buffer.started", response_id="r9"), time=6.0)
        assert on(activity, "is_assistant_speaking")
        assert activity.last_assistant_event_at == 6.0

    run(scenario())


# ---------------------------------------------------------------------------------------------
# MicrophoneActivity
# ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTrack:
    """Only what MicrophoneActivity uses of a MicrophoneTrack."""

    def __init__(self) -> None:
        self.is_capturing = True
        self.listeners: list[Callable[[float | None], None]] = []

    def add_level_listener(self, listener: Callable[[float | None], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def frame(self, level: float | None) -> None:
        for listener in list(self.listeners):
            listener(level)


def test_stats_mode_holds_activity_for_silence_ms() -> None:
    clock = FakeClock()
    changes: list[MicrophoneSnapshot] = []
    activity = MicrophoneActivity(mode="stats", on_change=changes.append, clock=clock)
    track = FakeTrack()
    activity.attach(track)  # type: ignore[arg-type]
    track.frame(0.001)
    assert on(activity, "is_capturing")
    assert not on(activity, "is_mic_active")
    clock.now += 0.02
    track.frame(0.1)
    assert on(activity, "is_mic_active")
    assert activity.level == 0.1
    for i in range(29):  # 580 ms of quiet frames: still within silence_ms
        clock.now += 0.02
        track.frame(0.005 + i / 10000)
    assert on(activity, "is_mic_active")
    clock.now += 0.021
    track.frame(0.005)  # just over 600 ms after the last loud frame
    assert not on(activity, "is_mic_active")
    # on_change: the two flag changes immediately, level-only changes at most every 250 ms
    level_only = [c for c in changes if c.is_mic_active and c.level < 0.02]
    assert len(level_only) == 2  # at >= 250 ms and >= 500 ms after the last notification
    activity.receive(ev("input_audio_buffer.speech_started"))  # ignored in stats mode
    assert not on(activity, "is_mic_active")
    activity.detach()
    assert not on(activity, "is_capturing")
    assert activity.level == 0.0
    assert track.listeners == []


def test_server_mode_follows_the_vad_and_auto_takes_either() -> None:
    clock = FakeClock()
    server = MicrophoneActivity(mode="server", clock=clock)
    auto = MicrophoneActivity(mode="auto", clock=clock)
    track = FakeTrack()
    server.attach(track)  # type: ignore[arg-type]
    auto.attach(track)  # type: ignore[arg-type]
    track.frame(0.5)  # loud, but the server has said nothing
    assert not on(server, "is_mic_active")
    assert on(auto, "is_mic_active")  # no server events: the level decides
    for activity in (server, auto):
        activity.middleware(IncomingContext(ev("input_audio_buffer.speech_started"), _no_send))
    clock.now += 1.0
    track.frame(0.0)  # quiet for longer than silence_ms, the server still hears speech
    assert on(server, "is_mic_active")
    assert on(auto, "is_mic_active")
    for activity in (server, auto):
        activity.receive(ev("input_audio_buffer.speech_stopped"))
    assert not on(server, "is_mic_active")
    assert not on(auto, "is_mic_active")
    with pytest.raises(ValueError, match="mode must be"):
        MicrophoneActivity(mode=cast(Any, "loud"))


def test_level_comes_from_the_captured_signal(run: Runner, pulseaudio: Any) -> None:
    async def scenario() -> None:
        factory = microphone_factory()
        changes: list[MicrophoneSnapshot] = []
        activity = MicrophoneActivity(mode="stats", on_change=changes.append)
        activity.follow(factory)
        mic: MicrophoneTrack = factory()  # what the client does on connect
        try:
            deadline = time.monotonic() + 5
            while not activity.is_mic_active and time.monotonic() < deadline:
                await mic.recv()
            assert on(activity, "is_capturing")
            assert on(activity, "is_mic_active")
            assert 0.3 < activity.level < 0.4  # the 440 Hz source: amplitude 0.5, RMS 0.354
            mic.muted = True
            for _ in range(15):  # frames already queued, then zeros
                await mic.recv()
            assert activity.level == 0.0
            assert not on(activity, "is_capturing")
            assert not on(activity, "is_mic_active")
            mic.muted = False
            for _ in range(15):
                await mic.recv()
            assert on(activity, "is_mic_active")
        finally:
            mic.stop()
        assert not on(activity, "is_capturing")
        assert activity.level == 0.0
        assert changes[-1] == MicrophoneSnapshot(0.0, False, False)
        await asyncio.sleep(0)

    run(scenario())


def test_disable_microphone_drops_the_level_and_stops_capturing(
    run: Runner, pulseaudio: Any
) -> None:
    """``client.disable_microphone()`` while the 440 Hz source is loud: the activity says 0 and
    not capturing at once, and stays so while the device goes on delivering frames."""
    from realtime_sdk.client import RealtimeClient
    from realtime_sdk.emulator import Emulator
    from realtime_sdk.keys import api_key_token_provider

    async def frames(mic: MicrophoneTrack, count: int) -> None:
        target = mic.frames_captured + count
        async with asyncio.timeout(5):
            while mic.frames_captured < target:  # noqa: ASYNC110 - device frames: no event
                await asyncio.sleep(0.01)

    async def scenario() -> None:
        factory = microphone_factory()
        activity = MicrophoneActivity(mode="stats")
        activity.follow(factory)
        async with Emulator() as emu:
            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
                ice_servers=[],
                microphone=factory,
                greet_enabled=False,
                session={"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            )
            async with client:
                mic = factory.track
                assert mic is not None
                await frames(mic, 10)
                assert 0.3 < activity.level < 0.4  # the 440 Hz source
                assert on(activity, "is_capturing")
                client.disable_microphone()
                assert activity.level == 0.0
                assert not on(activity, "is_capturing")
                await frames(mic, 15)  # the device goes on delivering
                assert activity.level == 0.0
                assert not on(activity, "is_capturing")
                assert not on(activity, "is_mic_active")
                client.enable_microphone()
                await frames(mic, 5)
                assert 0.3 < activity.level < 0.4
                assert on(activity, "is_capturing")

    run(scenario(), timeout=25)
