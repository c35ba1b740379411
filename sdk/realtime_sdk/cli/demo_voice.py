"""``realtime demo --voice``: one spoken turn and one barge-in through the default audio devices.

A :class:`~realtime_sdk.client.RealtimeClient` with ``microphone=microphone_factory(...)`` (the
default input, behind an :class:`~realtime_sdk.audio.EchoGuard` in ``gate`` mode) and
``audio_sink=Speaker()`` (the default output) talks to an in-process
:class:`~realtime_sdk.emulator.Emulator` over loopback WebRTC (127.0.0.1 only), server VAD on
(``create_response`` and ``interrupt_response``).

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
   ``interrupt_response`` already cut the response);
5. **disconnect**.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO

import av
import numpy as np
import numpy.typing as npt

from realtime_machines import AssistantDelta, Transition

from ..audio import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioError,
    EchoGuard,
    Speaker,
    list_devices,
    microphone_factory,
)
from ..client import RealtimeClient
from ..config import deep_merge
from ..emulator import DeterministicBrain, Emulator, Say, ScriptedBrain, synthesize
from ..errors import ConnectError
from ..keys import api_key_token_provider
from ..trace import WireTrace
from .chat_repl import VOICE_CHAT_SESSION
from .demo import Check, DemoResult, connected_detail, finish_run, write_chat, write_checks

__all__ = [
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


class _StepFailed(Exception):
    pass


class _Watch:
    """Wire events and Playback transitions as they arrive, with waits that time out."""

    def __init__(self, started: float, timeline: list[tuple[float, str]]) -> None:
        self.received: list[dict[str, Any]] = []
        self.sent: list[str] = []
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
        if kind.startswith(("input_audio_buffer.", "response.created", "response.done")):
            self.note(f"received {kind}")
        self._changed.set()

    def on_sent(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type"))
        self.sent.append(kind)
        if kind.startswith("response."):
            self.note(f"sent {kind}")

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
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise _Timeout(f"no {what} within {limit:g} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch._changed.wait(), 0.02)
        watch._changed.clear()


async def run_voice_demo(
    *,
    speech_device: int | str | None = None,
    step_timeout: float = 10.0,
) -> VoiceDemoResult:
    """Run the voice demo; every wait is bounded by ``step_timeout`` seconds.

    Never raises for a failed step (its :class:`~realtime_sdk.cli.demo.Check` says what went
    wrong and the steps after it are not run), except :class:`~realtime_sdk.audio.AudioError`
    when there are no usable audio devices at all.
    """
    started = time.monotonic()
    result = VoiceDemoResult()
    checks = result.checks

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, ok, detail))
        if not ok:
            raise _StepFailed(detail)

    check_devices()
    speaker = Speaker()
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
        async with Emulator(brain=brain) as emu:
            result.base_url = emu.base_url

            def incoming(ctx: Any) -> None:
                wire.incoming(ctx)
                watch.on_received(dict(ctx.event))

            def outgoing(event: dict[str, Any]) -> None:
                wire.outgoing(event)
                watch.on_sent(event)

            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
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
                try:
                    async with asyncio.timeout(step_timeout):
                        await client.connect()
                except (ConnectError, TimeoutError) as exc:
                    check(step, False, f"connect failed: {exc}")
                await wait(lambda: captured() >= 10, "captured microphone frames")
                check(step, True, connected_detail(client, "webrtc"))

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
                await wait(lambda: not speaker.playing, "the speaker to go quiet", 1.0)
                quiet_after = time.monotonic() - stopped_at
                cancels = watch.sent.count("response.cancel")
                truncated = watch.last("conversation.item.truncated")
                check(
                    step,
                    cancels == 0 and "barge_in" in watch.playback,
                    f"speech during playback → playback stopped (quiet "
                    f"{quiet_after * 1000:.0f} ms after the stop), "
                    f"{cancels} response.cancel sent by the client, server truncated at "
                    f"{truncated.get('audio_end_ms') if truncated else '?'} ms",
                )
                # The interruption is a turn too: let its answer be done before leaving.
                await wait(
                    lambda: watch.count("response.done") >= 3, "the answer to the interruption"
                )
            except _StepFailed:
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


def print_voice_demo(result: VoiceDemoResult, out: TextIO) -> None:
    """The human-readable report: what happened (timeline), chat, responses, checks."""
    out.write(
        "Voice demo through the default audio devices against the embedded emulator at "
        f"{result.base_url}\n\nWhat happened\n"
    )
    for t, what in result.timeline:
        out.write(f"  {t:7.3f} s  {what}\n")
    write_chat(result, out)
    write_checks(result, out, "Voice demo")


def _device(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def main(args: argparse.Namespace) -> int:
    """``realtime demo --voice [--speech-device DEVICE] [--json]``: 0 when every check passed."""
    try:
        result = asyncio.run(run_voice_demo(speech_device=_device(args.speech_device)))
    except AudioError as exc:
        print(f"realtime demo --voice: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(result.to_json(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_voice_demo(result, sys.stdout)
    return 0 if result.ok else 1
