"""Sample GPT-Live wire events, one per type and direction, valid against ``openai.types.live``
(checked by tests/machines/test_live_wire.py)."""

from __future__ import annotations

from typing import Any

SESSION: dict[str, Any] = {
    "id": "live_abc",
    "expires_at": 1_800_000_000,
    "model": "gpt-live-1",
    "status": "active",
}
USAGE: dict[str, Any] = {"seconds": 12, "active_seconds": 10, "paused_seconds": 2}
DECISION: dict[str, Any] = {
    "model": "gpt-5-mini",
    "answers": [],
    "usage": {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 1,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 6,
    },
}

SERVER: dict[str, dict[str, Any]] = {
    "session.started": {"event_id": "ev_1", "session": SESSION, "client_event_id": "c1"},
    "session.updated": {"event_id": "ev_2", "session": SESSION},
    "session.paused": {"event_id": "ev_3"},
    "session.resumed": {"event_id": "ev_4"},
    "session.input_audio.muted": {"event_id": "ev_5", "client_event_id": "m1"},
    "session.input_audio.unmuted": {"event_id": "ev_6"},
    "session.output_audio.fixture.playing": {"event_id": "ev_7"},
    "session.output_audio.fixture.played": {"event_id": "ev_8"},
    "session.instructions.appended": {"event_id": "ev_9", "start_ms": 10, "end_ms": 10},
    "session.thinking.appended": {"event_id": "ev_10", "start_ms": 10, "end_ms": 20},
    "session.commentary.appended": {"event_id": "ev_11", "start_ms": 20, "end_ms": 40},
    "session.input_audio.append": {"audio": "AAAA"},
    "session.output_audio.delta": {"delta": "AAAA", "start_ms": 0, "end_ms": 20},
    "session.input_transcript.delta": {
        "event_id": "ev_12",
        "delta": "Hello",
        "start_ms": 0,
        "end_ms": 400,
    },
    "session.output_transcript.delta": {
        "event_id": "ev_13",
        "delta": "Hi there",
        "start_ms": 600,
        "end_ms": 1100,
    },
    "session.delegation.created": {
        "event_id": "ev_14",
        "offset_ms": 1200,
        "delegation": {"id": "item_1", "type": "delegation", "target": "responses"},
    },
    "response.event": {
        "event_id": "ev_15",
        "delegation_id": "item_1",
        "event": {"type": "response.created", "response": {"id": "resp_1", "output": []}},
    },
    "decision.event": {
        "event_id": "ev_16",
        "delegation_id": None,
        "trigger_id": "trg_1",
        "source_event_id": "ev_12",
        "source_event_type": "session.input_transcript.delta",
        "event": {"type": "decision.completed", "decision": DECISION},
    },
    "decision.item.created": {
        "event_id": "ev_17",
        "item": {"id": "ditem_1", "role": "user", "content": "Cancel my order"},
    },
    "decision.item.deleted": {"event_id": "ev_18", "item_id": "ditem_1"},
    "session.usage.updated": {
        "event_id": "ev_19",
        "usage": USAGE,
        "context_window": {"usage_ratio": 0.25},
    },
    "session.closed": {
        "event_id": "ev_20",
        "reason": "close_requested",
        "session": SESSION,
        "usage": USAGE,
    },
    "error": {
        "event_id": "ev_21",
        "error": {
            "type": "invalid_request_error",
            "code": "immutable_field_update",
            "message": "session.delegation.type cannot change",
            "param": "session.delegation.type",
            "client_event_id": "u1",
        },
    },
    "info": {"event_id": "ev_22", "code": "data_channel_permissions", "message": "applied"},
    "transport.dtmf.received": {"event_id": "ev_23", "event": "5"},
    "transport.dtmf.send": {"event_id": "ev_24", "event": "#"},
    "transport.dtmf.sent": {"event_id": "ev_25", "event": "1", "client_event_id": "d1"},
    "transport.ringing": {"event_id": "ev_26", "session_id": "live_abc"},
    "transport.answered": {"event_id": "ev_27", "session_id": "live_abc"},
    "transport.failed": {
        "event_id": "ev_28",
        "session_id": "live_abc",
        "error": {"type": "call_error", "code": "busy", "message": "The line is busy"},
    },
}

CLIENT: dict[str, dict[str, Any]] = {
    "session.start": {"event_id": "c1", "session": {"model": "gpt-live-1"}},
    "session.update": {"session": {"delegation": {"type": "client"}}},
    "session.input_audio.append": {"audio": "AAAA"},
    "session.input_audio.mute": {"event_id": "m1"},
    "session.input_audio.unmute": {},
    "session.output_audio.fixture.play": {"audio": "AAAA"},
    "session.instructions.append": {"content": "Greet the caller", "delegation_id": None},
    "session.thinking.append": {"content": "Looking it up", "delegation_id": "item_1"},
    "session.commentary.append": {"content": "It is sunny", "delegation_id": "item_1"},
    "decision.create": {"event_id": "dc1"},
    "decision.item.create": {"item": {"role": "user", "content": "Cancel my order"}},
    "decision.item.delete": {"item_id": "ditem_1"},
    "response.item.create": {
        "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"}
    },
    "response.create": {"event_id": "rc1"},
    "session.close": {},
    "transport.dtmf.send": {"event": "1"},
}


def server(kind: str, **changes: Any) -> dict[str, Any]:
    """The sample server event of ``kind`` (a fresh dict), with ``changes`` applied."""
    return {"type": kind, **SERVER[kind], **changes}


def client(kind: str, **changes: Any) -> dict[str, Any]:
    """The sample client event of ``kind`` (a fresh dict), with ``changes`` applied."""
    return {"type": kind, **CLIENT[kind], **changes}
