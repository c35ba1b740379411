"""Tests of ``realtime_machines.wire``: typed server events and the normalisation contract."""

from __future__ import annotations

import dataclasses
import json
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime_machines import wire
from realtime_machines.wire import (
    BETA_ALIASES,
    EVENT_CLASSES,
    GA_SERVER_EVENT_TYPES,
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDone,
    ConversationItemRetrieved,
    ErrorEvent,
    InputAudioBufferDtmfEventReceived,
    MalformedEvent,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputTextDelta,
    ServerEvent,
    SessionUpdated,
    UnknownEvent,
    normalize,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"

ITEM: dict[str, Any] = {
    "id": "item_1",
    "type": "message",
    "status": "completed",
    "role": "user",
    "content": [{"type": "input_text", "text": "hi"}],
}
RESPONSE: dict[str, Any] = {"id": "resp_1", "object": "realtime.response", "status": "in_progress"}
PART: dict[str, Any] = {"type": "text", "text": ""}
PER_PART: dict[str, Any] = {
    "response_id": "resp_1",
    "item_id": "item_2",
    "output_index": 0,
    "content_index": 0,
}

# The required fields (and nothing else) of every GA server event, written out from
# protocol.md Appendix A.2 independently of the module under test. event_id is added per test.
MINIMAL: dict[str, dict[str, Any]] = {
    "session.created": {"session": {"type": "realtime", "id": "sess_1"}},
    "session.updated": {"session": {"type": "realtime", "id": "sess_1"}},
    "conversation.created": {"conversation": {"id": "conv_1", "object": "realtime.conversation"}},
    "conversation.item.created": {"item": ITEM},
    "conversation.item.added": {"item": ITEM},
    "conversation.item.done": {"item": ITEM},
    "conversation.item.retrieved": {"item": ITEM},
    "conversation.item.truncated": {"item_id": "item_2", "content_index": 0, "audio_end_ms": 1860},
    "conversation.item.deleted": {"item_id": "item_1"},
    "conversation.item.input_audio_transcription.delta": {"item_id": "item_1"},
    "conversation.item.input_audio_transcription.completed": {
        "item_id": "item_1",
        "content_index": 0,
        "transcript": "Hello.",
    },
    "conversation.item.input_audio_transcription.failed": {
        "item_id": "item_1",
        "content_index": 0,
        "error": {"type": "transcription_error", "message": "bad audio"},
    },
    "conversation.item.input_audio_transcription.segment": {
        "id": "seg_1",
        "item_id": "item_1",
        "content_index": 0,
        "text": "Hello",
        "speaker": "A",
        "start": 0.0,
        "end": 1.25,
    },
    "input_audio_buffer.speech_started": {"audio_start_ms": 1460, "item_id": "item_1"},
    "input_audio_buffer.speech_stopped": {"audio_end_ms": 4256, "item_id": "item_1"},
    "input_audio_buffer.committed": {"item_id": "item_1"},
    "input_audio_buffer.cleared": {},
    "input_audio_buffer.timeout_triggered": {
        "audio_start_ms": 0,
        "audio_end_ms": 5000,
        "item_id": "item_1",
    },
    "input_audio_buffer.dtmf_event_received": {"event": "5", "received_at": 1767225600},
    "error": {"error": {"type": "invalid_request_error", "message": "nope"}},
    "rate_limits.updated": {
        "rate_limits": [{"name": "tokens", "limit": 100, "remaining": 99, "reset_seconds": 0.5}]
    },
    "response.created": {"response": RESPONSE},
    "response.done": {"response": {**RESPONSE, "status": "completed"}},
    "response.output_item.added": {"response_id": "resp_1", "output_index": 0, "item": ITEM},
    "response.output_item.done": {"response_id": "resp_1", "output_index": 0, "item": ITEM},
    "response.content_part.added": {**PER_PART, "part": PART},
    "response.content_part.done": {**PER_PART, "part": PART},
    "response.output_text.delta": {**PER_PART, "delta": "It"},
    "response.output_text.done": {**PER_PART, "text": "It is foggy."},
    "response.output_audio.delta": {**PER_PART, "delta": "//8AAAYA"},
    "response.output_audio.done": {**PER_PART},
    "response.output_audio_transcript.delta": {**PER_PART, "delta": "Hel"},
    "response.output_audio_transcript.done": {**PER_PART, "transcript": "Hello"},
    "response.function_call_arguments.delta": {
        "response_id": "resp_1",
        "item_id": "item_3",
        "output_index": 0,
        "call_id": "call_1",
        "delta": "{",
    },
    "response.function_call_arguments.done": {
        "response_id": "resp_1",
        "item_id": "item_3",
        "output_index": 0,
        "call_id": "call_1",
        "arguments": '{"city": "London"}',
    },
    "mcp_list_tools.in_progress": {"item_id": "item_4"},
    "mcp_list_tools.completed": {"item_id": "item_4"},
    "mcp_list_tools.failed": {"item_id": "item_4"},
    "response.mcp_call_arguments.delta": {
        "response_id": "resp_1",
        "item_id": "item_5",
        "output_index": 1,
        "delta": "{",
    },
    "response.mcp_call_arguments.done": {
        "response_id": "resp_1",
        "item_id": "item_5",
        "output_index": 1,
        "arguments": "{}",
    },
    "response.mcp_call.in_progress": {"item_id": "item_5", "output_index": 1},
    "response.mcp_call.completed": {"item_id": "item_5", "output_index": 1},
    "response.mcp_call.failed": {"item_id": "item_5", "output_index": 1},
    "output_audio_buffer.started": {"response_id": "resp_1"},
    "output_audio_buffer.stopped": {"response_id": "resp_1"},
    "output_audio_buffer.cleared": {"response_id": "resp_1"},
}

# Legacy name -> GA name, from protocol.md §2.5 and the seed library's README.
EXPECTED_ALIASES: dict[str, str] = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.output_item.text.delta": "response.output_text.delta",
    "response.output_item.text.done": "response.output_text.done",
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
    "response.canceled": "response.done",
    "response.completed": "response.done",
}
PSEUDO_DONE = {"response.canceled": "cancelled", "response.completed": "completed"}

BASE_FIELDS = {"event_id", "wire_type", "raw"}


def class_name_for(event_type: str) -> str:
    if event_type == "error":
        return "ErrorEvent"
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type))


def own_fields(cls: type[ServerEvent]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in BASE_FIELDS]


def wrong_values(value: object) -> list[object]:
    """Values of the wrong type for a field whose valid sample value is ``value``."""
    if isinstance(value, bool):
        raise AssertionError("samples never use bool")
    if isinstance(value, str):
        return [5, None, ["x"], {"x": 1}]
    if isinstance(value, int):
        return ["5", True, 1.5, None]
    if isinstance(value, float):
        return ["1.5", False, None, [1.0]]
    if isinstance(value, dict):
        return [[], "x", 3, None]
    if isinstance(value, list):
        return [{}, "abc", 3, None]
    raise AssertionError(f"unexpected sample value {value!r}")


def kind_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def received_events() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            record = json.loads(line)
            if record["direction"] == "received":
                yield f"{path.name}:{number}", record["data"]


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------


def test_there_are_exactly_46_ga_server_event_types() -> None:
    assert len(MINIMAL) == 46
    assert len(GA_SERVER_EVENT_TYPES) == 46
    assert set(MINIMAL) == GA_SERVER_EVENT_TYPES
    assert set(EVENT_CLASSES) == GA_SERVER_EVENT_TYPES
    assert isinstance(GA_SERVER_EVENT_TYPES, frozenset)


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_event_class_is_named_after_its_type_and_declares_it(event_type: str) -> None:
    cls = EVENT_CLASSES[event_type]
    assert cls.__name__ == class_name_for(event_type)
    assert event_type == cls.TYPE
    assert issubclass(cls, ServerEvent)
    assert getattr(wire, cls.__name__) is cls
    assert cls.__name__ in wire.__all__


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: SCREAMING_SNAKE_CASE constants, then CamelCase, then the rest.
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return group, name


def test_all_is_sorted_and_complete() -> None:
    assert wire.__all__ == sorted(wire.__all__, key=_isort_key)
    assert len(set(wire.__all__)) == len(wire.__all__)
    for name in wire.__all__:
        assert hasattr(wire, name), name
    for name in ("normalize", "ServerEvent", "UnknownEvent", "MalformedEvent", "BETA_ALIASES"):
        assert name in wire.__all__


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        EVENT_CLASSES["x"] = ServerEvent  # type: ignore[index]
    with pytest.raises(TypeError):
        BETA_ALIASES["x"] = "y"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Every GA type from a minimal valid sample
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_minimal_sample_parses_into_its_class(event_type: str) -> None:
    fields = MINIMAL[event_type]
    raw = {"type": event_type, "event_id": "event_abc", **fields}
    event = normalize(raw)

    assert type(event) is EVENT_CLASSES[event_type]
    assert type(event).__name__ == class_name_for(event_type)
    assert isinstance(event, ServerEvent)
    assert event.type == event_type
    assert event.wire_type == event_type
    assert event.event_id == "event_abc"
    assert event.raw is raw
    for key, value in fields.items():
        assert getattr(event, key) == value, key
    # Every field the sample does not give is optional and defaults to None.
    for name in own_fields(type(event)):
        if name not in fields:
            assert getattr(event, name) is None, name


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_event_id_may_be_missing(event_type: str) -> None:
    event = normalize({"type": event_type, **MINIMAL[event_type]})
    assert isinstance(event, ServerEvent)
    assert event.event_id is None


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_unknown_extra_fields_are_ignored(event_type: str) -> None:
    raw = {
        "type": event_type,
        "event_id": "event_x",
        **MINIMAL[event_type],
        "obfuscation": "aBSplHqbmMbpmCf",
        "something_new": {"nested": [1, 2, 3]},
    }
    event = normalize(raw)
    assert type(event) is EVENT_CLASSES[event_type]
    assert not hasattr(event, "something_new")


REQUIRED_FIELDS = [(t, key) for t in sorted(MINIMAL) for key in MINIMAL[t]]


@pytest.mark.parametrize(("event_type", "key"), REQUIRED_FIELDS)
def test_missing_required_field_is_malformed_and_named(event_type: str, key: str) -> None:
    raw = {"type": event_type, "event_id": "event_x", **MINIMAL[event_type]}
    del raw[key]
    event = normalize(raw)
    assert isinstance(event, MalformedEvent)
    assert event.type == event_type
    assert event.problems == (f"missing required field {key!r}",)
    assert event.raw is raw


@pytest.mark.parametrize(("event_type", "key"), REQUIRED_FIELDS)
def test_wrong_typed_field_is_malformed_and_named(event_type: str, key: str) -> None:
    for bad in wrong_values(MINIMAL[event_type][key]):
        raw = {"type": event_type, **MINIMAL[event_type], key: bad}
        event = normalize(raw)
        assert isinstance(event, MalformedEvent), (key, bad)
        assert event.type == event_type
        assert len(event.problems) == 1
        assert event.problems[0].startswith(f"field {key!r} must be "), event.problems
        assert event.problems[0].endswith(f", got {kind_name(bad)}"), event.problems


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("delta", 7, "field 'delta' must be a string, got int"),
        ("output_index", True, "field 'output_index' must be an integer, got bool"),
        ("content_index", False, "field 'content_index' must be an integer, got bool"),
        ("output_index", 0.0, "field 'output_index' must be an integer, got float"),
        ("response_id", None, "field 'response_id' must be a string, got null"),
        ("event_id", 12, "field 'event_id' must be a string, got int"),
    ],
)
def test_problem_messages_are_exact(key: str, value: object, problem: str) -> None:
    raw = {"type": "response.output_text.delta", **MINIMAL["response.output_text.delta"]}
    raw[key] = value
    event = normalize(raw)
    assert event == MalformedEvent(type="response.output_text.delta", problems=(problem,), raw=raw)


def test_every_problem_is_reported_not_just_the_first() -> None:
    event = normalize({"type": "response.output_text.delta", "delta": 5, "output_index": True})
    assert isinstance(event, MalformedEvent)
    assert event.problems == (
        "missing required field 'response_id'",
        "missing required field 'item_id'",
        "field 'output_index' must be an integer, got bool",
        "missing required field 'content_index'",
        "field 'delta' must be a string, got int",
    )


def test_item_must_be_an_object() -> None:
    event = normalize({"type": "conversation.item.added", "item": ["not", "an", "object"]})
    assert isinstance(event, MalformedEvent)
    assert event.problems == ("field 'item' must be an object, got list",)


def test_optional_fields_accept_null_and_absence_but_not_wrong_types() -> None:
    base = {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_1"}
    full = normalize({**base, "content_index": 0, "delta": " Hello", "logprobs": [{"t": 1}]})
    assert isinstance(full, wire.ConversationItemInputAudioTranscriptionDelta)
    assert (full.content_index, full.delta, full.logprobs) == (0, " Hello", [{"t": 1}])
    nulls = normalize({**base, "content_index": None, "delta": None, "logprobs": None})
    assert isinstance(nulls, wire.ConversationItemInputAudioTranscriptionDelta)
    assert (nulls.content_index, nulls.delta, nulls.logprobs) == (None, None, None)

    bad = normalize({**base, "content_index": "0", "logprobs": "x"})
    assert isinstance(bad, MalformedEvent)
    assert bad.problems == (
        "field 'content_index' must be an integer or null, got str",
        "field 'logprobs' must be an array or null, got str",
    )


def test_previous_item_id_is_optional_and_carried() -> None:
    added = normalize({"type": "conversation.item.added", "item": ITEM, "previous_item_id": "i0"})
    assert isinstance(added, ConversationItemAdded)
    assert added.previous_item_id == "i0"
    committed = normalize(
        {"type": "input_audio_buffer.committed", "item_id": "item_1", "previous_item_id": None}
    )
    assert isinstance(committed, wire.InputAudioBufferCommitted)
    assert committed.previous_item_id is None
    wrong = normalize({"type": "conversation.item.done", "item": ITEM, "previous_item_id": 3})
    assert isinstance(wrong, MalformedEvent)
    assert wrong.problems == ("field 'previous_item_id' must be a string or null, got int",)


def test_numbers_accept_ints_and_huge_ints_pass_through() -> None:
    segment_type = "conversation.item.input_audio_transcription.segment"
    segment = normalize({"type": segment_type, **MINIMAL[segment_type], "start": 0, "end": 2})
    assert isinstance(segment, wire.ConversationItemInputAudioTranscriptionSegment)
    assert (segment.start, segment.end) == (0, 2)
    huge = 10**400
    delta_type = "response.output_text.delta"
    delta = normalize(
        {"type": delta_type, **MINIMAL[delta_type], "output_index": huge, "content_index": -1}
    )
    assert isinstance(delta, ResponseOutputTextDelta)
    assert delta.output_index == huge


def test_function_call_arguments_done_name_is_optional() -> None:
    fields = MINIMAL["response.function_call_arguments.done"]
    without = normalize({"type": "response.function_call_arguments.done", **fields})
    assert isinstance(without, ResponseFunctionCallArgumentsDone)
    assert without.name is None
    named = normalize({"type": "response.function_call_arguments.done", **fields, "name": "f"})
    assert isinstance(named, ResponseFunctionCallArgumentsDone)
    assert named.name == "f"


def test_dtmf_event_without_event_id() -> None:
    event = normalize(
        {"type": "input_audio_buffer.dtmf_event_received", "event": "#", "received_at": 17}
    )
    assert event == InputAudioBufferDtmfEventReceived(
        wire_type="input_audio_buffer.dtmf_event_received", event="#", received_at=17
    )


# ---------------------------------------------------------------------------------------------
# Not typeable: non-objects, missing type, unknown type, hostile input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [None, [], ["type"], "response.done", 42, 3.5, True, b"{}", ("a",), object()]
)
def test_non_objects_are_malformed(raw: object) -> None:
    event = normalize(raw)
    assert isinstance(event, MalformedEvent)
    assert event.type is None
    assert event.problems == (f"event must be a JSON object, got {kind_name(raw)}",)
    assert event.raw is raw


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({}, "missing required field 'type'"),
        ({"event_id": "e"}, "missing required field 'type'"),
        ({"type": None}, "field 'type' must be a string, got null"),
        ({"type": 3}, "field 'type' must be a string, got int"),
        ({"type": ["response.done"]}, "field 'type' must be a string, got list"),
        ({"type": {"a": 1}}, "field 'type' must be a string, got dict"),
    ],
)
def test_objects_without_a_string_type_are_malformed(raw: dict[str, Any], problem: str) -> None:
    assert normalize(raw) == MalformedEvent(type=None, problems=(problem,), raw=raw)


def test_unknown_type_is_reported_not_an_error() -> None:
    raw = {"type": "response.brand_new_thing", "event_id": "event_9", "x": [1]}
    event = normalize(raw)
    assert isinstance(event, UnknownEvent)
    assert event.type == "response.brand_new_thing"
    assert event.raw is raw
    assert event.event_id == "event_9"
    assert normalize({"type": ""}) == UnknownEvent(type="", raw={})
    # Client event names are not server events.
    assert isinstance(normalize({"type": "response.create"}), UnknownEvent)


def test_non_dict_mappings_are_accepted() -> None:
    raw = types.MappingProxyType({"type": "output_audio_buffer.started", "response_id": "r"})
    event = normalize(raw)
    assert isinstance(event, wire.OutputAudioBufferStarted)
    assert event.response_id == "r"


class _ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


class _UnhashableStr(str):
    def __hash__(self) -> int:
        raise RuntimeError("no hash")


def test_hostile_input_is_malformed_not_raised() -> None:
    exploding = _ExplodingMapping()
    event = normalize(exploding)
    assert isinstance(event, MalformedEvent)
    assert event.problems == ("event could not be read: RuntimeError",)
    assert event.raw is exploding
    assert isinstance(normalize({"type": _UnhashableStr("error")}), MalformedEvent)


# ---------------------------------------------------------------------------------------------
# Legacy names
# ---------------------------------------------------------------------------------------------


def test_beta_alias_table() -> None:
    assert dict(BETA_ALIASES) == EXPECTED_ALIASES
    assert set(BETA_ALIASES.values()) <= GA_SERVER_EVENT_TYPES
    assert not set(BETA_ALIASES) & GA_SERVER_EVENT_TYPES


@pytest.mark.parametrize(
    "legacy", sorted(legacy for legacy in EXPECTED_ALIASES if legacy not in PSEUDO_DONE)
)
def test_beta_alias_maps_onto_ga_class(legacy: str) -> None:
    ga = EXPECTED_ALIASES[legacy]
    raw = {"type": legacy, "event_id": "event_b", **MINIMAL[ga]}
    event = normalize(raw)
    assert type(event) is EVENT_CLASSES[ga]
    assert isinstance(event, ServerEvent)
    assert event.type == ga
    assert event.wire_type == legacy
    for key, value in MINIMAL[ga].items():
        assert getattr(event, key) == value


@pytest.mark.parametrize("legacy", sorted(EXPECTED_ALIASES))
def test_beta_alias_is_checked_like_ga(legacy: str) -> None:
    event = normalize({"type": legacy, "event_id": 5})
    assert isinstance(event, MalformedEvent)
    assert event.type == legacy
    assert "field 'event_id' must be a string, got int" in event.problems


@pytest.mark.parametrize(("legacy", "status"), sorted(PSEUDO_DONE.items()))
def test_seed_pseudo_events_become_response_done(legacy: str, status: str) -> None:
    raw = {"type": legacy, "event_id": "event_s", "response_id": "resp_7"}
    event = normalize(raw)
    assert isinstance(event, ResponseDone)
    assert event.wire_type == legacy
    assert event.type == "response.done"
    assert event.response == {"id": "resp_7", "status": status}
    assert (event.response_id, event.status, event.status_details) == ("resp_7", status, None)
    assert event.event_id == "event_s"
    assert event.raw is raw

    missing = normalize({"type": legacy})
    assert missing == MalformedEvent(
        type=legacy, problems=("missing required field 'response_id'",), raw=None
    )
    wrong = normalize({"type": legacy, "response_id": 1})
    assert isinstance(wrong, MalformedEvent)
    assert wrong.problems == ("field 'response_id' must be a string, got int",)


def test_beta_shaped_events_parse() -> None:
    # Beta function_call_arguments.done has no `name`; beta transcription sessions are flat.
    args_done = normalize(
        {
            "type": "response.function_call_arguments.done",
            "event_id": "event_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "call_id": "call_1",
            "arguments": "{}",
        }
    )
    assert isinstance(args_done, ResponseFunctionCallArgumentsDone)
    session = normalize(
        {
            "type": "transcription_session.updated",
            "event_id": "event_2",
            "session": {"id": "sess_1", "input_audio_format": "pcm16"},
        }
    )
    assert isinstance(session, SessionUpdated)
    assert session.wire_type == "transcription_session.updated"
    assert session.session["input_audio_format"] == "pcm16"


def test_conversation_item_created_keeps_its_own_class() -> None:
    event = normalize({"type": "conversation.item.created", "item": ITEM})
    assert type(event) is ConversationItemCreated
    assert not issubclass(ConversationItemCreated, ConversationItemAdded)
    assert event.wire_type == "conversation.item.created"


# ---------------------------------------------------------------------------------------------
# Recorded traffic
# ---------------------------------------------------------------------------------------------

RECEIVED = list(received_events())


def test_fixtures_are_present() -> None:
    assert len({where.split(":")[0] for where, _ in RECEIVED}) == 6
    assert len(RECEIVED) == 197


@pytest.mark.parametrize(("where", "raw"), RECEIVED, ids=[where for where, _ in RECEIVED])
def test_recorded_event_parses(where: str, raw: dict[str, Any]) -> None:
    event = normalize(raw)
    assert isinstance(event, ServerEvent), event
    assert type(event) is EVENT_CLASSES[raw["type"]]
    assert event.wire_type == raw["type"]
    assert event.event_id == raw["event_id"]
    for name in own_fields(type(event)):
        assert getattr(event, name) == raw.get(name), name


def test_recorded_turns_keep_their_identifiers() -> None:
    for path in sorted(FIXTURES.glob("*.jsonl")):
        events = [
            normalize(json.loads(line)["data"])
            for line in path.read_text(encoding="utf-8").splitlines()
            if json.loads(line)["direction"] == "received"
        ]
        created = [e.response_id for e in events if isinstance(e, ResponseCreated)]
        done = [e for e in events if isinstance(e, ResponseDone)]
        assert created, path.name
        assert created == [e.response_id for e in done], path.name
        assert all(e.status == "completed" for e in done), path.name
        for delta in (e for e in events if isinstance(e, ResponseOutputTextDelta)):
            assert delta.response_id in created
        roles = {e.role for e in events if isinstance(e, ConversationItemDone)}
        assert "user" in roles or "assistant" in roles, path.name


# ---------------------------------------------------------------------------------------------
# Convenience properties and dataclass behaviour
# ---------------------------------------------------------------------------------------------


def test_response_properties() -> None:
    details = {"type": "cancelled", "reason": "turn_detected"}
    done = normalize(
        {
            "type": "response.done",
            "response": {"id": "resp_2", "status": "cancelled", "status_details": details},
        }
    )
    assert isinstance(done, ResponseDone)
    assert (done.response_id, done.status, done.status_details) == ("resp_2", "cancelled", details)
    bare = normalize({"type": "response.created", "response": {"id": 3, "status_details": "x"}})
    assert isinstance(bare, ResponseCreated)
    assert (bare.response_id, bare.status, bare.status_details) == (None, None, None)


@pytest.mark.parametrize(
    "cls", [ConversationItemAdded, ConversationItemDone, ConversationItemCreated]
)
def test_item_properties(cls: type[ConversationItemAdded]) -> None:
    item = {"id": "item_9", "type": "function_call", "call_id": "c", "name": "f"}
    event = normalize({"type": cls.TYPE, "item": item, "previous_item_id": "item_8"})
    assert isinstance(event, cls)
    assert (event.item_id, event.item_type, event.role) == ("item_9", "function_call", None)
    assert event.previous_item_id == "item_8"


def test_retrieved_item_properties() -> None:
    event = normalize({"type": "conversation.item.retrieved", "item": ITEM})
    assert isinstance(event, ConversationItemRetrieved)
    assert (event.item_id, event.item_type, event.role) == ("item_1", "message", "user")
    assert event.previous_item_id is None


def test_error_properties() -> None:
    raw = {
        "type": "error",
        "event_id": "event_e",
        "error": {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": "Conversation already has an active response in progress: resp_X",
            "param": None,
            "event_id": "client_7",
        },
    }
    event = normalize(raw)
    assert isinstance(event, ErrorEvent)
    assert event.error_type == "invalid_request_error"
    assert event.code == "conversation_already_has_active_response"
    assert event.message is not None
    assert event.message.startswith("Conversation already")
    assert event.param is None
    assert event.client_event_id == "client_7"
    odd = normalize({"type": "error", "error": {"code": 5}})
    assert isinstance(odd, ErrorEvent)
    assert (odd.code, odd.message, odd.error_type, odd.client_event_id) == (None,) * 4


def test_events_are_frozen_slotted_and_raw_is_out_of_repr_and_eq() -> None:
    raw_a = {"type": "response.output_text.delta", **MINIMAL["response.output_text.delta"]}
    raw_b = {**raw_a, "obfuscation": "zzz"}
    a, b = normalize(raw_a), normalize(raw_b)
    assert isinstance(a, ResponseOutputTextDelta)
    assert a == b
    assert a.raw is not b.raw
    assert "raw" not in repr(a)
    assert "delta='It'" in repr(a)
    assert not hasattr(a, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.delta = "changed"  # type: ignore[misc]
    assert a != normalize({**raw_a, "delta": "other"})


def test_events_built_in_code() -> None:
    built = ResponseOutputTextDelta(
        response_id="resp_1", item_id="item_2", output_index=0, content_index=0, delta="It"
    )
    assert built.wire_type == "response.output_text.delta"
    assert built.type == "response.output_text.delta"
    assert built.event_id is None
    assert built.raw == {}
    parsed = normalize(
        {"type": "response.output_text.delta", **MINIMAL["response.output_text.delta"]}
    )
    assert parsed == built
    legacy = ResponseOutputTextDelta(
        wire_type="response.text.delta",
        response_id="r",
        item_id="i",
        output_index=0,
        content_index=0,
        delta="",
    )
    assert (legacy.wire_type, legacy.type) == ("response.text.delta", "response.output_text.delta")


# ---------------------------------------------------------------------------------------------
# Properties: normalize never raises, and what it returns is consistent
# ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)

KNOWN_TYPES = sorted(GA_SERVER_EVENT_TYPES | set(BETA_ALIASES))
FIELD_NAMES = sorted({key for sample in MINIMAL.values() for key in sample} | {"event_id"})


def _matches(hint: Any, value: object) -> bool:
    """An oracle, independent of the module's tables: does ``value`` fit annotation ``hint``?"""
    if get_origin(hint) in (Union, types.UnionType):
        return any(_matches(arg, value) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is str:
        return isinstance(value, str)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    origin = get_origin(hint)
    if origin is Mapping:
        return isinstance(value, Mapping)
    if origin is Sequence:
        return isinstance(value, list | tuple)
    raise AssertionError(f"unexpected annotation {hint!r}")


def _expected_ok(cls: type[ServerEvent], raw: Mapping[str, Any]) -> bool:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in ("wire_type", "raw"):
            continue
        if f.name not in raw:
            if f.default is dataclasses.MISSING:
                return False
            continue
        if not _matches(hints[f.name], raw[f.name]):
            return False
    return True


def _check_result(raw: object, event: object) -> None:
    assert isinstance(event, ServerEvent | UnknownEvent | MalformedEvent)
    if isinstance(event, MalformedEvent):
        assert event.problems
        assert all(isinstance(p, str) and p for p in event.problems)
        assert event.raw is raw
    elif isinstance(event, UnknownEvent):
        assert isinstance(raw, Mapping)
        assert raw["type"] == event.type
        assert event.type not in GA_SERVER_EVENT_TYPES
        assert event.type not in BETA_ALIASES
    else:
        assert event.raw is raw
        hints = get_type_hints(type(event))
        for name in own_fields(type(event)):
            assert _matches(hints[name], getattr(event, name)), name


@given(json_values)
def test_normalize_never_raises_on_any_json_value(value: object) -> None:
    _check_result(value, normalize(value))


@given(
    event_type=st.sampled_from(KNOWN_TYPES) | st.text(max_size=30),
    values=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
)
def test_normalize_agrees_with_an_oracle_on_fuzzed_known_events(
    event_type: str, values: dict[str, Any]
) -> None:
    raw = {**values, "type": event_type}
    event = normalize(raw)
    _check_result(raw, event)
    ga = BETA_ALIASES.get(event_type, event_type)
    if event_type in PSEUDO_DONE:
        valid = isinstance(raw.get("response_id"), str) and _matches(
            str | None, raw.get("event_id")
        )
        assert isinstance(event, ResponseDone) == valid
    elif ga in EVENT_CLASSES:
        cls = EVENT_CLASSES[ga]
        assert isinstance(event, cls) == _expected_ok(cls, raw), event
        if isinstance(event, MalformedEvent):
            assert event.type == event_type
    else:
        assert event == UnknownEvent(type=event_type, raw=raw)


@given(
    event_type=st.sampled_from(sorted(MINIMAL)),
    key=st.sampled_from(FIELD_NAMES),
    value=json_values,
    extra=st.dictionaries(st.text(max_size=10).map("x-{}".format), json_values, max_size=3),
)
def test_one_mutated_field_of_a_valid_event(
    event_type: str, key: str, value: object, extra: dict[str, Any]
) -> None:
    raw = {**extra, **MINIMAL[event_type], "type": event_type, key: value}
    event = normalize(raw)
    _check_result(raw, event)
    cls = EVENT_CLASSES[event_type]
    assert isinstance(event, cls) == _expected_ok(cls, raw)
    if isinstance(event, MalformedEvent):
        assert len(event.problems) == 1
        assert repr(key) in event.problems[0]


def test_transcription_completed_keeps_usage_but_does_not_require_it() -> None:
    base: dict[str, object] = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_1",
        "content_index": 0,
        "transcript": "Hello.",
    }
    without = normalize(base)
    assert isinstance(without, wire.ConversationItemInputAudioTranscriptionCompleted)
    assert without.usage is None
    usage = {"type": "duration", "seconds": 3}
    with_usage = normalize({**base, "usage": usage})
    assert isinstance(with_usage, wire.ConversationItemInputAudioTranscriptionCompleted)
    assert with_usage.usage == usage
    bad = normalize({**base, "usage": "lots"})
    assert isinstance(bad, MalformedEvent)
    assert bad.problems[0].startswith("field 'usage' must be ")
