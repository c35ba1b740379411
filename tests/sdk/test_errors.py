"""Errors: stages, ErrorEvent, exceptions, and redact (no secret survives)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from realtime_sdk.errors import (
    ERROR_STAGES,
    ConnectError,
    ErrorEvent,
    NotConnectedError,
    RealtimeError,
    TokenError,
    redact,
    redact_text,
)

API_KEY = "sk-proj-ABCdef123456_secret-XYZ"
EPHEMERAL = "ek_68af1234567890abcdef"


def test_the_seeds_fifteen_stages() -> None:
    assert ERROR_STAGES == (
        "hangup",
        "ice_gathering",
        "peer_connection",
        "microphone_permission",
        "remote_stream",
        "local_stream",
        "data_channel",
        "get_user_media",
        "ios_transceiver",
        "init_peer_connection",
        "create_offer",
        "set_local_description",
        "set_remote_description",
        "fetch_token",
        "openai_api",
    )


# ------------------------------------------------------------------------------- redact


def test_redact_masks_secret_named_keys_at_any_depth() -> None:
    data: dict[str, Any] = {
        "api_key": "anything",
        "Authorization": "Bearer whatever",
        "headers": {"X-Api-Key": "abc", "content-type": "application/json"},
        "items": [{"client_secret": {"value": "x", "expires_at": 1}}, {"token": "t"}],
        "openai_access_token": "zzz",
        "max_output_tokens": 4096,
        "usage": {"input_tokens": 3},
        "token": None,
    }
    before = copy.deepcopy(data)
    out = redact(data)
    assert data == before  # never mutated
    assert out["api_key"] == "***"
    assert out["Authorization"] == "***"
    assert out["headers"] == {"X-Api-Key": "***", "content-type": "application/json"}
    assert out["items"] == [{"client_secret": "***"}, {"token": "***"}]
    assert out["openai_access_token"] == "***"
    assert out["max_output_tokens"] == 4096  # not a secret
    assert out["usage"] == {"input_tokens": 3}
    assert out["token"] is None


def test_redact_masks_key_shaped_strings_anywhere() -> None:
    data = {
        "message": f"Incorrect API key provided: {API_KEY}.",
        "nested": [("tuple", f"url?key={EPHEMERAL}"), {"deep": [[f"Bearer {EPHEMERAL}"]]}],
        "value": EPHEMERAL,
        "other": {"value": "plain"},
    }
    out = redact(data)
    text = repr(out)
    assert API_KEY not in text
    assert EPHEMERAL not in text
    assert "68af12345" not in text
    assert out["message"] == "Incorrect API key provided: sk-***."
    assert out["nested"][0] == ("tuple", "url?key=ek_***")
    assert out["value"] == "***"
    assert out["other"] == {"value": "plain"}


def test_redact_text_keeps_ordinary_text() -> None:
    assert redact_text("the task-list and desk-top, ek_ (empty)") == (
        "the task-list and desk-top, ek_ (empty)"
    )
    assert redact_text(f"bearer {API_KEY} and sk-short") == "bearer *** and sk-short"


def test_redact_short_key_shaped_value() -> None:
    assert redact({"value": "ek_abc"}) == {"value": "***"}


# ------------------------------------------------------------------------------- ErrorEvent


def test_error_event_redacts_context_repr_and_message() -> None:
    context = {"api_key": API_KEY, "url": "http://127.0.0.1/x", "body": {"value": EPHEMERAL}}
    event = ErrorEvent(
        stage="fetch_token",
        error=RuntimeError(f"401 for {API_KEY}"),
        severity="critical",
        recoverable=False,
        timestamp=12.5,
        context=context,
    )
    assert context["api_key"] == API_KEY  # the caller's dict is untouched
    text = repr(event)
    assert API_KEY not in text
    assert EPHEMERAL not in text
    assert "fetch_token" in text
    assert "RuntimeError" in text
    assert event.message == "401 for sk-***"
    assert event.context["url"] == "http://127.0.0.1/x"
    with pytest.raises(TypeError):
        event.context["x"] = 1  # type: ignore[index]


def test_error_event_is_frozen_and_message_of_a_bare_exception() -> None:
    event = ErrorEvent("data_channel", ValueError(), "warning", True, 0.0)
    assert event.message == "ValueError"
    assert dict(event.context) == {}
    with pytest.raises(AttributeError):
        event.stage = "hangup"  # type: ignore[misc]
    assert ErrorEvent("openai_api", "boom", "info", True, 1.0).message == "boom"


# ------------------------------------------------------------------------------- exceptions


def test_not_connected_error_says_what_and_where() -> None:
    error = NotConnectedError("send 'response.create'", "idle")
    assert isinstance(error, RealtimeError)
    assert (error.attempted, error.status) == ("send 'response.create'", "idle")
    assert "send 'response.create'" in str(error)
    assert "'idle'" in str(error)
    assert "connect()" in str(error)


def test_connect_and_token_errors() -> None:
    error = ConnectError("openai_api", f"HTTP 500 with {API_KEY}")
    assert error.stage == "openai_api"
    assert str(error) == "connect failed at openai_api: HTTP 500 with sk-***"
    token = TokenError("refused", status=401, code="invalid_api_key")
    assert isinstance(token, ConnectError)
    assert (token.stage, token.status, token.code) == ("fetch_token", 401, "invalid_api_key")
    assert str(token) == "could not get an ephemeral key: refused"
