"""Unit tests of SessionModel: wire events in, effects and convenience notices out."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from realtime_machines.chat import project
from realtime_machines.effects import (
    CancelTimer,
    ExecuteTool,
    FetchToken,
    RunStep,
    SetMicrophone,
    StartTimer,
    StopPlayback,
)
from realtime_machines.notices import (
    NOTICE_NAMES,
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    AssistantResponseStarted,
    ErrorNotice,
    Notice,
    ToolCallDelta,
    ToolCallDone,
    UserCompleted,
    UserDelta,
    UserFailed,
    UserItemStarted,
    UserTruncated,
)
from realtime_machines.session import SessionModel
from tests.machines.kit import (
    args_delta,
    args_done,
    audio_buffer,
    call_added,
    created,
    done,
    error_for,
    message_added,
    params,
    sent,
    speech_started,
    text_delta,
    text_done,
)


def _pending(session: SessionModel) -> str:
    event_id = session.response.pending_event_id
    assert event_id is not None
    return event_id


# -- robustness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        42,
        "response.done",
        None,
        [1, 2],
        {"no_type": True},
        {"type": 7},
        {"type": "response.done", "response": "not an object"},
        {"type": "response.output_text.delta", "response_id": "r", "item_id": "i", "delta": 5},
    ],
)
def test_malformed_event_is_reported_recorded_and_the_session_goes_on(raw: object) -> None:
    session = SessionModel()
    notices = session.receive(raw, time=3.0)
    assert len(notices) == 1
    assert isinstance(notices[0], ErrorNotice)
    assert notices[0].scope == "client"
    assert notices[0].error["type"] == "malformed_event"
    assert session.malformed_events == 1
    last = session.record[-1]
    assert (last.chart, last.event, last.time) == ("wire", "malformed", 3.0)
    assert last.data["problems"]
    # ... and the session still works
    session.receive(created("r1"))
    assert session.responses == {"r1": "in_progress"}
    assert session.faults == 0


@pytest.mark.parametrize("item_id", [["x"], {"x": 1}])
@pytest.mark.parametrize(
    "kind", ["conversation.item.added", "conversation.item.done", "response.output_item.done"]
)
def test_an_item_with_an_unhashable_id_is_no_model_fault(kind: str, item_id: object) -> None:
    session = SessionModel()
    item = {"id": item_id, "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    session.receive({"type": kind, "response_id": "r1", "output_index": 0, "item": item})
    assert session.faults == 0
    session.receive(created("r1"))
    assert session.responses == {"r1": "in_progress"}


def test_unknown_types_are_counted_and_logged_once_per_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = SessionModel()
    with caplog.at_level(logging.INFO, logger="realtime_machines"):
        for _ in range(3):
            assert session.receive({"type": "x.future.event", "a": 1}) == []
        session.receive({"type": "y.other"})
    assert session.unknown_events == {"x.future.event": 3, "y.other": 1}
    logged = [r.getMessage() for r in caplog.records if "unknown event type" in r.getMessage()]
    assert len(logged) == 2
    assert "'x.future.event'" in logged[0]
    assert "'y.other'" in logged[1]
    assert [r.data["type"] for r in session.record if r.event == "unknown"] == [
        "x.future.event"
    ] * 3 + ["y.other"]
    assert session.summary()["unknown_events"] == 4


# -- notices --------------------------------------------------------------------------------------


def test_typed_user_message_yields_item_started_then_completed() -> None:
    session = SessionModel()
    notices = session.receive(message_added("u1", "user", "Hello"))
    assert [n.name for n in notices] == ["user:item_started", "user:completed"]
    assert notices[0].payload() == {"item_id": "u1"}
    assert notices[1].payload() == {"item_id": "u1", "transcript": "Hello"}


def test_notice_names_are_the_seed_names() -> None:
    assert {
        "user:item_started",
        "user:delta",
        "user:completed",
        "user:failed",
        "user:truncated",
        "assistant:item_started",
        "assistant:response_started",
        "assistant:delta",
        "assistant:completed",
        "tool:call_delta",
        "tool:call_done",
        "error",
        "metrics:turn",  # the SDK's own (docs/metrics.md), not a seed event
    } == NOTICE_NAMES


def test_notices_of_a_voice_and_tool_turn() -> None:
    session = SessionModel(transport="websocket")
    out: list[Notice] = []
    feed = [
        message_added("u1", "user", None),
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": "u1",
            "content_index": 0,
            "delta": "Hi",
        },
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "u1",
            "content_index": 0,
            "transcript": "Hi!",
        },
        created("r1"),
        message_added("a1", "assistant", None, previous="u1", status="in_progress"),
        {
            "type": "response.output_audio_transcript.delta",
            "response_id": "r1",
            "item_id": "a1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Yo",
        },
        call_added("r1", "c1"),
        args_delta("r1", "c1", '{"city":'),
        args_done("r1", "c1", '{"city": "Oslo"}'),
        done("r1"),
        {
            "type": "conversation.item.truncated",
            "item_id": "a1",
            "content_index": 0,
            "audio_end_ms": 120,
        },
        {
            "type": "conversation.item.input_audio_transcription.failed",
            "item_id": "u2",
            "content_index": 0,
            "error": {"type": "x", "code": "y", "message": "z", "param": None},
        },
        {"type": "error", "error": {"type": "server_error", "code": "c", "message": "m"}},
    ]
    for event in feed:
        out.extend(session.receive(event))
    assert out == [
        UserItemStarted("u1"),
        UserDelta("u1", "Hi"),
        UserCompleted("u1", "Hi!"),
        AssistantResponseStarted("r1"),
        AssistantItemStarted("a1", None),
        AssistantDelta("r1", "Yo", "audio_transcript", "a1"),
        ToolCallDelta("c1", "get_weather", '{"city":'),
        ToolCallDone("c1", "get_weather", {"city": "Oslo"}, None),
        AssistantCompleted("r1", "done", "completed"),
        UserTruncated("a1", 120),
        UserFailed("u2", {"type": "x", "code": "y", "message": "z", "param": None}),
        ErrorNotice("server", {"type": "server_error", "code": "c", "message": "m"}),
    ]
    assert out[6].payload() == {"call_id": "c1", "name": "get_weather", "delta": '{"city":'}
    assert out[7].payload() == {
        "call_id": "c1",
        "name": "get_weather",
        "args": {"city": "Oslo"},
        "error": None,
    }
    assert out[8].payload() == {
        "response_id": "r1",
        "status": "done",
        "response_status": "completed",
    }
    assert out[5].payload() == {
        "response_id": "r1",
        "delta": "Yo",
        "channel": "audio_transcript",
        "item_id": "a1",
        "phase": None,
    }


def test_assistant_item_started_carries_the_response_id() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(
        {
            "type": "response.output_item.added",
            "response_id": "r1",
            "output_index": 0,
            "item": {"id": "a1", "type": "message", "role": "assistant", "content": []},
        }
    )
    notices = session.receive(message_added("a1", "assistant", None, status="in_progress"))
    assert notices == [AssistantItemStarted("a1", "r1")]


@pytest.mark.parametrize(
    ("status", "seed_status"),
    [
        ("completed", "done"),
        ("cancelled", "canceled"),
        ("failed", "canceled"),
        ("incomplete", "done"),
    ],
)
def test_assistant_completed_status(status: str, seed_status: str) -> None:
    session = SessionModel()
    session.receive(created("r1"))
    notices = session.receive(done("r1", status))
    assert notices == [AssistantCompleted("r1", seed_status, status)]  # type: ignore[arg-type]
    assert session.responses["r1"] == status


def test_response_done_with_unknown_status_counts_as_failed_and_terminal_never_changes() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(done("r1", "weird"))
    assert session.responses["r1"] == "failed"
    assert session.receive(done("r1", "completed")) == []
    session.receive(created("r1"))
    assert session.responses["r1"] == "failed"


# -- the sequencer through the session ------------------------------------------------------------


def test_create_while_active_is_queued_and_sent_after_done() -> None:
    session = SessionModel()
    session.request_response()
    session.send({"type": "response.create", "response": {"instructions": "second"}})
    assert len(sent(session.take_effects(), "response.create")) == 1
    session.receive(created("r1"))
    assert sent(session.take_effects(), "response.create") == []
    session.receive(done("r1"))
    creates = sent(session.take_effects(), "response.create")
    assert [params(c) for c in creates] == [{"instructions": "second"}]


def test_no_cancel_sent_when_idle() -> None:
    session = SessionModel()
    session.cancel_response()
    session.send({"type": "response.cancel"})
    assert sent(session.take_effects()) == []


def test_conversation_already_has_active_response_requeues() -> None:
    session = SessionModel()
    session.request_response({"instructions": "x"})
    event_id = _pending(session)
    session.take_effects()
    notices = session.receive(error_for(event_id, "conversation_already_has_active_response"))
    assert [n.name for n in notices] == ["error"]
    assert session.response.state == "server_busy"
    assert sent(session.take_effects(), "response.create") == []
    session.receive(created("r_server"))
    session.receive(done("r_server"))
    retry = sent(session.take_effects(), "response.create")
    assert len(retry) == 1
    assert params(retry[0]) == {"instructions": "x"}


def test_other_error_naming_the_create_frees_the_lane() -> None:
    session = SessionModel()
    session.request_response()
    session.request_response({"n": 2})
    session.receive(error_for(_pending(session), "invalid_value"))
    creates = sent(session.take_effects(), "response.create")
    assert [params(c) for c in creates] == [None, {"n": 2}]


def test_error_naming_another_event_id_is_ignored_by_the_lane() -> None:
    session = SessionModel()
    session.request_response()
    session.receive(error_for("evt_someone_else"))
    session.receive(error_for(None))
    assert session.response.state == "create_requested"


def test_create_timeout() -> None:
    session = SessionModel(response_create_timeout=4.0)
    session.request_response()
    session.request_response({"n": 2})
    session.take_effects()
    assert session.timer_fired("response.create", time=4.0)
    assert session.response.pending_event_id is not None
    assert [params(c) for c in sent(session.take_effects(), "response.create")] == [{"n": 2}]
    assert not session.timer_fired("no.such.timer")


def test_conversation_none_bypasses_the_lane() -> None:
    session = SessionModel()
    session.request_response()
    session.request_response({"conversation": "none", "metadata": {"k": "v"}})
    creates = sent(session.take_effects(), "response.create")
    assert len(creates) == 2
    assert creates[1]["response"] == {"conversation": "none", "metadata": {"k": "v"}}


# -- tools ----------------------------------------------------------------------------------------


def test_tool_call_auto_execute_emits_execute_tool() -> None:
    session = SessionModel(auto_execute_tools=True, tool_timeout=7.0)
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_delta("r1", "c1", '{"city"'))
    session.receive(args_delta("r1", "c1", ': "Rome"}'))
    notices = session.receive(args_done("r1", "c1", '{"city": "Rome"}'))
    assert notices == [ToolCallDone("c1", "get_weather", {"city": "Rome"}, None)]
    assert session.tool_calls["c1"].state == "executing"
    assert ExecuteTool("c1", "get_weather", {"city": "Rome"}) in session.take_effects()


def test_invalid_json_keeps_the_error_and_never_raises() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    notices = session.receive(args_done("r1", "c1", "{oops"))
    chart = session.tool_calls["c1"]
    assert chart.state == "invalid"
    assert chart.error is not None
    assert isinstance(notices[0], ToolCallDone)
    assert notices[0].args is None
    assert notices[0].error == chart.error
    assert session.faults == 0


def test_invalid_json_with_auto_execute_answers_with_the_error_and_follows_up() -> None:
    session = SessionModel(auto_execute_tools=True)
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_done("r1", "c1", "[1]"))
    outputs = sent(session.take_effects(), "conversation.item.create")
    assert json.loads(outputs[0]["item"]["output"]) == {
        "error": "arguments must be a JSON object, got list"
    }
    session.receive(done("r1"))
    assert len(sent(session.take_effects(), "response.create")) == 1


def test_tool_timeout_and_failure_send_error_outputs_and_one_follow_up() -> None:
    session = SessionModel(auto_execute_tools=True, tool_timeout=2.0)
    session.receive(created("r1"))
    for call in ("c1", "c2"):
        session.receive(call_added("r1", call))
        session.receive(args_done("r1", call, "{}"))
    session.receive(done("r1"))
    session.take_effects()
    assert session.timer_fired("tool_call:c1")
    assert sent(session.take_effects(), "response.create") == []  # c2 still running
    assert session.tool_failed("c2", "ValueError: nope")
    effects = session.take_effects()
    outputs = [json.loads(e["item"]["output"]) for e in sent(effects, "conversation.item.create")]
    assert outputs == [{"error": "tool 'get_weather' failed: ValueError: nope"}]
    assert len(sent(effects, "response.create")) == 1
    assert not session.tool_failed("c2", "again")
    assert not session.timer_fired("tool_call:c1")
    assert not session.submit_tool_output("c1", "late")


def test_one_follow_up_after_all_parallel_calls_are_answered() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    for call in ("c1", "c2", "c3"):
        session.receive(call_added("r1", call))
        session.receive(args_done("r1", call, "{}"))
    session.receive(done("r1"))
    session.take_effects()
    assert session.submit_tool_output("c1", "a")
    assert session.submit_tool_output("c2", "b", follow_up=False)
    assert sent(session.take_effects(), "response.create") == []
    assert session.submit_tool_output("c3", "c")
    effects = session.take_effects()
    assert len(sent(effects, "conversation.item.create")) == 1
    assert len(sent(effects, "response.create")) == 1
    assert not session.submit_tool_output("c3", "again")
    assert not session.submit_tool_output("unknown", "x")
    assert sent(session.take_effects()) == []


def test_outputs_before_response_done_follow_up_once_done() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_done("r1", "c1", "{}"))
    session.submit_tool_output("c1", "out")
    assert sent(session.take_effects(), "response.create") == []
    session.receive(done("r1"))
    assert len(sent(session.take_effects(), "response.create")) == 1


def test_no_follow_up_when_all_outputs_say_so() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_done("r1", "c1", "{}"))
    session.receive(done("r1"))
    session.submit_tool_output("c1", "out", follow_up=False)
    assert sent(session.take_effects(), "response.create") == []


def test_streaming_call_is_abandoned_by_response_done() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_delta("r1", "c1", "{"))
    session.receive(done("r1", "cancelled"))
    assert session.tool_calls["c1"].state == "abandoned"


def test_client_function_call_output_is_routed_through_the_chart() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.receive(args_done("r1", "c1", "{}"))
    session.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c1", "output": "42"},
        }
    )
    assert session.tool_calls["c1"].state == "answered"
    assert session.tool_calls["c1"].output == "42"


# -- playback / barge-in --------------------------------------------------------------------------


def test_barge_in_stops_playback_without_sending_cancel() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    session.take_effects()
    session.receive(speech_started())
    effects = session.take_effects()
    assert StopPlayback() in effects
    assert sent(effects, "response.cancel") == []
    assert session.playback.state == "interrupted"
    session.receive(audio_buffer("cleared", "r1"))
    assert session.playback.state == "silent"


def test_speech_started_while_silent_does_nothing() -> None:
    session = SessionModel()
    session.receive(speech_started())
    assert session.take_effects() == []
    assert session.playback.state == "silent"


def test_assistant_completed_waits_for_audio_to_stop() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    assert session.receive(done("r1")) == []
    assert session.receive(audio_buffer("stopped", "r1")) == [
        AssistantCompleted("r1", "done", "completed")
    ]


def test_assistant_completed_is_canceled_when_audio_is_cleared() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    session.receive(done("r1"))
    assert session.receive(audio_buffer("cleared", "r1")) == [
        AssistantCompleted("r1", "canceled", "completed")
    ]


def test_manual_cancel_over_webrtc_clears_audio() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(audio_buffer("started", "r1"))
    session.take_effects()
    session.cancel_response()
    effects = session.take_effects()
    assert [e["type"] for e in sent(effects)] == ["response.cancel", "output_audio_buffer.clear"]
    assert StopPlayback() in effects


def test_the_local_player_feeds_the_playback_chart_as_output_audio_buffer_does() -> None:
    """On WebSocket/memory the shell's player reports audibility: the same chart, same notices."""
    session = SessionModel(transport="websocket")
    session.receive(created("r1"))
    assert session.local_playback("started", "r1") == []
    assert session.playback.state == "playing"
    assert session.receive(done("r1")) == []  # heard to its end only later
    assert session.local_playback("stopped", "r1") == [
        AssistantCompleted("r1", "done", "completed")
    ]
    session.receive(created("r2"))
    session.local_playback("started", "r2")
    session.receive(speech_started())
    assert StopPlayback() in session.take_effects()  # barge-in: the shell cuts its player
    assert session.playback.state == "interrupted"
    session.receive(done("r2", status="cancelled"))
    session.local_playback("cleared", "r2")
    assert session.playback.state == "silent"
    with pytest.raises(ValueError, match="'started', 'stopped' or 'cleared'"):
        session.local_playback("paused", "r2")  # type: ignore[arg-type]


# -- mode -----------------------------------------------------------------------------------------


def test_mode_switch_waits_for_session_updated() -> None:
    session = SessionModel()
    assert session.set_mode("voice")
    assert not session.set_mode("voice")
    update = sent(session.take_effects(), "session.update")
    assert update[0]["session"] == {"type": "realtime", "output_modalities": ["audio"]}
    assert session.mode.state == "switching_to_voice"
    session.receive({"type": "session.updated", "session": {"output_modalities": ["audio"]}})
    assert session.mode.state == "voice"
    assert SetMicrophone(True) in session.take_effects()


def test_mode_switch_rejected_by_an_error_naming_the_update() -> None:
    session = SessionModel()
    session.set_mode("voice")
    event_id = session.mode.pending_event_id
    assert event_id is not None
    session.receive(error_for(event_id, "invalid_value"))
    assert session.mode.state == "text"
    assert session.mode.last_error is not None


def test_mode_switch_times_out() -> None:
    session = SessionModel(mode_switch_timeout=1.0)
    session.set_mode("voice")
    assert session.timer_fired("mode.switch")
    assert session.mode.state == "text"
    assert session.mode.last_error == "no session.updated within 1 s"


def test_server_session_config_moves_the_mode() -> None:
    session = SessionModel()
    session.receive({"type": "session.created", "session": {"output_modalities": ["audio"]}})
    assert session.mode.state == "voice"
    session.receive({"type": "session.updated", "session": {"output_modalities": ["text"]}})
    assert session.mode.state == "text"


# -- connection through the session ---------------------------------------------------------------


def test_concurrent_connect_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    session = SessionModel()
    with caplog.at_level(logging.WARNING, logger="realtime_machines"):
        assert session.connect(time=1.0)
        assert not session.connect(time=1.1)
    assert sum(isinstance(e, FetchToken) for e in session.take_effects()) == 1
    assert any("connect ignored" in r.getMessage() for r in caplog.records)
    assert not SessionModel().disconnect()


def test_connection_failure_resets_the_conversation_charts() -> None:
    steps = [("creating_peer", "init_peer_connection"), ("creating_offer", "create_offer")]
    session = SessionModel(handshake_kind="webrtc", handshake_steps=steps)
    session.connect()
    for event in ("token_received", "microphone_ready", "step_done"):
        assert session.signal(event)
    session.request_response()
    session.request_response()
    session.receive(created("r1"))
    session.receive(call_added("r1", "c1"))
    session.signal("step_failed", error="sdp refused")
    assert session.status == "error"
    assert session.connection.error_stage == "create_offer"
    assert session.response.state == "idle"
    assert not session.response.queue
    assert session.tool_calls["c1"].state == "abandoned"


def test_connection_timeout_through_the_session() -> None:
    session = SessionModel()
    session.connect()
    assert session.timer_fired("connection", time=10.0)
    assert session.status == "error"
    assert session.connection.error_stage == "fetch_token"


def test_repr_and_summary() -> None:
    session = SessionModel()
    session.receive(message_added("u1", "user", "hey"))
    assert "chat=1 items" in repr(session)
    summary = session.summary()
    assert summary["states"] == {
        "connection": "idle",
        "response": "idle",
        "playback": "silent",
        "mode": "text",
    }
    assert summary["chat"][0]["text"] == "hey"


def test_subscribe_and_unsubscribe() -> None:
    session = SessionModel()
    seen: list[Any] = []
    unsubscribe = session.subscribe(seen.append)
    session.receive(created("r1"))
    n = len(seen)
    assert n >= 2
    assert [s.seq for s in seen] == sorted(s.seq for s in seen)
    unsubscribe()
    unsubscribe()
    session.receive(done("r1"))
    assert len(seen) == n


def test_chat_text_deltas_and_done() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(message_added("a1", "assistant", None, status="in_progress"))
    session.receive(text_delta("r1", "a1", "Hel"))
    session.receive(text_delta("r1", "a1", "lo"))
    assert session.chat[0].text == "Hello"
    assert session.chat[0].status == "streaming"
    session.receive(text_done("r1", "a1", "Hello!"))
    session.receive(done("r1"))
    assert [(c.text, c.status, c.response_id) for c in session.chat] == [("Hello!", "done", "r1")]


def test_a_tool_can_have_its_own_timeout() -> None:
    session = SessionModel(
        auto_execute_tools=True, tool_timeout=30.0, tool_timeouts={"slow": 120.0}
    )
    session.receive(created("r1"))
    session.receive(call_added("r1", "c_slow", name="slow"))
    session.receive(args_done("r1", "c_slow", "{}", name="slow"))
    session.receive(call_added("r1", "c_fast", name="get_weather"))
    session.receive(args_done("r1", "c_fast", "{}"))
    timers = [e for e in session.take_effects() if isinstance(e, StartTimer)]
    assert StartTimer("tool_call:c_slow", 120.0) in timers
    assert StartTimer("tool_call:c_fast", 30.0) in timers
    session.timer_fired("tool_call:c_fast")
    [output] = [
        e["item"]["output"] for e in sent(session.take_effects(), "conversation.item.create")
    ]
    assert "did not answer within 30 s" in output


def test_a_lost_call_finishes_what_was_in_flight() -> None:
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(message_added("item_a", "assistant", status="in_progress"))
    session.receive(text_delta("r1", "item_a", "Half a sen"))
    session.receive(created("r_audio"))
    session.receive(audio_buffer("started", "r_audio"))
    session.receive(done("r_audio"))  # over, but its audio still plays
    session.take_notices()
    session.connect()
    for event in ("token_received", "microphone_unavailable"):  # no handshake steps given
        session.signal(event)
    assert session.status == "connected"
    session.signal("connection_lost", error="gone")
    assert session.responses == {"r1": "failed", "r_audio": "completed"}
    [row] = session.chat
    assert (row.text, row.status) == ("Half a sen", "canceled")
    completed = [n for n in session.take_notices() if isinstance(n, AssistantCompleted)]
    assert {(n.response_id, n.status) for n in completed} == {
        ("r1", "canceled"),
        ("r_audio", "canceled"),
    }
    assert project(session.record) == session.chat


# -- the handshake chart inside the session ------------------------------------------------------

WIRE_STEPS = [("dialing", "wire_dial"), ("greeting", "wire_greet")]


def _wire_session(reference_engine: bool = False, **options: Any) -> SessionModel:
    return SessionModel(
        handshake_kind="wire",
        handshake_steps=WIRE_STEPS,
        handshake_timeouts={"dialing": 2.0, "greeting": 3.0},
        reference_engine=reference_engine,
        **options,
    )


@pytest.mark.parametrize("reference_engine", [False, True])
def test_the_session_runs_one_handshake_chart_per_call(reference_engine: bool) -> None:
    session = _wire_session(reference_engine, reconnect_attempts=1)
    session.connect()
    session.signal("token_received")
    session.signal("microphone_ready")
    assert session.connection.state == "handshaking"
    first = session.handshake
    assert first is not None
    assert first.state == "dialing"
    effects = session.take_effects()
    assert effects[-2:] == [StartTimer("handshake", 2.0), RunStep("dialing")]
    session.signal("step_done")
    session.signal("step_done")
    assert (first.state, session.status) == ("open", "connected")
    assert CancelTimer("handshake") in session.take_effects()
    session.signal("connection_lost", error="gone")
    assert session.connection.state == "reconnecting"
    session.timer_fired("connection")  # the reconnect delay
    session.signal("token_received")
    session.signal("microphone_ready")
    second = session.handshake
    assert second is not first  # a new call, a new chart
    assert second is not None
    assert second.state == "dialing"
    session.timer_fired("handshake")
    assert second.state == "failed"
    assert session.status == "error"
    assert session.connection.error_stage == "wire_dial"
    assert session.connection.error_message == "dialing did not finish within 2 s"


def test_a_disconnect_mid_handshake_cancels_it_and_a_late_report_is_ignored() -> None:
    session = _wire_session()
    session.connect()
    session.signal("token_received")
    session.signal("microphone_ready")
    session.signal("step_done")
    handshake = session.handshake
    assert handshake is not None
    assert handshake.state == "greeting"
    assert session.disconnect()
    assert handshake.state == "cancelled"
    assert not session.signal("step_done")  # the step finished after all: nobody waits
    assert not session.timer_fired("handshake")
    assert session.connection.state == "disconnecting"
    steps = [(t.source, t.event, t.target) for t in session.record if t.chart == "handshake"]
    assert steps == [
        ("waiting", "start", "dialing"),
        ("dialing", "step_done", "greeting"),
        ("greeting", "cancel", "cancelled"),
    ]


def test_both_engines_record_the_same_handshakes() -> None:
    records = []
    for reference_engine in (False, True):
        session = _wire_session(reference_engine)
        session.connect()
        for event in ("token_received", "microphone_unavailable", "step_done"):
            session.signal(event)
        session.signal("step_failed", error="busy")
        session.connect()
        for event in ("token_received", "microphone_ready", "step_done", "step_done"):
            session.signal(event)
        assert session.status == "connected"
        records.append([(t.chart, t.event, t.source, t.target) for t in session.record])
    assert records[0] == records[1]
