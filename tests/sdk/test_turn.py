"""``TurnTracker``: when a turn is over, from notices and the model's state (no I/O)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from realtime_machines import (
    AssistantCompleted,
    AssistantResponseStarted,
    ChatItem,
    ErrorNotice,
    ToolCallDone,
)
from realtime_sdk.turn import TurnError, TurnTracker


@dataclass
class Response:
    state: str = "idle"
    queue: deque[Any] = field(default_factory=deque)
    response_id: str | None = None


@dataclass
class Call:
    is_settled: bool = False


@dataclass
class Model:
    """The parts of SessionModel that TurnTracker reads."""

    response: Response = field(default_factory=Response)
    tool_calls: dict[str, Call] = field(default_factory=dict)


def row(row_id: str, role: str, text: str, ts: float, response_id: str | None = None) -> ChatItem:
    return ChatItem(row_id, "text", role, text, ts, 0.0, "done", response_id, row_id)


def tracker(model: Model, before: list[ChatItem] | None = None) -> TurnTracker:
    return TurnTracker(model, before or [])  # type: ignore[arg-type]


def test_a_tool_round_is_settled_by_the_follow_up_answer() -> None:
    model = Model(response=Response(state="idle"))
    turn = tracker(model)
    model.response.state = "generating"
    turn.feed(AssistantResponseStarted("r1"))
    turn.feed(ToolCallDone("c1", "get_weather", {"city": "Oslo"}))
    model.tool_calls["c1"] = Call()
    model.response = Response(state="done", response_id="r1")
    turn.feed(AssistantCompleted("r1", "done"))
    assert not turn.settled()  # the tool is still running
    model.tool_calls["c1"].is_settled = True
    model.response = Response(state="create_requested")  # the follow-up
    assert not turn.settled()
    turn.feed(AssistantResponseStarted("r2"))
    model.response = Response(state="done", response_id="r2")
    turn.feed(AssistantCompleted("r2", "done"))
    assert turn.settled()
    chat = [
        row("u1", "user", "weather?", 1),
        row("a0", "assistant", "thinking", 2, "r2"),
        row("a1", "assistant", "It rains.", 3, "r2"),
    ]
    answer = turn.answer(chat)
    assert answer.text == "It rains."  # the final row of the last response
    assert answer.response_ids == ["r1", "r2"]
    assert [c.call_id for c in answer.tool_calls] == ["c1"]
    assert [i.id for i in answer.items] == ["u1", "a0", "a1"]


def test_a_late_notice_does_not_settle_a_turn_whose_model_moved_on() -> None:
    model = Model(response=Response(state="idle"))
    turn = tracker(model)
    turn.feed(AssistantResponseStarted("r1"))
    # The model already finished r2 (its notice is still queued) when r1's completion is read.
    model.response = Response(state="done", response_id="r2")
    turn.feed(AssistantCompleted("r1", "done"))
    assert not turn.settled()
    turn.feed(AssistantResponseStarted("r2"))
    turn.feed(AssistantCompleted("r2", "done"))
    assert turn.settled()


def test_a_response_requested_before_the_turn_is_not_the_turns() -> None:
    model = Model(response=Response(state="create_requested"))  # the greeting's create
    greeting = row("g", "assistant", "Hello!", 1, "greet")
    turn = tracker(model)
    turn.feed(AssistantResponseStarted("greet"))
    turn.feed(AssistantResponseStarted("r1"))
    model.response = Response(state="done", response_id="greet")
    turn.feed(AssistantCompleted("greet", "done"))
    assert not turn.settled()
    model.response = Response(state="done", response_id="r1")
    turn.feed(AssistantCompleted("r1", "done"))
    assert turn.settled()
    answer = turn.answer(
        [greeting, row("u", "user", "hi", 2), row("a", "assistant", "Hi", 3, "r1")]
    )
    assert answer.response_ids == ["r1"]
    assert [i.id for i in answer.items] == ["u", "a"]


def test_cancelled_failed_and_server_errors_raise() -> None:
    turn = tracker(Model(response=Response(state="idle")))
    turn.feed(AssistantResponseStarted("r1"))
    with pytest.raises(TurnError, match="r1 ended cancelled"):
        turn.feed(AssistantCompleted("r1", "canceled", "cancelled"))
    with pytest.raises(TurnError, match="ended failed"):
        turn.feed(AssistantCompleted("r1", "done", "failed"))
    with pytest.raises(TurnError, match="the server answered the turn with an error: bad"):
        turn.feed(ErrorNotice("server", {"message": "bad"}))
    turn.feed(ErrorNotice("client", {"message": "a malformed event"}))  # reported, not fatal
    turn.feed(AssistantCompleted("other", "canceled", "cancelled"))  # not the turn's
