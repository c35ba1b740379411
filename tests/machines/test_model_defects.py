"""Defects of the pure model and the replay path found under attack (issue 8, item 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from realtime_machines.charts.response import BUSY_TIMER, MAX_BUSY_RETRIES
from realtime_machines.effects import CancelTimer, StartTimer
from realtime_machines.notices import AssistantCompleted, ErrorNotice
from realtime_machines.replay import replay_lines
from realtime_machines.session import SessionModel
from tests.machines.kit import (
    args_delta,
    args_done,
    audio_buffer,
    call_added,
    created,
    done,
    error_for,
    params,
    sent,
)

BUSY = "conversation_already_has_active_response"


# -- replay: a deeply nested line is a bad line ----------------------------------------------------


def test_deeply_nested_line_is_reported_and_the_replay_goes_on() -> None:
    nested = '{"type": "error", "error": ' + "[" * 100_000 + "]" * 100_000 + "}"
    result = replay_lines([nested, '{"type": "response.created", "response": {"id": "r1"}}'])
    assert [(bad.number, bad.reason) for bad in result.bad_lines] == [
        (1, "JSON nested too deeply to read")
    ]
    assert result.events == 1
    assert result.session.responses == {"r1": "in_progress"}


# -- the lane after "busy" naming our create while no response is known ------------------------


def _busy_lane(session: SessionModel) -> None:
    event_id = session.response.pending_event_id
    assert event_id is not None
    session.receive(error_for(event_id, BUSY))


def test_busy_with_no_known_response_waits_with_a_timer_then_retries() -> None:
    session = SessionModel(response_create_timeout=4.0)
    session.request_response({"instructions": "x"})
    session.take_effects()
    _busy_lane(session)
    assert session.response.state == "server_busy"
    assert StartTimer(BUSY_TIMER, 4.0) in session.take_effects()
    # No response.created or response.done ever comes: the timer frees the lane and retries.
    assert session.timer_fired(BUSY_TIMER, time=4.0)
    effects = session.take_effects()
    assert CancelTimer(BUSY_TIMER) in effects
    assert [params(c) for c in sent(effects, "response.create")] == [{"instructions": "x"}]
    assert session.response.state == "create_requested"


def test_busy_lane_follows_the_unknown_response_when_it_shows_up() -> None:
    session = SessionModel()
    session.request_response({"instructions": "x"})
    _busy_lane(session)
    session.receive(created("r_server"))
    assert session.response.state == "generating"
    session.take_effects()
    session.receive(done("r_server"))
    assert [params(c) for c in sent(session.take_effects(), "response.create")] == [
        {"instructions": "x"}
    ]


def test_busy_lane_frees_on_the_unknown_responses_done() -> None:
    session = SessionModel()
    session.request_response({"instructions": "x"})
    _busy_lane(session)
    session.take_effects()
    session.receive(done("r_unseen"))
    assert [params(c) for c in sent(session.take_effects(), "response.create")] == [
        {"instructions": "x"}
    ]


def test_busy_rounds_end_with_the_create_dropped_and_the_app_told() -> None:
    session = SessionModel()
    session.request_response({"instructions": "x"})
    notices = []
    for _ in range(MAX_BUSY_RETRIES):
        _busy_lane(session)
        session.take_effects()
        assert session.timer_fired(BUSY_TIMER)
        notices += session.take_notices()
        assert session.response.state == "create_requested"
        assert not [n for n in notices if isinstance(n, ErrorNotice)]
    _busy_lane(session)
    session.take_effects()
    assert session.timer_fired(BUSY_TIMER)
    assert session.response.state == "idle"
    assert sent(session.take_effects(), "response.create") == []
    [failure] = [n for n in session.take_notices() if isinstance(n, ErrorNotice)]
    assert failure.scope == "client"
    assert failure.error["type"] == "response_create_failed"
    assert session.response.dropped_creates == 1


# -- a late argument delta ------------------------------------------------------------------------


def test_argument_delta_after_response_done_does_not_leave_the_call_streaming() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(done("r1"))
    session.receive(args_delta("r1", "c_late", '{"ci'))
    assert session.tool_calls["c_late"].state == "abandoned"
    assert session.tool_calls["c_late"].is_settled


def test_call_items_before_response_done_still_stream() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_delta("r1", "c1", "{}"))
    session.receive(args_done("r1", "c1", "{}"))
    assert session.tool_calls["c1"].state == "ready"


# -- assistant:completed and the one output buffer ------------------------------------------------


def _completed(notices: Sequence[object]) -> list[AssistantCompleted]:
    return [n for n in notices if isinstance(n, AssistantCompleted)]


def test_completed_fires_when_stopped_names_another_response() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    assert _completed(session.receive(done("r1"))) == []
    assert _completed(session.receive(audio_buffer("stopped", "r_other"))) == [
        AssistantCompleted("r1", "done", "completed")
    ]


def test_completed_fires_when_cleared_names_another_response() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    session.receive(done("r1"))
    session.receive(created("r2"))  # its audio follows r1's in the buffer
    # The buffer is cleared while r2 plays: r1 had played out.
    assert _completed(session.receive(audio_buffer("cleared", "r2"))) == [
        AssistantCompleted("r1", "done", "completed")
    ]


def _spoken_done(response_id: str) -> dict[str, Any]:
    event = done(response_id)
    event["response"]["output_modalities"] = ["audio"]
    return event


def test_two_spoken_responses_sharing_one_buffer_both_complete_when_it_stops() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    assert _completed(session.receive(_spoken_done("r1"))) == []
    session.receive(created("r2"))
    # r2's audio queues behind r1's in the same playing buffer: no second "started".
    assert _completed(session.receive(_spoken_done("r2"))) == []
    assert _completed(session.receive(audio_buffer("stopped", "r2"))) == [
        AssistantCompleted("r1", "done", "completed"),
        AssistantCompleted("r2", "done", "completed"),
    ]


def test_cleared_cuts_the_named_response_and_what_queued_after_it() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    session.receive(_spoken_done("r1"))
    session.receive(created("r2"))
    session.receive(_spoken_done("r2"))
    assert _completed(session.receive(audio_buffer("cleared", "r2"))) == [
        AssistantCompleted("r1", "done", "completed"),
        AssistantCompleted("r2", "canceled", "completed"),
    ]
