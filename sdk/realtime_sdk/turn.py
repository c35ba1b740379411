"""An awaitable turn: what :meth:`RealtimeClient.ask <realtime_sdk.RealtimeClient.ask>` waits
for and returns.

A turn starts with a user message and ends when the model has nothing more to do for it: a
response finished, no tool call of the turn is still running or unanswered, and no response is
requested or queued (a tool round's follow-up ``response.create`` is one). So a turn with a
tool round spans two responses and ends with the second. :class:`TurnTracker` makes that
decision from the convenience events and the model's state; it does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime_machines import (
    AssistantCompleted,
    AssistantResponseStarted,
    ChatItem,
    ErrorNotice,
    Notice,
    SessionModel,
    ToolCallDone,
)

from .errors import RealtimeError

__all__ = ["Answer", "TurnError", "TurnTracker"]


class TurnError(RealtimeError):
    """The turn ended without an answer: its response was cancelled or failed, or the server
    answered with an ``error`` during the turn."""


@dataclass(frozen=True)
class Answer:
    """The outcome of a turn.

    ``text`` is the assistant's final text (the last response's); ``items`` the chat rows the
    turn added (the user message, the assistant's rows, UI messages added meanwhile);
    ``tool_calls`` the calls the model made (``tool:call_done`` notices: ``tool_name``,
    ``args``, ``call_id``); ``response_ids`` the turn's responses in order; ``status`` the last
    response's GA status (``completed`` or ``incomplete``).
    """

    text: str
    items: list[ChatItem] = field(default_factory=list)
    tool_calls: list[ToolCallDone] = field(default_factory=list)
    response_ids: list[str] = field(default_factory=list)
    status: str = "completed"

    def __str__(self) -> str:
        return self.text


class TurnTracker:
    """Follows one turn through the notices that arrive after its message was sent."""

    def __init__(self, model: SessionModel, chat_before: list[ChatItem]) -> None:
        self.model = model
        self._before = {item.id for item in chat_before}
        self.response_ids: list[str] = []
        self.tool_calls: list[ToolCallDone] = []
        self._last: AssistantCompleted | None = None  # the turn's latest finished response
        self._finished: str | None = None  # the latest finished response, the turn's or not
        # Responses already requested before this turn (a greeting, queued creates) start
        # first: they are not the turn's.
        response = model.response
        self._skip = len(response.queue) + (response.state == "create_requested")

    def feed(self, notice: Notice) -> None:
        """Take one notice (in arrival order). Raises :class:`TurnError` when the turn ended
        without an answer."""
        if isinstance(notice, AssistantResponseStarted):
            if self._skip:
                self._skip -= 1
            elif notice.response_id not in self.response_ids:
                self.response_ids.append(notice.response_id)
        elif isinstance(notice, ToolCallDone):
            self.tool_calls.append(notice)
        elif isinstance(notice, ErrorNotice) and notice.scope == "server":
            error: Mapping[str, Any] = notice.error
            message = error.get("message") or error.get("code") or "error"
            raise TurnError(f"the server answered the turn with an error: {message}")
        elif isinstance(notice, AssistantCompleted):
            self._finished = notice.response_id
            if notice.response_id not in self.response_ids:
                return
            if notice.response_status in ("cancelled", "failed") or notice.status == "canceled":
                raise TurnError(
                    f"response {notice.response_id} ended {notice.response_status}: no answer"
                )
            self._last = notice

    def settled(self) -> bool:
        """A response of the turn finished and nothing more is under way for it. Ask when
        every notice so far has been fed: the model's state is read now."""
        if self._last is None:
            return False
        response = self.model.response
        if response.state not in ("idle", "done") or response.queue:
            return False  # a follow-up (or another queued response) is still to come
        if response.response_id not in (None, self._finished):
            return False  # a later response finished whose notice is still on its way
        for call in self.tool_calls:
            chart = self.model.tool_calls.get(call.call_id)
            if chart is not None and not chart.is_settled:
                return False  # a tool is still running or unanswered
        return True

    def answer(self, chat: list[ChatItem]) -> Answer:
        last = self._last
        assert last is not None
        items = [
            item
            for item in chat
            if item.id not in self._before
            and (item.response_id is None or item.response_id in self.response_ids)
        ]
        final = sorted(
            (i for i in items if i.role == "assistant" and i.response_id == last.response_id),
            key=lambda item: item.ts,
        )
        return Answer(
            text=final[-1].text if final else "",
            items=items,
            tool_calls=list(self.tool_calls),
            response_ids=list(self.response_ids),
            status=last.response_status,
        )
