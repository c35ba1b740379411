"""Several assistant messages in one response, each with its ``phase`` (protocol-update §3).

A reasoning model may answer with a ``commentary`` preamble and a ``final_answer`` message in
one response. Each is its own chat row carrying its phase; the item's convenience events carry
it; ``assistant:completed`` fires once per response; the record projects to the same chat.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any, Literal

import pytest

from realtime_machines import (
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    ChatOptions,
    Notice,
    SessionModel,
    UserTruncated,
    project,
)
from realtime_machines.record import read_jsonl, write_jsonl
from realtime_machines.replay import replay_lines
from tests.machines.kit import audio_buffer, created, message_added, speech_started

Where = Literal["output_item", "conversation_item", "both", "nowhere"]

PREAMBLE = ["Let me ", "look that up."]
ANSWER = ["It is ", "sunny in ", "Oslo."]


def assistant_message(
    response_id: str,
    item_id: str,
    previous: str,
    index: int,
    phase: str,
    deltas: list[str],
    where: Where,
) -> list[dict[str, Any]]:
    """The GA events of one spoken assistant message, in the order the server sends them."""
    on_output = where in ("output_item", "both")
    on_conversation = where in ("conversation_item", "both")

    def item(status: str, transcript: str | None, tagged: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": item_id, "type": "message", "status": status}
        out["role"] = "assistant"
        if tagged:
            out["phase"] = phase
        out["content"] = (
            [] if transcript is None else [{"type": "output_audio", "transcript": transcript}]
        )
        return out

    ids = {"response_id": response_id, "item_id": item_id, "output_index": index}
    text = "".join(deltas)
    return [
        {
            "type": "response.output_item.added",
            "response_id": response_id,
            "output_index": index,
            "item": item("in_progress", None, on_output),
        },
        {
            "type": "conversation.item.added",
            "previous_item_id": previous,
            "item": item("in_progress", None, on_conversation),
        },
        *(
            {
                "type": "response.output_audio_transcript.delta",
                **ids,
                "content_index": 0,
                "delta": d,
            }
            for d in deltas
        ),
        {
            "type": "response.output_audio_transcript.done",
            **ids,
            "content_index": 0,
            "transcript": text,
        },
        {
            "type": "conversation.item.done",
            "previous_item_id": previous,
            "item": item("completed", text, on_conversation),
        },
        {
            "type": "response.output_item.done",
            "response_id": response_id,
            "output_index": index,
            "item": item("completed", text, on_output),
        },
    ]


def spoken_turn(where: Where) -> list[dict[str, Any]]:
    """A typed question, then one spoken response: preamble, answer (WebRTC order)."""
    return [
        message_added("u1", "user", "Weather in Oslo?"),
        created("r1"),
        *assistant_message("r1", "a1", "u1", 0, "commentary", PREAMBLE, where),
        audio_buffer("started", "r1"),
        *assistant_message("r1", "a2", "a1", 1, "final_answer", ANSWER, where),
        {
            "type": "response.done",
            "response": {"id": "r1", "object": "realtime.response", "status": "completed"},
        },
        audio_buffer("stopped", "r1"),
    ]


def feed(session: SessionModel, events: list[dict[str, Any]]) -> list[Notice]:
    notices: list[Notice] = []
    for event in events:
        notices.extend(session.receive(event))
    return notices


@pytest.mark.parametrize("where", ["output_item", "conversation_item", "both"])
def test_each_message_is_its_own_row_with_its_phase(where: Where) -> None:
    session = SessionModel()
    notices = feed(session, spoken_turn(where))
    rows = [(i.item_id, i.role, i.text, i.status, i.response_id, i.phase) for i in session.chat]
    assert rows == [
        ("u1", "user", "Weather in Oslo?", "done", None, None),
        ("a1", "assistant", "Let me look that up.", "done", "r1", "commentary"),
        ("a2", "assistant", "It is sunny in Oslo.", "done", "r1", "final_answer"),
    ]
    assert session.faults == session.malformed_events == 0
    assert session._chat._phases == {}  # no pending phase left behind
    assert project(session.record) == session.chat
    assert session.chat[1].to_json()["phase"] == "commentary"

    started = [n for n in notices if isinstance(n, AssistantItemStarted)]
    assert [(n.item_id, n.response_id, n.phase) for n in started] == [
        ("a1", "r1", "commentary"),
        ("a2", "r1", "final_answer"),
    ]
    deltas = [(n.item_id, n.delta, n.phase) for n in notices if isinstance(n, AssistantDelta)]
    assert deltas == [
        *(("a1", d, "commentary") for d in PREAMBLE),
        *(("a2", d, "final_answer") for d in ANSWER),
    ]
    first = next(n for n in notices if isinstance(n, AssistantDelta))
    assert first.payload() == {
        "response_id": "r1",
        "delta": PREAMBLE[0],
        "channel": "audio_transcript",
        "item_id": "a1",
        "phase": "commentary",
    }
    completed = [n for n in notices if isinstance(n, AssistantCompleted)]
    assert completed == [AssistantCompleted("r1", "done", "completed")]  # once, after audio
    assert isinstance(notices[-1], AssistantCompleted)


def test_untagged_messages_have_no_phase() -> None:
    session = SessionModel()
    notices = feed(session, spoken_turn("nowhere"))
    assert [i.phase for i in session.chat] == [None, None, None]
    assert [i.text for i in session.chat][1:] == ["Let me look that up.", "It is sunny in Oslo."]
    assert {n.phase for n in notices if isinstance(n, AssistantDelta)} == {None}
    assert sum(isinstance(n, AssistantCompleted) for n in notices) == 1


def test_an_out_of_band_response_keeps_the_phases_of_its_messages() -> None:
    """``conversation: "none"``: no conversation.item.* events, rows come from the deltas."""
    events = [
        e
        for e in spoken_turn("output_item")
        if not e["type"].startswith("conversation.item.") or e["item"]["id"] == "u1"
    ]
    session = SessionModel()
    feed(session, events)
    assert [(i.item_id, i.phase) for i in session.chat] == [
        ("u1", None),
        ("a1", "commentary"),
        ("a2", "final_answer"),
    ]
    assert project(session.record) == session.chat


def test_placeholder_rows_take_the_phase_of_the_first_message() -> None:
    options = ChatOptions(assistant_placeholder_on_start=True)
    session = SessionModel(chat_options=options)
    feed(session, spoken_turn("both"))
    assert [(i.id, i.phase) for i in session.chat] == [
        ("u1", None),
        ("a1", "commentary"),
        ("a2", "final_answer"),
    ]
    assert project(session.record, options) == session.chat
    assert session._chat._phases == {}  # no pending phase left behind


def test_barge_in_on_the_preamble_names_its_phase() -> None:
    session = SessionModel()
    events = spoken_turn("both")
    cut = events.index(audio_buffer("started", "r1")) + 1
    notices = feed(session, events[:cut])
    notices += feed(
        session,
        [
            speech_started(),
            audio_buffer("cleared", "r1"),
            {
                "type": "conversation.item.truncated",
                "item_id": "a1",
                "content_index": 0,
                "audio_end_ms": 420,
            },
        ],
    )
    truncated = [n for n in notices if isinstance(n, UserTruncated)]
    assert truncated == [UserTruncated("a1", 420, "commentary")]
    assert truncated[0].payload() == {"item_id": "a1", "audio_end_ms": 420, "phase": "commentary"}
    assert [(i.item_id, i.status, i.phase) for i in session.chat][1:] == [
        ("a1", "canceled", "commentary")
    ]
    assert project(session.record) == session.chat


def test_a_saved_record_and_a_replayed_trace_give_the_same_chat() -> None:
    session = SessionModel()
    events = spoken_turn("output_item")
    feed(session, events)
    buffer = io.StringIO()
    write_jsonl(session.record, buffer)
    buffer.seek(0)
    assert project(read_jsonl(buffer)) == session.chat
    lines = [json.dumps({"direction": "received", "data": e}) for e in events]
    result = replay_lines(lines)
    replayed = result.session.chat
    assert [replace(item, time=0.0) for item in replayed] == [
        replace(item, time=0.0) for item in session.chat
    ]  # replay stamps its own arrival times
    assert project(result.session.record) == replayed
    assert [i.phase for i in replayed] == [None, "commentary", "final_answer"]


@pytest.mark.parametrize("where", ["output_item", "conversation_item"])
def test_a_compacted_record_keeps_the_phases(where: Where) -> None:
    """A bounded record folds into a chat snapshot: the phases (and a phase still waiting for
    its row) survive it, so the compacted record still projects to the live chat."""
    session = SessionModel(record_limit=3)
    turn = spoken_turn(where)
    cut = next(i for i, e in enumerate(turn) if e["type"] == "response.output_item.added") + 1
    feed(session, turn[:cut])  # the preamble's phase is known, its row is not there yet
    feed(session, turn[cut:])
    assert session.record[0].event == "snapshot"  # compacted
    assert [(row.text, row.phase) for row in session.chat if row.role == "assistant"] == [
        ("Let me look that up.", "commentary"),
        ("It is sunny in Oslo.", "final_answer"),
    ]
    assert project(session.record) == session.chat
