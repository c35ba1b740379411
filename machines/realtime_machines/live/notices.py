"""Convenience events of a GPT-Live session that Realtime has no counterpart for.

Where a Realtime event fits, a Live session emits it (:mod:`realtime_machines.notices`):
``user:item_started`` / ``user:delta`` / ``user:completed`` and ``assistant:item_started`` /
``assistant:delta`` / ``assistant:completed`` for inferred turns (the turn id stands where
Realtime has an item or response id), ``tool:call_done`` for a function call of a delegated
Responses run, ``error`` for errors. The ones below are Live's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..notices import Notice

__all__ = [
    "LIVE_NOTICE_NAMES",
    "AssistantInterrupted",
    "DecisionMade",
    "DelegationCreatedNotice",
    "DelegationFinished",
    "InfoNotice",
    "InputMuted",
    "InputUnmuted",
    "SessionClosedNotice",
    "SessionPausedNotice",
    "SessionRestartedNotice",
    "SessionResumedNotice",
    "SessionStartedNotice",
    "TransportDtmf",
    "UsageUpdated",
]


@dataclass(frozen=True, slots=True)
class SessionStartedNotice(Notice):
    """The session runs (``session.started``, or a sideband attached)."""

    session_id: str | None
    expires_at: int | None = None
    name: ClassVar[str] = "session:started"


@dataclass(frozen=True, slots=True)
class SessionRestartedNotice(Notice):
    """A new session replaced an earlier one of this client (Live has no resume: after a
    dropped connection the reconnect starts a new session, with a fresh timeline and none of
    the old session's context). The chat keeps the old rows; the new ones follow them."""

    previous_session_id: str
    session_id: str | None
    name: ClassVar[str] = "session:restarted"


@dataclass(frozen=True, slots=True)
class SessionPausedNotice(Notice):
    """Inference paused (WebRTC standby after ``idle_timeout_s``)."""

    name: ClassVar[str] = "session:paused"


@dataclass(frozen=True, slots=True)
class SessionResumedNotice(Notice):
    """Speech resumed inference."""

    name: ClassVar[str] = "session:resumed"


@dataclass(frozen=True, slots=True)
class SessionClosedNotice(Notice):
    """The session is over: ``reason`` is the server's, or ``transport_lost`` /
    ``close_unconfirmed`` / ``start_failed`` when no ``session.closed`` came."""

    reason: str
    usage: Mapping[str, Any] | None = None
    confirmed: bool = True
    name: ClassVar[str] = "session:closed"


@dataclass(frozen=True, slots=True)
class AssistantInterrupted(Notice):
    """The user barged in on an assistant turn (their speech overlapped it)."""

    turn_id: str
    text: str
    name: ClassVar[str] = "assistant:interrupted"


@dataclass(frozen=True, slots=True)
class DelegationCreatedNotice(Notice):
    """``session.delegation.created``: the model handed work to ``target``."""

    delegation_id: str
    target: str
    response_id: str | None = None
    name: ClassVar[str] = "delegation:created"


@dataclass(frozen=True, slots=True)
class DelegationFinished(Notice):
    """A delegation needs nothing more: ``status`` is its chart's final state."""

    delegation_id: str
    status: str
    name: ClassVar[str] = "delegation:done"


@dataclass(frozen=True, slots=True)
class DecisionMade(Notice):
    """``decision.event``: a decisions delegation's result or a trigger's evaluation."""

    delegation_id: str | None
    trigger_id: str | None
    decision: Mapping[str, Any]
    name: ClassVar[str] = "decision"


@dataclass(frozen=True, slots=True)
class InputMuted(Notice):
    """The input is muted (acknowledged)."""

    name: ClassVar[str] = "input:muted"


@dataclass(frozen=True, slots=True)
class InputUnmuted(Notice):
    """The input is unmuted (acknowledged)."""

    name: ClassVar[str] = "input:unmuted"


@dataclass(frozen=True, slots=True)
class UsageUpdated(Notice):
    """``session.usage.updated``: a snapshot (``seconds`` so far), never a sum."""

    usage: Mapping[str, Any]
    context_window: Mapping[str, Any] | None = None
    name: ClassVar[str] = "usage:updated"


@dataclass(frozen=True, slots=True)
class InfoNotice(Notice):
    """``info`` (e.g. ``data_channel_permissions``)."""

    code: str
    message: str
    name: ClassVar[str] = "info"


@dataclass(frozen=True, slots=True)
class TransportDtmf(Notice):
    """A SIP caller pressed a key (``transport.dtmf.received``, sideband)."""

    key: str
    name: ClassVar[str] = "transport:dtmf"


LIVE_NOTICE_NAMES: frozenset[str] = frozenset(
    cls.name
    for cls in (
        SessionStartedNotice,
        SessionRestartedNotice,
        SessionPausedNotice,
        SessionResumedNotice,
        SessionClosedNotice,
        AssistantInterrupted,
        DelegationCreatedNotice,
        DelegationFinished,
        DecisionMade,
        InputMuted,
        InputUnmuted,
        UsageUpdated,
        InfoNotice,
        TransportDtmf,
    )
)
"""The names of Live's own convenience events."""
