"""WebSocketTransport against the emulator's real WebSocket route (loopback sockets)."""

from __future__ import annotations

import asyncio
import base64
import fractions
import json
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pydantic
import pytest
from aiortc.mediastreams import MediaStreamError
from openai.types.realtime import RealtimeClientEvent

from realtime_sdk.audio_convert import MicrophonePcm, Pcm24kConverter, decode_pcm16
from realtime_sdk.emulator import Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.audio import synthesize
from realtime_sdk.errors import ConnectError, SendError
from realtime_sdk.transports import ConnectContext, Transport, TransportEvents, WebSocketTransport
from realtime_sdk.transports.websocket import MAX_MESSAGE_SIZE, RETRYABLE_CLOSE_CODES

Runner = Any
CLIENT_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)
MODEL = "gpt-realtime"


class Recording(WebSocketTransport):
    """Keeps every event sent, to validate against the official models."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        await super().send(text)
        self.sent.append(text)


class Wire:
    """The events and losses a transport reports, with waits (generous upper bounds)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lost: list[str] = []
        self._changed = asyncio.Event()

    def message(self, text: str) -> None:
        self.events.append(json.loads(text))
        self._changed.set()

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)
        self._changed.set()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def event(self, kind: str, after: int = 0) -> dict[str, Any]:
        await self.until(lambda: kind in self.types()[after:])
        return next(e for e in self.events[after:] if e["type"] == kind)

    def context(self, emu: Emulator, token: str | None = None, **extra: Any) -> ConnectContext:
        return ConnectContext(
            base_url=emu.base_url,
            token=emu.api_key if token is None else token,
            model=MODEL,
            events=TransportEvents(on_message=self.message, on_lost=self.on_lost),
            **extra,
        )


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Poll a condition nothing signals (pongs, a fake track draining); generous bound."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def connect(transport: Transport, context: ConnectContext) -> None:
    for step in transport.steps:
        async with asyncio.timeout(step.timeout):
            await transport.run_step(step.state, context)


def validate_sent(transport: Recording) -> list[str]:
    kinds = []
    for text in transport.sent:
        model = CLIENT_EVENTS.validate_python(json.loads(text))
        kinds.append(model.type)
    return kinds


def user_text(text: str) -> str:
    return json.dumps(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )


async def session_update(transport: Transport, wire: Wire, session: dict[str, Any]) -> None:
    before = len(wire.events)
    await transport.send(json.dumps({"type": "session.update", "session": session}))
    await wire.event("session.updated", before)


def test_the_transport_declares_its_wire() -> None:
    transport = WebSocketTransport()
    assert transport.kind == "websocket"
    assert transport.owns_playback is True
    assert [(s.state, s.stage) for s in transport.steps] == [
        ("opening_socket", "openai_api"),
        ("awaiting_session", "data_channel"),
    ]
    assert transport.max_message_size == MAX_MESSAGE_SIZE
    assert {1001, 1005, 1006, 1011, 1012, 1013, 1015} == RETRYABLE_CLOSE_CODES
    other = transport.fresh()
    assert isinstance(other, WebSocketTransport)
    assert other is not transport
    assert other.ping_interval == transport.ping_interval
    with pytest.raises(ValueError, match="ping_interval"):
        WebSocketTransport(ping_interval=0)


def test_handshake_delivers_session_created_then_session_update(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            transport = Recording()
            await transport.run_step("opening_socket", wire.context(emu))
            await transport.run_step("awaiting_session", wire.context(emu))
            assert wire.types()[0] == "session.created"
            assert transport.last_inbound > 0
            await session_update(transport, wire, {"type": "realtime", "instructions": "Be brief."})
            assert wire.events[-1]["session"]["instructions"] == "Be brief."
            await transport.close()
            await transport.close()  # idempotent
            assert wire.lost == []  # a close the client asked for is not a loss
            with pytest.raises(SendError, match="closed"):
                await transport.send('{"type": "response.create"}')
            assert validate_sent(transport) == ["session.update"]

    run(main())


def test_text_turn_arrives_in_order(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            transport = Recording()
            await connect(transport, wire.context(emu))
            await session_update(
                transport, wire, {"type": "realtime", "output_modalities": ["text"]}
            )
            start = len(wire.events)
            await transport.send(user_text("Tell me about the sea."))
            await transport.send(json.dumps({"type": "response.create"}))
            done = await wire.event("response.done", start)
            turn = wire.types()[start:]
            assert turn.index("response.created") < turn.index("response.output_text.delta")
            assert turn.index("response.output_text.done") < turn.index("response.done")
            deltas = [
                e["delta"] for e in wire.events[start:] if e["type"] == "response.output_text.delta"
            ]
            assert len(deltas) > 1
            text = (await wire.event("response.output_text.done", start))["text"]
            assert "".join(deltas) == text  # every delta, in order
            assert done["response"]["status"] == "completed"
            await transport.close()
            assert validate_sent(transport) == [
                "session.update",
                "conversation.item.create",
                "response.create",
            ]

    run(main())


def test_send_audio_makes_server_vad_fire_and_audio_deltas_decode(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(config=EmulatorConfig(ms_per_char=10.0)) as emu:
            wire = Wire()
            transport = Recording()
            await connect(transport, wire.context(emu))
            silence = np.zeros(12000, dtype=np.int16)  # 500 ms
            speech = synthesize("Hello, my name is Marcelo.")
            pcm = np.concatenate([silence, speech, silence]).astype("<i2").tobytes()
            for start in range(0, len(pcm), 9600):  # 200 ms pieces, as an app would stream
                await transport.send_audio(pcm[start : start + 9600])
            started = await wire.event("input_audio_buffer.speech_started")
            stopped = await wire.event("input_audio_buffer.speech_stopped")
            assert started["audio_start_ms"] == 200  # 500 ms of silence minus 300 ms padding
            assert stopped["audio_end_ms"] >= 500 + speech.size // 24
            done = await wire.event("response.done")
            audio = [
                decode_pcm16(e["delta"])
                for e in wire.events
                if e["type"] == "response.output_audio.delta"
                and e["response_id"] == done["response"]["id"]
            ]
            assert audio
            samples = np.concatenate(audio)
            assert samples.size > 2400  # more than 100 ms of the assistant's voice
            assert float(np.abs(samples).max()) > 1000  # not silence
            await transport.close()
            kinds = validate_sent(transport)
            assert set(kinds) == {"input_audio_buffer.append"}
            assert len(kinds) == -(-len(pcm) // 9600)

    run(main())


def test_send_audio_is_split_to_fit_the_message_size(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            transport = Recording(max_message_size=2048)
            await connect(transport, wire.context(emu))
            pcm = np.arange(-5000, 5000, dtype=np.int16).astype("<i2").tobytes()  # 20000 bytes
            await transport.send_audio(pcm)
            assert len(transport.sent) > 1
            assert all(len(text.encode()) <= 2048 for text in transport.sent)
            joined = b"".join(base64.b64decode(json.loads(t)["audio"]) for t in transport.sent)
            assert joined == pcm
            validate_sent(transport)
            with pytest.raises(SendError, match="at most 2048"):
                await transport.send(json.dumps({"type": "session.update", "x": "y" * 3000}))
            with pytest.raises(ValueError, match="even number"):
                await transport.send_audio(b"\x00\x01\x02")
            await transport.close()

    run(main())


def test_wrong_key_fails_the_opening_step_with_the_servers_message(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            transport = WebSocketTransport()
            with pytest.raises(ConnectError) as caught:
                await transport.run_step("opening_socket", wire.context(emu, token="sk-wrong-key"))
            assert caught.value.stage == "openai_api"
            assert "invalid_api_key" in caught.value.message
            assert "Incorrect API key provided" in caught.value.message
            assert "code 3000" in caught.value.message
            assert "sk-wrong-key" not in str(caught.value)
            assert wire.events == []  # the refusal is the step's failure, not an event
            assert transport.close_code == 3000
            await transport.close()

    run(main())


def test_an_http_refusal_fails_the_opening_step_with_its_status(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            context = wire.context(emu)
            context.base_url = emu.base_url + "/not-here"
            transport = WebSocketTransport()
            with pytest.raises(ConnectError, match="HTTP 404") as caught:
                await transport.run_step("opening_socket", context)
            assert caught.value.stage == "openai_api"
            await transport.close()

    run(main())


def test_a_dropped_socket_calls_on_lost_with_the_close_code(run: Runner) -> None:
    async def main() -> None:
        emu = Emulator()
        await emu.start()
        try:
            wire = Wire()
            transport = WebSocketTransport()
            await connect(transport, wire.context(emu))
        finally:
            await emu.aclose()  # closes every WebSocket with 1001 "going away"
        await wire.until(lambda: bool(wire.lost))
        assert transport.close_code == 1001
        assert transport.retryable is True
        assert "1001" in wire.lost[0]
        assert "retryable" in wire.lost[0]
        assert "not retryable" not in wire.lost[0]
        with pytest.raises(SendError):
            await transport.send('{"type": "response.create"}')
        await transport.close()
        assert len(wire.lost) == 1

    run(main())


def test_a_server_close_mid_response_is_lost_and_not_retryable(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(close_mid_response=True)) as emu:
            wire = Wire()
            transport = WebSocketTransport()
            await connect(transport, wire.context(emu))
            await transport.send(user_text("hello"))
            await transport.send(json.dumps({"type": "response.create"}))
            await wire.until(lambda: bool(wire.lost))
            assert transport.close_code == 1000
            assert "not retryable" in wire.lost[0]
            await transport.close()

    run(main())


def test_last_inbound_advances_with_pongs_alone(run: Runner) -> None:
    async def main() -> None:
        # an idle call: no events after session.created, but the socket answers pings
        async with Emulator() as emu:
            wire = Wire()
            transport = WebSocketTransport(ping_interval=0.05)
            await connect(transport, wire.context(emu))
            count = len(wire.events)
            mark = transport.last_inbound
            pongs = transport.pongs
            await eventually(lambda: transport.pongs >= pongs + 3)
            assert transport.last_inbound > mark
            assert len(wire.events) == count  # nothing but pongs came
            await transport.close()

    run(main())


def test_a_vanished_peer_answers_no_pings(run: Runner) -> None:
    async def main() -> None:
        # the peer goes silent mid-response, socket open: no events, no pongs (it is gone)
        async with Emulator(faults=Faults(vanish_mid_response=True)) as emu:
            wire = Wire()
            transport = WebSocketTransport(ping_interval=None)
            await connect(transport, wire.context(emu))
            await transport.send(user_text("hello"))
            await transport.send(json.dumps({"type": "response.create"}))
            await wire.event("response.created")
            await eventually(lambda: emu.engines[-1].silent)
            pongs = transport.pongs
            for _ in range(3):
                await transport.ping()
            await asyncio.sleep(0.2)
            assert transport.pongs == pongs
            assert not wire.lost  # nothing closed: only the liveness check can tell
            await transport.close()

    run(main())


def test_explicit_ping_is_answered(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            transport = WebSocketTransport(ping_interval=None)
            await connect(transport, wire.context(emu))
            before = transport.last_inbound
            await asyncio.sleep(0.01)
            await transport.ping()
            await eventually(lambda: transport.pongs > 0)
            assert transport.last_inbound > before
            await transport.close()
            with pytest.raises(SendError):
                await transport.ping()

    run(main())


class FakeMicrophone:
    """A 48 kHz aiortc-like track playing fixed PCM in 20 ms frames, then ending."""

    def __init__(self, pcm48: np.ndarray) -> None:
        self.frames = [pcm48[i : i + 960] for i in range(0, pcm48.size, 960)]
        self.pts = 0

    async def recv(self) -> av.AudioFrame:
        if not self.frames:
            raise MediaStreamError
        samples = self.frames.pop(0)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, 48000)
        self.pts += samples.size
        await asyncio.sleep(0)
        return frame


async def assert_only_silence_sent(transport: Recording, wire: Wire, mic: FakeMicrophone) -> None:
    """Once the microphone has ended, every append the server got carried zeros."""
    await eventually(lambda: not mic.frames)
    # the server answers the clear after every append before it: all of them have arrived
    await transport.send(json.dumps({"type": "input_audio_buffer.clear"}))
    await wire.event("input_audio_buffer.cleared")
    appended = [decode_pcm16(json.loads(t)["audio"]) for t in transport.sent if "append" in t]
    assert appended
    assert not np.concatenate(appended).any()


def upsample(pcm24: np.ndarray) -> np.ndarray:
    return np.repeat(pcm24, 2).astype(np.int16)


def test_microphone_frames_become_24k_pcm_chunks_with_mute() -> None:
    async def collect(mic: MicrophonePcm, mute_after: int | None) -> list[bytes]:
        out = []
        async for chunk in mic:
            out.append(chunk)
            if mute_after is not None and len(out) == mute_after:
                mic.muted = True
        return out

    tone = (np.sin(np.arange(48000) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    chunks = asyncio.run(collect(MicrophonePcm(FakeMicrophone(tone)), mute_after=25))
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert abs(pcm.size - 24000) <= 480  # 1 s at 24 kHz (the resampler may hold a little)
    first = pcm[: 24 * 480]  # before mute
    assert float(np.abs(first[2400:]).max()) > 6000  # the tone went through
    spectrum = np.abs(np.fft.rfft(first[2400:4800].astype(np.float64)))
    assert abs(int(np.argmax(spectrum)) * 24000 / 2400 - 440) <= 10
    muted = np.frombuffer(b"".join(chunks[25:]), dtype="<i2")
    assert muted.size > 0
    assert not muted.any()
    with pytest.raises(TypeError, match="recv"):
        MicrophonePcm(object())


def test_converter_mixes_stereo_and_resamples() -> None:
    stereo = np.zeros((1, 2 * 480), dtype=np.int16)
    stereo[0, 0::2] = 1000
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = 48000
    out = b"".join(Pcm24kConverter().convert(frame) for _ in range(4))
    assert 0 < len(out) <= 4 * 240 * 2


def test_a_microphone_in_the_context_is_streamed_and_heard_by_vad(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(config=EmulatorConfig(ms_per_char=10.0)) as emu:
            wire = Wire()
            silence = np.zeros(12000, dtype=np.int16)
            speech = synthesize("Hello, my name is Marcelo.")
            mic = FakeMicrophone(upsample(np.concatenate([silence, speech, silence])))
            transport = Recording()
            await connect(transport, wire.context(emu, microphone=mic))
            started = await wire.event("input_audio_buffer.speech_started")
            await wire.event("input_audio_buffer.speech_stopped")
            assert 100 <= started["audio_start_ms"] <= 300
            await transport.close()
            assert set(validate_sent(transport)) == {"input_audio_buffer.append"}

    run(main())


def test_a_muted_microphone_sends_silence_the_vad_ignores(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            speech = synthesize("Hello, my name is Marcelo.")
            mic = FakeMicrophone(upsample(np.concatenate([speech, np.zeros(12000, np.int16)])))
            transport = Recording()
            context = wire.context(emu, microphone=mic)
            await connect(transport, context)
            transport.set_microphone(False)  # before the microphone task's first frame
            await assert_only_silence_sent(transport, wire, mic)
            assert "input_audio_buffer.speech_started" not in wire.types()
            await transport.close()

    run(main())


def test_an_oversized_server_event_ends_the_call_with_1009(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(oversized_frame_bytes=100_000)) as emu:
            wire = Wire()
            transport = WebSocketTransport(max_incoming=64 * 1024)
            await connect(transport, wire.context(emu))
            await wire.until(lambda: bool(wire.lost))
            assert transport.close_code == 1009
            assert "1009" in wire.lost[0]
            assert "message too big" in wire.lost[0]
            assert wire.types() == ["session.created"]
            await transport.close()

    run(main())


def test_a_non_json_frame_is_delivered_as_it_came_and_the_call_goes_on(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(nonjson_frame=True)) as emu:
            texts: list[str] = []
            wire = Wire()

            def on_message(text: str) -> None:
                texts.append(text)
                if text.startswith("{"):
                    wire.message(text)

            context = wire.context(emu)
            context.events = TransportEvents(on_message=on_message, on_lost=wire.on_lost)
            transport = WebSocketTransport()
            await connect(transport, context)
            await session_update(transport, wire, {"type": "realtime"})
            assert len(texts) == 3  # session.created, the bad frame, session.updated: in order
            assert not texts[1].startswith("{")
            assert wire.lost == []
            await transport.close()

    run(main())


def test_muting_before_the_microphone_starts_is_kept(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            wire = Wire()
            speech = synthesize("Hello, my name is Marcelo.")
            mic = FakeMicrophone(upsample(speech[:4800]))
            transport = Recording()
            context = wire.context(emu, microphone=mic)
            transport.set_microphone(False)  # muted before connecting: the mic starts muted
            await connect(transport, context)
            await assert_only_silence_sent(transport, wire, mic)
            await transport.close()

    run(main())
