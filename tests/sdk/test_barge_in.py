"""Barge-in and echo safety with real audio: the microphone records the speaker's monitor.

In these tests the default PulseAudio source is ``vspeaker.monitor``: everything the
assistant plays reaches the microphone at full level (the worst possible open-speaker room),
and goes to the emulator's energy VAD with ``interrupt_response``. Without an echo guard the
assistant interrupts itself; with one it does not, and a louder user still interrupts it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest

from realtime_machines import Transition
from realtime_sdk.audio import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SPEAKER_BLOCK,
    EchoGuard,
    EchoMode,
    MicrophoneFactory,
    Speaker,
    microphone_factory,
)
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, Say, ScriptedBrain, synthesize
from realtime_sdk.keys import api_key_token_provider
from realtime_sdk.middleware import IncomingContext
from tests.sdk.conftest import Pulse

Runner = Callable[..., Any]

pytestmark = pytest.mark.usefixtures("pulseaudio")

ASSISTANT_TEXT = (
    "This is a long answer from the assistant, spoken on open speakers so that the "
    "microphone hears all of it."
)  # about 4 s of synthesised speech
SESSION = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "silence_duration_ms": 200,
                "create_response": False,
                "interrupt_response": True,
            }
        }
    },
}


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@contextmanager
def microphone_hears_speaker(pulse: Pulse) -> Iterator[None]:
    """New capture streams record what the speaker plays (restored to ``vmic`` after)."""
    pulse.pactl("set-default-source", pulse.monitor)
    try:
        yield
    finally:
        pulse.pactl("set-default-source", pulse.source)


class RecordingSpeaker(Speaker):
    """A Speaker that notes when ``stop()`` returned and how much had been played then."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.stop_log: list[tuple[float, float, int]] = []

    def stop(self) -> None:
        super().stop()
        self.stop_log.append((time.perf_counter(), time.monotonic(), self.samples_played))


@dataclass
class Session:
    """What one voice session did, as the client saw it."""

    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    playback: list[Transition] = field(default_factory=list)

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.received]

    def first(self, kind: str) -> tuple[float, dict[str, Any]] | None:
        return next(((t, e) for t, e in self.received if e["type"] == kind), None)

    def playback_events(self) -> list[str]:
        return [t.event for t in self.playback]


def make_client(
    emu: Emulator, session: Session, factory: MicrophoneFactory, speaker: Speaker
) -> RealtimeClient:
    def incoming(ctx: IncomingContext) -> None:
        session.received.append((time.perf_counter(), dict(ctx.event)))

    def outgoing(event: dict[str, Any]) -> None:
        session.sent.append(str(event.get("type")))

    client = RealtimeClient(
        token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
        base_url=emu.base_url,
        ice_servers=[],
        microphone=factory,
        audio_sink=speaker,
        greet_enabled=True,
        greet_instructions="Answer at length.",
        session=SESSION,
        incoming_middleware=[incoming],
        outgoing_middleware=[outgoing],
    )
    client.model.subscribe(lambda t: session.playback.append(t) if t.chart == "playback" else None)
    return client


def loud_samples(samples: np.ndarray, threshold: float = 0.02, window: int = 48) -> int:
    usable = samples[: samples.size // window * window].astype(np.float64) / 32768
    levels = np.sqrt(np.mean(usable.reshape(-1, window) ** 2, axis=1))
    return int(np.count_nonzero(levels > threshold) * window)


def test_echo_without_a_guard_interrupts_and_playback_stops_at_once(
    run: Runner, pulseaudio: Pulse
) -> None:
    """The test rig is sound: the assistant's own echo is "speech" to the server's VAD."""

    async def scenario() -> None:
        session = Session()
        recording = pulseaudio.record_monitor()
        speaker = RecordingSpeaker()
        try:
            async with Emulator(brain=ScriptedBrain([[Say(ASSISTANT_TEXT)]])) as emu:
                factory = microphone_factory(echo_guard=EchoGuard(speaker, mode="off"))
                async with make_client(emu, session, factory, speaker):
                    await until(lambda: bool(speaker.stop_log), 10, "the echo to barge in")
                    stopped_at, stopped_mono, played_at_stop = speaker.stop_log[0]
                    assert not speaker.playing
                    await until(
                        lambda: "output_audio_buffer.cleared" in session.types(), 3, "cleared"
                    )
                    await asyncio.sleep(0.4)  # the monitor hears whatever comes after
                    last_audible = speaker.last_audible_at
                    mic = factory.track
                    assert mic is not None
                    gated = mic.frames_gated
        finally:
            speaker.close()
        heard = recording.stop()
        started = session.first("input_audio_buffer.speech_started")
        assert started is not None, session.types()
        # Playback stopped while the response was still playing, right when the VAD's event
        # arrived (the Playback chart: playing --barge_in--> interrupted, StopPlayback).
        assert session.playback_events()[:2] == ["started", "barge_in"]
        assert 0 <= stopped_at - started[0] < 0.05, stopped_at - started[0]
        assert played_at_stop < len(synthesize(ASSISTANT_TEXT, rate=SAMPLE_RATE)) // 2
        # The device went quiet within one block (the one being played when stop() came),
        # and the monitor heard nothing more than what had been played by then.
        assert last_audible - stopped_mono < 1.5 * SPEAKER_BLOCK / SAMPLE_RATE
        assert loud_samples(heard) <= played_at_stop + FRAME_SAMPLES
        last_loud = np.flatnonzero(np.abs(heard) > 0.02 * 32768)[-1]
        assert heard.size - last_loud > 0.3 * SAMPLE_RATE  # silence after the stop
        assert loud_samples(heard) > 0.05 * SAMPLE_RATE  # some of the answer was heard
        # The server's interrupt_response cut the audio and truncated the item where it was
        # (the response itself was already done: audio plays on after response.done); the
        # client sent no cancel and no clear of its own.
        truncated = session.first("conversation.item.truncated")
        assert truncated is not None
        assert 0 < truncated[1]["audio_end_ms"] < 2000
        assert "response.cancel" not in session.sent, session.sent
        assert "output_audio_buffer.clear" not in session.sent
        assert gated == 0

    with microphone_hears_speaker(pulseaudio):
        run(scenario(), timeout=20)


@pytest.mark.parametrize("mode", ["gate", "half_duplex"])
def test_with_the_guard_the_assistant_does_not_interrupt_itself(
    run: Runner, pulseaudio: Pulse, mode: EchoMode
) -> None:
    async def scenario() -> None:
        session = Session()
        speaker = RecordingSpeaker()
        guard = EchoGuard(speaker, mode=mode)
        try:
            async with Emulator(brain=ScriptedBrain([[Say(ASSISTANT_TEXT)]])) as emu:
                factory = microphone_factory(echo_guard=guard)
                async with make_client(emu, session, factory, speaker):
                    await until(
                        lambda: "stopped" in session.playback_events(), 15, "the answer to end"
                    )
                    stops = list(speaker.stop_log)
                    # "stopped" comes when the server has sent the last frame; the device
                    # plays what is still queued after that.
                    await until(
                        lambda: time.monotonic() - speaker.last_audible_at > 0.3,
                        5,
                        "the speaker to play out what it had queued",
                    )
                    played = speaker.samples_played
                mic = factory.track  # closed with the client: its counts are final
                assert mic is not None
                gated, captured, masked = mic.frames_gated, mic.frames_captured, guard.masked
        finally:
            speaker.close()
        assert "input_audio_buffer.speech_started" not in session.types()
        assert session.playback_events() == ["started", "stopped"]
        done = session.first("response.done")
        assert done is not None
        assert done[1]["response"]["status"] == "completed"
        assert stops == []  # playback was never cut
        assert played >= 0.9 * len(synthesize(ASSISTANT_TEXT, rate=SAMPLE_RATE))
        # The guard did the work: the echo frames were masked (the rest passed).
        assert gated > 50
        assert captured > gated
        assert masked == gated

    with microphone_hears_speaker(pulseaudio):
        run(scenario(), timeout=20)


def test_with_the_gate_a_louder_user_still_interrupts(run: Runner, pulseaudio: Pulse) -> None:
    async def scenario() -> None:
        session = Session()
        speaker = RecordingSpeaker()
        guard = EchoGuard(speaker, mode="gate")
        user_voice = (synthesize("stop, stop, please stop", rate=SAMPLE_RATE) * 3).astype(np.int16)
        try:
            async with Emulator(brain=ScriptedBrain([[Say(ASSISTANT_TEXT)]])) as emu:
                factory = microphone_factory(echo_guard=guard)
                with Speaker() as user:  # the user, in the same room (the same null sink)
                    async with make_client(emu, session, factory, speaker):
                        await until(lambda: speaker.playing, 10, "the answer to play")
                        await asyncio.sleep(0.8)  # past the warm-up, mid-sentence
                        assert "input_audio_buffer.speech_started" not in session.types()
                        for start in range(0, user_voice.size, FRAME_SAMPLES):
                            chunk = user_voice[start : start + FRAME_SAMPLES].reshape(1, -1)
                            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
                            frame.sample_rate = SAMPLE_RATE
                            user(frame)
                        spoke_at = time.perf_counter()
                        await until(lambda: bool(speaker.stop_log), 5, "the user to barge in")
                        stopped_at = speaker.stop_log[0][0]
        finally:
            speaker.close()
        started = session.first("input_audio_buffer.speech_started")
        assert started is not None
        assert started[0] > spoke_at
        assert stopped_at - spoke_at < 1.0
        assert session.playback_events()[:2] == ["started", "barge_in"]
        assert "response.cancel" not in session.sent
        assert guard.masked > 0

    with microphone_hears_speaker(pulseaudio):
        run(scenario(), timeout=20)


class FakeSpeaker:
    """What the guard reads from a Speaker, set by hand."""

    def __init__(self) -> None:
        self.level = 0.0
        self.audible_since: float | None = None
        self.last_audible_at = 0.0

    def recent_level(self, window: float) -> float:
        return self.level


def test_guard_decisions() -> None:
    now = [100.0]
    fake = FakeSpeaker()
    guards = {
        mode: EchoGuard(
            fake, mode=mode, warmup_ms=250, margin=2.0, tail_ms=300, clock=lambda: now[0]
        )
        for mode in ("gate", "half_duplex", "off")
    }
    # Nothing played: every frame passes.
    assert all(g.admit(0.3) for g in guards.values())
    # The assistant started 0.1 s ago at level 0.2: the warm-up masks even a loud frame.
    fake.level, fake.audible_since, fake.last_audible_at = 0.2, 99.9, 100.0
    assert not guards["gate"].admit(0.9)
    assert not guards["half_duplex"].admit(0.9)
    assert guards["off"].admit(0.9)
    # After the warm-up: only frames well above the expected echo (2 × 0.2) pass.
    fake.audible_since = 99.5
    assert not guards["gate"].admit(0.25)
    assert not guards["gate"].admit(0.39)
    assert guards["gate"].admit(0.41)
    assert not guards["half_duplex"].admit(0.9)
    # The echo's tail: 0.2 s after the last audible block it is still expected…
    now[0] = 100.2
    assert not guards["gate"].admit(0.3)
    # …0.4 s after, not any more.
    now[0] = 100.4
    assert guards["gate"].admit(0.01)
    assert guards["half_duplex"].admit(0.01)
    assert guards["gate"].masked == 4
    assert guards["half_duplex"].masked == 2
    with pytest.raises(ValueError, match="mode"):
        EchoGuard(fake, mode="loud")  # type: ignore[arg-type]
