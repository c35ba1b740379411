"""Shared helpers of the model's tests: fixtures, chart well-formedness, effect filters."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from statemachine import StateChart

from realtime_machines._chart import ModelChart
from realtime_machines.charts.response import TAG as CREATE_TAG
from realtime_machines.effects import Effect, SendEvent
from realtime_machines.session import SessionModel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"
FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))


def load_lines(name: str) -> list[dict[str, Any]]:
    """The ``{"direction", "data"}`` lines of one recorded session."""
    with (FIXTURES / f"{name}.jsonl").open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def received_events(name: str) -> list[dict[str, Any]]:
    """The server events of one recorded session, in wire order."""
    return [line["data"] for line in load_lines(name) if line["direction"] == "received"]


def all_received_events() -> list[dict[str, Any]]:
    return [event for name in FIXTURE_NAMES for event in received_events(name)]


def well_formed(sm: StateChart[Any]) -> None:
    """The legal-configuration invariant of statemachine.md §6."""
    cfg = set(sm.configuration)
    assert len([s for s in sm.states if s in cfg]) == 1, cfg
    for s in cfg:
        if s.parent is not None:
            assert s.parent in cfg
        kids = list(s.states)
        if kids:
            n = sum(c in cfg for c in kids)
            assert n == (len(kids) if s.parallel else 1), (s.id, n)


def charts(session: SessionModel) -> list[ModelChart]:
    return [
        session.connection,
        session.response,
        session.playback,
        session.mode,
        *session.tool_calls.values(),
    ]


def sent(effects: Iterable[Effect], kind: str | None = None) -> list[Mapping[str, Any]]:
    """The client events among ``effects`` (only those of type ``kind`` when given)."""
    return [
        e.event
        for e in effects
        if isinstance(e, SendEvent) and (kind is None or e.event.get("type") == kind)
    ]


def created(response_id: str) -> dict[str, Any]:
    return {
        "type": "response.created",
        "response": {"id": response_id, "object": "realtime.response", "status": "in_progress"},
    }


def done(response_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "response.done",
        "response": {"id": response_id, "object": "realtime.response", "status": status},
    }


def error_for(event_id: str | None, code: str = "invalid_value") -> dict[str, Any]:
    error: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": code}
    if event_id is not None:
        error["event_id"] = event_id
    return {"type": "error", "error": error}


def call_added(response_id: str, call_id: str, name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "response.output_item.added",
        "response_id": response_id,
        "output_index": 0,
        "item": {
            "id": f"item_{call_id}",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        },
    }


def args_delta(response_id: str, call_id: str, delta: str) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "response_id": response_id,
        "item_id": f"item_{call_id}",
        "output_index": 0,
        "call_id": call_id,
        "delta": delta,
    }


def args_done(
    response_id: str, call_id: str, arguments: str, name: str = "get_weather"
) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.done",
        "response_id": response_id,
        "item_id": f"item_{call_id}",
        "output_index": 0,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def message_added(
    item_id: str,
    role: str,
    text: str | None = None,
    previous: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text is not None:
        kind = "input_text" if role == "user" else "output_text"
        content.append({"type": kind, "text": text})
    return {
        "type": "conversation.item.added",
        "previous_item_id": previous,
        "item": {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": role,
            "content": content,
        },
    }


def text_delta(response_id: str, item_id: str, delta: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
    }


def text_done(response_id: str, item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.done",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "text": text,
    }


def audio_buffer(kind: str, response_id: str) -> dict[str, Any]:
    return {"type": f"output_audio_buffer.{kind}", "response_id": response_id}


def speech_started(item_id: str = "item_user_speech") -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": item_id}


def params(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``response.create``'s parameters without the lane's tag (``None`` when there are none).

    Every create the Response chart sends carries its own ``event_id`` in
    ``response.metadata`` (the tag that tells our responses from server-started ones).
    """
    response = dict(event.get("response") or {})
    metadata = dict(response.pop("metadata", None) or {})
    assert metadata.pop(CREATE_TAG, None) == event.get("event_id"), event
    if metadata:
        response["metadata"] = metadata
    return response or None


class RecordingHost:
    """A chart host that keeps what a session would: effects, transitions, and both in order."""

    def __init__(self) -> None:
        self.effects: list[Effect] = []
        self.steps: list[tuple[str, str, str | None, str | None]] = []
        self.log: list[tuple[Any, ...]] = []
        self._ids = itertools.count(1)

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)
        self.log.append(("effect", effect))

    def record_transition(
        self,
        chart: str,
        event: str,
        source: str | None,
        target: str | None,
        data: Mapping[str, Any],
    ) -> None:
        self.steps.append((chart, event, source, target))
        self.log.append(("record", chart, event, source, target, dict(data)))

    def new_id(self) -> str:
        return f"evt_{next(self._ids)}"

    def take(self) -> list[Effect]:
        """The effects emitted since the last ``take()``."""
        out, self.effects = self.effects, []
        return out
