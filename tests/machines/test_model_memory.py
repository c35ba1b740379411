"""A long-lived session's memory stays flat: the bounded record and the pruned maps.

Eight simulated hours of voice turns (one every 20 s, the server-VAD turn recorded from
OpenAI with fresh ids per turn, as WebRTC delivers it: no audio deltas, the output buffer's
``started``/``stopped`` around the answer) go through a :class:`SessionModel` with its default
options. Time is fake; ``tracemalloc`` measures the heap after the first hour and after the
last, so the figure is growth, not size. The chat grows with the conversation (it is the
application's data, about 0.2 MB per hour here); everything else must not.
"""

from __future__ import annotations

import gc
import json
import re
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from realtime_machines.charts import ToolCallChart
from realtime_machines.chat import project
from realtime_machines.record import Transition, read_jsonl, write_jsonl
from realtime_machines.session import DEFAULT_RECORD_LIMIT, DEFAULT_SETTLED_LIMIT, SessionModel
from tests.machines.kit import FIXTURES, args_delta, args_done, call_added, created, done

HOURS = 8
TURN_SECONDS = 20.0
TURNS_PER_HOUR = int(3600 / TURN_SECONDS)
MAX_GROWTH_PER_HOUR = 1_000_000  # bytes

_ID = re.compile(r'"((?:resp|item|call|event)_[A-Za-z0-9_]+)"(?!\s*:)')


def _turn_template() -> list[str]:
    """The recorded voice turn's server events, without session events and audio deltas."""
    lines = []
    with (FIXTURES / "ws_audio_in_server_vad_turn.jsonl").open(encoding="utf-8") as fp:
        for line in fp:
            obj = json.loads(line)
            kind = obj["data"]["type"]
            if obj["direction"] != "received" or kind.startswith("session."):
                continue
            if kind == "response.output_audio.delta":
                continue  # over WebRTC the audio is on the media track
            lines.append(line)
    return lines


def voice_turns(template: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Turn after turn of that shape, with fresh ids each time."""
    n = 0
    while True:
        suffix = f"_t{n}"
        events = [
            json.loads(_ID.sub(lambda m: f'"{m.group(1)}{suffix}"', line))["data"]  # noqa: B023
            for line in template
        ]
        response_id = next(e["response"]["id"] for e in events if e["type"] == "response.created")
        first = next(
            i for i, e in enumerate(events) if e["type"] == "response.output_audio_transcript.delta"
        )
        events.insert(first, {"type": "output_audio_buffer.started", "response_id": response_id})
        events.append({"type": "output_audio_buffer.stopped", "response_id": response_id})
        yield events
        n += 1


def _run_hour(session: SessionModel, turns: Iterator[list[dict[str, Any]]], t: float) -> float:
    for _ in range(TURNS_PER_HOUR):
        events = next(turns)
        step = TURN_SECONDS / (2 * len(events))
        for event in events:
            t += step
            session.receive(event, time=t)
        session.take_effects()
        session.take_notices()
        t += TURN_SECONDS / 2
    return t


def test_eight_hours_of_voice_turns_grow_memory_less_than_1_mb_per_hour() -> None:
    template = _turn_template()
    turns = voice_turns(template)
    session = SessionModel()
    tracemalloc.start()
    try:
        t = _run_hour(session, turns, 0.0)
        gc.collect()
        after_first = tracemalloc.get_traced_memory()[0]
        for _ in range(HOURS - 1):
            t = _run_hour(session, turns, t)
        gc.collect()
        after_last = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    growth_per_hour = (after_last - after_first) / (HOURS - 1)
    assert growth_per_hour < MAX_GROWTH_PER_HOUR, f"{growth_per_hour / 1e6:.2f} MB per hour"

    # What is kept is bounded, and the record still projects to the chat.
    # record_limit steps plus one per chat row (so that compaction stays O(1) a step)
    assert len(session.record) <= DEFAULT_RECORD_LIMIT + len(session.chat) + 1
    assert session.record[0].event == "snapshot"
    assert project(session.record, session.chat_options) == session.chat
    assert len(session.responses) <= DEFAULT_SETTLED_LIMIT
    assert len(session.chat) == 2 * HOURS * TURNS_PER_HOUR  # every user and assistant row
    assert session.faults == session.malformed_events == 0


def test_a_compacted_record_projects_to_the_chat_and_survives_jsonl() -> None:
    import io

    turns = voice_turns(_turn_template())
    session = SessionModel(record_limit=50)
    session.add_message({"role": "system", "text": "Welcome", "type": "ui", "kind": "banner"})
    t = 0.0
    for _ in range(6):
        for event in next(turns):
            t += 0.1
            session.receive(event, time=t)
        assert len(session.record) <= 50 + len(session.chat) + 1
        assert project(session.record) == session.chat
    buffer = io.StringIO()
    write_jsonl(session.record, buffer)
    buffer.seek(0)
    assert project(read_jsonl(buffer)) == session.chat
    # Later facts fold onto the snapshot: a delta to a row from before the compaction.
    assistant = next(r for r in session.chat if r.role == "assistant")
    assert assistant.item_id is not None
    session.receive(
        {
            "type": "conversation.item.deleted",
            "item_id": assistant.item_id,
        }
    )
    assert assistant.id not in [r.id for r in session.chat]
    assert project(session.record) == session.chat


def test_snapshot_keeps_seq_order() -> None:
    session = SessionModel(record_limit=10)
    for n in range(30):
        session.receive(created(f"r{n}"))
        session.receive(done(f"r{n}"))
    seqs = [step.seq for step in session.record]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert isinstance(session.record[0], Transition)


def test_settled_responses_and_their_calls_are_pruned_open_calls_kept() -> None:
    session = SessionModel(settled_limit=3)
    session.receive(created("r_open"))
    session.receive(call_added("r_open", "c_open"))
    session.receive(args_delta("r_open", "c_open", "{}"))
    session.receive(args_done("r_open", "c_open", "{}"))
    session.receive(done("r_open"))  # its call waits for the app's output
    for n in range(10):
        session.receive(created(f"r{n}"))
        session.receive(call_added(f"r{n}", f"c{n}"))
        session.receive(args_done(f"r{n}", f"c{n}", "{}"))
        session.receive(done(f"r{n}"))
        session.submit_tool_output(f"c{n}", "{}", follow_up=False)
    assert "c_open" in session.tool_calls
    assert "r_open" in session.responses
    assert session.submit_tool_output("c_open", "{}", follow_up=False)
    for n in range(4):
        session.receive(created(f"r_last{n}"))
        session.receive(done(f"r_last{n}"))
    assert len(session.responses) <= 3
    assert "r_open" not in session.responses
    assert "c_open" not in session.tool_calls
    assert session.tool_calls == {}


def test_unbounded_and_no_record_options() -> None:
    full = SessionModel(record_limit=None, settled_limit=None)
    none = SessionModel(record_limit=0)
    for n in range(50):
        for session in (full, none):
            session.receive(created(f"r{n}"))
            session.receive(done(f"r{n}"))
    assert len(full.responses) == 50
    assert len(full.record) > 100
    assert none.record == []
    assert not none.keep_record


@pytest.mark.parametrize("bad", [-1, 1.5, "10"])
def test_bad_limits_fail_with_a_sentence(bad: Any) -> None:
    with pytest.raises(ValueError, match="record_limit must be a whole number"):
        SessionModel(record_limit=bad)


def _tool_chart(host: SessionModel, call_id: str) -> ToolCallChart:
    return ToolCallChart(
        host,
        call_id=call_id,
        name="get_weather",
        item_id=None,
        response_id=None,
        new_event_id=lambda: "evt",
    )


def test_a_tool_call_chart_is_small_on_the_table_engine() -> None:
    host = SessionModel()
    charts = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        charts = [_tool_chart(host, f"c{n}") for n in range(1_000)]
        per_chart = (tracemalloc.get_traced_memory()[0] - before) / len(charts)
    finally:
        tracemalloc.stop()
    # python-statemachine's own construction is ~59 KB a chart; the table needs a few hundred B.
    assert per_chart < 4_000, f"{per_chart:.0f} B per chart"
    assert charts[0].state == "streaming"


def test_switching_to_the_reference_engine_keeps_the_state() -> None:
    host = SessionModel()
    chart = _tool_chart(host, "c1")
    chart.send("arguments_done", arguments='{"city": "Paris"}')
    assert chart.state == "ready"
    chart.reference_engine = True
    assert chart.state == "ready"
    assert [s.id for s in chart.configuration] == ["ready"]
    chart.send("submit", output="{}")
    assert chart.state == "answered"
    chart.reference_engine = False
    assert chart.state == "answered"
    assert chart.is_settled


CONNECT_STEPS = ("token_received", "microphone_ready")  # a handshake of no steps


def test_responses_lost_with_the_call_are_pruned_too() -> None:
    session = SessionModel(settled_limit=2)
    for n in range(6):
        session.connect()
        for step in CONNECT_STEPS:
            session.signal(step)
        assert session.status == "connected"
        session.receive(created(f"r{n}"))  # in flight when the call is lost
        session.signal("connection_lost")
        assert session.responses[f"r{n}"] == "failed"
        session.take_effects()
    assert len(session.responses) <= 2


def test_unknown_event_types_are_counted_by_name_up_to_a_bound() -> None:
    from realtime_machines.session import MAX_UNKNOWN_TYPES, OTHER_UNKNOWN

    session = SessionModel()
    for n in range(MAX_UNKNOWN_TYPES + 50):
        session.receive({"type": f"vendor.thing_{n}"}, time=float(n))
    assert len(session.unknown_events) == MAX_UNKNOWN_TYPES + 1
    assert session.unknown_events[OTHER_UNKNOWN] == 50
    assert session.summary()["unknown_events"] == MAX_UNKNOWN_TYPES + 50
    session.receive({"type": "vendor.thing_0"}, time=1e6)  # a known name still counts by name
    assert session.unknown_events["vendor.thing_0"] == 2
