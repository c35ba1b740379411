"""Voice/text mode (the seed's useSessionOptions) and push-to-talk, against the emulator on
every transport (WebRTC and WebSocket over loopback, memory in process) unless a test is about
WebRTC's media tracks. Mode switches settle on ``session.updated`` through the Mode chart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import av
import numpy as np
import pytest

from realtime_machines import AssistantCompleted
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.audio import SpeechTrack, synthesize
from realtime_sdk.errors import NotConnectedError
from realtime_sdk.middleware import IncomingContext
from realtime_sdk.voice import PUSH_TO_TALK_SESSION, ModeSwitchError, PushToTalk, VoiceControls

from .test_client import engine_of, on_every_transport, wait_for
from .test_client import make_client as make_transport_client
from .test_client_playback import appended

Runner = Callable[..., Any]

TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"]}


def make_client(
    emu: Emulator, sent: list[dict[str, Any]], transport: str = "webrtc", **kwargs: Any
) -> RealtimeClient:
    def record(event: Mapping[str, Any]) -> Mapping[str, Any]:
        sent.append(dict(event))
        return event

    kwargs.setdefault("session", TEXT_SESSION)
    return make_transport_client(emu, transport, outgoing_middleware=[record], **kwargs)


#: 20 ms of PCM16 24 kHz: one microphone frame's worth of appended audio.
FRAME_BYTES = 960


def inbound_frames(emu: Emulator, client: RealtimeClient) -> int:
    """The microphone frames the server has received: WebRTC's RTP frames; on WebSocket and
    memory the appended audio, in 20 ms frames."""
    if client.transport_kind == "webrtc":
        return emu.calls[client.call_id or ""].inbound_frames
    return len(appended(engine_of(emu, client))) // FRAME_BYTES


def mode_path(client: RealtimeClient) -> list[tuple[str | None, str, str | None]]:
    return [(s.source, s.event, s.target) for s in client.model.record if s.chart == "mode"]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait (bounded) for something no chart reports, e.g. audio frames flowing."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - frame counters have no event to wait on
            await asyncio.sleep(0.01)


async def settle_text(client: RealtimeClient) -> None:
    """The connect-time session.update has been answered and the chart is in text (the
    server's ``session.created`` has audio output: the chart follows it, then our update)."""

    def answered() -> bool:
        config = client.model.session_config or {}
        return config.get("output_modalities") == ["text"]

    await until(answered)
    assert client.model.mode.state == "text"


@on_every_transport
def test_voice_then_text_waits_for_session_updated(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        stages: list[str] = []
        sent: list[dict[str, Any]] = []
        async with Emulator() as emu:
            client = make_client(emu, sent, transport)
            controls = VoiceControls(client, on_success=stages.append)
            async with client:
                await settle_text(client)
                await controls.initialize_mode("voice")
                # Settled on the server's answer, not on a delay.
                assert client.model.mode.state == "voice"
                assert client.model.session_config is not None
                assert client.model.session_config["output_modalities"] == ["audio"]
                assert mode_path(client)[-2:] == [
                    ("text", "to_voice", "switching_to_voice"),
                    ("switching_to_voice", "updated", "voice"),
                ]
                update = [e for e in sent if e["type"] == "session.update"][-1]
                assert update["session"]["output_modalities"] == ["audio"]
                assert update["event_id"]  # the id an error would name

                # In voice mode a typed message asks for an audio answer.
                await controls.handle_send_message("Hi there")
                done = await wait_for(client, AssistantCompleted)
                assert (done.status, done.response_status) == ("done", "completed")
                create = [e for e in sent if e["type"] == "response.create"][-1]
                assert create["response"]["output_modalities"] == ["audio"]

                await controls.close_voice_mode()
                assert client.model.mode.state == "text"
                assert client.remote_audio_enabled is False
                assert client.model.session_config["output_modalities"] == ["text"]
                assert mode_path(client)[-2:] == [
                    ("voice", "to_text", "switching_to_text"),
                    ("switching_to_text", "updated", "text"),
                ]
                await controls.handle_send_message("And now in text")
                await wait_for(client, AssistantCompleted)
                create = [e for e in sent if e["type"] == "response.create"][-1]
                assert create["response"]["output_modalities"] == ["text"]

                # Already in text: enforcing it again sends nothing.
                updates = sum(e["type"] == "session.update" for e in sent)
                await controls.enforce_text_session()
                assert sum(e["type"] == "session.update" for e in sent) == updates
            assert stages == [
                "voice_initialized",
                "message_sent",
                "assistant_cancelled",
                "voice_closed",
                "message_sent",
            ]

    run(scenario())


@on_every_transport
def test_a_rejected_switch_raises_and_stays_in_voice(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        errors: list[tuple[str, BaseException]] = []
        sent: list[dict[str, Any]] = []
        async with Emulator(faults=Faults(reject_session_update=True)) as emu:
            client = make_client(emu, sent, transport)
            controls = VoiceControls(client, on_error=lambda s, e: errors.append((s, e)))
            async with client:
                # session.created (audio output) is followed; the connect-time switch to
                # text is rejected, so the session stays in voice (on WebRTC session.created
                # may come after connect() returns: wait for it).
                await until(lambda: bool(mode_path(client)))
                assert client.model.mode.state == "voice"
                with pytest.raises(ModeSwitchError) as caught:
                    await controls.enforce_text_session()
                assert caught.value.mode == "text"
                assert "session.update rejected" in caught.value.reason
                assert "reject session.update" in caught.value.reason  # the server's message
                assert client.model.mode.state == "voice"
                assert mode_path(client) == [
                    ("text", "server_chose_voice", "voice"),
                    ("voice", "to_text", "switching_to_text"),
                    ("switching_to_text", "rejected", "voice"),
                ]
            assert [stage for stage, _ in errors] == ["text_initialized"]
            assert errors[0][1] is caught.value

    run(scenario())


@on_every_transport
def test_a_switch_without_answer_in_time_raises(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        sent: list[dict[str, Any]] = []
        unanswered = [False]

        def lose_the_answer(ctx: IncomingContext) -> Any:
            """From the switch on, the server's session.updated never reaches the client."""
            if unanswered[0] and ctx.event.get("type") == "session.updated":
                return "stop"
            return None

        async with Emulator() as emu:
            client = make_client(
                emu,
                sent,
                transport,
                timeouts={"mode_switch": 0.2},
                incoming_middleware=[lose_the_answer],
            )
            controls = VoiceControls(client)
            async with client:
                await settle_text(client)
                unanswered[0] = True
                with pytest.raises(ModeSwitchError, match=r"no session\.updated within"):
                    await controls.initialize_mode("voice")
                assert mode_path(client)[-2:] == [
                    ("text", "to_voice", "switching_to_voice"),
                    ("switching_to_voice", "timed_out", "text"),
                ]

    run(scenario())


@on_every_transport
def test_mode_methods_need_a_connection(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            controls = VoiceControls(make_client(emu, [], transport))
            with pytest.raises(NotConnectedError):
                await controls.enforce_voice_session()
            with pytest.raises(ValueError, match="'voice' or 'text'"):
                await controls.initialize_mode("video")  # type: ignore[arg-type]
            failures: list[BaseException] = []
            await controls.handle_send_message("hi", on_error=failures.append)
            assert isinstance(failures[0], NotConnectedError)

    run(scenario())


class CountingSink:
    def __init__(self) -> None:
        self.frames = 0
        self.stops = 0

    def __call__(self, frame: av.AudioFrame) -> None:
        self.frames += 1

    def stop(self) -> None:
        self.stops += 1


# WebRTC only: the remote media track and renegotiation are WebRTC's; on WebSocket and memory
# muting drops the local player's audio (test_client_playback.py, the muting test).
def test_remote_tracks_mute_without_renegotiation(run: Runner) -> None:
    async def scenario() -> None:
        sink = CountingSink()
        async with Emulator() as emu:
            client = make_client(emu, [], audio_sink=sink)
            controls = VoiceControls(client)
            async with client:
                pc = client.peer_connection
                await until(lambda: sink.frames >= 5)
                controls.set_remote_tracks_enabled(False)
                assert sink.stops == 1  # whatever was queued is dropped
                muted_at = sink.frames
                drained = client._peer.frames_received
                # The remote track is still drained while muted, the sink hears nothing.
                await until(lambda: client._peer.frames_received >= drained + 10)
                assert sink.frames == muted_at
                controls.set_remote_tracks_enabled(True)
                await until(lambda: sink.frames >= muted_at + 5)
                assert client.peer_connection is pc
                assert pc.signalingState == "stable"

    run(scenario())


@on_every_transport
def test_push_to_talk_commits_real_audio_and_gets_an_answer(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        heard: list[float] = []

        def transcribe(pcm: bytes) -> str:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
            heard.append(float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0)
            return "What is the weather?"

        received: list[str] = []
        sent: list[dict[str, Any]] = []
        mic = SpeechTrack()
        async with Emulator(config=EmulatorConfig(transcribe=transcribe)) as emu:
            client = make_client(
                emu,
                sent,
                transport,
                microphone=lambda: mic,
                on_event=lambda e: received.append(e["type"]),
            )
            controls = VoiceControls(client, voice_session=PUSH_TO_TALK_SESSION)
            async with client:
                await settle_text(client)
                await controls.initialize_mode("voice")  # server VAD off, confirmed
                assert client.model.session_config is not None
                assert client.model.session_config["audio"]["input"]["turn_detection"] is None
                update = [e for e in sent if e["type"] == "session.update"][-1]
                assert update["session"]["audio"]["input"]["turn_detection"] is None

                ptt = PushToTalk(client)  # the microphone is closed until pressed
                idle_from = inbound_frames(emu, client)
                await until(lambda: mic.frames_sent > 0)
                sent.clear()

                await ptt.press()
                pressed = [ptt.pressed]
                mic.play(synthesize("What is the weather like today?"))
                await until(lambda: inbound_frames(emu, client) > idle_from + 10)
                await until(lambda: mic.queued_ms == 0, timeout=8.0)
                await ptt.release()
                pressed.append(ptt.pressed)
                assert pressed == [True, False]

                done = await wait_for(client, AssistantCompleted)
                assert (done.status, done.response_status) == ("done", "completed")
                assert [e["type"] for e in sent][:3] == [
                    "input_audio_buffer.clear",
                    "input_audio_buffer.commit",
                    "response.create",
                ]
                assert "input_audio_buffer.committed" in received
                assert "input_audio_buffer.speech_started" not in received  # VAD is off
                assert heard
                assert heard[-1] > 0.05  # the committed buffer held the speech, not silence
                assert any(item.role == "user" for item in client.chat)

    run(scenario())


PTT_QUESTIONS = ("What is the weather like today?", "And what about tomorrow?")
PTT_SESSION = {
    **TEXT_SESSION,
    "audio": {
        "input": {"transcription": {"model": "gpt-realtime-whisper"}, "turn_detection": None}
    },
}


@on_every_transport
def test_push_to_talk_two_turns_with_the_microphone_closed_between(
    run: Runner, transport: str
) -> None:
    """press → speak → release, twice. Both turns are committed with the speech in them,
    transcribed and answered; between the presses the user talks too (an aside) and the
    server hears none of it: over WebRTC no frames arrive (the sender has no track), over
    WebSocket and memory the pump goes on at the microphone's pace with zeros. The microphone
    is the emulator's SpeechTrack, muted by the client while released (frames of zeros, the
    pace goes on), so the pump resumes on the next press."""

    async def scenario() -> None:
        heard: list[float] = []

        def transcribe(pcm: bytes) -> str:
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
            heard.append(float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0)
            return PTT_QUESTIONS[min(len(heard), len(PTT_QUESTIONS)) - 1]

        answers: list[AssistantCompleted] = []
        mic = SpeechTrack()
        async with Emulator(config=EmulatorConfig(transcribe=transcribe)) as emu:
            client = make_client(emu, [], transport, microphone=lambda: mic, session=PTT_SESSION)
            client.on(AssistantCompleted.name, answers.append)
            async with client:
                await until(lambda: inbound_frames(emu, client) > 5)
                ptt = PushToTalk(client)  # closed until pressed
                for turn, question in enumerate(PTT_QUESTIONS):
                    await asyncio.sleep(0.1)  # frames already in flight arrive
                    closed_at = inbound_frames(emu, client)
                    appended_at = len(appended(engine_of(emu, client)))
                    mic.play(synthesize("Not now, I am on the phone."))  # not pressed
                    await asyncio.sleep(0.3)
                    if transport == "webrtc":
                        assert inbound_frames(emu, client) <= closed_at + 2
                    else:  # the pace goes on, with zeros
                        aside = appended(engine_of(emu, client))[appended_at:]
                        assert len(aside) > 10 * FRAME_BYTES
                        assert not np.frombuffer(aside, dtype="<i2").any()
                    mic.clear()  # the aside is over
                    await ptt.press()
                    await ptt.press()  # idempotent
                    pressed_at = inbound_frames(emu, client)
                    mic.play(synthesize(question))
                    await until(lambda: mic.queued_ms == 0, timeout=8.0)
                    assert inbound_frames(emu, client) > pressed_at + 10
                    await ptt.release()
                    await ptt.release()  # idempotent
                    await until(lambda: len(answers) > turn, timeout=10.0)  # noqa: B023
                    assert answers[turn].response_status == "completed"

                assert len(heard) == 2
                assert min(heard) > 0.05  # each committed buffer held the speech
                users = [item.text for item in client.chat if item.role == "user"]
                assistants = [item.text for item in client.chat if item.role == "assistant"]
                assert users == list(PTT_QUESTIONS)  # both transcribed
                assert assistants == [f"You said: {q}" for q in PTT_QUESTIONS]

    run(scenario())
