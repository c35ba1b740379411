"""Convenience events with the seed library's names and payloads.

The model computes them while it processes wire events; the shell only dispatches them to
``client.on(name, handler)`` subscribers. Each is a frozen dataclass whose ``name`` is the seed's
event string (``"user:delta"``, ``"assistant:completed"`` ...); :meth:`Notice.payload` gives the
payload as a dict with the seed's keys in snake_case.

The events about one assistant message item (``assistant:item_started``, ``assistant:delta``,
``user:truncated``) also carry its ``phase`` (``"commentary"``, ``"final_answer"``, or ``None``
when the server did not tag it): a response of a reasoning model may hold a preamble and an
answer as two messages. ``assistant:completed`` is about the response: it fires once per
response, whatever the number of its messages, and carries no text (the seed's payload is
``{response_id, status}``); the response's text is in the chat rows with its ``response_id``,
the answer being the row whose ``phase`` is ``"final_answer"`` when the server tags phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from .metrics import TurnMetrics

__all__ = [
    "NOTICE_NAMES",
    "AssistantCompleted",
    "AssistantDelta",
    "AssistantItemStarted",
    "AssistantResponseStarted",
    "ErrorNotice",
    "MetricsTurn",
    "Notice",
    "ToolCallDelta",
    "ToolCallDone",
    "UserCompleted",
    "UserDelta",
    "UserFailed",
    "UserItemStarted",
    "UserTruncated",
]


@dataclass(frozen=True, slots=True)
class Notice:
    """Base class of the convenience events."""

    name: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class UserItemStarted(Notice):
    item_id: str
    name: ClassVar[str] = "user:item_started"


@dataclass(frozen=True, slots=True)
class UserDelta(Notice):
    item_id: str
    delta: str
    name: ClassVar[str] = "user:delta"


@dataclass(frozen=True, slots=True)
class UserCompleted(Notice):
    item_id: str
    transcript: str
    name: ClassVar[str] = "user:completed"


@dataclass(frozen=True, slots=True)
class UserFailed(Notice):
    item_id: str
    error: Mapping[str, Any]
    name: ClassVar[str] = "user:failed"


@dataclass(frozen=True, slots=True)
class UserTruncated(Notice):
    """An item's audio was truncated (the seed names it ``user:truncated``)."""

    item_id: str
    audio_end_ms: int | None = None
    phase: str | None = None
    name: ClassVar[str] = "user:truncated"


@dataclass(frozen=True, slots=True)
class AssistantItemStarted(Notice):
    item_id: str
    response_id: str | None = None
    phase: str | None = None
    name: ClassVar[str] = "assistant:item_started"


@dataclass(frozen=True, slots=True)
class AssistantResponseStarted(Notice):
    response_id: str
    name: ClassVar[str] = "assistant:response_started"


@dataclass(frozen=True, slots=True)
class AssistantDelta(Notice):
    response_id: str
    delta: str
    channel: Literal["output_text", "audio_transcript"]
    item_id: str | None = None
    phase: str | None = None
    name: ClassVar[str] = "assistant:delta"


@dataclass(frozen=True, slots=True)
class AssistantCompleted(Notice):
    """A response is over: its text is done and its audio (if any) has stopped or was cut.

    Once per response, however many messages (``commentary`` preamble, ``final_answer``) it
    holds; no text (see the module docstring for where the answer is).

    ``status`` is the seed's ``"done" | "canceled"``; ``response_status`` the GA status
    (``completed | cancelled | failed | incomplete``).
    """

    response_id: str
    status: Literal["done", "canceled"]
    response_status: str = "completed"
    name: ClassVar[str] = "assistant:completed"


@dataclass(frozen=True, slots=True)
class ToolCallDelta(Notice):
    call_id: str
    tool_name: str
    delta: str
    name: ClassVar[str] = "tool:call_delta"

    def payload(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "name": self.tool_name, "delta": self.delta}


@dataclass(frozen=True, slots=True)
class ToolCallDone(Notice):
    """Arguments complete: ``args`` is the parsed object, or ``None`` with ``error`` set."""

    call_id: str
    tool_name: str
    args: Mapping[str, Any] | None
    error: str | None = None
    name: ClassVar[str] = "tool:call_done"

    def payload(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "name": self.tool_name,
            "args": self.args,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ErrorNotice(Notice):
    """``scope`` is ``"server"`` (an ``error`` event) or ``"client"`` (bad input, model fault)."""

    scope: Literal["server", "client"]
    error: Mapping[str, Any]
    name: ClassVar[str] = "error"


@dataclass(frozen=True, slots=True)
class MetricsTurn(Notice):
    """A turn ended: its measures (:class:`~realtime_machines.metrics.TurnMetrics`), computed by
    the client's metrics tracker from the transitions (not a seed event). The payload is
    ``metrics.to_json()``."""

    metrics: TurnMetrics
    name: ClassVar[str] = "metrics:turn"

    def payload(self) -> dict[str, Any]:
        return self.metrics.to_json()


NOTICE_NAMES: frozenset[str] = frozenset(
    cls.name
    for cls in (
        UserItemStarted,
        UserDelta,
        UserCompleted,
        UserFailed,
        UserTruncated,
        AssistantItemStarted,
        AssistantResponseStarted,
        AssistantDelta,
        AssistantCompleted,
        ToolCallDelta,
        ToolCallDone,
        ErrorNotice,
        MetricsTurn,
    )
)
