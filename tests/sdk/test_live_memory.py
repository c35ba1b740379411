"""The GPT-Live client over the in-memory transport (``LiveMemoryTransport``): the emulator's
Live engine in this process, no socket. The session's clock moves with the audio the test
sends (``silence=False``), so a test runs as fast as it sends. Every client event the engine
received and every server event the client got validate against ``openai.types.live``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from realtime_machines.live import LiveSessionModel
from realtime_sdk import RealtimeClient
from realtime_sdk.emulator import CallTool, Faults, LiveOptions, Say, ScriptedBrain
from realtime_sdk.emulator.audio import SpeechTrack, synthesize
from realtime_sdk.errors import NotConnectedError, SendError
from realtime_sdk.live_client import LiveClient, LiveUnsupportedError
from realtime_sdk.transports import LiveMemoryTransport, MemoryTransport, TransportEvents
from realtime_sdk.transports.base import ConnectContext
from realtime_sdk.transports.live import LiveWebSocketTransport
from tests.emulator.live_kit import SERVER_EVENT, assert_valid
from tests.sdk.test_client_playback import ClockSink
from tests.sdk.test_live_client import (
    CLIENT_EVENT,
    MS_PER_CHAR,
    PHRASES,
    QUICK,
    WEATHER_DELEGATION,
    recognizer,
)

Runner = Callable[..., Any]
SILENCE = np.zeros(2400, dtype=np.int16).tobytes()  # 100 ms at 24 kHz


def options(heard: str = "Hello there", **more: Any) -> LiveOptions:
    return LiveOptions(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: heard, **more)


def pcm_of(text: str, silence_ms: int = 800) -> bytes:
    """The user saying ``text`` (synthesised), then enough silence to end the utterance."""
    speech = synthesize(text, ms_per_char=MS_PER_CHAR)
    tail = np.zeros(24 * silence_ms, dtype=np.int16)
    return np.concatenate([speech, tail]).astype("<i2").tobytes()


class Session:
    """A LiveClient over a LiveMemoryTransport, with what it received as parsed events."""

    def __init__(self, transport: LiveMemoryTransport | None = None, **kwargs: Any) -> None:
        self.transport = transport or LiveMemoryTransport(options=options())
        self.received: list[dict[str, Any]] = []
        kwargs.setdefault("chat_options", QUICK)
        self.client = LiveClient(
            api_key="sk-test",
            transport=self.transport,
            silence=False,
            on_event=self.received.append,
            **kwargs,
        )

    @property
    def engine(self) -> Any:
        current = self.client.transport
        assert isinstance(current, LiveMemoryTransport)
        assert current.engine is not None
        return current.engine

    def said(self) -> str:
        return "".join(r.text for r in self.client.chat if r.role == "assistant")

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 8.0) -> None:  # noqa: ASYNC109
        """Keep the session's clock moving (100 ms of silence a step) until ``done``."""
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    if self.client.status == "connected":
                        # the call may end under it: the client says so a moment later
                        with contextlib.suppress(SendError, NotConnectedError):
                            await self.client.send_audio(SILENCE)
                    await asyncio.sleep(0.005)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout} s") from None

    def check_fidelity(self) -> set[str]:
        """Every event both ways validates as the official package's models."""
        assert_valid(self.received, SERVER_EVENT)
        return assert_valid(list(self.engine.received), CLIENT_EVENT)


def test_a_text_round_in_memory_starts_speaks_and_closes(run: Runner) -> None:
    brain = ScriptedBrain([[Say("Hello, how can I help?")]])

    async def main() -> tuple[Session, set[str], dict[str, Any]]:
        session = Session(
            LiveMemoryTransport(brain=brain, options=options()),
            session={"instructions": "Be brief."},
        )
        client = session.client
        names: list[str] = []
        client.on("session:started", lambda n: names.append(n.name))
        await client.connect()
        assert client.status == "connected"
        assert client.transport_kind == "memory"
        assert client.session_id == session.engine.id
        assert names == ["session:started"]
        await client.send_instructions("Greet the user.")
        await session.until(lambda: "help?" in session.said(), "the greeting")
        seen = session.check_fidelity()
        start = session.engine.received[0]
        await client.disconnect()
        return session, seen, start

    session, seen, start = run(main(), timeout=30)
    client = session.client
    assert start["type"] == "session.start"
    assert start["session"]["instructions"] == "Be brief."
    assert {"session.start", "session.instructions.append"} <= seen
    kinds = [e["type"] for e in session.received]
    assert kinds[0] == "session.started"
    assert "session.instructions.appended" in kinds
    assert kinds[-1] == "session.closed"
    assert client.model.session.state == "closed"
    assert client.model.session.reason == "close_requested"
    assert client.status == "disconnected"
    assert [(r.role, r.text) for r in client.chat] == [("assistant", "Hello, how can I help?")]


def test_events_arrive_from_the_loop_in_order_never_inside_send(run: Runner) -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        transport = LiveMemoryTransport(options=options())
        texts: list[str] = []
        lost: list[str] = []
        events = TransportEvents(on_message=texts.append, on_lost=lost.append)
        context = ConnectContext(base_url="memory:", token="", model="", events=events)
        await transport.run_step("attaching", context)
        await transport.send(
            json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}})
        )
        inside_send = list(texts)  # nothing is delivered from inside send()
        async with asyncio.timeout(5):
            await transport.run_step("starting_session", context)
        await transport.send(json.dumps({"type": "session.input_audio.mute"}))
        await transport.send("not json")
        await asyncio.sleep(0.01)
        await transport.close()
        with pytest.raises(SendError, match="closed"):
            await transport.send(json.dumps({"type": "session.close"}))
        return inside_send, [json.loads(t)["type"] for t in texts], lost

    inside_send, kinds, lost = run(main())
    assert inside_send == []
    assert kinds == ["session.started", "session.input_audio.muted", "error"]
    assert lost == []  # the client closed: nothing is reported lost


def test_a_delegated_tool_call_runs_and_the_run_continues(run: Runner) -> None:
    brain = ScriptedBrain(
        [[CallTool("get_weather", {"city": "Paris"})], [Say("It is sunny in Paris.")]]
    )
    calls: list[str] = []

    async def main() -> tuple[Session, Any, set[str]]:
        session = Session(
            LiveMemoryTransport(brain=brain, options=options("weather in Paris")),
            session={"delegation": WEATHER_DELEGATION},
        )
        client = session.client
        names: list[str] = []
        client.on("delegation:created", lambda n: names.append(n.name))

        @client.tool
        def get_weather(city: str) -> dict[str, Any]:
            """The weather in a city."""
            calls.append(city)
            return {"city": city, "conditions": "sunny"}

        await client.connect()
        await client.send_audio(pcm_of("weather in Paris"))
        await session.until(lambda: "sunny in Paris" in session.said(), "the answer")
        assert names == ["delegation:created"]
        seen = session.check_fidelity()
        engine = session.engine
        await client.disconnect()
        return session, engine, seen

    session, engine, seen = run(main(), timeout=30)
    assert calls == ["Paris"]
    [chart] = session.client.model.delegations.values()
    assert chart.target == "responses"
    assert chart.state == "done"
    start = engine.received[0]
    [tool] = start["session"]["delegation"]["responses"]["tools"]
    assert tool["name"] == "get_weather"
    kinds = [e["type"] for e in engine.received]
    outputs = [e for e in engine.received if e["type"] == "response.item.create"]
    assert json.loads(outputs[0]["item"]["output"]) == {"city": "Paris", "conditions": "sunny"}
    assert kinds.index("response.item.create") < kinds.index("response.create")
    assert {"response.item.create", "response.create"} <= seen


@pytest.mark.parametrize(
    "audio_format",
    [None, {"type": "audio/pcm", "rate": 16000}, {"type": "audio/pcmu"}],
    ids=["pcm24k", "pcm16k", "pcmu"],
)
def test_spoken_input_is_transcribed_in_the_sessions_format(
    run: Runner, audio_format: dict[str, Any] | None
) -> None:
    phrase = PHRASES[0]
    scores: list[float] = []

    async def main() -> Session:
        live = LiveOptions(ms_per_char=MS_PER_CHAR, transcribe=recognizer(scores))
        session = Session(
            LiveMemoryTransport(brain=ScriptedBrain([[Say("Done.")]]), options=live),
            session={"audio": {"format": audio_format}} if audio_format else None,
        )
        await session.client.connect()
        # odd chunk sizes: the encoder carries the remainder over
        pcm = pcm_of(phrase, silence_ms=1000)
        for start in range(0, len(pcm), 8002):
            await session.client.send_audio(pcm[start : start + 8002])
        await session.until(lambda: "Done." in session.said(), "the answer")
        session.check_fidelity()
        await session.client.disconnect()
        return session

    session = run(main(), timeout=30)
    users = [r.text.strip() for r in session.client.chat if r.role == "user"]
    assert users == [phrase], scores
    transport = session.client.transport or session.transport
    assert isinstance(transport, LiveMemoryTransport)
    wanted = {"type": "audio/pcm", "rate": 24000}
    if audio_format is not None:
        wanted = {"rate": 8000, **audio_format}
    assert transport.audio_format == wanted


def test_a_microphone_track_is_pumped_as_appends_in_the_sessions_format(run: Runner) -> None:
    mic = SpeechTrack()
    fmt = {"type": "audio/pcm", "rate": 16000}

    async def main() -> tuple[LiveClient, Any]:
        session = Session(
            LiveMemoryTransport(brain=ScriptedBrain([[Say("Heard you.")]]), options=options()),
            session={"audio": {"format": fmt}},
            microphone=lambda: mic,
        )
        client = session.client
        await client.connect()
        engine = session.engine
        mic.play(synthesize("hello", ms_per_char=MS_PER_CHAR))  # paced as a microphone is
        try:
            async with asyncio.timeout(8):
                while "Heard you." not in session.said():  # noqa: ASYNC110 - no event to wait on
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError("no answer to the microphone's speech") from None
        await client.disconnect()
        return client, engine

    client, engine = run(main(), timeout=30)
    assert [r.role for r in client.chat] == ["user", "assistant"]
    appends = [e for e in engine.received if e["type"] == "session.input_audio.append"]
    assert appends
    wire = sum(len(base64.b64decode(e["audio"])) for e in appends)
    assert abs(wire - engine.samples * 4 // 3) <= 4  # 16 kHz PCM16 of what the engine heard


@pytest.mark.parametrize(
    "audio_format", [None, {"type": "audio/pcm", "rate": 16000}], ids=["pcm24k", "pcm16k"]
)
def test_output_audio_arrives_as_chunks_of_the_answers_length(
    run: Runner, audio_format: dict[str, Any] | None
) -> None:
    answer = "Here is a spoken answer."

    async def main() -> tuple[int, LiveClient]:
        session = Session(
            LiveMemoryTransport(brain=ScriptedBrain([[Say(answer)]]), options=options()),
            session={"audio": {"format": audio_format}} if audio_format else None,
        )
        client = session.client
        taken: list[bytes] = []

        async def take() -> None:
            async for chunk in client.audio_chunks():
                taken.append(chunk)

        reader = asyncio.ensure_future(take())
        await client.connect()
        await client.send_audio(pcm_of("hello"))
        expected = synthesize(answer, ms_per_char=MS_PER_CHAR).size * 2
        await session.until(lambda: sum(map(len, taken)) >= expected, "the answer's audio")
        await client.disconnect()
        await asyncio.wait_for(reader, 5)  # audio_chunks() ends with the client
        return sum(map(len, taken)), client

    total, client = run(main(), timeout=30)
    expected_ms = synthesize(answer, ms_per_char=MS_PER_CHAR).size * 1000 / 24000
    assert abs(total / 2 * 1000 / 24000 - expected_ms) <= 20  # ± a frame
    assert client.assistant_audible is False


def test_user_speech_over_the_answer_cuts_the_local_playback(run: Runner) -> None:
    answer = "This answer is long enough to be interrupted before it ends, surely it is."
    sink = ClockSink()  # plays nothing unless told: what the player holds stays queued
    brain = ScriptedBrain([[Say(answer)], [Say("Sorry, go on.")]])

    async def main() -> tuple[float, list[float], LiveClient]:
        # the default turn rule: the barge-in is heard late
        session = Session(
            LiveMemoryTransport(brain=brain, options=options()),
            audio_sink=sink,
            chat_options=None,
        )
        client = session.client
        queued: list[float] = []
        client.on(
            "assistant:interrupted",
            lambda n: queued.append(client._player.queued_ms if client._player else -1),
        )
        await client.connect()
        await client.send_audio(pcm_of("hello"))
        await session.until(
            lambda: client._player is not None and client._player.queued_ms > 300,
            "the answer's audio",
        )
        held = client._player.queued_ms if client._player else 0.0
        await client.send_audio(pcm_of("wait a moment"))  # barge-in
        await session.until(lambda: "Sorry" in session.said(), "the reply")
        await session.until(lambda: bool(queued), "the interruption")
        await client.disconnect()
        return held, queued, client

    held, queued, client = run(main(), timeout=30)
    rows = [(r.role, r.status) for r in client.chat]
    assert ("assistant", "canceled") in rows
    assert held > 300
    assert sink.stops >= 1  # the sink dropped what it held
    assert queued[0] == 0  # nothing of the interrupted answer left to play


def test_mute_and_unmute_are_acknowledged_and_the_engine_hears_silence(run: Runner) -> None:
    async def main() -> tuple[list[bool], list[bool], set[str]]:
        session = Session()
        client = session.client
        names: list[str] = []
        client.on("input:muted", lambda n: names.append(n.name))
        client.on("input:unmuted", lambda n: names.append(n.name))
        await client.connect()
        results = [await client.mute()]
        muted = [session.engine.muted]
        results.append(await client.unmute())
        muted.append(session.engine.muted)
        assert names == ["input:muted", "input:unmuted"]
        assert client.model.input_audio.state == "unmuted"
        seen = session.check_fidelity()
        await client.disconnect()
        return results, muted, seen

    results, muted, seen = run(main())
    assert results == [True, True]
    assert muted == [True, False]
    assert {"session.input_audio.mute", "session.input_audio.unmute"} <= seen


def test_disconnect_closes_the_session_then_the_call(run: Runner) -> None:
    reports: list[Any] = []

    async def main() -> tuple[Session, LiveMemoryTransport]:
        session = Session(on_error=reports.append)
        await session.client.connect()
        transport = session.client.transport
        assert isinstance(transport, LiveMemoryTransport)
        await session.client.disconnect()
        with pytest.raises(SendError, match="closed"):
            await transport.send(json.dumps({"type": "session.close"}))
        return session, transport

    session, transport = run(main())
    assert session.client.status == "disconnected"
    assert session.received[-1]["type"] == "session.closed"
    assert session.received[-1]["reason"] == "close_requested"
    assert transport.engine is not None
    assert transport.engine.ended == "close_requested"
    assert transport.lost is not None  # the engine ended the call after session.closed
    assert [e["type"] for e in transport.engine.received][-1] == "session.close"
    # The wire's end after session.closed is taken after that event: a clean hang-up, never
    # a lost call (it used to pass through ``error``, reported as critical).
    moves = [(s.source, s.target) for s in session.client.record if s.chart == "connection"]
    assert moves[-2:] == [("connected", "disconnecting"), ("disconnecting", "disconnected")]
    assert "error" not in {target for _source, target in moves}
    assert reports == []


def test_the_session_expiring_ends_the_call_with_the_reason(run: Runner) -> None:
    async def main() -> tuple[LiveClient, list[Any], LiveMemoryTransport]:
        closed: list[Any] = []
        session = Session(LiveMemoryTransport(options=options(session_ttl_s=0.2)))
        client = session.client
        client.on("session:closed", closed.append)
        await client.connect()
        transport = client.transport
        assert isinstance(transport, LiveMemoryTransport)
        await session.until(lambda: client.status != "connected", "the end of the session")
        await client.disconnect()
        return client, closed, transport

    client, closed, transport = run(main())
    assert client.model.session.state == "closed"
    assert client.model.session.reason == "expired"
    assert [(n.reason, n.confirmed) for n in closed] == [("expired", True)]
    assert client.model.connection.reconnects == 0  # an end, not a drop to recover from
    assert client.status == "disconnected"
    assert transport.lost is not None
    assert "expired" in transport.lost


def test_a_hang_up_by_the_engine_ends_the_call(run: Runner) -> None:
    async def main() -> LiveClient:
        session = Session()
        await session.client.connect()
        session.engine.close("close_requested")  # POST /hangup on the emulator
        await session.until(lambda: session.client.status != "connected", "the end")
        await session.client.disconnect()
        return session.client

    client = run(main())
    assert client.model.session.state == "closed"
    assert client.model.session.reason == "close_requested"
    assert client.status == "disconnected"


def test_a_dropped_connection_is_lost_with_the_fault_named(run: Runner) -> None:
    errors: list[str] = []

    async def main() -> tuple[LiveClient, Any]:
        transport = LiveMemoryTransport(
            brain=ScriptedBrain([[Say("Hello there, friend.")]]),
            faults=Faults(close_mid_response=True),
            options=options(),
        )
        session = Session(transport, on_error=lambda e: errors.append(str(e)))
        await session.client.connect()
        engine = session.engine
        await session.client.send_audio(pcm_of("hello"))
        await session.until(lambda: session.client.status != "connected", "the drop")
        await session.client.disconnect()
        return session.client, engine

    client, engine = run(main())
    assert client.model.session.state == "lost"
    assert engine.ended == "connection_lost"  # the engine saw its primary connection drop
    assert any("close_mid_response" in e for e in errors), errors


def test_a_restart_starts_the_new_session_with_the_same_configuration(run: Runner) -> None:
    brain = ScriptedBrain([[Say("First answer.")], [Say("Second answer.")]])
    successes: list[tuple[str, Any]] = []
    question = {"type": "predicate", "name": "greeting", "instructions": "A greeting?"}
    trigger = {
        "type": "decisions",
        "event_type": "session.input_transcript.delta",
        "decisions": {"questions": [question]},
    }
    config = {
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "I am Ada."}]}],
        "delegation": WEATHER_DELEGATION,
    }

    async def main() -> tuple[LiveClient, list[dict[str, Any]], list[str]]:
        transport = LiveMemoryTransport(
            brain=brain, faults=Faults(close_mid_response=True), options=options()
        )
        session = Session(
            transport,
            session=config,
            reconnect={"attempts": 2, "backoff_initial": 0.01},
            on_success=lambda stage, data: successes.append((stage, data)),
        )
        client = session.client
        names: list[str] = []
        client.on("session:restarted", lambda n: names.append(n.name))

        @client.tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            return "sunny"

        await client.connect()
        first = session.engine
        await client.update_session({"triggers": [trigger]})
        await session.until(lambda: first.resource.get("triggers"), "the update")
        transport.faults = Faults()  # the next session does not drop
        await client.send_audio(pcm_of("hello"))
        await session.until(lambda: any(s == "session_restarted" for s, _ in successes), "restart")
        second = session.engine
        assert second is not first
        await client.send_audio(pcm_of("hello"))
        await session.until(lambda: "Second answer." in session.said(), "the second answer")
        starts = [
            e["session"]
            for e in (*first.received, *second.received)
            if e["type"] == "session.start"
        ]
        await client.disconnect()
        return client, starts, names

    client, starts, names = run(main(), timeout=30)
    first, second = starts
    assert first["instructions"] == "Be brief."
    assert first["input"] == config["input"]
    assert [t["name"] for t in first["delegation"]["responses"]["tools"]] == ["get_weather"]
    # the restarted session starts with the same configuration, and the update in force
    assert second == {**first, "triggers": [trigger]}
    assert names == ["session:restarted"]
    assert client.model.connection.reconnects == 1


def test_transport_names_and_instances_resolve_as_for_realtime() -> None:
    client = RealtimeClient(
        api="live",
        api_key="sk-test",
        transport="memory",
        transport_options={"options": options()},
    )
    assert isinstance(client._template, LiveMemoryTransport)
    assert client.transport_kind == "memory"
    realtime = RealtimeClient(api_key="sk-test", transport="memory")
    assert isinstance(realtime._template, MemoryTransport)
    with pytest.raises(TypeError, match="brains") as refused:
        LiveClient(api_key="sk-test", transport="memory", transport_options={"brains": None})
    assert "brain, faults, options" in str(refused.value)
    socket = LiveClient(
        api_key="sk-test", transport="websocket", transport_options={"ping_interval": 5.0}
    )
    assert isinstance(socket._template, LiveWebSocketTransport)
    with pytest.raises(TypeError, match="GPT-Live protocol"):
        RealtimeClient(api_key="sk-test", transport=LiveMemoryTransport())
    with pytest.raises(TypeError, match="Realtime protocol"):
        LiveClient(api_key="sk-test", transport=MemoryTransport())
    with pytest.raises(ValueError, match="'memory'"):
        LiveClient(api_key="sk-test", transport="pigeon")
    with pytest.raises(ValueError, match="stall_calls"):
        LiveMemoryTransport(faults=Faults(stall_calls=True))
    with pytest.raises(TypeError, match="LiveOptions"):
        LiveMemoryTransport(options=object())  # type: ignore[arg-type]
    fresh = LiveMemoryTransport(faults=Faults(nonjson_frame=True)).fresh()
    assert fresh.faults.nonjson_frame
    assert fresh.engine is None


def test_wire_faults_after_the_start_and_a_vanishing_engine(run: Runner) -> None:
    start = json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}})

    async def attached(transport: LiveMemoryTransport) -> list[str]:
        texts: list[str] = []
        events = TransportEvents(on_message=texts.append, on_lost=texts.append)
        context = ConnectContext(base_url="memory:", token="", model="", events=events)
        await transport.run_step("attaching", context)
        await transport.send(start)
        async with asyncio.timeout(5):
            await transport.run_step("starting_session", context)
        return texts

    async def main() -> tuple[list[str], list[str], bool]:
        frames = LiveMemoryTransport(faults=Faults(nonjson_frame=True, oversized_frame_bytes=3000))
        texts = await attached(frames)
        await asyncio.sleep(0.01)
        await frames.close()
        vanishing = LiveMemoryTransport(
            brain=ScriptedBrain([[Say("A long enough answer to be cut off.")]]),
            faults=Faults(vanish_mid_response=True),
            options=options(),
        )
        heard = await attached(vanishing)
        await vanishing.send_audio(pcm_of("hello"))
        for _ in range(20):
            await vanishing.send_audio(SILENCE)
        await asyncio.sleep(0.01)
        count = len(heard)
        before = vanishing.last_inbound
        await vanishing.send(json.dumps({"type": "session.input_audio.mute"}))  # ignored
        await asyncio.sleep(0.05)
        still = vanishing.last_inbound == before and len(heard) == count
        await vanishing.close()
        return texts, heard, still

    texts, heard, still = run(main())
    assert texts[1] == "this frame is not JSON"
    assert json.loads(texts[0])["type"] == "session.started"
    assert len(texts[2]) >= 2900  # the oversized frame, valid JSON of an unknown type
    assert json.loads(texts[2])["type"] == "emulator.padding"
    kinds = [json.loads(t)["type"] for t in heard]
    speech = [
        k for k in kinds if k in ("session.output_audio.delta", "session.output_transcript.delta")
    ]
    assert len(speech) == 1  # the first delta, then silence: no more events, no close
    assert kinds[-1] == speech[0]
    assert still  # liveness stopped moving; the mute was never answered


def test_the_live_client_builds_and_drives_only_its_live_model(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LiveClient builds its Live model and no Realtime model beside it; the Realtime turn
    metrics do not follow it (``client.metrics`` says why)."""

    def no_realtime_model(**options: Any) -> None:
        raise AssertionError("a LiveClient built a Realtime SessionModel")

    monkeypatch.setattr("realtime_sdk.client.SessionModel", no_realtime_model)

    async def main() -> tuple[LiveClient, list[str]]:
        session = Session()
        client = session.client
        await client.connect()
        states = [client.model.session.state]
        await client.disconnect()
        return client, states

    client, states = run(main(), timeout=30)
    assert isinstance(client.model, LiveSessionModel)
    assert states == ["started"]
    assert client.model.session.state == "closed"
    assert not client.measures_turns
    assert client.metrics_tracker.turn_count == 0
    with pytest.raises(LiveUnsupportedError, match=r"client\.metrics"):
        _ = client.metrics
