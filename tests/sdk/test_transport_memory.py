"""The in-memory transport: the emulator's engine in this process, the wire's properties kept."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest

from realtime_sdk.emulator import (
    CallTool,
    Emulator,
    Engine,
    EngineOptions,
    Faults,
    Say,
    ScriptedBrain,
    synthesize,
)
from realtime_sdk.emulator.testing import MemoryClient, WsClient, memory_transport
from realtime_sdk.errors import ConnectError, SendError
from realtime_sdk.transports.base import ConnectContext, Transport, TransportEvents
from realtime_sdk.transports.memory import MemoryTransport
from tests.emulator.kit import user_text

Run = Callable[..., Any]
TEXT_ONLY = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


class Wire:
    """What a client would see: the texts ``on_message`` got, and ``on_lost``'s reasons."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.lost: list[str] = []
        self.changed = asyncio.Event()
        self.events = TransportEvents(on_message=self._message, on_lost=self._lost)

    def _message(self, text: str) -> None:
        self.texts.append(text)
        self.changed.set()

    def _lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.changed.set()

    def types(self) -> list[str]:
        return [json.loads(t)["type"] for t in self.texts]

    async def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not done():
                self.changed.clear()
                await self.changed.wait()

    async def until_event(self, event_type: str) -> dict[str, Any]:
        await self.until(lambda: event_type in self.types())
        return dict(json.loads(self.texts[self.types().index(event_type)]))


async def attach(transport: MemoryTransport, wire: Wire, model: str = "gpt-realtime") -> None:
    context = ConnectContext(base_url="memory:", token="", model=model, events=wire.events)
    for step in transport.steps:
        await transport.run_step(step.state, context)


def test_it_is_a_transport_with_one_handshake_step() -> None:
    transport = MemoryTransport()
    assert isinstance(transport, Transport)
    assert transport.kind == "memory"
    assert transport.owns_playback is True
    assert [(s.state, s.stage) for s in transport.steps] == [("attaching", "data_channel")]
    assert transport.call_id is None  # no call to hang up over HTTP: close() ends it


def test_handshake_delivers_session_created_as_json_text(run: Run) -> None:
    async def scenario() -> None:
        transport, wire = MemoryTransport(), Wire()
        await attach(transport, wire)
        assert wire.types() == ["session.created"]  # delivered before the step returned
        assert isinstance(wire.texts[0], str)
        session = json.loads(wire.texts[0])["session"]
        assert session["model"] == "gpt-realtime"  # the client's model, as ?model= sets it
        await transport.close()

    run(scenario())


def test_an_unknown_model_fails_the_step_with_its_stage(run: Run) -> None:
    async def scenario() -> None:
        transport = MemoryTransport()
        with pytest.raises(ConnectError) as caught:
            await attach(transport, Wire(), model="gpt-4o-mini")
        assert caught.value.stage == "data_channel"
        assert 'Model "gpt-4o-mini" is not supported in realtime mode.' in str(caught.value)
        await transport.close()

    run(scenario())


def test_a_call_ended_during_the_handshake_fails_the_step(run: Run) -> None:
    start = Engine.start

    def start_then_expire(engine: Engine, *, announce: bool = True) -> None:
        start(engine, announce=announce)
        engine._expire()  # the engine ends the call before the handshake saw session.created

    async def scenario() -> None:
        transport, wire = MemoryTransport(), Wire()
        with (
            mock.patch.object(Engine, "start", start_then_expire),
            pytest.raises(ConnectError, match="the session expired") as caught,
        ):
            await attach(transport, wire)
        assert caught.value.stage == "data_channel"
        assert wire.lost == []  # a failed step, not a lost call
        await transport.close()
        assert transport.engine is not None
        assert transport.engine.closed

    run(scenario())


def test_session_update_answers_session_updated_after_send_returns(run: Run) -> None:
    async def scenario() -> None:
        transport, wire = MemoryTransport(), Wire()
        await attach(transport, wire)
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "instructions": "Be brief."},
        }
        await transport.send(json.dumps(update))
        # As on a wire, the answer is not delivered from inside send(): it comes from the loop.
        assert wire.types() == ["session.created"]
        updated = await wire.until_event("session.updated")
        assert updated["session"]["instructions"] == "Be brief."
        await transport.close()

    run(scenario())


def test_a_text_turn_arrives_in_the_protocols_order(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport(brain=ScriptedBrain([[Say("Two words.")]])) as call:
            await call.send(TEXT_ONLY)
            await call.wait_for("session.updated")
            started = time.perf_counter()
            await call.send(user_text("hello"))
            await call.send({"type": "response.create"})
            done = await call.wait_for("response.done")
            elapsed_ms = (time.perf_counter() - started) * 1000
            print(f"in-memory text turn: {elapsed_ms:.2f} ms")  # reported, not asserted
            assert done["response"]["output"][0]["content"] == [
                {"type": "output_text", "text": "Two words."}
            ]
            assert call.stream.types()[2:] == [
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
                "rate_limits.updated",
            ]
            deltas = [e["delta"] for e in call.stream.events if e["type"].endswith("text.delta")]
            assert "".join(deltas) == "Two words."

    run(scenario())


def test_the_same_turn_gives_the_same_events_as_the_emulators_websocket(run: Run) -> None:
    """The engine is driven as the WebSocket route drives it: the event sequences match."""

    def script() -> ScriptedBrain:
        return ScriptedBrain([[Say("Looking."), CallTool("get_weather", {"city": "Oslo"})]])

    async def turn(call: MemoryClient | WsClient) -> list[str]:
        await call.send(TEXT_ONLY)
        await call.send(user_text("weather?"))
        await call.send({"type": "response.create"})
        await call.wait_for("rate_limits.updated")
        return call.stream.types()

    async def scenario() -> None:
        async with memory_transport(brain=script()) as call:
            in_memory = await turn(call)
        async with (
            Emulator(brain=script()) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as ws,
        ):
            over_websocket = await turn(ws)
        assert in_memory == over_websocket
        assert "response.function_call_arguments.done" in in_memory

    run(scenario())


def test_a_tool_call_round(run: Run) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[CallTool("get_weather", {"city": "Oslo"})], [Say("Rainy.")]])
        async with memory_transport(brain=brain) as call:
            await call.send(TEXT_ONLY)
            await call.send(user_text("weather in Oslo?"))
            await call.send({"type": "response.create"})
            args = await call.wait_for("response.function_call_arguments.done")
            assert json.loads(args["arguments"]) == {"city": "Oslo"}
            await call.wait_for("response.done")
            output = {"type": "function_call_output", "call_id": args["call_id"], "output": "rain"}
            await call.send({"type": "conversation.item.create", "item": output})
            await call.send({"type": "response.create"})
            answer = await call.wait_for("response.output_text.done")
            assert answer["text"] == "Rainy."
            await call.wait_for("response.done")
        seen = brain.turns[1].items
        assert [i["type"] for i in seen] == ["message", "function_call", "function_call_output"]
        assert seen[-1]["output"] == "rain"

    run(scenario())


def test_audio_sent_with_send_audio_drives_the_engines_vad(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport(brain=ScriptedBrain([[Say("Heard you.")]])) as call:
            silence = np.zeros(24_000 // 2, dtype=np.int16)
            speech = np.concatenate([silence, synthesize("Hello there, emulator."), silence])
            await call.transport.send_audio(speech.astype("<i2").tobytes())
            started = await call.wait_for("input_audio_buffer.speech_started")
            stopped = await call.wait_for("input_audio_buffer.speech_stopped")
            assert 0 < started["audio_start_ms"] < stopped["audio_end_ms"]
            assert (await call.wait_for("input_audio_buffer.committed"))["item_id"] == started[
                "item_id"
            ]
            # The VAD's response speaks: audio comes as deltas (the client owns playback).
            delta = await call.wait_for("response.output_audio.delta")
            assert len(base64.b64decode(delta["delta"])) > 0
            await call.wait_for("response.done")
            assert "output_audio_buffer.started" not in call.stream.types()

    run(scenario())


def test_the_client_owned_playback_path_truncates_what_was_played(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport(brain=ScriptedBrain([[Say("A long spoken answer.")]])) as call:
            await call.send({"type": "response.create"})
            done = await call.wait_for("response.done")
            item = done["response"]["output"][0]
            pcm = b"".join(
                base64.b64decode(e["delta"])
                for e in call.stream.events
                if e["type"] == "response.output_audio.delta"
            )
            assert len(pcm) // 48 > 300  # ms of audio the client got to play
            await call.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item["id"],
                    "content_index": 0,
                    "audio_end_ms": 300,
                }
            )
            truncated = await call.wait_for("conversation.item.truncated")
            assert truncated["audio_end_ms"] == 300
            engine = call.transport.engine
            assert engine is not None
            transcript = engine.items[-1]["content"][0]["transcript"]
            assert 0 < len(transcript) < len("A long spoken answer.")

    run(scenario())


def test_a_message_larger_than_the_wire_takes_is_refused(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport() as call:
            limit = call.transport.max_message_size
            assert limit is not None
            big = json.dumps({"type": "conversation.item.create", "pad": "x" * limit})
            with pytest.raises(SendError, match=f"at most {limit}") as caught:
                await call.transport.send(big)
            assert caught.value.event_type == "conversation.item.create"
            await call.send(TEXT_ONLY)  # the call goes on
            await call.wait_for("session.updated")

    run(scenario())


def test_bad_audio_gets_a_sentence(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport() as call:
            with pytest.raises(ValueError, match="odd 3 bytes"):
                await call.transport.send_audio(b"abc")
            with pytest.raises(TypeError, match="PCM16 bytes, not str"):
                await call.transport.send_audio("abc")  # type: ignore[arg-type]

    run(scenario())


def test_malformed_json_is_the_engines_business_and_the_session_goes_on(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport() as call:
            await call.send("{not json")
            error = await call.wait_for("error")
            assert error["error"]["code"] == "invalid_json"
            await call.send(TEXT_ONLY)
            await call.wait_for("session.updated")

    run(scenario())


def test_close_is_idempotent_and_fresh_makes_a_new_call(run: Run) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[Say("One.")], [Say("Two.")]])
        transport, wire = MemoryTransport(brain=brain, faults=Faults(delta_delay_s=0.001)), Wire()
        await attach(transport, wire)
        await transport.send(json.dumps(TEXT_ONLY))
        await transport.send(json.dumps({"type": "response.create"}))
        await wire.until_event("response.output_text.delta")
        engine = transport.engine
        assert engine is not None
        await transport.close()  # mid-response: the engine's tasks stop
        await transport.close()
        assert engine.closed
        delivered = len(wire.texts)
        await asyncio.sleep(0.01)
        assert len(wire.texts) == delivered  # nothing after close
        assert wire.lost == []  # the client asked: not a loss
        with pytest.raises(SendError, match="the in-memory call is closed"):
            await transport.send(json.dumps({"type": "response.create"}))
        with pytest.raises(ConnectError, match="closed; use fresh"):
            await attach(transport, Wire())

        again, wire2 = transport.fresh(), Wire()
        assert isinstance(again, MemoryTransport)
        assert again.brain is brain
        assert again.faults is transport.faults
        await attach(again, wire2)
        first = json.loads(wire.texts[0])["session"]["id"]
        assert json.loads(wire2.texts[0])["session"]["id"] != first  # a new session
        await again.send(json.dumps(TEXT_ONLY))
        await again.send(json.dumps({"type": "response.create"}))
        assert (await wire2.until_event("response.output_text.done"))["text"] == "Two."
        await again.close()

    run(scenario())


def test_send_before_the_handshake_raises(run: Run) -> None:
    async def scenario() -> None:
        with pytest.raises(SendError, match="not connected yet") as caught:
            await MemoryTransport().send(json.dumps({"type": "response.create"}))
        assert caught.value.event_type == "response.create"

    run(scenario())


def test_an_injected_fault_shows_up(run: Run) -> None:
    async def scenario() -> None:
        async with memory_transport(faults=Faults(reject_session_update=True)) as call:
            await call.send(TEXT_ONLY | {"event_id": "evt_1"})
            error = await call.wait_for("error")
            assert error["error"]["message"] == "The emulator was told to reject session.update."
            assert error["error"]["event_id"] == "evt_1"
            assert "session.updated" not in call.stream.types()

    run(scenario())


def test_the_engine_closing_the_call_is_a_loss(run: Run) -> None:
    async def scenario() -> None:
        transport, wire = MemoryTransport(faults=Faults(close_mid_response=True)), Wire()
        await attach(transport, wire)
        await transport.send(json.dumps(TEXT_ONLY))
        await transport.send(json.dumps({"type": "response.create"}))
        await wire.until(lambda: bool(wire.lost))
        assert wire.lost == ["the emulator's engine closed the call (close_mid_response fault)"]
        assert wire.types()[-1] == "response.output_text.delta"  # what came first was delivered
        with pytest.raises(SendError, match="closed"):
            await transport.send(json.dumps({"type": "response.cancel"}))
        await transport.close()
        assert transport.engine is not None
        assert transport.engine.closed

    run(scenario())


def test_an_expired_session_sends_its_error_then_is_lost(run: Run) -> None:
    async def scenario() -> None:
        options = EngineOptions(session_ttl_s=0.05)
        async with memory_transport(options=options) as call:
            async with asyncio.timeout(5):
                await call.closed.wait()
            assert call.stream.types()[-1] == "error"
            assert call.stream.events[-1]["error"]["code"] == "session_expired"
            assert call.lost is not None
            assert "expired" in call.lost

    run(scenario())


def test_liveness_holds_while_idle_and_stops_when_the_engine_vanishes(run: Run) -> None:
    async def scenario() -> None:
        transport, wire = MemoryTransport(faults=Faults(vanish_mid_response=True)), Wire()
        await attach(transport, wire)
        await asyncio.sleep(0.02)
        assert time.monotonic() - transport.last_inbound < 0.01  # idle, but alive (a pong)
        await transport.send(json.dumps(TEXT_ONLY))
        await transport.send(json.dumps({"type": "response.create"}))
        await wire.until_event("response.output_text.delta")
        await asyncio.sleep(0.05)
        assert time.monotonic() - transport.last_inbound >= 0.05  # silent: liveness runs out
        await transport.close()

    run(scenario())


@contextmanager
def no_sockets() -> Iterator[list[tuple[Any, ...]]]:
    """Every attempt to make a socket fails (and is recorded)."""
    attempts: list[tuple[Any, ...]] = []

    class NoSocket(socket.socket):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            attempts.append(args)
            raise AssertionError("the in-memory transport opened a socket")

    with mock.patch.object(socket, "socket", NoSocket):
        yield attempts


def test_no_socket_is_opened(run: Run) -> None:
    async def scenario() -> None:
        with no_sockets() as attempts:
            brain = ScriptedBrain([[CallTool("f", {})], [Say("Done.")]])
            async with memory_transport(brain=brain) as call:
                await call.send(TEXT_ONLY)
                await call.send(user_text("go"))
                await call.send({"type": "response.create"})
                args = await call.wait_for("response.function_call_arguments.done")
                await call.wait_for("response.done")
                output = {
                    "type": "function_call_output",
                    "call_id": args["call_id"],
                    "output": "ok",
                }
                await call.send({"type": "conversation.item.create", "item": output})
                await call.send({"type": "response.create"})
                await call.wait_for("response.done")
                await call.send_audio(synthesize("Some speech."))
                await call.transport.send_audio(bytes(24_000))
                await call.wait_for("input_audio_buffer.speech_stopped")
            # the check itself works: making a socket here fails
            with pytest.raises(AssertionError):
                socket.socket()
        assert len(attempts) == 1

    run(scenario())
