"""The GPT-Live client (``RealtimeClient(api="live")``) against the emulator's Live sessions:
WebSocket (``session.start`` first), WebRTC (JSON create, ``session.started`` on the channel)
and a sideband attached by id. Every client event the emulator received from our client
validates against the official ``openai.types.live`` client-event unions."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pydantic
import pytest
from openai.types.live import ClientEvent, ConnectClientEvent

from realtime_machines.live import LiveChatOptions
from realtime_sdk import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig, Say, ScriptedBrain
from realtime_sdk.emulator.audio import SpeechTrack, synthesize
from realtime_sdk.emulator.live.engine import LiveEngine
from realtime_sdk.errors import ConnectError
from realtime_sdk.live_client import (
    Delegation,
    LiveClient,
    LiveConfigError,
    LiveUnsupportedError,
)
from realtime_sdk.transports.live import LiveWebSocketTransport
from realtime_sdk.transports.websocket import WebSocketTransport
from tests.emulator.live_kit import assert_valid

Runner = Callable[..., Any]
MS_PER_CHAR = 12.0
CLIENT_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ClientEvent)
CONNECT_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ConnectClientEvent)
WEATHER_DELEGATION = {"type": "responses", "responses": {"model": "gpt-5-mini"}}
WEATHER_SCHEMA = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
QUICK = LiveChatOptions(silence_ms=400)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 8.0) -> None:  # noqa: ASYNC109
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # noqa: ASYNC110 - the client's state has no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"no {what} within {timeout} s") from None


def emulator(heard: str = "Hello there") -> Emulator:
    return Emulator(config=EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: heard))


def the_engine(emu: Emulator) -> LiveEngine:
    [engine] = emu.live.engines.values()
    return engine


def test_websocket_session_speaks_delegates_to_a_tool_mutes_and_closes(run: Runner) -> None:
    mic = SpeechTrack()
    calls: list[str] = []

    async def main() -> tuple[LiveClient, LiveEngine, list[str]]:
        async with emulator("get_weather in Paris") as emu:
            client = RealtimeClient(
                api="live",
                api_key=emu.api_key,
                base_url=emu.base_url,
                transport="websocket",
                session={"model": "gpt-live-1", "delegation": WEATHER_DELEGATION},
                microphone=lambda: mic,
                chat_options=QUICK,
            )
            assert isinstance(client, LiveClient)
            names: list[str] = []
            for name in ("session:started", "delegation:created", "input:muted", "tool:call_done"):
                client.on(name, lambda n: names.append(n.name))

            @client.tool
            def get_weather(city: str) -> dict[str, Any]:
                """The weather in a city."""
                calls.append(city)
                return {"city": city, "conditions": "sunny"}

            await client.connect()
            engine = the_engine(emu)
            assert client.session_id == engine.id
            assert client.model.states()["live_session"] == "started"
            mic.play(synthesize("get weather in Paris", ms_per_char=MS_PER_CHAR))
            await until(lambda: "Tool result" in "".join(r.text for r in client.chat), "answer")
            assert await client.mute() is True
            assert client.model.input_audio.state == "muted"
            assert await client.unmute() is True
            await client.send_text_message("Say goodbye.")
            await until(lambda: engine.received[-1]["type"] != "session.close", "append")
            await client.disconnect()
            return client, engine, names

    client, engine, names = run(main(), timeout=40)
    assert calls == ["example"]  # the emulator fills the schema's required field
    chart = next(iter(client.model.delegations.values()))
    assert chart.target == "responses"
    assert chart.state == "done"
    assert client.model.session.state == "closed"
    assert client.model.session.reason == "close_requested"
    assert client.status == "disconnected"
    roles = [row.role for row in client.chat]
    assert roles[0] == "user"
    assert "assistant" in roles
    assert {"session:started", "delegation:created", "input:muted", "tool:call_done"} <= set(names)
    sent = [e for e in engine.received if e["type"] != "session.input_audio.append"]
    kinds = [e["type"] for e in sent]
    assert kinds[0] == "session.start"
    # every output before the one response.create that continues the run
    assert kinds.index("response.item.create") < kinds.index("response.create")
    assert kinds.count("response.create") == 1
    seen = assert_valid(list(engine.received), CLIENT_EVENT)
    assert {
        "session.start",
        "session.input_audio.append",
        "response.item.create",
        "response.create",
        "session.input_audio.mute",
        "session.instructions.append",
        "session.close",
    } <= seen


def test_webrtc_session_starts_on_the_channel_and_answers_a_client_delegation(run: Runner) -> None:
    from realtime_sdk.emulator import CallTool, ScriptedBrain

    brain = ScriptedBrain([[CallTool("lookup_order", {"id": 7})]])
    asked: list[Delegation] = []

    def on_delegation(delegation: Delegation) -> str:
        asked.append(delegation)
        return "It ships tomorrow."

    async def main() -> tuple[LiveClient, list[dict[str, Any]]]:
        config = EmulatorConfig(ms_per_char=MS_PER_CHAR)
        async with Emulator(config=config, brain=brain) as emu:
            client = LiveClient(
                api_key=emu.api_key,
                base_url=emu.base_url,
                ice_servers=[],
                session={"model": "gpt-live-1", "delegation": {"type": "client"}},
                on_delegation=on_delegation,
                chat_options=QUICK,
            )
            await client.connect()
            engine = the_engine(emu)
            assert client.call_id == engine.id
            await client.send_instructions("Greet the caller.")
            await until(lambda: "tomorrow" in "".join(r.text for r in client.chat), "answer")
            await client.disconnect()
            return client, list(engine.received)

    client, received = run(main(), timeout=40)
    assert [d.target for d in asked] == ["client"]
    [chart] = client.model.delegations.values()
    assert chart.state == "done"
    assert client.model.session.reason == "close_requested"
    kinds = [e["type"] for e in received]
    assert "session.start" not in kinds  # never on the data channel
    assert "session.commentary.append" in kinds
    assert assert_valid(received, CLIENT_EVENT) >= {"session.close"}


def test_a_sideband_attaches_runs_the_tools_and_mutes(run: Runner) -> None:
    delegation = {
        "type": "responses",
        "responses": {"model": "gpt-5-mini", "tools": [WEATHER_SCHEMA]},
    }

    async def main() -> tuple[LiveClient, list[dict[str, Any]]]:
        async with emulator("get_weather in Paris") as emu:
            # The primary declares the tool; the sideband owns running it (one owner per action).
            primary = LiveClient(
                api_key=emu.api_key,
                base_url=emu.base_url,
                transport="websocket",
                session={"model": "gpt-live-1", "delegation": delegation},
                microphone=SpeechTrack,
                chat_options=QUICK,
            )
            await primary.connect()
            session_id = primary.session_id
            assert session_id is not None
            sideband = LiveClient.attach(
                session_id,
                api_key=emu.api_key,
                base_url=emu.base_url,
                tools=[get_weather],
                chat_options=QUICK,
            )
            engine = the_engine(emu)
            count = len(engine.received)
            await sideband.connect()
            assert sideband.model.states()["live_session"] == "started"
            with pytest.raises(NotImplementedError):
                await sideband.send_audio(b"\0\0")
            assert await sideband.mute() is True
            mic = primary._microphone
            assert isinstance(mic, SpeechTrack)
            await sideband.unmute()
            mic.play(synthesize("get weather in Paris", ms_per_char=MS_PER_CHAR))
            await until(lambda: "Tool result" in "".join(r.text for r in primary.chat), "answer")
            received = list(engine.received)[count:]
            await primary.disconnect()
            await until(lambda: sideband.status != "connected", "the sideband's end")
            await sideband.disconnect()
            return sideband, received

    sideband, received = run(main(), timeout=40)
    assert sideband.model.connection.state == "disconnected"
    outputs = [e["item"]["output"] for e in received if e["type"] == "response.item.create"]
    assert outputs == ["sunny in example"]
    mine = [e for e in received if e["type"] != "session.input_audio.append"]
    kinds = [e["type"] for e in mine]
    assert "response.item.create" in kinds
    assert "response.create" in kinds
    assert "session.start" not in kinds
    seen = assert_valid(mine, CONNECT_EVENT)
    assert {"session.input_audio.mute", "response.item.create"} <= seen


def get_weather(city: str) -> str:
    """The weather in a city (the sideband's tool)."""
    return f"sunny in {city}"


def test_a_refused_start_fails_connect_naming_the_field(run: Runner) -> None:
    async def main() -> str:
        # in memory: the engine behind the emulator's WebSocket route refuses the start
        client = LiveClient(
            api_key="sk-test",
            transport="memory",
            session={"model": "gpt-live-1", "input": "not a list"},
        )
        with pytest.raises(ConnectError) as caught:
            await client.connect()
        await client.disconnect()
        assert client.model.session.state == "failed"
        return str(caught.value)

    message = run(main())
    assert "input" in message


def test_what_live_does_not_allow_is_refused_with_the_field_or_the_call(run: Runner) -> None:
    client = LiveClient(api_key="sk-test", transport="websocket")
    with pytest.raises(LiveConfigError) as caught:
        run(client.update_session({"instructions": "Be rude."}))
    assert caught.value.field == "session.instructions"
    with pytest.raises(LiveConfigError) as caught:
        run(client.update_session({"delegation": {"type": "responses"}}))
    assert caught.value.field == "session.delegation.type"
    with pytest.raises(LiveUnsupportedError, match="cancel_response"):
        run(client.cancel_response())
    with pytest.raises(LiveUnsupportedError, match="ask"):
        run(client.ask("hi"))
    with pytest.raises(LiveUnsupportedError, match="set_mode"):
        run(client.set_mode("voice"))
    with pytest.raises(LiveUnsupportedError, match=r"client\.metrics.*Realtime sessions"):
        client.metrics  # noqa: B018
    with pytest.raises(LiveConfigError, match=r"session\.type"):
        LiveClient(api_key="sk-test", session={"type": "realtime"})
    with pytest.raises(TypeError, match="greet_enabled"):
        LiveClient(api_key="sk-test", greet_enabled=True)
    with pytest.raises(TypeError, match="Realtime protocol"):
        LiveClient(api_key="sk-test", transport=WebSocketTransport())
    with pytest.raises(ValueError, match="api must be"):
        RealtimeClient(api="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session_id"):
        LiveClient.attach("no/such id", api_key="sk-test")
    assert isinstance(LiveClient(transport=LiveWebSocketTransport()).transport_kind, str)
    assert client.session_config == {"model": "gpt-live-1.1"}
    with pytest.raises(ValueError, match="unknown event"):
        client.on("response:created", print)


def answering(*answers: str) -> Emulator:
    """An emulator that hears "Hello there" and says ``answers``, one a turn."""
    config = EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: "Hello there")
    return Emulator(config=config, brain=ScriptedBrain([[Say(a)] for a in answers]))


def ws_client(emu: Emulator, mic: SpeechTrack, **options: Any) -> LiveClient:
    return LiveClient(
        api_key=emu.api_key,
        base_url=emu.base_url,
        transport="websocket",
        microphone=lambda: mic,
        **options,
    )


def test_a_dropped_websocket_reconnects_as_a_new_session_and_keeps_the_chat(run: Runner) -> None:
    mic = SpeechTrack()
    successes: list[tuple[str, Any]] = []

    async def main() -> tuple[LiveClient, list[str], str, str, list[str]]:
        async with answering("First answer.", "Second answer.") as emu:
            client = ws_client(
                emu,
                mic,
                chat_options=QUICK,
                reconnect={"attempts": 2, "backoff_initial": 0.05},
                on_success=lambda stage, data: successes.append((stage, data)),
            )
            names: list[str] = []
            client.on("session:restarted", lambda n: names.append(n.name))
            client.on("session:closed", lambda n: names.append(n.name))
            await client.connect()
            first = the_engine(emu)
            first_id = client.session_id
            assert first_id == first.id
            mic.play(synthesize("hello", ms_per_char=MS_PER_CHAR))
            await until(lambda: "First answer." in [r.text for r in client.chat], "the answer")
            [socket] = list(emu._websockets)
            await socket.close(code=1011, message=b"internal error")  # a drop, not a close
            await until(lambda: any(s == "session_restarted" for s, _ in successes), "restart")
            assert client.status == "connected"
            second = the_engine(emu)
            assert second is not first
            mic.play(synthesize("hello", ms_per_char=MS_PER_CHAR))
            await until(lambda: "Second answer." in [r.text for r in client.chat], "answer 2")
            second_id = client.session_id
            closed = [e["type"] for e in second.received if e["type"] == "session.start"]
            await client.disconnect()
            return client, names, str(first_id), str(second_id), closed

    client, names, first_id, second_id, starts = run(main(), timeout=40)
    assert second_id != first_id
    assert starts == ["session.start"]  # the new session was started afresh
    [(_, data)] = [(s, d) for s, d in successes if s == "session_restarted"]
    assert data == {"previous_session_id": first_id, "session_id": second_id}
    assert names[:2] == ["session:closed", "session:restarted"]  # the old one lost, then new
    rows = [(r.role, r.text) for r in client.chat]
    assert rows == [
        ("user", "Hello there"),
        ("assistant", "First answer."),
        ("user", "Hello there"),
        ("assistant", "Second answer."),
    ]
    stamps = [r.ts for r in client.chat]
    assert stamps == sorted(stamps)  # the new session's rows after the old ones
    assert client.model.connection.reconnects == 1


def test_output_audio_in_other_formats_becomes_pcm16_24k_and_bad_audio_is_named() -> None:
    from realtime_sdk.codecs import AudioDecoder, decode_audio, encode_audio

    def decoded(fmt: dict[str, Any], deltas: list[bytes]) -> np.ndarray:
        client = LiveClient(api_key="sk-test", transport="websocket")
        client._session_config["audio"] = {"format": fmt}
        parts = [client._decode_output(base64.b64encode(d).decode()) for d in deltas]
        return np.concatenate(parts)

    same = decoded({"type": "audio/pcm", "rate": 24000}, [b"\1\0" * 4, b"\2\0" * 2])
    assert same.tolist() == [1, 1, 1, 1, 2, 2]  # the SDK's own format passes unchanged
    # µ-law speech-band tone in 20 ms deltas: one stream per speech, so the deltas meet with
    # no seam: the whole decode, a fixed ~2 ms later (what a per-delta decode cannot give).
    fmt = {"type": "audio/pcmu", "rate": 8000}
    t = np.arange(24000) / 24000
    wire = encode_audio((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), fmt)
    stream = decoded(fmt, [wire[i : i + 160] for i in range(0, len(wire), 160)])
    delay = AudioDecoder(fmt).delay
    whole = decode_audio(wire, fmt)
    assert stream.dtype == np.int16
    assert stream.size == whole.size  # each delta gives its share: 20 ms → 480 samples
    assert delay > 0
    assert np.abs(stream[: delay // 2]).max() < 16  # the stream starts ~2 ms late, near silence
    gap = np.abs(stream[delay:].astype(np.int32) - whole[: whole.size - delay])
    assert int(gap[2 * delay :].max()) <= 2  # past the start, the same samples
    per_delta = np.concatenate([decode_audio(wire[i : i + 160], fmt) for i in range(0, 8000, 160)])
    seams = np.abs(per_delta.astype(np.int32) - whole)
    assert int(seams[2 * delay :].max()) > 64  # what deltas decoded one by one would give
    client = LiveClient(api_key="sk-test", transport="websocket")
    for fmt_, delta, message in (
        ({"type": "audio/pcm", "rate": 16000}, base64.b64encode(b"\0" * 3).decode(), "odd"),
        ({"type": "audio/pcma", "rate": 8000}, "%%%", "not base64"),
        ({"type": "audio/pcm", "rate": 24000}, "%%%", "not base64"),
        ({"type": "audio/opus"}, "AAAA", "unknown output audio format"),
        ({"type": "audio/pcm", "rate": 24000}, 42, "without a base64 delta"),
    ):
        client._session_config["audio"] = {"format": fmt_}
        with pytest.raises(ValueError, match=message):
            client._decode_output(delta)


def test_live_output_audio_is_base64_decoded_once(run: Runner) -> None:
    """A delta in any format reaches the player as samples: one base64 decode per delta."""
    real = base64.b64decode
    decodes: list[str] = []

    def counting(data: Any, *args: Any, **kwargs: Any) -> bytes:
        decodes.append(str(data)[:8])
        return real(data, *args, **kwargs)

    async def main() -> tuple[list[int], float]:
        client = LiveClient(api_key="sk-test", transport="websocket")
        reader = asyncio.ensure_future(anext(client.audio_chunks()))
        await until(lambda: client._player is not None, "the player")
        counts = []
        for fmt, data in (
            ({"type": "audio/pcm", "rate": 24000}, b"\1\0" * 480),
            ({"type": "audio/pcm", "rate": 16000}, b"\1\0" * 320),
            ({"type": "audio/pcmu", "rate": 8000}, bytes([0xFF]) * 160),
        ):
            client._session_config["audio"] = {"format": fmt}
            delta = {"type": "session.output_audio.delta", "delta": base64.b64encode(data).decode()}
            decodes.clear()
            with mock.patch.object(base64, "b64decode", counting):
                client._output_audio(delta)
            counts.append(len(decodes))
        queued = client._player.queued_ms if client._player is not None else 0.0
        reader.cancel()
        return counts, queued

    counts, queued = run(main())
    assert counts == [1, 1, 1]
    assert queued > 0  # the audio was queued to play (3 × 20 ms minus what was taken)


PHRASES = ("book a table for two", "what time is it now")


def recognizer(scores: list[float]) -> Callable[[bytes], str]:
    """The emulator's transcription reading its own synthesis: the phrase whose
    :func:`synthesize` audio the heard PCM16 24 kHz matches (normalised cross-correlation),
    or ``"(unintelligible)"``; each best score is kept in ``scores``."""
    templates = {p: synthesize(p, ms_per_char=MS_PER_CHAR).astype(np.float64) for p in PHRASES}

    def transcribe(pcm: bytes) -> str:
        heard = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        best, score = "(unintelligible)", 0.0
        for phrase, template in templates.items():
            n = heard.size + template.size
            corr = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(template, n)), n)
            norm = float(np.linalg.norm(heard) * np.linalg.norm(template)) or 1.0
            value = float(np.max(corr)) / norm
            if value > score:
                best, score = phrase, value
        scores.append(score)
        return best if score > 0.7 else "(unintelligible)"

    return transcribe


WIRE_BYTES_PER_SECOND = {"audio/pcm": 32000, "audio/pcmu": 8000, "audio/pcma": 8000}


@pytest.mark.parametrize(
    "audio_format",
    [
        {"type": "audio/pcm", "rate": 16000},
        {"type": "audio/pcmu", "rate": 8000},
        {"type": "audio/pcma"},
    ],
    ids=["pcm16k", "pcmu", "pcma"],
)
def test_send_audio_reaches_the_session_in_its_input_format(
    run: Runner, audio_format: dict[str, Any]
) -> None:
    phrase = "book a table for two"
    speech = synthesize(phrase, ms_per_char=MS_PER_CHAR)
    pcm = np.concatenate([speech, np.zeros(24000, dtype=np.int16)])  # then 1 s of silence
    scores: list[float] = []

    async def main() -> tuple[LiveClient, LiveEngine]:
        config = EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=recognizer(scores))
        async with Emulator(config=config, brain=ScriptedBrain([[Say("Done.")]])) as emu:
            client = LiveClient(
                api_key=emu.api_key,
                base_url=emu.base_url,
                transport="websocket",
                transport_options={"max_message_size": 4096},
                silence=False,  # only the app's audio moves the session's clock
                session={"audio": {"format": audio_format}},
                chat_options=QUICK,
            )
            await client.connect()
            engine = the_engine(emu)
            # odd chunk sizes (in samples): the encoder carries the remainder over
            for start in range(0, pcm.size, 4001):
                await client.send_audio(pcm[start : start + 4001].astype("<i2").tobytes())
            await until(lambda: any(r.role == "user" for r in client.chat), "user transcript")
            await client.disconnect()
            return client, engine

    client, engine = run(main(), timeout=40)
    users = [r.text.strip() for r in client.chat if r.role == "user"]
    assert users == [phrase], scores
    appends = [e for e in engine.received if e["type"] == "session.input_audio.append"]
    wire = sum(len(base64.b64decode(e["audio"])) for e in appends)
    expected = pcm.size * WIRE_BYTES_PER_SECOND[audio_format["type"]] // 24000
    assert abs(wire - expected) <= 2, (wire, expected)
    assert all(len(json.dumps(e)) <= 4096 for e in appends)  # each fits the message size


def test_g711_codecs_round_trip_within_their_quantisation() -> None:
    from realtime_sdk import codecs

    pcm = np.arange(-32000, 32001, 7, dtype=np.int16)
    for encode, decode in (
        (codecs.ulaw_encode, codecs.ulaw_decode),
        (codecs.alaw_encode, codecs.alaw_decode),
    ):
        coded = encode(pcm)
        assert coded.dtype == np.uint8
        assert coded.size == pcm.size
        back = decode(coded).astype(np.int32)
        error = np.abs(back - pcm.astype(np.int32))
        # G.711 keeps 4 mantissa bits: the step is about 1/16 of the magnitude
        assert np.all(error <= np.abs(pcm.astype(np.int32)) // 16 + 16), encode.__name__
        assert np.array_equal(np.sign(back[np.abs(pcm) > 64]), np.sign(pcm[np.abs(pcm) > 64]))


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "audio/pcm", "rate": 24000},
        {"type": "audio/pcm", "rate": 16000},
        {"type": "audio/pcmu"},
        {"type": "audio/pcma", "rate": 8000},
    ],
    ids=["pcm24k", "pcm16k", "pcmu", "pcma"],
)
def test_a_stream_encoded_in_chunks_decodes_to_the_speech(fmt: dict[str, Any]) -> None:
    from realtime_sdk.codecs import AudioEncoder, decode_audio, encode_audio

    speech = synthesize("chunked stream", ms_per_char=MS_PER_CHAR)
    encoder = AudioEncoder(fmt)
    sizes = [1, 2, 479, 480, 1001, 7]
    wire, start, i = b"", 0, 0
    while start < speech.size:
        n = sizes[i % len(sizes)]
        wire += encoder.encode(speech[start : start + n].astype("<i2").tobytes())
        start, i = start + n, i + 1
    whole = encode_audio(speech, encoder.format)
    assert abs(len(wire) - len(whole)) <= 2  # no drift whatever the chunk sizes
    # the stream is the whole conversion ``delay`` wire samples late (the filter's look-ahead)
    back = decode_audio(wire + encoder.flush(), encoder.format)
    back = back[encoder.delay * 24000 // encoder.format["rate"] :]
    n = min(back.size, speech.size)
    assert abs(back.size - speech.size) <= 3
    correlation = np.corrcoef(back[:n].astype(float), speech[:n].astype(float))[0, 1]
    assert correlation > 0.9


def test_an_unsupported_audio_format_is_refused_early() -> None:
    from realtime_sdk.codecs import AudioEncoder
    from realtime_sdk.transports.live import input_encoder

    for fmt, said in (
        ({"type": "audio/opus"}, "unsupported audio format type 'audio/opus'"),
        ({"type": "audio/pcm", "rate": 44100}, "rate 16000 or 24000"),
        ({"type": "audio/pcmu", "rate": 16000}, "8000 Hz"),
        ("pcm", "an audio format is an object"),
    ):
        with pytest.raises(LiveConfigError, match=r"session\.audio\.format") as refused:
            LiveClient(api_key="sk-test", transport="websocket", session={"audio": {"format": fmt}})
        assert said in str(refused.value)
        with pytest.raises(ValueError, match=said):
            AudioEncoder(fmt)
        with pytest.raises(ValueError, match=r"session\.audio\.format"):
            input_encoder({"audio": {"format": fmt}})
    assert input_encoder({}).format == {"type": "audio/pcm", "rate": 24000}
