"""LiveSessionModel: the Live charts fed by wire events and commands, correlation by
``event_id``, the turn rule of the chat, and ``project_live(record) == chat`` under random
traffic, compaction and replay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_machines.effects import CancelTimer, SendEvent, StartTimer
from realtime_machines.live import LiveChatOptions, LiveSessionModel, project_live
from realtime_machines.live.charts import EXPIRY_TIMER, INPUT_AUDIO_TIMER, START_TIMER
from realtime_machines.notices import ToolCallDone
from realtime_machines.replay import (
    LiveReplayResult,
    ReplayResult,
    detect_api,
    replay_any,
    replay_live_lines,
)
from tests.machines.live_samples import SESSION, server

NOW = 1_700_000_000.0


def names(notices: list[Any]) -> list[str]:
    return [notice.name for notice in notices]


def sent_types(model: LiveSessionModel) -> list[str]:
    return [e.event["type"] for e in model.take_effects() if isinstance(e, SendEvent)]


def started(model: LiveSessionModel, **session: Any) -> list[Any]:
    event_id = model.start({"model": "gpt-live-1"})
    return model.receive(
        server("session.started", client_event_id=event_id, session={**SESSION, **session}),
        time=NOW,
    )


def said(model: LiveSessionModel, role: str, text: str, start: int, end: int) -> list[Any]:
    kind = "session.input_transcript.delta" if role == "user" else "session.output_transcript.delta"
    return model.receive(server(kind, delta=text, start_ms=start, end_ms=end))


# -- the session chart ------------------------------------------------------------------------


def test_start_pause_resume_close() -> None:
    model = LiveSessionModel(time=NOW)
    assert names(started(model)) == ["session:started"]
    assert model.session.state == "started"
    assert model.session.session_id == "live_abc"
    assert names(model.receive(server("session.paused"))) == ["session:paused"]
    assert model.session.state == "paused"
    assert names(model.receive(server("session.resumed"))) == ["session:resumed"]
    model.take_effects()
    model.close()
    assert sent_types(model) == ["session.close"]
    assert model.session.state == "closing"
    notices = model.receive(server("session.closed", reason="remote_hangup"))
    assert names(notices) == ["session:closed"]
    assert notices[0].payload()["reason"] == "remote_hangup"
    assert notices[0].payload()["confirmed"]
    assert model.session.state == "closed"
    assert model.session.usage == {"seconds": 12, "active_seconds": 10, "paused_seconds": 2}
    assert model.close() is None  # nothing to close any more


def test_expiry_is_timed_from_expires_at() -> None:
    model = LiveSessionModel(time=NOW)
    started(model, expires_at=int(NOW) + 600)
    timers = [e for e in model.take_effects() if isinstance(e, StartTimer)]
    expiry = [t for t in timers if t.name == EXPIRY_TIMER]
    assert len(expiry) == 1
    assert expiry[0].seconds == pytest.approx(600 + model.session.expiry_grace)
    assert model.timer_fired(EXPIRY_TIMER)
    assert model.session.state == "expired"
    model.receive(server("session.closed", reason="expired"))
    assert model.session.state == "closed"
    assert model.session.reason == "expired"
    assert CancelTimer(EXPIRY_TIMER) in model.take_effects()


def test_a_startup_error_fails_the_start_and_the_timeout_too() -> None:
    model = LiveSessionModel(time=NOW)
    event_id = model.start({"model": "gpt-live-1", "voice": "x"})
    error = {"type": "invalid_request_error", "code": "unknown_parameter", "message": "bad"}
    notices = model.receive(server("error", error={**error, "client_event_id": event_id}))
    assert names(notices) == ["error", "session:closed"]
    assert notices[1].payload()["reason"] == "start_failed"
    assert not notices[1].payload()["confirmed"]
    assert model.session.state == "failed"
    assert model.session.error == "bad"
    # a new start after a failure; this time nothing answers
    model.start({"model": "gpt-live-1"})
    assert model.session.state == "starting"
    assert model.timer_fired(START_TIMER)
    assert model.session.state == "failed"
    assert names(model.take_notices()) == ["session:closed"]


def test_a_sideband_attaches_without_session_started() -> None:
    model = LiveSessionModel()
    assert model.attached("live_abc")
    assert model.session.state == "started"
    assert names(model.take_notices()) == ["session:started"]
    assert not model.attached("live_abc")  # already running


def test_a_lost_transport_leaves_the_close_unconfirmed() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    model.receive(server("session.usage.updated"))
    assert model.transport_lost()
    assert model.session.state == "lost"
    (notice,) = model.take_notices()
    assert notice.name == "session:closed"
    assert not notice.payload()["confirmed"]
    assert notice.payload()["usage"] == model.usage


def test_the_connection_chart_is_reused_and_its_end_loses_the_session() -> None:
    model = LiveSessionModel(handshake_kind="websocket", handshake_steps=[("opening", "ws")])
    assert model.connect()
    assert model.connection.state == "fetching_token"
    model.signal("token_received", token="k")
    model.signal("microphone_ready")
    assert model.connection.state == "handshaking"
    assert model.handshake is not None
    model.signal("step_done")
    assert model.connection.state == "connected"
    started(model)
    assert model.disconnect()
    assert model.session.state == "lost"
    assert model.session.reason == "connection_disconnecting"


# -- input audio and fixtures -----------------------------------------------------------------


def test_mute_waits_for_its_acknowledgement_and_reverts_on_error_or_timeout() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    event_id = model.mute()
    assert model.input_audio.state == "muting"
    assert model.mute() is None
    notices = model.receive(server("session.input_audio.muted", client_event_id=event_id))
    assert names(notices) == ["input:muted"]
    assert model.input_audio.is_muted
    event_id = model.unmute()
    error = {"type": "server_error", "code": "x", "message": "no", "client_event_id": event_id}
    model.receive(server("error", error=error))
    assert model.input_audio.state == "muted"
    model.unmute()
    assert model.timer_fired(INPUT_AUDIO_TIMER)
    assert model.input_audio.state == "muted"
    # an acknowledgement nobody here asked for (another connection unmuted) is followed
    assert names(model.receive(server("session.input_audio.unmuted"))) == ["input:unmuted"]
    assert model.input_audio.state == "unmuted"


def test_one_fixture_at_a_time_and_no_appends_while_it_plays() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    event_id = model.play_fixture("AAAA")
    assert event_id is not None
    assert model.play_fixture("AAAA") is None
    with pytest.raises(ValueError, match="fixture"):
        model.append("commentary", "hello")
    model.receive(server("session.output_audio.fixture.playing", client_event_id=event_id))
    assert model.fixture.state == "playing"
    model.receive(server("session.output_audio.fixture.played"))
    assert model.fixture.state == "idle"
    with pytest.raises(ValueError, match="append kind"):
        model.append("shouting", "hello")
    model.append("instructions", "Greet the caller")
    assert "session.instructions.append" in sent_types(model)


# -- delegations ------------------------------------------------------------------------------


def nested(model: LiveSessionModel, event: dict[str, Any]) -> list[Any]:
    return model.receive(server("response.event", delegation_id="item_1", event=event))


def test_a_responses_delegation_waits_for_every_result_then_continues() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    created = server("session.delegation.created")
    assert names(model.receive(created)) == ["delegation:created"]
    chart = model.delegations["item_1"]
    nested(model, {"type": "response.created", "response": {"id": "resp_1", "output": []}})
    assert chart.state == "running"
    for call_id in ("call_1", "call_2"):
        item = {"type": "function_call", "call_id": call_id, "name": "get_weather"}
        notices = nested(
            model,
            {"type": "response.output_item.done", "item": {**item, "arguments": '{"city":"P"}'}},
        )
        assert notices == [ToolCallDone(call_id, "get_weather", {"city": "P"}, None)]
    completed = {"type": "response.completed", "response": {"status": "completed", "output": []}}
    nested(model, completed)  # an empty terminal output does not mean no pending calls
    assert chart.state == "awaiting_output"
    model.submit_function_output("call_1", "{}")
    model.continue_response()  # one result is still missing: not a continuation yet
    assert chart.state == "awaiting_output"
    model.submit_function_output("call_2", "{}")
    assert chart.pending == {}
    model.continue_response()
    assert chart.state == "running"
    notices = nested(model, completed)
    assert chart.state == "done"
    assert names(notices) == ["delegation:done"]
    assert model.summary()["tool_calls"] == [
        {"call_id": "call_1", "name": "get_weather", "delegation_id": "item_1"},
        {"call_id": "call_2", "name": "get_weather", "delegation_id": "item_1"},
    ]


def test_a_client_delegation_is_answered_by_an_acknowledged_commentary() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    delegation = {"id": "item_1", "type": "delegation", "target": "client"}
    model.receive(server("session.delegation.created", delegation=delegation))
    chart = model.delegations["item_1"]
    model.append("thinking", "Checking…", delegation_id="item_1")
    assert chart.state == "running"
    event_id = model.append("commentary", "It is sunny", delegation_id="item_1")
    assert chart.state == "running"
    model.receive(server("session.commentary.appended", client_event_id=event_id))
    assert chart.state == "done"


def test_a_decision_settles_its_delegation_and_a_trigger_is_reported() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    delegation = {"id": "item_1", "type": "delegation", "target": "decisions"}
    model.receive(server("session.delegation.created", delegation=delegation))
    trigger = model.receive(server("decision.event"))  # delegation_id null: a trigger
    assert names(trigger) == ["decision"]
    assert trigger[0].payload()["trigger_id"] == "trg_1"
    assert model.delegations["item_1"].state == "created"
    notices = model.receive(server("decision.event", delegation_id="item_1", trigger_id=None))
    assert names(notices) == ["decision", "delegation:done"]
    assert model.delegations["item_1"].state == "done"


def test_the_end_of_the_session_abandons_open_delegations() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    model.receive(server("session.delegation.created"))
    model.receive(server("session.closed"))
    assert model.delegations["item_1"].state == "abandoned"


# -- bad input --------------------------------------------------------------------------------


def test_malformed_and_unknown_events_are_reported_and_the_session_goes_on() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    notices = model.receive({"type": "session.input_transcript.delta", "delta": "x"})
    assert names(notices) == ["error"]
    assert "start_ms" in notices[0].payload()["error"]["message"]
    assert model.malformed_events == 1
    assert model.receive({"type": "session.brand_new"}) == []
    assert model.unknown_events["session.brand_new"] == 1
    assert model.record[-1].chart == "wire"
    said(model, "user", "still here", 0, 100)
    assert [row.text for row in model.chat] == ["still here"]
    assert model.faults == 0


# -- the turn rule ----------------------------------------------------------------------------


def test_fragments_join_exactly_and_a_gap_starts_a_new_turn() -> None:
    model = LiveSessionModel()
    said(model, "user", "Hel", 0, 100)
    said(model, "user", "lo ", 100, 200)
    said(model, "user", " there", 400, 600)  # 200 ms of silence: same turn
    notices = said(model, "user", "Again", 1200, 1300)  # 600 ms: a new turn
    assert names(notices) == ["user:completed", "user:item_started", "user:delta"]
    assert notices[0].transcript == "Hello  there"
    assert [(r.role, r.text, r.status) for r in model.chat] == [
        ("user", "Hello  there", "done"),
        ("user", "Again", "streaming"),
    ]
    # the same record regrouped with a longer gap: one turn
    regrouped = project_live(model.record, LiveChatOptions(turn_gap_ms=1000))
    assert [r.text for r in regrouped] == ["Hello  there Again"]  # a pause: not run together


def test_utterances_of_one_turn_are_not_run_together() -> None:
    model = LiveSessionModel()
    said(model, "assistant", "One moment.", 0, 600)
    said(model, "assistant", "In Paris", 800, 1200)  # a new utterance after a pause
    said(model, "assistant", " it is sunny.", 1200, 1800)  # the same utterance goes on
    said(model, "assistant", "It is 21.", 1800, 2000)  # no pause, a sentence's end: a space
    said(model, "assistant", "5", 2000, 2100)  # a number going on: joined
    said(model, "assistant", "degrees", 2100, 2200)  # no pause, no sentence's end: joined
    assert [r.text for r in model.chat] == ["One moment. In Paris it is sunny. It is 21.5degrees"]


def test_a_new_session_restarts_the_timeline_after_the_old_rows() -> None:
    model = LiveSessionModel(time=NOW)
    started(model)
    said(model, "user", "Hi", 0, 400)
    said(model, "assistant", "Hello!", 600, 1200)
    model.transport_lost("connection_reconnecting")  # dropped: the session is lost
    assert model.session.state == "lost"
    assert "session:closed" in names(model.take_notices())
    notices = started(model, id="live_new")  # the reconnect's session: its timeline from 0
    assert names(notices) == ["session:restarted", "session:started"]
    assert notices[0].payload() == {"previous_session_id": "live_abc", "session_id": "live_new"}
    said(model, "user", "Again", 0, 300)  # would overlap the old rows without the shift
    said(model, "assistant", "Yes?", 500, 800)
    rows = [(row.role, row.text, row.ts) for row in model.chat]
    assert rows == [
        ("user", "Hi", 0.0),
        ("assistant", "Hello!", 0.6),
        ("user", "Again", 1.2),
        ("assistant", "Yes?", 1.7),
    ]
    assert project_live(model.record) == model.chat
    model.transport_lost("connection_reconnecting")
    model.take_notices()
    assert names(started(model, id="live_new")) == ["session:started"]  # same id: no restart


def test_the_floor_changes_without_overlap_and_a_user_overlap_is_a_barge_in() -> None:
    model = LiveSessionModel()
    said(model, "user", "What's the weather?", 0, 900)
    notices = said(model, "assistant", "It is", 1000, 1400)
    assert names(notices) == [
        "user:completed",
        "assistant:item_started",
        "assistant:delta",
    ]
    said(model, "assistant", " sunny and", 1400, 2000)
    notices = said(model, "user", "Wait", 1800, 2100)  # starts while the assistant speaks
    assert names(notices) == [
        "assistant:interrupted",
        "assistant:completed",
        "user:item_started",
        "user:delta",
    ]
    assert notices[1].status == "canceled"
    said(model, "assistant", " warm", 2000, 2200)  # the tail after the barge-in: a new turn
    assert [(r.role, r.text, r.status) for r in model.chat] == [
        ("user", "What's the weather?", "done"),
        ("assistant", "It is sunny and", "canceled"),
        ("user", "Wait", "streaming"),
        ("assistant", " warm", "streaming"),
    ]
    assert [r.ts for r in model.chat] == [0.0, 1.0, 1.8, 2.0]


def test_the_assistant_talking_over_the_user_is_no_barge_in_and_silence_ends_turns() -> None:
    model = LiveSessionModel()
    said(model, "user", "Tell me", 0, 500)
    said(model, "assistant", "Sure", 300, 700)  # overlaps the user's turn: both stay open
    assert [r.status for r in model.chat] == ["streaming", "streaming"]
    notices = said(model, "user", "later", 5000, 5300)  # 4.3 s of silence on the timeline
    assert names(notices)[:2] == ["user:completed", "assistant:completed"]
    assert notices[1].status == "done"


def test_settle_and_close_end_the_open_turns() -> None:
    model = LiveSessionModel()
    said(model, "assistant", "Hello", 0, 300)
    model.settle_turns()
    assert names(model.take_notices()) == ["assistant:completed"]
    model.settle_turns()  # nothing open: nothing recorded
    assert model.take_notices() == []
    said(model, "user", "Hi", 400, 500)
    model.receive(server("session.closed"))
    assert [r.status for r in model.chat] == ["done", "done"]
    assert project_live(model.record) == model.chat


def test_rows_have_the_realtime_row_fields() -> None:
    model = LiveSessionModel(chat_options=LiveChatOptions(inverted=True))
    said(model, "user", "  ", 0, 100)  # blank: not shown yet
    assert model.chat == []
    said(model, "user", "Hi", 100, 200)
    said(model, "assistant", "Hello", 300, 400)
    rows = [r.to_json() for r in model.chat]
    assert [r["role"] for r in rows] == ["assistant", "user"]
    assert set(rows[0]) == {
        "id",
        "type",
        "role",
        "text",
        "ts",
        "time",
        "status",
        "response_id",
        "item_id",
        "phase",
    }
    with pytest.raises(ValueError, match="turn_gap_ms"):
        LiveChatOptions(turn_gap_ms=-1)


# -- properties: projection, compaction, replay -----------------------------------------------

ROLES = st.sampled_from(["user", "assistant"])


@st.composite
def live_traffic(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A Live session's server events: transcripts of both speakers at random times, with
    lifecycle, delegation and junk events among them."""
    events: list[dict[str, Any]] = [server("session.started")]
    clock = {"user": 0, "assistant": 0}
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["say", "say", "say", "other", "junk"]))
        if kind == "say":
            role = draw(ROLES)
            start = clock[role] + draw(st.integers(0, 3000))
            end = start + draw(st.integers(0, 800))
            clock[role] = end
            name = (
                "session.input_transcript.delta"
                if role == "user"
                else "session.output_transcript.delta"
            )
            text = draw(st.text(alphabet="ab ,.", max_size=6))
            events.append(server(name, delta=text, start_ms=start, end_ms=end))
        elif kind == "other":
            other = draw(
                st.sampled_from(
                    [
                        "session.paused",
                        "session.resumed",
                        "session.delegation.created",
                        "response.event",
                        "decision.event",
                        "session.usage.updated",
                        "session.input_audio.muted",
                        "info",
                        "error",
                    ]
                )
            )
            events.append(server(other))
        else:
            events.append(draw(st.sampled_from([{"type": "x.y"}, {"type": "info"}, {}, []])))
    if draw(st.booleans()):
        events.append(server("session.closed"))
    return events


@settings(max_examples=80, deadline=None)
@given(events=live_traffic(), limit=st.sampled_from([None, 5, 30]))
def test_the_chat_is_a_projection_of_the_record(
    events: list[dict[str, Any]], limit: int | None
) -> None:
    model = LiveSessionModel(record_limit=limit)
    for event in events:
        model.receive(event)
        assert project_live(model.record) == model.chat
    assert model.faults == 0
    if limit is not None:
        assert len(model.record) <= limit + model._chat.row_count + 1


@settings(max_examples=40, deadline=None)
@given(events=live_traffic())
def test_a_replayed_trace_gives_the_same_chat_and_states(events: list[dict[str, Any]]) -> None:
    model = LiveSessionModel(time=1.0)  # a replay's time is the line number
    event_id = model.start({"model": "gpt-live-1"})
    trace = [{"direction": "sent", "data": {"type": "session.start", "event_id": event_id}}]
    for number, event in enumerate(events, 2):
        model.receive(event, time=float(number))
        trace.append({"direction": "received", "data": event})
    lines = [json.dumps(line) for line in trace]
    api, again = detect_api(lines)
    assert api == "live"
    result = replay_any(again)
    assert isinstance(result, LiveReplayResult)
    assert result.session.chat == model.chat
    assert result.session.states() == model.states()
    assert project_live(result.session.record) == model.chat


def test_a_realtime_trace_is_not_taken_for_a_live_one() -> None:
    lines = [
        '{"direction": "received", "data": {"type": "session.created", "session": {}}}',
        '{"direction": "received", "data": {"type": "response.created", "response": {"id": "r"}}}',
    ]
    assert detect_api(lines)[0] == "realtime"
    assert isinstance(replay_any(lines), ReplayResult)


def test_a_live_replay_reports_bad_lines_and_the_realtime_summary_keys() -> None:
    lines = [
        json.dumps(server("session.started")),
        "not json",
        json.dumps({"type": "session.output_transcript.delta", "delta": 1}),
        json.dumps(server("session.output_transcript.delta")),
    ]
    result = replay_live_lines(lines)
    assert [bad.number for bad in result.bad_lines] == [2, 3]
    summary = result.summary()
    assert summary["api"] == "live"
    assert {"chat", "tool_calls", "responses", "states", "unknown_events"} <= set(summary)
    assert summary["malformed_lines"] == 2
    assert [row["text"] for row in summary["chat"]] == ["Hi there"]
