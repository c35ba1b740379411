"""The Call chart (a SIP call controlled by the server): paths and random-sequence properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_machines.charts.call import (
    CALL_STAGES,
    CALL_TIMER,
    AcceptCall,
    AttachSideband,
    CallChart,
    CallTimeouts,
    DetachSideband,
    HangupCall,
    ReferCall,
    RejectCall,
)
from realtime_machines.effects import CancelTimer, StartTimer
from tests.machines.kit import RecordingHost

REQUESTS = (AcceptCall, RejectCall, ReferCall, HangupCall)
MOVES: list[tuple[str, dict[str, Any]]] = [
    ("accept", {"session": {"type": "realtime", "model": "gpt-realtime"}}),
    ("reject", {}),
    ("reject", {"status_code": 486}),
    ("refer", {"target_uri": "tel:+14155550123"}),
    ("hangup", {}),
    ("step_done", {}),
    ("step_failed", {"error": "Call not found.", "status": 404}),
    ("timed_out", {}),
    ("remote_hangup", {}),
    ("remote_hangup", {"reason": "ring timeout"}),
    ("dtmf", {"digit": "7", "received_at": 1}),
]


def effects(host: RecordingHost) -> list[Any]:
    return [entry[1] for entry in host.log if entry[0] == "effect"]


def run(*moves: tuple[str, dict[str, Any]]) -> tuple[CallChart, RecordingHost]:
    host = RecordingHost()
    chart = CallChart(host, call_id="rtc_1", timeouts=CallTimeouts(accept=3.0, hangup=2.0))
    for event, data in moves:
        chart.send(event, **data)
    return chart, host


def test_accept_then_hangup_asks_for_each_request_and_attaches_once() -> None:
    session = {"type": "realtime", "instructions": "be brief"}
    chart, host = run(
        ("accept", {"session": session}),
        ("step_done", {}),
        ("dtmf", {"digit": "4"}),
        ("dtmf", {"digit": "#"}),
        ("hangup", {}),
        ("step_done", {}),
    )
    assert chart.state == "ended"
    assert chart.ended_by == "server"
    assert chart.digits == ["4", "#"]
    assert effects(host) == [
        AcceptCall(session),
        StartTimer(CALL_TIMER, 3.0),
        CancelTimer(CALL_TIMER),
        AttachSideband(),
        StartTimer(CALL_TIMER, 2.0),
        HangupCall(),
        CancelTimer(CALL_TIMER),
        DetachSideband(),
    ]


def test_reject_and_refer_carry_their_bodies() -> None:
    chart, host = run(("reject", {"status_code": 486}), ("step_done", {}))
    assert chart.state == "rejected"
    assert RejectCall(486) in effects(host)
    assert AttachSideband() not in effects(host)  # never active: no channel to open
    assert effects(host)[-1] == DetachSideband()  # (the shell has none to close)
    chart, host = run(("accept", {}), ("step_done", {}), ("refer", {"target_uri": "sip:a@b"}))
    assert chart.state == "referring"
    chart.send("step_done")
    assert chart.state == "referred"
    assert ReferCall("sip:a@b") in effects(host)
    assert effects(host)[-1] == DetachSideband()


@pytest.mark.parametrize("stage", sorted(CALL_STAGES.values()))
def test_a_failed_or_stalled_step_names_its_stage(stage: str) -> None:
    leads: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "accept": [("accept", {})],
        "reject": [("reject", {})],
        "refer": [("refer", {"target_uri": "tel:+1"})],
        "hangup": [("accept", {}), ("step_done", {}), ("hangup", {})],
    }
    lead = leads[stage]
    chart, _ = run(*lead, ("step_failed", {"error": "Call not found.", "status": 404}))
    assert (chart.state, chart.error_stage, chart.error_message) == (
        "failed",
        stage,
        "Call not found.",
    )
    assert chart.error_status == 404
    chart, _ = run(*lead, ("timed_out", {}))
    assert chart.state == "failed"
    assert chart.error_stage == stage
    assert "did not answer within" in (chart.error_message or "")


def test_the_caller_can_hang_up_before_any_decision() -> None:
    chart, host = run(("remote_hangup", {"reason": "ring timeout"}))
    assert (chart.state, chart.ended_by, chart.end_reason) == ("ended", "caller", "ring timeout")
    assert effects(host) == [DetachSideband()]  # no request was made; the end lets go of all


def test_dtmf_is_kept_only_on_an_active_call() -> None:
    chart, _ = run(("dtmf", {"digit": "1"}), ("accept", {}), ("dtmf", {"digit": "2"}))
    assert chart.digits == []


def test_unknown_timeout_step_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="accept, reject, refer, hangup"):
        CallTimeouts(ring=1.0)
    with pytest.raises(ValueError, match="positive"):
        CallTimeouts(accept=0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(MOVES), max_size=25))
def test_random_sequences_keep_the_chart_sound(moves: list[tuple[str, dict[str, Any]]]) -> None:
    declared = {state.id for state in CallChart.states}
    finals = {state.id for state in CallChart.states if state.final}
    host = RecordingHost()
    chart = CallChart(host, call_id="rtc_1")
    running: str | None = None  # the waiting state whose request and timer are out
    for event, data in moves:
        before = chart.state
        seen = len(host.log)
        chart.send(event, **data)
        assert chart.state in declared
        if before in finals:  # a terminal state is final: nothing moves it
            assert chart.state == before
            assert len(host.log) == seen
            continue
        new = [entry[1] for entry in host.log[seen:] if entry[0] == "effect"]
        for effect in new:
            if isinstance(effect, CancelTimer):
                assert running is not None, "a timer cancelled that was not started"
                running = None
            elif isinstance(effect, StartTimer):
                assert running is None, "a second request while one is out"
                running = chart.state
        requests = [e for e in new if isinstance(e, REQUESTS)]
        assert len(requests) <= 1
        if requests:
            assert chart.state in CALL_STAGES
        if running is not None:
            assert chart.state == running  # left only by its outcome, a timeout or the caller
    # every request started is finished (or timed out, failed, overtaken by the caller)
    detaches = [
        entry for entry in host.log if entry[0] == "effect" and entry[1] == DetachSideband()
    ]
    if chart.state in finals:
        assert running is None
    # the control channel is let go once, when (and only when) the call is over
    assert len(detaches) == (1 if chart.state in finals else 0)
    assert chart.is_over == (chart.state in finals)
    assert finals == set(CallChart.terminal_states)
