"""RealtimeClient features against the emulator, on every transport (WebRTC and WebSocket
over loopback sockets, memory in process): ``events()``, ``on_chat_update``, connecting
without a microphone, and the tool modes (error output, manual mode, per-tool timeout); and,
on WebRTC only, the microphone without renegotiation and the peer getters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack

from realtime_machines import AssistantCompleted, ChatItem, Notice, ToolCallDone
from realtime_sdk.client import ToolCall
from realtime_sdk.emulator import Emulator
from realtime_sdk.errors import ConnectError
from tests.sdk.test_client import (
    WEATHER_TOOL,
    collect,
    connection_path,
    make_client,
    on_every_transport,
    status,
    wait_for,
)
from tests.sdk.test_transports import until

Runner = Callable[..., Any]

TOOL_SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}


def current(obj: object, name: str) -> Any:
    """``obj.name`` read afresh (so that mypy does not keep an earlier narrowing)."""
    return getattr(obj, name)


def calls_made(emu: Emulator) -> int:
    """How many ``POST /v1/realtime/calls`` made a call (live or ended)."""
    return len(emu.calls) + emu.ended_calls


def test_microphone_off_and_on_never_renegotiates(run: Runner) -> None:
    async def scenario() -> None:
        tracks: list[AudioStreamTrack] = []

        def microphone() -> AudioStreamTrack:
            tracks.append(AudioStreamTrack())
            return tracks[-1]

        async with Emulator() as emu:
            client = make_client(emu, microphone=microphone)
            async with client:
                [track] = tracks
                pc = current(client, "peer_connection")
                offer = pc.localDescription.sdp
                answer = pc.remoteDescription.sdp
                [sender] = pc.getSenders()
                assert current(client, "local_track") is track
                assert current(sender, "track") is track
                assert "a=sendrecv" in offer
                for _ in range(3):
                    client.disable_microphone()
                    assert current(sender, "track") is None
                    client.enable_microphone()
                    assert current(sender, "track") is track
                client.disable_microphone()
                assert track.readyState == "live"  # muted, not stopped
                await client.send_text_message("still one conversation?")
                await wait_for(client, AssistantCompleted)
                assert current(client, "peer_connection") is pc
                assert pc.localDescription.sdp == offer
                assert pc.remoteDescription.sdp == answer
                assert calls_made(emu) == 1  # no second offer was ever posted
                assert pc.connectionState == "connected"
                client.enable_microphone()
                assert current(sender, "track") is track
            assert track.readyState == "ended"  # released on disconnect

    run(scenario())


@on_every_transport
def test_events_yields_notices_in_order_and_ends_after_disconnect(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, transport)
            await client.connect()
            seen: list[Notice] = []
            started = asyncio.Event()

            async def consume() -> None:
                started.set()
                async for notice in client.events():
                    seen.append(notice)

            consumer = asyncio.get_running_loop().create_task(consume())
            await started.wait()
            await asyncio.sleep(0)  # the generator registers its stream on its first step
            await client.send_text_message("hello")
            await wait_for(client, AssistantCompleted)
            await client.disconnect()
            await asyncio.wait_for(consumer, 5)  # the iteration ends: no hang
            names = [n.name for n in seen]
            assert names[0] == "user:item_started" or "user:completed" in names
            assert names.index("assistant:response_started") < names.index("assistant:delta")
            assert names.index("assistant:delta") < names.index("assistant:completed")
            # The turn's metrics come after the notices of the event that ended the turn.
            assert names[-1] == "metrics:turn"
            assert names[-2] == "assistant:completed"
            deltas = "".join(n.delta for n in seen if n.name == "assistant:delta")  # type: ignore[attr-defined]
            assert deltas == "You said: hello"
            assert client._streams == []

    run(scenario())


@on_every_transport
def test_on_chat_update_gets_the_chat_as_it_changes(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        updates: list[list[tuple[str, str, str]]] = []

        def on_chat_update(chat: list[ChatItem]) -> None:
            updates.append([(i.role, i.text, i.status) for i in chat])

        async with Emulator() as emu:
            client = make_client(emu, transport, on_chat_update=on_chat_update)
            async with client:
                await client.send_text_message("hello")
                await wait_for(client, AssistantCompleted)
                final = [(i.role, i.text, i.status) for i in client.chat]
                assert final == [
                    ("user", "hello", "done"),
                    ("assistant", "You said: hello", "done"),
                ]
                assert updates[-1] == final
                assert len(updates) >= 3  # the user row, streaming assistant text, done
                assistant_texts = [u[1][1] for u in updates if len(u) > 1]
                assert any(t != "You said: hello" for t in assistant_texts)  # while streaming

    run(scenario())


def test_getters_follow_the_connection(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu)
            assert current(client, "peer_connection") is None
            assert current(client, "data_channel") is None
            assert current(client, "local_track") is None
            assert current(client, "remote_track") is None
            assert status(client) == "idle"
            assert client.chat == []
            async with client:
                assert status(client) == "connected"
                assert current(client, "peer_connection").connectionState == "connected"
                assert current(client, "data_channel").label == "oai-events"
                assert current(client, "data_channel").readyState == "open"
                assert current(client, "local_track") is None  # no microphone configured
                for _ in range(200):
                    if current(client, "remote_track") is not None:
                        break
                    await asyncio.sleep(0.01)
                assert current(client, "remote_track") is not None
                assert current(client, "remote_track").kind == "audio"
                await client.send_text_message("hi")
                await wait_for(client, AssistantCompleted)
                assert [i.role for i in client.chat] == ["user", "assistant"]
            assert status(client) == "disconnected"
            assert current(client, "peer_connection") is None
            assert current(client, "data_channel") is None
            assert current(client, "remote_track") is None

    run(scenario())


@on_every_transport
def test_no_microphone_with_allow_connect_without_mic_false_fails_at_get_user_media(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, transport, allow_connect_without_mic=False)
            with pytest.raises(ConnectError) as info:
                await client.connect()
            assert info.value.stage == "get_user_media"
            assert status(client) == "error"
            assert calls_made(emu) == 0  # failed before any peer or offer
            assert emu.engines == []  # nor any call on another wire
            assert connection_path(client.model, "handshake") == []
            await client.disconnect()

    run(scenario())


def sent_recorder() -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], None]]:
    sent: list[dict[str, Any]] = []
    return sent, lambda event: sent.append(json.loads(json.dumps(event)))


def tool_outputs(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e["item"]
        for e in sent
        if e["type"] == "conversation.item.create"
        and e["item"].get("type") == "function_call_output"
    ]


@on_every_transport
def test_a_tool_that_raises_reports_the_error_to_the_model_and_follows_up_once(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        def on_tool_call(call: ToolCall) -> object:
            raise RuntimeError(f"weather service down for {call.args['city']}")

        sent, record = sent_recorder()
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                session=TOOL_SESSION,
                on_tool_call=on_tool_call,
                outgoing_middleware=[record],
            )
            completed = collect(client, AssistantCompleted)
            async with client:
                await client.send_text_message('get_weather {"city": "Oslo"}')
                await until(lambda: len(completed) == 2)
                [output] = tool_outputs(sent)
                assert "weather service down for Oslo" in output["output"]
                assert "RuntimeError" in output["output"]
                assert [e["type"] for e in sent].count("response.create") == 2
                assert client.chat[-1].text.startswith("Tool result: ")
                [chart] = client.model.tool_calls.values()
                assert chart.state == "answered"

    run(scenario())


@on_every_transport
def test_a_tool_that_returns_none_leaves_the_answer_to_the_app(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        def on_tool_call(call: ToolCall) -> None:
            return None

        sent, record = sent_recorder()
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                session=TOOL_SESSION,
                on_tool_call=on_tool_call,
                outgoing_middleware=[record],
            )
            async with client:
                completed = collect(client, AssistantCompleted)
                done = asyncio.ensure_future(wait_for(client, ToolCallDone))
                await client.send_text_message('get_weather {"city": "Rome"}')
                call = await done
                await until(lambda: len(completed) == 1)  # the tool-call response
                await asyncio.sleep(0.1)  # settle: nothing more must be sent by the client
                assert tool_outputs(sent) == []
                assert [e["type"] for e in sent].count("response.create") == 1
                await client.send_tool_output(call.call_id, {"temperature_c": 21})
                await client.send_response()
                answer = await wait_for(client, AssistantCompleted)
                assert answer.status == "done"
                [output] = tool_outputs(sent)
                assert output["call_id"] == call.call_id
                assert json.loads(output["output"]) == {"temperature_c": 21}
                assert [e["type"] for e in sent].count("response.create") == 2
                assert client.chat[-1].text == 'Tool result: {"temperature_c": 21}'

    run(scenario())


@on_every_transport
def test_a_tool_past_its_timeout_is_answered_with_a_timeout_error(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        cancelled = asyncio.Event()

        async def on_tool_call(call: ToolCall) -> object:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()
            return None  # pragma: no cover - never reached

        sent, record = sent_recorder()
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                session=TOOL_SESSION,
                on_tool_call=on_tool_call,
                tool_timeout=0.3,
                outgoing_middleware=[record],
            )
            completed = collect(client, AssistantCompleted)
            async with client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                await client.send_text_message('get_weather {"city": "Lima"}')
                await until(lambda: len(completed) == 2)
                assert cancelled.is_set()  # the handler was cancelled, not left running
                [output] = tool_outputs(sent)
                assert "error" in json.loads(output["output"])
                assert "0.3" in output["output"] or "time" in output["output"].lower()
                assert 0.3 <= loop.time() - started < 5.0
                assert [e["type"] for e in sent].count("response.create") == 2

    run(scenario())
