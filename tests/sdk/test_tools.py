"""Tools by decorator: schemas from type hints and docstrings (``function_tool``), argument
binding, and calls over the emulator dispatched to decorated sync and async tools."""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Optional

import pytest

from realtime_sdk import RealtimeClient
from realtime_sdk.emulator import Emulator
from realtime_sdk.tools import FunctionTool, ToolArgumentsError, function_tool
from tests.sdk.test_client import WEATHER_TOOL, make_client, on_every_transport

Runner = Callable[..., Any]

TOOL_SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


def test_google_docstring_and_required_parameters() -> None:
    @function_tool
    def get_weather(city: str, days: int = 1, unit: Unit = Unit.CELSIUS) -> str:
        """Look up the weather
        for a city.

        Args:
            city (str): The city to
                look up.
            days: How many days.

        Returns:
            The forecast.
        """
        return city

    assert isinstance(get_weather, FunctionTool)
    assert get_weather.schema == {
        "type": "function",
        "name": "get_weather",
        "description": "Look up the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city to look up."},
                "days": {"type": "integer", "description": "How many days.", "default": 1},
                "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    assert get_weather("Oslo") == "Oslo"  # still the function


def test_sphinx_docstring_and_containers() -> None:
    def search(
        query: str,
        tags: list[str],
        limits: dict[str, float] | None = None,
        mode: Literal["fast", "exact"] = "fast",
        ids: Sequence[int] = (),
    ) -> list[str]:
        """Search the catalogue.

        :param query: What to look for.
        :param list tags: Tags that must all
            be present.
        :returns: matching names
        """
        return []

    parameters = function_tool(search).parameters
    assert function_tool(search).description == "Search the catalogue."
    assert parameters["properties"] == {
        "query": {"type": "string", "description": "What to look for."},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Tags that must all be present.",
        },
        "limits": {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "number"}},
                {"type": "null"},
            ],
            "default": None,
        },
        "mode": {"type": "string", "enum": ["fast", "exact"], "default": "fast"},
        "ids": {"type": "array", "items": {"type": "integer"}, "default": ()},
    }
    assert parameters["required"] == ["query", "tags"]


def test_numpy_docstring_optional_annotated_and_untyped() -> None:
    def book(  # type: ignore[no-untyped-def]  # "note" has no type: any JSON
        room: Annotated[str, "The room's name"],
        seats: Optional[int],  # noqa: UP045 - the spelling under test
        note,
        flags: Mapping[str, bool] | None = None,
    ) -> None:
        """Book a room.

        Parameters
        ----------
        seats : int
            How many seats.
        note
            Anything.

        Returns
        -------
        None
        """

    tool = function_tool(book, name="book_room", description="Reserve a meeting room.")
    assert tool.name == "book_room"
    assert tool.description == "Reserve a meeting room."
    assert tool.parameters["properties"] == {
        "room": {"type": "string", "description": "The room's name"},
        "seats": {"type": ["integer", "null"], "description": "How many seats."},
        "note": {"description": "Anything."},
        "flags": {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "boolean"}},
                {"type": "null"},
            ],
            "default": None,
        },
    }
    assert tool.parameters["required"] == ["room", "seats", "note"]


def test_no_docstring_and_no_parameters() -> None:
    async def ping() -> str:
        return "pong"

    tool = function_tool(ping)
    assert tool.description == ""
    assert tool.parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_what_cannot_be_described_fails_with_a_sentence() -> None:
    def star(*names: str) -> None: ...

    def kwargs(**options: str) -> None: ...

    def weird(value: complex) -> None: ...

    def keys(value: dict[int, str]) -> None: ...

    with pytest.raises(TypeError, match=r"\*names cannot be described"):
        function_tool(star)
    with pytest.raises(TypeError, match=r"\*options cannot be described"):
        function_tool(kwargs)
    with pytest.raises(TypeError, match="cannot describe <class 'complex'>"):
        function_tool(weird)
    with pytest.raises(TypeError, match="keys are strings"):
        function_tool(keys)
    with pytest.raises(ValueError, match="must be 1-64 letters"):
        function_tool(lambda: None)
    with pytest.raises(TypeError, match="a tool must be a function"):
        function_tool(3)  # type: ignore[call-overload]


def test_bind_checks_and_converts_arguments() -> None:
    @function_tool
    def convert(city: str, unit: Unit = Unit.CELSIUS, other: Unit | None = None) -> str:
        return f"{city} {unit.name} {other}"

    assert convert.bind({"city": "Oslo", "unit": "F"}) == {"city": "Oslo", "unit": Unit.FAHRENHEIT}
    assert convert.bind({"city": "Oslo", "other": None}) == {"city": "Oslo", "other": None}
    with pytest.raises(ToolArgumentsError, match="missing argument"):
        convert.bind({})
    with pytest.raises(ToolArgumentsError, match=r"unknown argument.*town"):
        convert.bind({"city": "Oslo", "town": "x"})
    with pytest.raises(ToolArgumentsError, match="unit must be one of 'C', 'F'"):
        convert.bind({"city": "Oslo", "unit": "K"})
    assert asyncio.run(convert.invoke({"city": "Oslo", "unit": "F"})) == "Oslo FAHRENHEIT None"


# -- over the emulator ------------------------------------------------------------------------


@on_every_transport
def test_calls_are_dispatched_to_decorated_sync_and_async_tools(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        calls: list[tuple[str, dict[str, Any]]] = []
        async with Emulator() as emu:
            client = make_client(emu, transport)

            @client.tool
            def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
                """Look up the weather."""
                calls.append(("get_weather", {"city": city, "unit": unit}))
                return f"rain in {city}"

            @client.tool(name="get_time")
            async def clock(zone: str) -> dict[str, str]:
                """The time in a zone."""
                await asyncio.sleep(0)
                calls.append(("get_time", {"zone": zone}))
                return {"zone": zone, "time": "12:00"}

            assert set(client.tools) == {"get_weather", "get_time"}
            async with client:
                first = await client.ask('get_weather {"city": "Oslo", "unit": "F"}', timeout=20)
                second = await client.ask('get_time {"zone": "UTC"}', timeout=20)
        assert calls == [
            ("get_weather", {"city": "Oslo", "unit": "F"}),
            ("get_time", {"zone": "UTC"}),
        ]
        assert first.text == "Tool result: rain in Oslo"
        assert json.loads(second.text.removeprefix("Tool result: ")) == {
            "zone": "UTC",
            "time": "12:00",
        }

    run(scenario())


@on_every_transport
def test_the_session_update_carries_the_tool_schemas(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        sent: list[Mapping[str, Any]] = []

        def record(event: Mapping[str, Any]) -> None:
            sent.append(event)

        given = {"type": "function", "name": "by_hand", "parameters": {"type": "object"}}
        async with Emulator() as emu:

            def lookup(key: str) -> str:
                """Look a key up."""
                return key

            client = make_client(
                emu,
                transport,
                tools=[lookup],
                outgoing_middleware=[record],
                session={"type": "realtime", "output_modalities": ["text"], "tools": [given]},
            )
            async with client:
                await client.ask("hello", timeout=20)

                @client.tool
                def later(n: int) -> int:
                    """Registered while connected."""
                    return n + 1

                answer = await client.ask('later {"n": 41}', timeout=20)
        updates = [e["session"] for e in sent if e["type"] == "session.update"]
        assert [t["name"] for t in updates[0]["tools"]] == ["by_hand", "lookup"]
        assert updates[0]["tools"][1] == function_tool(lookup).schema
        assert [t["name"] for t in updates[1]["tools"]] == ["by_hand", "lookup", "later"]
        assert answer.text == "Tool result: 42"

    run(scenario())


@on_every_transport
def test_a_failing_tool_and_an_unknown_name_give_the_model_an_error(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:

            def broken(city: str) -> str:
                """Always fails."""
                raise RuntimeError("the weather service is down")

            client = make_client(emu, transport, tools=[broken])
            async with client:
                failed = await client.ask('broken {"city": "Oslo"}', timeout=20)
                assert "the weather service is down" in failed.text
                wrong = await client.ask("broken {}", timeout=20)  # a required arg missing
                assert "missing argument(s) city" in wrong.text

    run(scenario())


@on_every_transport
def test_on_tool_call_still_gets_what_no_tool_takes(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:

            def known() -> str:
                """Known."""
                return "known"

            client = make_client(
                emu,
                transport,
                tools=[known],
                on_tool_call=lambda call: f"handled {call.name}",
                session={
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": [{"type": "function", "name": "manual", "parameters": {}}],
                },
            )
            async with client:
                assert (
                    await client.ask("manual", timeout=20)
                ).text == "Tool result: handled manual"
                assert (await client.ask("known", timeout=20)).text == "Tool result: known"

    run(scenario())


def test_tools_argument_accepts_functions_and_function_tools() -> None:
    def one() -> None:
        """One."""

    two = function_tool(one, name="two")
    client = RealtimeClient(tools=[one, two])
    assert list(client.tools) == ["one", "two"]
    assert client.model.auto_execute_tools


@on_every_transport
def test_a_ui_message_added_in_a_tool_call_precedes_the_follow_up_answer(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        answered = asyncio.Event()

        def on_chat_update(chat: list[Any]) -> None:
            if any(item.text.startswith("Tool result") for item in chat):
                answered.set()

        async with Emulator() as emu:

            def on_tool_call(call: Any) -> str:
                client.add_message({"text": "checking the weather…", "role": "system"})
                return "rain"

            client = make_client(
                emu,
                transport,
                session=TOOL_SESSION,
                on_tool_call=on_tool_call,
                on_chat_update=on_chat_update,
            )
            async with client:
                await client.send_text_message('get_weather {"city": "Oslo"}')
                await asyncio.wait_for(answered.wait(), 20)
                assert [(i.role, i.text) for i in client.chat] == [
                    ("user", 'get_weather {"city": "Oslo"}'),
                    ("system", "checking the weather…"),
                    ("assistant", "Tool result: rain"),
                ]

    run(scenario())
