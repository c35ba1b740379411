"""WireTrace, the library's trace recorder: a traced session replays into the same chat."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from realtime_machines.replay import replay_lines
from realtime_sdk import WireTrace
from realtime_sdk.emulator import Emulator
from realtime_sdk.middleware import IncomingContext, run_incoming, run_outgoing
from tests.sdk.test_client import WEATHER_TOOL, make_client

Runner = Callable[..., Any]


def _rows(chat: Any) -> list[tuple[str, str, str]]:
    return [(item.role, item.text, item.status) for item in chat]


def test_a_traced_session_replays_into_the_same_chat(run: Runner) -> None:
    out = io.StringIO()
    trace = WireTrace(out, keep=True)

    async def session() -> tuple[list[tuple[str, str, str]], dict[str, str]]:
        async with Emulator() as emu:
            client = make_client(
                emu,
                session={
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": [WEATHER_TOOL],
                },
                greet_enabled=True,
                greet_modalities=["text"],
                on_tool_call=lambda call: {"city": call.args.get("city"), "sky": "clear"},
                delete_chat_history_on_disconnect=False,
                **trace.client_options(),
            )
            trace.watch(client)
            async with client:
                await client.ask("Hello there!", timeout=20)
                await client.ask('get_weather {"city": "Oslo"}', timeout=20)
            return _rows(client.chat), dict(client.model.responses)

    chat, responses = run(session(), timeout=60)
    assert out.getvalue().splitlines() == trace.lines
    kinds = {e["type"] for e in trace.events("sent")}
    assert {"session.update", "conversation.item.create", "response.create"} <= kinds
    assert "function_call_output" in {e.get("item", {}).get("type") for e in trace.events("sent")}
    assert any(e["type"] == "response.done" for e in trace.events("received"))
    replayed = replay_lines(out.getvalue().splitlines())
    assert not replayed.bad_lines
    assert _rows(replayed.session.chat) == chat
    assert len(chat) >= 5  # greeting, two user turns, two answers (and the tool round)
    assert dict(replayed.session.responses) == responses


def test_sent_events_are_recorded_only_while_the_client_is_connected() -> None:
    class Client:
        status = "connecting"

    trace = WireTrace()
    client = Client()
    trace.watch(client)
    trace.outgoing({"type": "session.update"})
    client.status = "connected"
    trace.outgoing({"type": "response.create"})
    client.status = "disconnected"
    trace.outgoing({"type": "response.cancel"})
    assert trace.events("sent") == [{"type": "response.create"}]


def test_the_middleware_pass_events_through_unchanged(run: Runner) -> None:
    trace = WireTrace()
    event = {"type": "response.created", "response": {"id": "resp_1"}}

    async def send(_: Any) -> None:
        return None

    async def both() -> tuple[Any, Any]:
        options = trace.client_options()
        received = await run_incoming(
            options["incoming_middleware"], IncomingContext(event=event, send=send)
        )
        sent = await run_outgoing(options["outgoing_middleware"], {"type": "response.create"})
        return received, sent

    assert run(both()) == (event, {"type": "response.create"})
    assert [json.loads(line)["direction"] for line in trace.lines] == ["received", "sent"]
    assert trace.count("received") == 1
    assert trace.count("sent") == 1


def test_a_bad_direction_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="direction must be 'sent' or 'received'"):
        WireTrace().add("both", {})  # type: ignore[arg-type]


def test_a_trace_written_to_a_file_keeps_counts_not_lines() -> None:
    out = io.StringIO()
    trace = WireTrace(out, clock=None)
    for n in range(1000):
        trace.add("received", {"type": "response.output_audio.delta", "delta": "AAAA" * n})
    trace.add("sent", {"type": "response.create"})
    assert trace.lines == []  # flat memory: the audio is in the file only
    assert (trace.count("received"), trace.count("sent")) == (1000, 1)
    assert len(out.getvalue().splitlines()) == 1001
    with pytest.raises(ValueError, match="keeps no lines"):
        trace.events()
