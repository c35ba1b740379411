"""The transition record: every step the model takes, in order.

A :class:`Transition` is either a chart transition (``chart`` is the chart's name, ``source`` /
``target`` its state ids; ``target`` is ``None`` for an action that stays put) or a *fact* of the
conversation (``chart == "conversation"`` or ``"chat"``; no states): an item added, a text delta,
a transcript, a UI message. The chat is a pure function of this record
(:func:`realtime_machines.chat.project`), so a saved record replays into the same chat.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["Transition", "final_states", "read_jsonl", "write_jsonl"]


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of the model."""

    seq: int
    time: float
    chart: str
    event: str
    source: str | None
    target: str | None
    data: Mapping[str, Any]

    @property
    def is_fact(self) -> bool:
        """True for conversation/chat facts, which belong to no chart state."""
        return self.source is None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "chart": self.chart,
            "event": self.event,
            "source": self.source,
            "target": self.target,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Transition:
        """Rebuild a transition from :meth:`to_json` output; ``ValueError`` says what is wrong."""
        try:
            seq, time, chart, event = obj["seq"], obj["time"], obj["chart"], obj["event"]
            source, target, data = obj.get("source"), obj.get("target"), obj.get("data", {})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a transition record: missing {exc}") from None
        if not isinstance(seq, int) or not isinstance(time, int | float):
            raise ValueError("transition record: 'seq' must be an int and 'time' a number")
        if not isinstance(chart, str) or not isinstance(event, str):
            raise ValueError("transition record: 'chart' and 'event' must be strings")
        if not isinstance(data, Mapping):
            raise ValueError("transition record: 'data' must be an object")
        return cls(seq, float(time), chart, event, source, target, data)


def write_jsonl(records: Iterable[Transition], fp: IO[str]) -> int:
    """Write records as JSON lines; return how many were written."""
    n = 0
    for record in records:
        fp.write(json.dumps(record.to_json(), ensure_ascii=False, default=str))
        fp.write("\n")
        n += 1
    return n


def read_jsonl(fp: IO[str]) -> Iterator[Transition]:
    """Read records written by :func:`write_jsonl` (blank lines are skipped)."""
    for number, line in enumerate(fp, 1):
        if not line.strip():
            continue
        try:
            yield Transition.from_json(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None


def final_states(records: Iterable[Transition]) -> dict[str, str]:
    """The state each chart is in after ``records`` (charts seen in the record only)."""
    states: dict[str, str] = {}
    for record in records:
        if record.source is None:
            continue
        if record.target is not None:
            states[record.chart] = record.target
        else:
            states.setdefault(record.chart, record.source)
    return states
