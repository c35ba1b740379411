"""Unit tests of each chart on its own, driven through a recording fake host."""

from __future__ import annotations

import json

import pytest

from realtime_machines.charts import (
    ConnectionChart,
    ConnectionTimeouts,
    ModeChart,
    PlaybackChart,
    ResponseChart,
    ToolCallChart,
    parse_arguments,
)
from realtime_machines.charts.connection import STAGES
from realtime_machines.charts.handshake import HANDSHAKE_TIMER, handshake_chart
from realtime_machines.charts.response import TAG as CREATE_TAG
from realtime_machines.effects import (
    CancelTimer,
    CloseTransport,
    ExecuteTool,
    FetchToken,
    OpenMicrophone,
    ReleaseMedia,
    RunStep,
    SetMicrophone,
    StartTimer,
    StopPlayback,
)
from tests.machines.kit import RecordingHost, params, sent, well_formed

# -- Connection ---------------------------------------------------------------------------------

CONNECT_STEPS = [
    ("fetching_token", "token_received"),
    ("opening_microphone", "microphone_ready"),
    ("handshaking", "handshake_done"),
]


def _advance_to(chart: ConnectionChart, state: str) -> None:
    chart.send("connect")
    for step_state, event in CONNECT_STEPS:
        if step_state == state:
            return
        chart.send(event)
    assert chart.state == state


def test_connection_happy_path_emits_one_effect_per_step() -> None:
    host = RecordingHost()
    chart = ConnectionChart(host)
    assert chart.state == "idle"
    assert chart.status == "idle"
    chart.send("connect")
    assert chart.status == "connecting"
    effects = host.take()
    assert FetchToken() in effects
    assert StartTimer("connection", 10.0) in effects
    chart.send("token_received")
    assert OpenMicrophone() in host.take()
    chart.send("microphone_ready")
    assert chart.has_microphone
    assert chart.state == "handshaking"
    assert chart.status == "connecting"
    assert host.take() == [CancelTimer("connection")]  # the handshake chart times its steps
    chart.send("handshake_done")
    assert chart.state == "connected"
    assert chart.status == "connected"
    well_formed(chart)
    chart.send("disconnect")
    assert [type(e) for e in host.take()].count(CloseTransport) == 1
    chart.send("transport_closed")
    assert chart.state == "disconnected"
    assert chart.status == "disconnected"


@pytest.mark.parametrize(("state", "event"), CONNECT_STEPS)
def test_connection_step_failure_lands_in_error_with_stage(state: str, event: str) -> None:
    chart = ConnectionChart(RecordingHost())
    _advance_to(chart, state)
    chart.send("step_failed", error="boom")
    assert chart.state == "error"
    assert chart.status == "error"
    assert chart.error_stage == STAGES[state]
    assert chart.error_message == "boom"


def test_a_failed_handshake_step_names_its_own_stage() -> None:
    chart = ConnectionChart(RecordingHost())
    _advance_to(chart, "handshaking")
    chart.send("step_failed", error="HTTP 401", stage="openai_api")
    assert (chart.state, chart.error_stage, chart.error_message) == (
        "error",
        "openai_api",
        "HTTP 401",
    )


@pytest.mark.parametrize("state", ["fetching_token", "opening_microphone"])
def test_connection_step_timeout_lands_in_error_with_stage(state: str) -> None:
    chart = ConnectionChart(RecordingHost(), timeouts=ConnectionTimeouts(**{state: 1.5}))
    _advance_to(chart, state)
    chart.send("timed_out")
    assert chart.state == "error"
    assert chart.error_stage == STAGES[state]
    assert chart.error_message is not None
    assert "1.5 s" in chart.error_message


def test_connection_stage_names_are_the_seed_names() -> None:
    assert STAGES["fetching_token"] == "fetch_token"
    assert STAGES["opening_microphone"] == "get_user_media"
    assert STAGES["disconnecting"] == "hangup"


def test_connection_unknown_timeout_step_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown connection steps: nope"):
        ConnectionTimeouts(nope=1.0)


def test_microphone_unavailable_depends_on_option() -> None:
    chart = ConnectionChart(RecordingHost(), allow_without_microphone=True)
    _advance_to(chart, "opening_microphone")
    chart.send("microphone_unavailable")
    assert chart.state == "handshaking"
    assert not chart.has_microphone
    strict = ConnectionChart(RecordingHost(), allow_without_microphone=False)
    _advance_to(strict, "opening_microphone")
    strict.send("microphone_unavailable", error="no device")
    assert strict.state == "error"
    assert strict.error_stage == "get_user_media"


def test_connection_lost_reconnects_with_backoff_then_gives_up() -> None:
    host = RecordingHost()
    chart = ConnectionChart(host, reconnect_attempts=2, reconnect_delay=0.5)
    _advance_to(chart, "handshaking")
    chart.send("handshake_done")
    host.take()
    chart.send("connection_lost")
    assert chart.state == "reconnecting"
    effects = host.take()
    assert CloseTransport() in effects
    assert StartTimer("connection", 0.5) in effects
    chart.send("timed_out")
    assert chart.state == "fetching_token"
    assert chart.attempts_left == 1  # the attempt under way used one
    chart.send("step_failed", error="token refused")
    assert chart.state == "error"
    host.take()
    chart.send("retry")  # the session retries while attempts remain
    assert chart.state == "reconnecting"
    assert StartTimer("connection", 1.0) in host.take()  # backoff doubles the delay
    chart.send("timed_out")
    assert chart.attempts_left == 0
    for _, event in CONNECT_STEPS:
        chart.send(event)
    assert chart.state == "connected"
    assert chart.reconnects == 1
    assert chart.attempts_left == 2  # a successful reconnect refills the budget
    chart.send("connection_lost")
    chart.send("timed_out")
    chart.send("step_failed", error="still down")
    chart.send("retry")
    chart.send("timed_out")
    chart.send("step_failed", error="still down")
    assert chart.state == "error"
    chart.send("retry")  # no attempts left: stays in error
    assert chart.state == "error"
    assert chart.error_message == "still down"


def test_reconnecting_give_up() -> None:
    chart = ConnectionChart(RecordingHost(), reconnect_attempts=2)
    _advance_to(chart, "handshaking")
    chart.send("handshake_done")
    chart.send("connection_lost")
    chart.send("give_up", error="network gone")
    assert chart.state == "error"
    assert chart.error_message == "network gone"


def test_disconnect_timeout_still_ends_disconnected() -> None:
    host = RecordingHost()
    chart = ConnectionChart(host)
    _advance_to(chart, "handshaking")
    host.take()
    chart.send("disconnect")
    effects = host.take()
    assert CloseTransport() in effects
    assert ReleaseMedia() in effects
    chart.send("timed_out")
    assert chart.state == "disconnected"


# -- Handshake (made from a transport's steps) ----------------------------------------------------

STEPS = [("dialing", "stage_one"), ("greeting", "stage_two"), ("listening", "stage_three")]


def test_handshake_chart_walks_its_steps_one_effect_each() -> None:
    cls = handshake_chart("wire", STEPS)
    assert cls.__name__ == "WireHandshakeChart"
    assert cls.chart_kind == "handshake"
    assert [state.id for state in cls.states] == [
        "waiting",
        "open",
        "failed",
        "cancelled",
        "dialing",
        "greeting",
        "listening",
    ]
    host = RecordingHost()
    chart = cls(host, timeouts={"dialing": 2.0, "greeting": 3.0})
    assert chart.state == "waiting"
    chart.send("start")
    assert host.take() == [StartTimer(HANDSHAKE_TIMER, 2.0), RunStep("dialing")]
    chart.send("step_done")
    assert host.take() == [StartTimer(HANDSHAKE_TIMER, 3.0), RunStep("greeting")]
    chart.send("step_done")
    assert host.take() == [RunStep("listening")]  # no timeout given: no timer
    chart.send("step_done")
    assert chart.state == "open"
    assert host.take() == [CancelTimer(HANDSHAKE_TIMER)]
    assert cls.compiled() is not None  # runs on the fast table, like the other charts


@pytest.mark.parametrize(("state", "stage"), STEPS)
def test_handshake_step_failure_and_timeout_keep_the_steps_stage(state: str, stage: str) -> None:
    cls = handshake_chart("wire", STEPS)
    for event in ("step_failed", "timed_out"):
        chart = cls(RecordingHost(), timeouts={state: 1.5})
        chart.send("start")
        while chart.state != state:
            chart.send("step_done")
        chart.send(event, error="refused")
        assert chart.state == "failed"
        assert chart.error_stage == stage
        expected = (
            "refused"
            if event == "step_failed"
            else f"{state.replace('_', ' ')} did not finish within 1.5 s"
        )
        assert chart.error_message == expected


def test_handshake_cancel_from_any_step() -> None:
    cls = handshake_chart("wire", STEPS)
    for state, _stage in STEPS:
        chart = cls(RecordingHost())
        chart.send("start")
        while chart.state != state:
            chart.send("step_done")
        chart.send("cancel")
        assert chart.state == "cancelled"


def test_handshake_without_steps_opens_at_once() -> None:
    cls = handshake_chart("instant", [])
    chart = cls(RecordingHost())
    chart.send("start")
    assert chart.state == "open"


@pytest.mark.parametrize(
    ("kind", "steps", "message"),
    [
        ("Wire", [], "snake_case"),
        ("wire", [("Bad Name", "s")], "snake_case"),
        ("wire", [("open", "s")], "other than"),
        ("wire", [("a", "s"), ("a", "t")], "distinct"),
    ],
)
def test_handshake_chart_rejects_bad_steps(
    kind: str, steps: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        handshake_chart(kind, steps)


def test_second_connect_is_ignored_by_the_chart() -> None:
    host = RecordingHost()
    chart = ConnectionChart(host)
    chart.send("connect")
    chart.send("token_received")
    assert not chart.offer("connect")
    assert chart.state == "opening_microphone"
    assert [type(e) for e in host.effects].count(FetchToken) == 1


# -- Response (sequencer) -------------------------------------------------------------------------


def _response(host: RecordingHost) -> ResponseChart:
    return ResponseChart(host, new_event_id=host.new_id, create_timeout=2.0)


def test_response_request_sends_create_with_params_and_timer() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request", params={"instructions": "hi"})
    effects = host.take()
    [create] = sent(effects)
    assert create["type"] == "response.create"
    assert create["event_id"] == "evt_1"
    assert create["response"] == {
        "instructions": "hi",
        "metadata": {CREATE_TAG: "evt_1"},  # tells our response from server-started ones
    }
    assert StartTimer("response.create", 2.0) in effects
    assert chart.pending_event_id == "evt_1"
    assert chart.is_active


def test_response_create_while_active_is_queued_then_sent_in_order() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request", params={"n": 1})
    chart.send("request", params={"n": 2})
    chart.send("request", params={"n": 3})
    assert [params(e) for e in sent(host.take())] == [{"n": 1}]
    chart.send("created", response_id="r1")
    assert sent(host.take()) == []
    chart.send("finished", status="completed")
    assert [params(e) for e in sent(host.take())] == [{"n": 2}]
    chart.send("created", response_id="r2")
    chart.send("finished", status="cancelled")
    assert [params(e) for e in sent(host.take())] == [{"n": 3}]
    assert not chart.queue


def test_response_cancel_when_idle_sends_nothing() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("cancel")
    assert sent(host.take()) == []
    chart.send("created", response_id="r1")
    chart.send("finished", status="completed")
    host.take()
    chart.send("cancel")
    assert sent(host.take()) == []


def test_response_cancel_while_generating_names_the_response() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("created", response_id="r1")
    chart.send("cancel")
    assert chart.state == "cancelling"
    assert sent(host.take(), "response.cancel") == [
        {"type": "response.cancel", "event_id": "evt_1", "response_id": "r1"}
    ]


def test_response_cancel_before_created_is_sent_once_created() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request")
    host.take()
    chart.send("cancel")
    assert sent(host.take(), "response.cancel") == []
    chart.send("created", response_id="r9")
    assert [e.get("response_id") for e in sent(host.take(), "response.cancel")] == ["r9"]


def test_response_busy_requeues_the_request_with_its_params() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request", params={"instructions": "be brief"})
    host.take()
    chart.send("busy")
    assert chart.state == "server_busy"
    assert chart.pending_event_id is None
    assert sent(host.take()) == []
    chart.send("finished", status="completed")
    retry = sent(host.take(), "response.create")
    assert len(retry) == 1
    assert params(retry[0]) == {"instructions": "be brief"}


def test_response_create_timeout_frees_the_lane_and_sends_next() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request", params={"n": 1})
    chart.send("request", params={"n": 2})
    host.take()
    chart.send("create_timed_out")
    assert [params(e) for e in sent(host.take())] == [{"n": 2}]
    assert chart.state == "create_requested"


def test_response_reset_drops_queue() -> None:
    host = RecordingHost()
    chart = _response(host)
    chart.send("request")
    chart.send("request")
    chart.send("reset")
    assert chart.state == "idle"
    assert not chart.queue
    assert chart.pending_event_id is None


# -- Tool call ------------------------------------------------------------------------------------


def _tool(host: RecordingHost, timeout: float = 30.0) -> ToolCallChart:
    return ToolCallChart(
        host,
        call_id="c1",
        name="get_weather",
        item_id="i1",
        response_id="r1",
        new_event_id=host.new_id,
        timeout=timeout,
    )


def test_parse_arguments() -> None:
    assert parse_arguments('{"a": 1}') == ({"a": 1}, None)
    assert parse_arguments("  ") == ({}, None)
    args, error = parse_arguments("{not json")
    assert args is None
    assert error is not None
    assert "not valid JSON" in error
    args, error = parse_arguments("[1, 2]")
    assert args is None
    assert error == "arguments must be a JSON object, got list"
    deep = "[" * 100_000
    args, error = parse_arguments(deep)
    assert args is None
    assert error is not None


def test_tool_valid_arguments_then_execute_and_answer() -> None:
    host = RecordingHost()
    chart = _tool(host, timeout=3.0)
    assert chart.name == "tool_call:c1"
    chart.send("arguments_done", arguments='{"city": "Paris"}')
    assert chart.state == "ready"
    assert chart.arguments == {"city": "Paris"}
    chart.send("execute")
    effects = host.take()
    assert ExecuteTool("c1", "get_weather", {"city": "Paris"}) in effects
    assert StartTimer("tool_call:c1", 3.0) in effects
    chart.send("submit", output="sunny", follow_up=True)
    assert chart.state == "answered"
    assert chart.is_settled
    assert chart.follow_up
    effects = host.take()
    assert CancelTimer("tool_call:c1") in effects
    assert sent(effects) == [
        {
            "type": "conversation.item.create",
            "event_id": "evt_1",
            "item": {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        }
    ]


def test_tool_invalid_json_is_a_state_with_the_error_kept() -> None:
    chart = _tool(RecordingHost())
    chart.send("arguments_done", arguments='{"city": ')
    assert chart.state == "invalid"
    assert chart.arguments is None
    assert chart.error is not None
    assert "not valid JSON" in chart.error
    assert chart.arguments_text == '{"city": '
    assert chart.summary() == {
        "call_id": "c1",
        "name": "get_weather",
        "arguments": '{"city": ',
        "status": "invalid",
    }


def test_tool_failure_and_timeout_send_error_outputs() -> None:
    host = RecordingHost()
    failing = _tool(host)
    failing.send("arguments_done", arguments="{}")
    failing.send("execute")
    host.take()
    failing.send("execution_failed", error="KeyError: x")
    output = json.loads(sent(host.take())[0]["item"]["output"])
    assert output == {"error": "tool 'get_weather' failed: KeyError: x"}
    assert failing.follow_up

    slow = _tool(host, timeout=2.0)
    slow.send("arguments_done", arguments="{}")
    slow.send("execute")
    host.take()
    slow.send("execution_timed_out")
    assert slow.state == "answered"
    output = json.loads(sent(host.take())[0]["item"]["output"])
    assert output == {"error": "tool 'get_weather' did not answer within 2 s"}


def test_tool_abandon_from_streaming() -> None:
    chart = _tool(RecordingHost())
    chart.parts.extend(['{"a"', ": 1}"])
    assert chart.arguments_text == '{"a": 1}'
    chart.send("abandon")
    assert chart.state == "abandoned"
    assert chart.is_settled


# -- Playback -------------------------------------------------------------------------------------


def test_playback_barge_in_stops_local_audio() -> None:
    host = RecordingHost()
    chart = PlaybackChart(host, settle_timeout=1.0)
    chart.send("started", response_id="r1")
    assert chart.state == "playing"
    assert (chart.state, chart.response_id) == ("playing", "r1")
    chart.send("barge_in")
    assert chart.state == "interrupted"
    effects = host.take()
    assert StopPlayback() in effects
    assert StartTimer("playback.settle", 1.0) in effects
    assert sent(effects) == []
    chart.send("cleared")
    assert chart.state == "silent"
    assert chart.response_id is None
    assert CancelTimer("playback.settle") in host.take()


def test_playback_settle_timeout_and_cleared_while_playing() -> None:
    host = RecordingHost()
    chart = PlaybackChart(host)
    chart.send("started", response_id="r1")
    chart.send("barge_in")
    chart.send("settle_timed_out")
    assert chart.state == "silent"
    chart.send("started", response_id="r2")
    host.take()
    chart.send("cleared")
    assert chart.state == "silent"
    assert StopPlayback() in host.take()


# -- Mode -----------------------------------------------------------------------------------------


def test_mode_switch_waits_for_session_updated() -> None:
    host = RecordingHost()
    chart = ModeChart(host, new_event_id=host.new_id, timeout=4.0)
    chart.send("to_voice", session={"output_modalities": ["audio"]})
    assert chart.state == "switching_to_voice"
    assert chart.is_switching
    effects = host.take()
    assert sent(effects) == [
        {"type": "session.update", "event_id": "evt_1", "session": {"output_modalities": ["audio"]}}
    ]
    assert StartTimer("mode.switch", 4.0) in effects
    chart.send("updated")
    assert chart.state == "voice"
    assert chart.pending_event_id is None
    effects = host.take()
    assert SetMicrophone(True) in effects
    assert CancelTimer("mode.switch") in effects


def test_mode_rejected_and_timed_out_return_to_previous_mode() -> None:
    host = RecordingHost()
    chart = ModeChart(host, new_event_id=host.new_id, timeout=4.0)
    chart.send("to_voice")
    chart.send("rejected", error="bad modalities")
    assert chart.state == "text"
    assert chart.last_error == "session.update rejected: bad modalities"
    assert SetMicrophone(False) not in host.take()
    chart.send("server_chose_voice")
    chart.send("to_text")
    chart.send("timed_out")
    assert chart.state == "voice"
    assert chart.last_error == "no session.updated within 4 s"
    assert not any(isinstance(e, SetMicrophone) for e in host.take())
