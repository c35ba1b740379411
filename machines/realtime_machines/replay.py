"""Replaying recorded wire traffic through a fresh session model.

A replay file holds one JSON object per line: either a bare server event, or
``{"direction": "received" | "sent", "data": {...}}`` (the format of the recorded fixtures and
of ``realtime demo --trace``), optionally with the ``"time"`` it was sent or received at
(a number: seconds). Lines that are not such objects are reported with their line number and
skipped; blank lines are ignored. Replay time is the line's ``time`` when it has one (so a
timed trace replays into the live session's timings: :mod:`realtime_machines.metrics`), else
its line number, so the chat's ``time`` fields and the record's ``time`` are reproducible.

A GPT-Live trace (the same line format, Live events) replays through a
:class:`~realtime_machines.live.session.LiveSessionModel` (:func:`replay_live_lines`);
:func:`replay_any` tells the two apart by the event names (:func:`detect_api`).
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .chat import ChatOptions
from .live.chat import LiveChatOptions
from .live.session import LiveSessionModel
from .live.wire import LIVE_ONLY_EVENT_TYPES
from .session import SessionModel
from .wire import BETA_ALIASES, GA_SERVER_EVENT_TYPES

__all__ = [
    "BadLine",
    "LiveReplayResult",
    "ReplayResult",
    "detect_api",
    "replay_any",
    "replay_lines",
    "replay_live_lines",
]


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be replayed, and why."""

    number: int
    reason: str


@dataclass(slots=True)
class ReplayResult:
    """The session after the replay, plus the lines that were skipped."""

    session: SessionModel
    bad_lines: list[BadLine] = field(default_factory=list)
    events: int = 0
    #: Whether any line carried its ``time`` (else the record's times are line numbers).
    timed: bool = False

    def summary(self) -> dict[str, Any]:
        """The ``realtime replay --json`` object."""
        summary = self.session.summary()
        return {
            "chat": summary["chat"],
            "tool_calls": summary["tool_calls"],
            "responses": summary["responses"],
            "states": summary["states"],
            "unknown_events": summary["unknown_events"],
            "malformed_lines": len(self.bad_lines),
        }


def _parse(line: str | bytes) -> tuple[str, dict[str, Any]] | str:
    """``(direction, event)`` for a good line, or the reason it is bad."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({exc})"
    except RecursionError:
        return "JSON nested too deeply to read"
    return _shape(value)


def _shape(value: Any) -> tuple[str, dict[str, Any]] | str:
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    if "direction" in value or "data" in value:
        direction, data = value.get("direction"), value.get("data")
        if direction not in ("received", "sent"):
            return f"'direction' must be 'received' or 'sent', got {direction!r}"
        if not isinstance(data, dict):
            return "'data' must be a JSON object (the wire event)"
        return direction, data
    return "received", value


class _Model(Protocol):
    malformed_events: int
    outbox: deque[Any]

    def receive(self, raw: object, *, time: float | None = None) -> Any: ...

    def send(self, event: Mapping[str, Any], *, time: float | None = None) -> None: ...


def _feed(
    lines: Iterable[str | bytes], model: _Model, bad_lines: list[BadLine]
) -> tuple[int, bool]:
    """Feed the lines to ``model``; return how many events it took and whether any line
    carried its ``time``."""
    receive, send, outbox = model.receive, model.send, model.outbox
    loads = json.loads
    events = 0
    timed = False
    for number, line in enumerate(lines, 1):
        try:
            value = loads(line)
        except (ValueError, RecursionError):
            if line.strip():
                bad_lines.append(BadLine(number, str(_parse(line))))
            continue
        # The common shape first: {"direction": "received", "data": {...}}.
        data = value.get("data") if type(value) is dict else None
        if type(data) is dict and value.get("direction") == "received":
            direction: str = "received"
        else:
            parsed = _shape(value)
            if isinstance(parsed, str):
                bad_lines.append(BadLine(number, parsed))
                continue
            direction, data = parsed
        before = model.malformed_events
        when = value.get("time") if type(value) is dict and "data" in value else None
        if type(when) is float or type(when) is int:
            timed = True
            at = float(when)
        else:
            at = float(number)
        if direction == "sent":
            send(data, time=at)
        else:
            receive(data, time=at)
        if outbox:
            outbox.clear()
        if model.malformed_events != before:
            bad_lines.append(BadLine(number, f"malformed {data.get('type')!r} event"))
        events += 1
    return events, timed


def replay_lines(
    lines: Iterable[str | bytes],
    *,
    chat_options: ChatOptions | None = None,
    session: SessionModel | None = None,
) -> ReplayResult:
    """Feed replay-format lines to ``session`` (a new one by default) in order.

    ``lines`` may be any iterable (a file is read as it goes; nothing is kept but the model).
    A line given as ``bytes`` is decoded as UTF-8 by the parser (a line that is not UTF-8 is a
    bad line). The effects the model asks for are dropped as they come: a replay runs none.
    """
    # A replay reports every response and call, and its whole record: nothing is pruned.
    model = session or SessionModel(
        chat_options=chat_options, record_limit=None, settled_limit=None
    )
    result = ReplayResult(model)
    result.events, result.timed = _feed(lines, model, result.bad_lines)
    return result


@dataclass(slots=True)
class LiveReplayResult:
    """A GPT-Live session after the replay, plus the lines that were skipped."""

    session: LiveSessionModel
    bad_lines: list[BadLine] = field(default_factory=list)
    events: int = 0
    timed: bool = False
    """True when a line carried the ``time`` it was sent or received at."""

    def summary(self) -> dict[str, Any]:
        """The ``realtime replay --json`` object (the Realtime keys, plus ``api``,
        ``delegations`` and ``session``)."""
        summary = self.session.summary()
        summary.pop("malformed_events", None)
        summary["malformed_lines"] = len(self.bad_lines)
        return summary


def replay_live_lines(
    lines: Iterable[str | bytes],
    *,
    chat_options: LiveChatOptions | None = None,
    session: LiveSessionModel | None = None,
) -> LiveReplayResult:
    """Feed a GPT-Live trace (same line format) to ``session`` (a new one by default)."""
    model = session or LiveSessionModel(
        chat_options=chat_options, record_limit=None, settled_limit=None
    )
    result = LiveReplayResult(model)
    result.events, result.timed = _feed(lines, model, result.bad_lines)
    return result


def _event_type(line: str | bytes) -> str | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    parsed = _shape(value)
    if isinstance(parsed, str):
        return None
    kind = parsed[1].get("type")
    return kind if isinstance(kind, str) else None


def detect_api(lines: Iterable[str | bytes]) -> tuple[str, Iterator[str | bytes]]:
    """Which protocol a trace speaks: ``"live"`` when an event among its first
    :data:`DETECT_EVENTS` has a type only GPT-Live uses (``session.started``,
    ``session.input_transcript.delta`` …), else ``"realtime"``. Returns the API and the lines
    again (the ones read to decide are put back in front), so a stream is read once."""
    iterator = iter(lines)
    head: list[str | bytes] = []
    api = "realtime"
    typed = 0
    for line in iterator:
        head.append(line)
        kind = _event_type(line)
        if kind is None:
            continue
        if kind in LIVE_ONLY_EVENT_TYPES:
            api = "live"
            break
        if kind in GA_SERVER_EVENT_TYPES or kind in BETA_ALIASES:
            break
        typed += 1
        if typed >= DETECT_EVENTS:
            break
    return api, itertools.chain(head, iterator)


#: How many events of unknown protocol :func:`detect_api` reads before it settles on Realtime.
DETECT_EVENTS = 50


def replay_any(
    lines: Iterable[str | bytes],
) -> ReplayResult | LiveReplayResult:
    """Replay a trace of either protocol, told apart by :func:`detect_api`."""
    api, again = detect_api(lines)
    return replay_live_lines(again) if api == "live" else replay_lines(again)
