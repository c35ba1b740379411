"""``realtime demo --voice``: one spoken turn and one barge-in through the default audio devices.

A :class:`~realtime_sdk.client.RealtimeClient` with ``microphone=microphone_factory(...)`` (the
default input, behind an :class:`~realtime_sdk.audio.EchoGuard` in ``gate`` mode) and
``audio_sink=Speaker()`` (the default output) talks to an embedded
:class:`~realtime_sdk.emulator.Emulator` over loopback WebRTC (127.0.0.1 only), or with
``transport="websocket"`` over a loopback WebSocket, or ``"memory"`` to its protocol engine in
this process (:func:`~realtime_sdk.cli.demo.embedded_wire`); server VAD on
(``create_response`` and ``interrupt_response``). Over WebRTC the server plays the answer on
the media track; over WebSocket and memory the client plays it itself (its
:class:`~realtime_sdk.playback.LocalPlayback` feeds the speaker) and sends the microphone as
``input_audio_buffer.append`` s.

**Where the user's voice comes from.** The demo plays the user: synthesised speech-like audio
(:func:`~realtime_sdk.emulator.synthesize`, three times louder than the assistant's) on a
second output stream, "in the room" — the default output unless ``speech_device`` names
another one. The default input must therefore hear that device: on a laptop the microphone
hears the speakers; in CI the default PulseAudio source is the null sink's monitor
(``pactl set-default-source vspeaker.monitor``), the worst open-speaker room, where the echo
guard keeps the assistant's own voice out and lets the louder user through.

Steps, each checked (:data:`VOICE_DEMO_STEPS`):

1. **devices** — a default input and a default output exist and open;
2. **connect** — over loopback WebRTC, the microphone capturing;
3. **spoken turn** — the user speaks: ``input_audio_buffer.speech_started`` →
   ``committed`` → a response that completed and played audible audio on the speaker
   (Playback chart ``started`` → ``stopped``, no barge-in);
4. **barge-in** — the user asks for a long answer, then speaks again while it is audible:
   ``speech_started`` during playback → local playback stopped (Playback chart ``barge_in``,
   ``Speaker.stop()``) and no ``response.cancel`` sent by the client (the server's
   ``interrupt_response`` already cut the response). Over WebRTC the server truncates the
   item where its own playback was; over WebSocket and memory the client sends
   ``conversation.item.truncate`` with ``audio_end_ms`` = what the speaker actually played of
   the answer (checked against the speaker's own sample count, within
   :data:`TRUNCATE_TOLERANCE_MS`, and short of what was received) and the server confirms it
   (``conversation.item.truncated``). Then the interruption is answered;
5. **disconnect**.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO

import av
import numpy as np
import numpy.typing as npt

from realtime_machines import AssistantDelta, Transition

from .._aio import wait_until
from ..audio import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioError,
    EchoGuard,
    Speaker,
    list_devices,
    microphone_factory,
)
from ..audio_convert import WIRE_RATE, decode_pcm16
from ..client import RealtimeClient
from ..config import deep_merge
from ..emulator import DeterministicBrain, Faults, Say, ScriptedBrain, synthesize
from ..trace import WireTrace
from .chat_repl import VOICE_CHAT_SESSION
from .demo import (
    DEMO_TRANSPORTS,
    Check,
    DemoResult,
    StepFailed,
    checker,
    connect_checked,
    connected_detail,
    embedded_wire,
    finish_run,
    write_chat,
    write_checks,
)

__all__ = [
    "TRUNCATE_TOLERANCE_MS",
    "VOICE_DEMO_STEPS",
    "VOICE_SESSION",
    "VoiceDemoResult",
    "main",
    "print_voice_demo",
    "run_voice_demo",
]

VOICE_DEMO_STEPS: tuple[str, ...] = ("devices", "connect", "spoken turn", "barge-in", "disconnect")
"""The checks of a voice demo run, in order."""

# The voice chat's session, with the VAD tuned for the demo's synthesised speech.
VOICE_SESSION: dict[str, Any] = deep_merge(
    VOICE_CHAT_SESSION,
    {"audio": {"input": {"turn_detection": {"threshold": 0.5, "silence_duration_ms": 200}}}},
)

USER_QUESTION = "What is the capital of France?"
SHORT_ANSWER = "Paris is the capital of France."
USER_STORY_REQUEST = "Tell me a long story."
LONG_ANSWER = (
    "Once upon a time, in a city of many bridges, there lived a clockmaker who wound "
    "every clock of the town, one tower after another, each and every morning."
)
USER_INTERRUPTION = "Stop, stop, please stop."
AFTER_INTERRUPTION = "Alright, I stopped."
USER_GAIN = 3.0
"""The user's voice relative to the assistant's: loud enough to pass the echo guard's gate."""
TRUNCATE_TOLERANCE_MS = 100
"""How far the client's ``audio_end_ms`` may be from what the speaker counted as played (the
speaker's device blocks and the player's 24 → 48 kHz bookkeeping, not the 120 ms it leads)."""


class NoAudioDevices(AudioError):
    """There is no default input or output device."""


def user_voice(text: str) -> npt.NDArray[np.int16]:
    """Synthesised speech for ``text`` at 48 kHz, ``USER_GAIN`` times the assistant's level."""
    pcm = synthesize(text, rate=SAMPLE_RATE).astype(np.float64) * USER_GAIN
    return np.clip(pcm, -32767, 32767).astype(np.int16)


def speak(mouth: Speaker, pcm: npt.NDArray[np.int16]) -> float:
    """Queue ``pcm`` on ``mouth`` (20 ms frames); return its duration in seconds."""
    for start in range(0, pcm.size, FRAME_SAMPLES):
        chunk = pcm[start : start + FRAME_SAMPLES]
        if chunk.size < FRAME_SAMPLES:
            chunk = np.pad(chunk, (0, FRAME_SAMPLES - chunk.size))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        mouth(frame)
    return pcm.size / SAMPLE_RATE


def check_devices() -> None:
    """Raise :class:`~realtime_sdk.audio.AudioError` (one sentence) without default devices."""
    devices = list_devices()
    missing = [
        kind
        for kind, present in (
            ("input", any(d.default_input for d in devices)),
            ("output", any(d.default_output for d in devices)),
        )
        if not present
    ]
    if missing:
        raise NoAudioDevices(
            f"no default audio {' or '.join(missing)} device (PortAudio found "
            f"{len(devices)} device(s); a sound card or a sound server such as PulseAudio "
            "is needed)."
        )


@dataclass
class VoiceDemoResult(DemoResult):
    """What a voice demo run did: a demo result with its timeline."""

    STEPS: ClassVar[tuple[str, ...]] = VOICE_DEMO_STEPS

    timeline: list[tuple[float, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "timeline": [{"t": round(t, 3), "what": what} for t, what in self.timeline],
        }


class _Watch:
    """Wire events and Playback transitions as they arrive, with waits that time out."""

    def __init__(self, started: float, timeline: list[tuple[float, str]]) -> None:
        self.received: list[dict[str, Any]] = []
        self.sent: list[str] = []
        self.sent_events: list[dict[str, Any]] = []
        self.playback: list[str] = []
        self._started = started
        self._timeline = timeline
        self._changed = asyncio.Event()

    def note(self, what: str) -> None:
        self._timeline.append((time.monotonic() - self._started, what))
        self._changed.set()

    def on_received(self, event: dict[str, Any]) -> None:
        self.received.append(event)
        kind = str(event.get("type"))
        if kind.startswith(
            ("input_audio_buffer.", "response.created", "response.done", "conversation.item.trunc")
        ):
            self.note(f"received {kind}")
        self._changed.set()

    def on_sent(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        self.sent.append(kind)
        self.sent_events.append(event)
        if kind.startswith("response."):
            self.note(f"sent {kind}")
        elif kind == "conversation.item.truncate":
            self.note(f"sent {kind} (audio_end_ms {event.get('audio_end_ms')})")

    def on_transition(self, step: Transition) -> None:
        if step.chart == "playback" and not step.is_fact:
            self.playback.append(step.event)
            self.note(f"playback --{step.event}--> {step.target}")

    def count(self, kind: str) -> int:
        return sum(1 for e in self.received if e.get("type") == kind)

    def last(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.received) if e.get("type") == kind), None)


class _Timeout(Exception):
    pass


async def _wait_changed(
    watch: _Watch,
    condition: Callable[[], bool],
    limit: float,
    what: str,
) -> None:
    """Until ``condition()``; re-checked on every event and every 20 ms (device counters)."""
    try:
        await wait_until(condition, watch._changed, limit, what, recheck=0.02)
    except TimeoutError as exc:
        raise _Timeout(str(exc)) from None


async def run_voice_demo(
    *,
    speech_device: int | str | None = None,
    step_timeout: float = 10.0,
    transport: str = "webrtc",
) -> VoiceDemoResult:
    """Run the voice demo over ``transport`` (``"webrtc"``, ``"websocket"`` or ``"memory"``);
    every wait is bounded by ``step_timeout`` seconds.

    Never raises for a failed step (its :class:`~realtime_sdk.cli.demo.Check` says what went
    wrong and the steps after it are not run), except :class:`~realtime_sdk.audio.AudioError`
    when there are no usable audio devices at all, and ``ValueError`` for an unknown transport.
    """
    if transport not in DEMO_TRANSPORTS:
        raise ValueError(
            f"unknown demo transport {transport!r}: choose one of {', '.join(DEMO_TRANSPORTS)}"
        )
    started = time.monotonic()
    result = VoiceDemoResult()
    checks = result.checks
    check = checker(checks)

    check_devices()
    client_plays = transport != "webrtc"
    # The client's player cuts the rest of a response itself (SpeakerSink): no hold after stop().
    speaker = Speaker(stop_hold_ms=0.0) if client_plays else Speaker()
    try:
        mouth = Speaker(speech_device, max_buffer_ms=5000.0)
    except BaseException:
        speaker.close()
        raise
    watch = _Watch(started, result.timeline)
    wire = WireTrace()
    guard = EchoGuard(speaker, mode="gate")
    factory = microphone_factory(echo_guard=guard)
    brain = ScriptedBrain(
        [[Say(SHORT_ANSWER)], [Say(LONG_ANSWER)], [Say(AFTER_INTERRUPTION)]],
        fallback=DeterministicBrain(),
    )
    checks.append(
        Check(
            "devices",
            True,
            f"speaker {speaker.device.get('name')!r}, microphone: the default input, "
            f"user's voice on {mouth.device.get('name')!r}",
        )
    )
    try:
        async with embedded_wire(transport, brain, Faults()) as (where, wire_options):
            result.base_url = where

            def incoming(ctx: Any) -> None:
                wire.incoming(ctx)
                watch.on_received(dict(ctx.event))

            def outgoing(event: dict[str, Any]) -> None:
                wire.outgoing(event)
                watch.on_sent(event)

            client = RealtimeClient(
                **wire_options,
                ice_servers=[],
                microphone=factory,
                audio_sink=speaker,
                session=VOICE_SESSION,
                greet_enabled=False,
                incoming_middleware=[incoming],
                outgoing_middleware=[outgoing],
                delete_chat_history_on_disconnect=False,
            )
            wire.watch(client)
            client.model.subscribe(watch.on_transition)
            transcribing: set[str] = set()

            def on_delta(notice: AssistantDelta) -> None:
                if notice.response_id not in transcribing:  # the first delta of each answer
                    transcribing.add(notice.response_id)
                    watch.note(f"assistant transcript streaming ({notice.response_id})")

            client.on(AssistantDelta.name, on_delta)

            def captured() -> int:
                track = factory.track
                return track.frames_captured if track is not None else 0

            async def wait(condition: Callable[[], bool], what: str, limit: float = 0.0) -> None:
                await _wait_changed(watch, condition, limit or step_timeout, what)

            step = "connect"
            try:
                await connect_checked(client, step_timeout, check)
                await wait(lambda: captured() >= 10, "captured microphone frames")
                check(step, True, connected_detail(client, transport))

                step = "spoken turn"
                watch.note(f"user says {USER_QUESTION!r}")
                speak(mouth, user_voice(USER_QUESTION))
                await wait(
                    lambda: watch.count("input_audio_buffer.speech_started") >= 1,
                    "input_audio_buffer.speech_started (does the default input hear the "
                    "user's voice?)",
                )
                await wait(
                    lambda: watch.count("input_audio_buffer.committed") >= 1,
                    "input_audio_buffer.committed",
                )
                await wait(lambda: watch.count("response.done") >= 1, "response.done")
                await wait(lambda: "stopped" in watch.playback, "end of the answer's playback")
                done = watch.last("response.done") or {}
                status = str(done.get("response", {}).get("status"))
                played = speaker.samples_played
                check(
                    step,
                    status == "completed"
                    and watch.playback[:2] == ["started", "stopped"]
                    and played >= SAMPLE_RATE // 2
                    and speaker.last_audible_at > 0,
                    f"speech_started → committed → response {status}, "
                    f"{played / SAMPLE_RATE:.1f} s played on the speaker "
                    f"(playback {' → '.join(watch.playback)})",
                )

                step = "barge-in"
                responses_before = watch.count("response.created")
                played_before = speaker.samples_played  # quiet now: the story starts from here
                watch.note(f"user says {USER_STORY_REQUEST!r}")
                speak(mouth, user_voice(USER_STORY_REQUEST))
                await wait(
                    lambda: watch.count("response.created") > responses_before,
                    "response to the story request",
                )
                await wait(lambda: watch.playback[-1:] == ["started"], "the story to play")
                await wait(
                    lambda: (
                        speaker.playing
                        and speaker.audible_since is not None
                        and time.monotonic() - speaker.audible_since > 0.8
                    ),
                    "the story audible for 0.8 s",
                )
                stops_before = speaker.stops
                starts_before = watch.count("input_audio_buffer.speech_started")
                watch.note(f"user interrupts: {USER_INTERRUPTION!r}")
                speak(mouth, user_voice(USER_INTERRUPTION))
                await wait(
                    lambda: watch.count("input_audio_buffer.speech_started") > starts_before,
                    "speech_started during the story",
                    5.0,
                )
                await wait(lambda: "barge_in" in watch.playback, "barge-in on the Playback chart")
                await wait(lambda: speaker.stops > stops_before, "local playback stop", 2.0)
                stopped_at = time.monotonic()
                # Nothing plays after the stop until the interruption's answer (the user is
                # still speaking): what the speaker played since the request is the story.
                story_played_ms = (speaker.samples_played - played_before) * 1000 // SAMPLE_RATE
                await wait(lambda: not speaker.playing, "the speaker to go quiet", 1.0)
                quiet_after = time.monotonic() - stopped_at
                cancels = watch.sent.count("response.cancel")
                stopped = (
                    f"speech during playback → playback stopped (quiet "
                    f"{quiet_after * 1000:.0f} ms after the stop), "
                    f"{cancels} response.cancel sent by the client"
                )
                barged = cancels == 0 and "barge_in" in watch.playback
                if client_plays:
                    ok, detail = await _client_truncated(watch, wait, story_played_ms)
                    check(step, barged and ok, f"{stopped}, {detail}")
                else:
                    truncated = watch.last("conversation.item.truncated")
                    check(
                        step,
                        barged,
                        f"{stopped}, server truncated at "
                        f"{truncated.get('audio_end_ms') if truncated else '?'} ms",
                    )
                # The interruption is a turn too: let its answer be done before leaving.
                await wait(
                    lambda: watch.count("response.done") >= 3, "the answer to the interruption"
                )
            except StepFailed:
                pass
            except _Timeout as exc:
                checks.append(Check(step, False, str(exc)))
            finally:
                await finish_run(client, result, step_timeout)
    finally:
        speaker.close()
        mouth.close()
    result.trace = wire
    result.seconds = time.monotonic() - started
    return result


async def _client_truncated(
    watch: _Watch,
    wait: Callable[[Callable[[], bool], str], Awaitable[None]],
    played_ms: int,
) -> tuple[bool, str]:
    """Over WebSocket and memory: the client's ``conversation.item.truncate`` says what the
    speaker played of the story (``played_ms``), short of what was received, and the server
    confirmed it. Returns whether it did and the check's detail."""
    truncates = [e for e in watch.sent_events if e.get("type") == "conversation.item.truncate"]
    if len(truncates) != 1:
        return False, f"{len(truncates)} conversation.item.truncate sent (expected 1)"
    sent = truncates[0]
    end_ms = int(sent.get("audio_end_ms", -1))
    item_id = sent.get("item_id")
    await wait(
        lambda: any(
            e.get("type") == "conversation.item.truncated" and e.get("item_id") == item_id
            for e in watch.received
        ),
        "conversation.item.truncated",
    )
    received = sum(
        decode_pcm16(str(e.get("delta", ""))).size
        for e in watch.received
        if e.get("type") == "response.output_audio.delta" and e.get("item_id") == item_id
    )
    received_ms = received * 1000 // WIRE_RATE
    ok = abs(end_ms - played_ms) <= TRUNCATE_TOLERANCE_MS and 0 < end_ms < received_ms
    return ok, (
        f"client truncated at {end_ms} ms (the speaker played {played_ms} ms of "
        f"{received_ms} ms received), server confirmed"
    )


def print_voice_demo(result: VoiceDemoResult, out: TextIO) -> None:
    """The human-readable report: what happened (timeline), chat, responses, checks."""
    where = (
        "the embedded emulator's engine in memory"
        if result.base_url == "memory"
        else f"the embedded emulator at {result.base_url}"
    )
    out.write(f"Voice demo through the default audio devices against {where}\n\nWhat happened\n")
    for t, what in result.timeline:
        out.write(f"  {t:7.3f} s  {what}\n")
    write_chat(result, out)
    write_checks(result, out, "Voice demo")


def _device(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def main(args: argparse.Namespace) -> int:
    """``realtime demo --voice [--transport T] [--speech-device DEVICE] [--json]``: 0 when every
    check passed."""
    try:
        result = asyncio.run(
            run_voice_demo(
                speech_device=_device(args.speech_device),
                transport=getattr(args, "transport", "webrtc"),
            )
        )
    except AudioError as exc:
        print(f"realtime demo --voice: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_voice_demo(result, sys.stdout)
    return 0 if result.ok else 1
