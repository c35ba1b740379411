"""Hypothesis strategies: recorded sessions, mutated the ways a real wire can go wrong.

A *step* is ``("recv", raw)`` (a server event, possibly broken), ``("send", event)`` (a client
event the recording sent) or ``("cmd", name)`` (a user command or a timer).
"""

from __future__ import annotations

import copy
from typing import Any, TypeAlias

from hypothesis import strategies as st

from tests.machines.kit import FIXTURE_NAMES, all_received_events, load_lines

Step: TypeAlias = tuple[str, Any]

COMMANDS = (
    "request_response",
    "cancel_response",
    "set_voice",
    "set_text",
    "timer:response.create",
    "timer:response.cancel",
    "timer:playback.settle",
    "timer:mode.switch",
    "submit_first_open_call",
)

WRONG_VALUES: tuple[Any, ...] = (None, 0, 1.5, True, "text", [], [1], {}, {"x": 1})
NON_OBJECTS: tuple[Any, ...] = (42, "response.done", None, [1, 2], 3.5, True, [])


def _base(name: str) -> list[Step]:
    steps: list[Step] = []
    for line in load_lines(name):
        data = line["data"]
        if line["direction"] == "sent":
            if data.get("type") != "input_audio_buffer.append":
                steps.append(("send", data))
        else:
            steps.append(("recv", data))
    return steps


BASES: dict[str, list[Step]] = {name: _base(name) for name in FIXTURE_NAMES}
POOL: list[dict[str, Any]] = all_received_events()


def _wrong_typed(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    target: dict[str, Any] = obj
    nested = [k for k, v in obj.items() if isinstance(v, dict) and v]
    go_deeper: bool = draw(st.booleans())
    if nested and go_deeper:
        target = obj[draw(st.sampled_from(sorted(nested)))]
    keys = sorted(target)
    if not keys:
        return obj
    key = draw(st.sampled_from(keys))
    value = draw(st.sampled_from(WRONG_VALUES).filter(lambda v: type(v) is not type(target[key])))
    target[key] = value
    return obj


def _truncated(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    target: dict[str, Any] = obj
    nested = [k for k, v in obj.items() if isinstance(v, dict) and v]
    go_deeper: bool = draw(st.booleans())
    if nested and go_deeper:
        target = obj[draw(st.sampled_from(sorted(nested)))]
    keys = sorted(target)
    if keys:
        for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
            del target[key]
    return obj


@st.composite
def mutated_sessions(draw: st.DrawFn, max_mutations: int = 8) -> list[Step]:
    """One recorded session with up to ``max_mutations`` random mutations applied."""
    steps = list(BASES[draw(st.sampled_from(FIXTURE_NAMES))])
    for _ in range(draw(st.integers(0, max_mutations))):
        op = draw(
            st.sampled_from(
                (
                    "shuffle",
                    "duplicate",
                    "drop",
                    "truncate",
                    "wrong_type",
                    "unknown",
                    "non_object",
                    "splice",
                    "command",
                )
            )
        )
        n = len(steps)
        i = draw(st.integers(0, max(n - 1, 0)))
        if op == "shuffle" and n > 1:
            size = draw(st.integers(2, 6))
            window = steps[i : i + size]
            steps[i : i + size] = draw(st.permutations(window))
        elif op == "duplicate" and n:
            j = draw(st.integers(i, n))
            steps.insert(j, steps[i])
        elif op == "drop" and n:
            del steps[i]
        elif op in ("truncate", "wrong_type") and n:
            kind, raw = steps[i]
            if kind == "recv" and isinstance(raw, dict):
                broken = _truncated(draw, raw) if op == "truncate" else _wrong_typed(draw, raw)
                steps[i] = ("recv", broken)
        elif op == "unknown":
            number = draw(st.integers(0, 3))
            steps.insert(i, ("recv", {"type": f"x.unknown.{number}", "event_id": "e"}))
        elif op == "non_object":
            steps.insert(i, ("recv", draw(st.sampled_from(NON_OBJECTS))))
        elif op == "splice":
            steps.insert(i, ("recv", draw(st.sampled_from(POOL))))
        elif op == "command":
            steps.insert(i, ("cmd", draw(st.sampled_from(COMMANDS))))
    return steps
