"""``await client.ask(...)``: one awaitable turn, tool rounds included, over the emulator; and
errors, cancels, disconnects and timeouts raise instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from realtime_sdk.client import ToolCall
from realtime_sdk.emulator import Emulator, Faults
from realtime_sdk.errors import NotConnectedError
from realtime_sdk.turn import Answer, TurnError
from tests.sdk.test_client import WEATHER_TOOL, make_client, on_every_transport

Runner = Callable[..., Any]

TOOL_SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}


@on_every_transport
def test_a_plain_turn_returns_the_answer(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu, make_client(emu, transport) as client:
            answer = await client.ask("hello", timeout=20)
            assert isinstance(answer, Answer)
            assert answer.text == str(answer) == "You said: hello"
            assert [(i.role, i.text) for i in answer.items] == [
                ("user", "hello"),
                ("assistant", "You said: hello"),
            ]
            assert len(answer.response_ids) == 1
            assert answer.tool_calls == []
            assert answer.status == "completed"
            again = await client.ask("again", timeout=20)  # only the new turn's rows
            assert [i.text for i in again.items] == ["again", "You said: again"]

    run(scenario())


@on_every_transport
def test_a_tool_round_is_one_turn(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async def slow_tool(call: ToolCall) -> str:
            await asyncio.sleep(0.3)  # still running when the first response is done
            return f"rain in {call.args['city']}"

        async with Emulator() as emu:
            client = make_client(emu, transport, session=TOOL_SESSION, on_tool_call=slow_tool)
            async with client:
                answer = await client.ask('get_weather {"city": "Oslo"}', timeout=20)
                assert answer.text == "Tool result: rain in Oslo"
                assert len(answer.response_ids) == 2
                [call] = answer.tool_calls
                assert (call.tool_name, call.args) == ("get_weather", {"city": "Oslo"})
                assert [i.role for i in answer.items] == ["user", "assistant"]
                assert client.model.response.state in ("idle", "done")

    run(scenario())


@on_every_transport
def test_a_turn_after_the_greeting_waits_for_its_own_answer(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(delta_delay_s=0.02)) as emu:
            client = make_client(emu, transport, greet_enabled=True, greet_modalities=["text"])
            async with client:  # the greeting is still streaming when ask() sends
                answer = await client.ask("hello", timeout=20)
                assert answer.text == "You said: hello"
                assert len(answer.response_ids) == 1
                assert [(i.role, i.text) for i in answer.items] == [
                    ("user", "hello"),
                    ("assistant", "You said: hello"),
                ]
                greeting = [i for i in client.chat if i.response_id not in answer.response_ids]
                assert [i.role for i in greeting] == ["assistant", "user"]

    run(scenario())


@on_every_transport
def test_a_deferred_tool_call_times_out(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(
                emu, transport, session=TOOL_SESSION, on_tool_call=lambda call: None
            )
            async with client:
                with pytest.raises(TimeoutError):
                    await client.ask('get_weather {"city": "Oslo"}', timeout=1.5)
                assert client._turns == []

    run(scenario())


@on_every_transport
def test_a_cancelled_turn_raises(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with (
            Emulator(faults=Faults(delta_delay_s=0.2)) as emu,
            make_client(emu, transport) as client,
        ):
            started = asyncio.Event()
            client.on("assistant:delta", lambda notice: started.set())
            asking = asyncio.get_running_loop().create_task(
                client.ask("a long answer please", timeout=20)
            )
            await asyncio.wait_for(started.wait(), 10)
            await client.cancel_response()
            with pytest.raises(TurnError, match="cancelled"):
                await asking

    run(scenario())


@on_every_transport
def test_a_server_error_during_the_turn_raises(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu, make_client(emu, transport) as client:
            with pytest.raises(TurnError, match="error"):
                await client.ask("hello", response_modality="video", timeout=20)  # type: ignore[arg-type]

    run(scenario())


@on_every_transport
def test_a_lost_connection_raises(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with (
            Emulator(faults=Faults(close_mid_response=True)) as emu,
            make_client(emu, transport) as client,
        ):
            with pytest.raises(NotConnectedError, match="finish the turn"):
                await client.ask("hello", timeout=20)

    run(scenario())


@on_every_transport
def test_a_disconnect_during_the_turn_raises(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(response_delay_s=5)) as emu:
            client = make_client(emu, transport)
            await client.connect()
            asking = asyncio.get_running_loop().create_task(client.ask("hello", timeout=20))
            await asyncio.sleep(0.1)
            await client.disconnect()
            with pytest.raises(NotConnectedError):
                await asking

    run(scenario())


def test_ask_needs_a_connection_and_a_timeout() -> None:
    async def scenario() -> None:
        client = make_client(Emulator())
        with pytest.raises(NotConnectedError):
            await client.ask("hello")
        for bad in (0, -1, float("nan"), True):
            with pytest.raises(ValueError, match="timeout must be seconds > 0"):
                await client.ask("hello", timeout=bad)

    asyncio.run(scenario())
