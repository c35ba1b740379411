"""The chat projection: options, UI messages, ordering, and scale."""

from __future__ import annotations

import io
import time as clock

import pytest

from realtime_machines.chat import ChatOptions, project
from realtime_machines.record import read_jsonl, write_jsonl
from realtime_machines.session import SessionModel
from tests.machines.kit import created, done, message_added, text_delta, text_done


def _user_audio_item(session: SessionModel, item_id: str, previous: str | None = None) -> None:
    session.receive(
        {
            "type": "conversation.item.added",
            "previous_item_id": previous,
            "item": {
                "id": item_id,
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        }
    )


def _user_delta(session: SessionModel, item_id: str, delta: str) -> None:
    session.receive(
        {
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": item_id,
            "content_index": 0,
            "delta": delta,
        }
    )


def _assistant_turn(session: SessionModel, rid: str, item_id: str) -> None:
    session.receive(created(rid))
    session.receive(
        {
            "type": "response.output_item.added",
            "response_id": rid,
            "output_index": 0,
            "item": {"id": item_id, "type": "message", "role": "assistant", "content": []},
        }
    )
    session.receive(message_added(item_id, "assistant", None, status="in_progress"))


def _texts(session: SessionModel) -> list[str]:
    return [c.text for c in session.chat]


# -- is_meaningful_text precedence ----------


def test_meaningful_text_default_is_non_blank() -> None:
    session = SessionModel()
    session.receive(message_added("u1", "user", "   "))
    session.receive(message_added("u2", "user", "ok"))
    assert _texts(session) == ["ok"]


def test_meaningful_text_policy_overrides_default() -> None:
    session = SessionModel(chat_options=ChatOptions(policy_is_meaningful_text=lambda t: len(t) > 3))
    session.receive(message_added("u1", "user", "ok"))
    session.receive(message_added("u2", "user", "long enough"))
    assert _texts(session) == ["long enough"]


def test_meaningful_text_chat_overrides_policy() -> None:
    options = ChatOptions(
        is_meaningful_text=lambda t: t.startswith("!"),
        policy_is_meaningful_text=lambda t: True,
    )
    session = SessionModel(chat_options=options)
    session.receive(message_added("u1", "user", "long enough"))
    session.receive(message_added("u2", "user", "!x"))
    session.receive(message_added("u3", "user", "   "))
    assert _texts(session) == ["!x"]


# -- add_on_delta / placeholder_on_start -----------------------------------------------------------


def test_user_add_on_delta() -> None:
    on = SessionModel()
    _user_audio_item(on, "u1")
    assert on.chat == []
    _user_delta(on, "u1", "Hel")
    assert [(c.text, c.status) for c in on.chat] == [("Hel", "streaming")]

    off = SessionModel(chat_options=ChatOptions(user_add_on_delta=False))
    _user_audio_item(off, "u1")
    _user_delta(off, "u1", "Hel")
    assert off.chat == []
    off.receive(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "u1",
            "content_index": 0,
            "transcript": "Hello",
        }
    )
    assert [(c.text, c.status, c.role) for c in off.chat] == [("Hello", "done", "user")]


def test_user_placeholder_on_start() -> None:
    session = SessionModel(chat_options=ChatOptions(user_placeholder_on_start=True))
    _user_audio_item(session, "u1")
    assert [(c.id, c.text, c.role, c.status) for c in session.chat] == [
        ("u1", "", "user", "streaming")
    ]
    assert _texts(SessionModel()) == []


def test_assistant_add_on_delta() -> None:
    on = SessionModel()
    _assistant_turn(on, "r1", "a1")
    assert on.chat == []
    on.receive(text_delta("r1", "a1", "Hi"))
    assert _texts(on) == ["Hi"]

    off = SessionModel(chat_options=ChatOptions(assistant_add_on_delta=False))
    _assistant_turn(off, "r1", "a1")
    off.receive(text_delta("r1", "a1", "Hi"))
    assert off.chat == []
    off.receive(text_done("r1", "a1", "Hi!"))
    assert _texts(off) == ["Hi!"]


def test_assistant_placeholder_on_start_is_bound_to_the_item() -> None:
    session = SessionModel(chat_options=ChatOptions(assistant_placeholder_on_start=True))
    session.receive(message_added("u1", "user", "question"))
    session.receive(created("r1"))
    assert [(c.id, c.text, c.role, c.response_id) for c in session.chat] == [
        ("u1", "question", "user", None),
        ("response:r1", "", "assistant", "r1"),
    ]
    _assistant_turn(session, "r1", "a1")
    session.receive(text_delta("r1", "a1", "Answer"))
    session.receive(done("r1"))
    assert [(c.id, c.text, c.status) for c in session.chat] == [
        ("u1", "question", "done"),
        ("a1", "Answer", "done"),
    ]
    assert project(session.record, session.chat_options) == session.chat


def test_placeholder_of_a_response_without_message_is_dropped() -> None:
    session = SessionModel(chat_options=ChatOptions(assistant_placeholder_on_start=True))
    session.receive(created("r1"))
    assert len(session.chat) == 1
    session.receive(done("r1"))
    assert session.chat == []


def test_inverted_lists_newest_first() -> None:
    session = SessionModel(chat_options=ChatOptions(inverted=True))
    for i in range(3):
        session.receive(
            message_added(f"u{i}", "user", f"m{i}", previous=f"u{i - 1}" if i else None)
        )
    assert _texts(session) == ["m2", "m1", "m0"]
    assert project(session.record, session.chat_options) == session.chat


# -- UI messages ----------


def test_add_message_one_or_list_auto_id_ts_and_time() -> None:
    session = SessionModel()
    session.receive(message_added("u1", "user", "hi"), time=5.0)
    assert session.next_ts() == 2.0
    ids = session.add_message({"text": "note", "role": "system", "kind": "banner"})
    assert ids == ["ui-1"]
    ids = session.add_message(
        [{"text": "a", "time": 99.0}, {"id": "mine", "text": "b", "ts": 0.5, "payload": {"k": 1}}]
    )
    assert ids == ["ui-2", "mine"]
    rows = session.chat
    assert [(r.id, r.text, r.ts, r.type) for r in rows] == [
        ("mine", "b", 0.5, "ui"),
        ("u1", "hi", 1.0, "text"),
        ("ui-1", "note", 2.0, "ui"),
        ("ui-2", "a", 3.0, "ui"),
    ]
    assert rows[2].role == "system"
    assert rows[2].kind == "banner"
    assert rows[2].time == 5.0  # the session's clock
    assert rows[3].time == 99.0  # given explicitly
    assert rows[0].payload == {"k": 1}
    assert session.next_ts() == 4.0
    assert rows[0].to_json()["payload"] == {"k": 1}


def test_add_message_rejects_non_mappings() -> None:
    session = SessionModel()
    with pytest.raises(TypeError, match="must be a mapping"):
        session.add_message(["nope"])  # type: ignore[list-item]


def test_clear_added_vs_clear_chat_history() -> None:
    session = SessionModel()
    session.receive(message_added("u1", "user", "conversation"))
    session.add_message({"text": "ui"})
    session.clear_added()
    assert _texts(session) == ["conversation"]
    session.add_message({"text": "ui again"})
    session.clear_chat_history()
    assert _texts(session) == ["ui again"]
    assert project(session.record) == session.chat


# -- ordering ----------


def test_items_are_ordered_by_previous_item_id_not_arrival() -> None:
    session = SessionModel()
    session.receive(message_added("a", "user", "first"))
    session.receive(message_added("c", "user", "third", previous="a"))
    session.receive(message_added("d", "user", "fourth", previous="c"))
    session.receive(message_added("b", "user", "second", previous="a"))  # inserted after a
    assert _texts(session) == ["first", "second", "third", "fourth"]
    session.receive(message_added("z", "user", "zeroth", previous="root"))
    assert _texts(session) == ["zeroth", "first", "second", "third", "fourth"]
    assert project(session.record) == session.chat


def test_item_deleted_and_truncated() -> None:
    session = SessionModel()
    session.receive(message_added("a", "user", "keep"))
    session.receive(message_added("b", "user", "drop", previous="a"))
    session.receive({"type": "conversation.item.deleted", "item_id": "b"})
    assert _texts(session) == ["keep"]
    _assistant_turn(session, "r1", "x")
    session.receive(text_delta("r1", "x", "cut"))
    session.receive(
        {
            "type": "conversation.item.truncated",
            "item_id": "x",
            "content_index": 0,
            "audio_end_ms": 5,
        }
    )
    assert session.chat[-1].status == "canceled"


def test_a_delta_after_the_final_text_is_stale() -> None:
    # found by test_properties: a duplicated delta arriving after output_text.done was appended
    session = SessionModel()
    _assistant_turn(session, "r1", "a1")
    session.receive(text_delta("r1", "a1", "Hel"))
    session.receive(text_delta("r1", "a1", "lo"))
    session.receive(text_done("r1", "a1", "Hello"))
    session.receive(text_delta("r1", "a1", "lo"))
    assert _texts(session) == ["Hello"]
    assert project(session.record) == session.chat


def test_a_delta_naming_its_response_binds_the_row_to_it() -> None:
    # conversation.item.added before response.output_item.added: the row learns its response
    # from the delta, so response.done finishes it instead of leaving it "streaming"
    session = SessionModel()
    session.receive(created("r1"))
    session.receive(message_added("a1", "assistant", None, status="in_progress"))
    session.receive(text_delta("r1", "a1", "Hi"))
    session.receive(done("r1"))
    assert [(c.text, c.status, c.response_id) for c in session.chat] == [("Hi", "done", "r1")]


def test_cancelled_response_marks_streaming_rows_canceled() -> None:
    session = SessionModel()
    _assistant_turn(session, "r1", "a1")
    session.receive(text_delta("r1", "a1", "partial"))
    session.receive(done("r1", "cancelled"))
    assert [(c.text, c.status) for c in session.chat] == [("partial", "canceled")]


# -- scale ----------


def test_ten_thousand_items_stay_correct() -> None:
    session = SessionModel(keep_record=True)
    previous: str | None = None
    start = clock.perf_counter()
    for i in range(5_000):
        user, assistant, rid = f"u{i}", f"a{i}", f"r{i}"
        session.receive(message_added(user, "user", f"q{i}", previous=previous))
        session.receive(created(rid))
        session.receive(
            {
                "type": "response.output_item.added",
                "response_id": rid,
                "output_index": 0,
                "item": {"id": assistant, "type": "message", "role": "assistant", "content": []},
            }
        )
        session.receive(message_added(assistant, "assistant", None, previous=user))
        session.receive(text_delta(rid, assistant, "a"))
        session.receive(text_delta(rid, assistant, f"{i}"))
        session.receive(done(rid))
        previous = assistant
    # one late insertion in the middle, by previous_item_id
    session.receive(message_added("late", "user", "late", previous="a2500"))
    elapsed = clock.perf_counter() - start
    chat = session.chat
    assert len(chat) == 10_001
    assert chat[0].text == "q0"
    assert chat[1].text == "a0"
    assert chat[-1].text == "a4999"
    assert chat[-1].status == "done"
    assert [c.text for c in chat[5001:5004]] == ["a2500", "late", "q2501"]
    ts = [c.ts for c in chat]
    assert ts == sorted(ts)
    assert len(set(ts)) == len(ts)
    assert all(c.status == "done" for c in chat)
    assert project(session.record) == chat
    buffer = io.StringIO()
    write_jsonl(session.record, buffer)
    buffer.seek(0)
    assert project(read_jsonl(buffer)) == chat
    assert elapsed < 30.0


def _item_added(item_id: str, item_type: str, previous: str | None) -> dict[str, object]:
    return {
        "type": "conversation.item.added",
        "previous_item_id": previous,
        "item": {"id": item_id, "type": item_type, "call_id": "call_1", "output": "rain"},
    }


def test_a_ui_message_added_during_a_tool_call_sorts_before_the_follow_up_answer() -> None:
    # A new user's report: UI messages added inside on_tool_call sorted after the follow-up
    # answer (the function_call_output and the answer were placed between the call and the UI
    # message, halfway in the keys, instead of after everything shown so far).
    session = SessionModel()
    session.receive(message_added("u1", "user", "weather in Oslo?"))
    session.receive(_item_added("fc1", "function_call", previous="u1"))
    session.add_message({"text": "looking up the weather…", "role": "system"})  # in the tool
    session.receive(_item_added("out1", "function_call_output", previous="fc1"))
    session.receive(message_added("a1", "assistant", "It rains.", previous="out1"))
    assert _texts(session) == ["weather in Oslo?", "looking up the weather…", "It rains."]
    session.receive(message_added("u2", "user", "thanks", previous="a1"))
    assert _texts(session)[-1] == "thanks"
    assert project(session.record) == session.chat


def test_an_item_inserted_mid_conversation_still_goes_after_its_previous_item() -> None:
    session = SessionModel()
    session.receive(message_added("a", "user", "first"))
    session.add_message({"text": "ui"})
    session.receive(message_added("c", "user", "third", previous="a"))
    session.receive(message_added("b", "user", "second", previous="a"))  # inserted after a
    assert _texts(session) == ["first", "second", "ui", "third"]
    assert project(session.record) == session.chat
