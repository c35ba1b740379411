"""Replaying recorded wire traffic through a fresh session model.

A replay file holds one JSON object per line: either a bare server event, or
``{"direction": "received" | "sent", "data": {...}}`` (the format of the recorded fixtures and
of ``realtime demo --trace``), optionally with the ``"time"`` it was sent or received at
(a number: seconds). Lines that are not such objects are reported with their line number and
skipped; blank lines are ignored. Replay time is the line's ``time`` when it has one (so a
timed trace replays into the live session's timings: :mod:`realtime_machines.metrics`), else
its line number, so the chat's ``time`` fields and the record's ``time`` are reproducible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .chat import ChatOptions
from .session import SessionModel

__all__ = ["BadLine", "ReplayResult", "replay_lines"]


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
    bad_lines = result.bad_lines
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
    result.events = events
    result.timed = timed
    return result
