"""Replay every recorded session; the expected values were read off the recordings by hand."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest

from realtime_machines.chat import project
from realtime_machines.notices import Notice
from realtime_machines.record import final_states, read_jsonl, write_jsonl
from realtime_machines.session import SessionModel
from tests.machines.kit import FIXTURE_NAMES, load_lines, sent


@dataclass
class Expected:
    chat: list[tuple[str, str, str, str | None]]  # role, text, status, response_id
    responses: list[tuple[str, str]]
    states: dict[str, str]
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # the distinct notice names, in order


BASE = {"connection": "idle", "playback": "silent", "response": "done"}

EXPECTED: dict[str, Expected] = {
    "webrtc_sideband_audio_turn": Expected(
        chat=[
            ("user", "Say hello.", "done", None),
            ("assistant", "Hello there.", "done", "resp_E6mH8yliCx6bYmo0a6wWY"),
        ],
        responses=[("resp_E6mH8yliCx6bYmo0a6wWY", "completed")],
        states={**BASE, "mode": "voice"},
        notices=[
            "user:item_started",
            "user:completed",
            "assistant:response_started",
            "assistant:item_started",
            "assistant:delta",
            "assistant:completed",
        ],
    ),
    "webrtc_sideband_text_turn": Expected(
        chat=[
            ("user", "Say hello.", "done", None),
            ("assistant", "Hello there!", "done", "resp_E4TeWHGi39hl6MVfeF82C"),
        ],
        responses=[("resp_E4TeWHGi39hl6MVfeF82C", "completed")],
        states={**BASE, "mode": "text"},
    ),
    "ws_audio_in_server_vad_turn": Expected(
        chat=[
            ("user", "Hello, my name is Marcelo.", "done", None),
            (
                "assistant",
                "Hello, Marcelo! Great to meet you. How can I help you today?",
                "done",
                "resp_E6U0xfWhN878XBMhc0LKn",
            ),
        ],
        responses=[("resp_E6U0xfWhN878XBMhc0LKn", "completed")],
        states={**BASE, "mode": "voice"},
        notices=[
            "user:item_started",
            "assistant:response_started",
            "user:delta",
            "assistant:item_started",
            "assistant:delta",
            "user:completed",
            "assistant:completed",
        ],
    ),
    "ws_message_history_seeding": Expected(
        chat=[
            ("user", "My name is Alice and my favorite color is teal.", "done", None),
            ("assistant", "Nice to meet you, Alice!", "done", None),
            ("user", "What is my name and favorite color?", "done", None),
            (
                "assistant",
                "Your name is Alice, and your favorite color is teal!",
                "done",
                "resp_E6U14YFe7U2EU95eQndMH",
            ),
        ],
        responses=[("resp_E6U14YFe7U2EU95eQndMH", "completed")],
        states={**BASE, "mode": "text"},
    ),
    "ws_text_in_audio_out_turn": Expected(
        chat=[
            ("user", "Say a short greeting.", "done", None),
            ("assistant", "Hi there!", "done", "resp_E6U0utdfn8rQdwHYPNrmv"),
        ],
        responses=[("resp_E6U0utdfn8rQdwHYPNrmv", "completed")],
        states={**BASE, "mode": "voice"},
    ),
    "ws_tool_call_round": Expected(
        chat=[
            ("user", "What is the weather in London?", "done", None),
            (
                "assistant",
                "It is foggy and 12 degrees in London.",
                "done",
                "resp_E6U11zrzQPfORkorcByyP",
            ),
        ],
        responses=[
            ("resp_E6U11oof93olA0JOwdA0H", "completed"),
            ("resp_E6U11zrzQPfORkorcByyP", "completed"),
        ],
        states={**BASE, "mode": "text", "tool_call:call_uMNE0Myi2tDTPu0w": "answered"},
        tool_calls=[
            {
                "call_id": "call_uMNE0Myi2tDTPu0w",
                "name": "get_weather",
                "arguments": '{  \n  "city": "London" \n} \n',
                "status": "answered",
            }
        ],
        notices=[
            "user:item_started",
            "user:completed",
            "assistant:response_started",
            "tool:call_delta",
            "tool:call_done",
            "assistant:completed",
            "assistant:item_started",
            "assistant:delta",
        ],
    ),
}


def _replay(name: str) -> tuple[SessionModel, list[Notice]]:
    session = SessionModel()
    notices: list[Notice] = []
    for line in load_lines(name):
        if line["direction"] == "sent":
            session.send(line["data"])
        else:
            notices.extend(session.receive(line["data"]))
    return session, notices


def test_every_fixture_has_expectations() -> None:
    assert sorted(EXPECTED) == FIXTURE_NAMES


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_replay_recorded_session(name: str) -> None:
    expected = EXPECTED[name]
    session, notices = _replay(name)
    assert [(c.role, c.text, c.status, c.response_id) for c in session.chat] == expected.chat
    assert all(c.type == "text" for c in session.chat)
    assert [c.item_id for c in session.chat] == [c.id for c in session.chat]
    assert [(r["id"], r["status"]) for r in session.summary()["responses"]] == expected.responses
    assert session.states() == expected.states
    assert session.summary()["tool_calls"] == expected.tool_calls
    assert session.unknown_events == {}
    assert session.malformed_events == 0
    assert session.faults == 0
    if expected.notices:
        assert list(dict.fromkeys(n.name for n in notices)) == expected.notices
    completed = [n.payload() for n in notices if n.name == "assistant:completed"]
    assert completed == [
        {"response_id": rid, "status": "done", "response_status": status}
        for rid, status in expected.responses
    ]
    # the record replays into the same chat and states
    assert project(session.record) == session.chat
    buffer = io.StringIO()
    write_jsonl(session.record, buffer)
    buffer.seek(0)
    records = list(read_jsonl(buffer))
    assert project(records) == session.chat
    assert final_states(records) == {
        chart: state for chart, state in session.states().items() if chart in final_states(records)
    }


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_replay_method_matches_line_by_line(name: str) -> None:
    by_lines, _ = _replay(name)
    session = SessionModel()
    session.replay(load_lines(name))
    assert session.summary() == by_lines.summary()


def test_tool_round_sends_one_create_per_turn() -> None:
    session = SessionModel()
    creates: list[Any] = []
    for line in load_lines("ws_tool_call_round"):
        if line["direction"] == "sent":
            session.send(line["data"])
        else:
            session.receive(line["data"])
        creates.extend(sent(session.take_effects(), "response.create"))
    # the user's two response.create lines; the tool output was sent with follow_up=False
    assert len(creates) == 2


def test_user_transcript_deltas_of_the_voice_turn() -> None:
    _, notices = _replay("ws_audio_in_server_vad_turn")
    deltas = [n.payload()["delta"] for n in notices if n.name == "user:delta"]
    assert "".join(deltas) == " Hello, my name is Marcelo."
    assistant = [n.payload()["delta"] for n in notices if n.name == "assistant:delta"]
    assert "".join(assistant) == "Hello, Marcelo! Great to meet you. How can I help you today?"


def test_webrtc_audio_turn_completes_when_playback_stops() -> None:
    session = SessionModel()
    names: list[list[str]] = []
    for line in load_lines("webrtc_sideband_audio_turn"):
        if line["direction"] == "sent":
            session.send(line["data"])
            continue
        notices = session.receive(line["data"])
        names.append([n.name for n in notices])
        if line["data"]["type"] == "output_audio_buffer.started":
            assert session.playback.state == "playing"
        if line["data"]["type"] == "response.done":
            assert "assistant:completed" not in names[-1]  # audio still playing
    assert names[-1] == ["assistant:completed"]
    assert session.playback.state == "silent"
