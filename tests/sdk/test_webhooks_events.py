"""Webhook bodies as typed events: ``realtime.call.incoming`` → ``IncomingCall``, the rest passed
through; the fields agree with what the official package's ``unwrap`` reads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import openai
import pytest
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent

from realtime_sdk.webhooks import (
    IncomingCall,
    SipHeader,
    WebhookEvent,
    WebhookPayloadError,
    parse_event,
    signed_headers,
)

SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLWV2ZW50cw=="


def incoming(**data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_id": "rtc_42",
        "sip_headers": [
            {"name": "Via", "value": "SIP/2.0/TLS 192.0.2.1;branch=z9hG4bK"},
            {"name": "From", "value": '"Ada" <sip:+14255550123@sip.example.com>;tag=9fxced76sl'},
            {"name": "To", "value": "<sip:+18005550100@sip.example.com>"},
            {"name": "X-Tenant", "value": "first"},
            {"name": "x-tenant", "value": "second"},
        ],
        "sip_media_security": "srtp",
    }
    base.update(data)
    return {
        "object": "event",
        "id": "evt_1",
        "type": "realtime.call.incoming",
        "created_at": 1_750_287_018,
        "data": base,
    }


def test_an_incoming_call_is_typed_with_its_headers_in_order() -> None:
    event = parse_event(json.dumps(incoming()).encode())
    assert isinstance(event, IncomingCall)
    assert (event.id, event.type, event.created_at, event.call_id) == (
        "evt_1",
        "realtime.call.incoming",
        1_750_287_018,
        "rtc_42",
    )
    assert [h.name for h in event.sip_headers] == ["Via", "From", "To", "X-Tenant", "x-tenant"]
    assert event.header("x-TENANT") == "first"
    assert event.header_values("X-Tenant") == ("first", "second")
    assert event.header("Subject") is None
    assert event.caller == "sip:+14255550123@sip.example.com"
    assert event.callee == "sip:+18005550100@sip.example.com"
    assert event.sip_media_security == "srtp"
    assert event.media_encrypted is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.call_id = "rtc_other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.data["call_id"] = "rtc_other"  # type: ignore[index]


def test_compact_sip_header_names_and_bare_uris() -> None:
    payload = incoming(
        sip_headers=[
            {"name": "f", "value": "sip:alice@example.com;tag=1"},
            {"name": "t", "value": "tel:+14155550123"},
        ]
    )
    event = parse_event(payload)
    assert isinstance(event, IncomingCall)
    assert event.caller == "sip:alice@example.com"
    assert event.callee == "tel:+14155550123"
    assert event.header("From") == "sip:alice@example.com;tag=1"


@pytest.mark.parametrize(
    ("security", "encrypted"), [("srtp", True), ("rtp", False), ("zrtp-2030", None), (None, None)]
)
def test_unknown_media_security_is_kept_as_it_came(
    security: str | None, encrypted: bool | None
) -> None:
    payload = incoming()
    if security is None:
        del payload["data"]["sip_media_security"]
    else:
        payload["data"]["sip_media_security"] = security
    event = parse_event(payload)
    assert isinstance(event, IncomingCall)
    assert event.sip_media_security == security
    assert event.media_encrypted is encrypted


def test_a_call_without_headers_has_no_caller() -> None:
    payload = incoming()
    del payload["data"]["sip_headers"]
    event = parse_event(payload)
    assert isinstance(event, IncomingCall)
    assert event.sip_headers == ()
    assert event.caller is None
    assert event.callee is None


def test_unknown_event_types_pass_through_as_generic_events() -> None:
    body = {
        "id": "evt_2",
        "type": "live.transport.incoming",
        "created_at": 1,
        "data": {"session_id": "live_1", "extra": [1, 2]},
    }
    event = parse_event(json.dumps(body))
    assert type(event) is WebhookEvent
    assert event.type == "live.transport.incoming"
    assert dict(event.data) == body["data"]
    bare = parse_event({"id": "evt_3", "type": "batch.completed"})
    assert (bare.type, bare.created_at, dict(bare.data)) == ("batch.completed", None, {})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "evt"}', "'type' must be a string"),
        (b'{"type": 7, "id": "evt"}', "'type' must be a string"),
        (b'{"type": "x"}', "'id' must be a string"),
        (b'{"type": "x", "id": "e", "created_at": "now"}', "'created_at' must be an integer"),
        (b'{"type": "x", "id": "e", "created_at": true}', "'created_at' must be an integer"),
        (b'{"type": "x", "id": "e", "data": [1]}', "'data' must be an object"),
    ],
)
def test_bodies_that_are_not_events_are_refused(body: bytes, says: str) -> None:
    with pytest.raises(WebhookPayloadError, match=says):
        parse_event(body)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"call_id": None}, "'call_id' must be a string"),
        ({"call_id": ""}, "'call_id' is empty"),
        ({"sip_headers": {"From": "x"}}, "'sip_headers' must be a list"),
        ({"sip_headers": ["From: x"]}, r"sip_headers\[0\] must be an object"),
        ({"sip_headers": [{"name": "From"}]}, r"sip_headers\[0\]\.'value' must be a string"),
        ({"sip_media_security": 1}, "'sip_media_security' must be a string"),
    ],
)
def test_an_incoming_call_without_what_a_call_needs_is_refused(
    change: dict[str, Any], says: str
) -> None:
    with pytest.raises(WebhookPayloadError, match=says):
        parse_event(incoming(**change))


def test_an_incoming_call_needs_its_creation_time() -> None:
    payload = incoming()
    del payload["created_at"]
    with pytest.raises(WebhookPayloadError, match="created_at"):
        parse_event(payload)


def test_our_event_reads_what_the_official_unwrap_reads() -> None:
    body = json.dumps(incoming(sip_media_security="something-new"))
    headers = signed_headers(SECRET, "wh_1", body)
    theirs = openai.OpenAI(api_key="x", webhook_secret=SECRET).webhooks.unwrap(body, headers)
    assert isinstance(theirs, RealtimeCallIncomingWebhookEvent)
    ours = parse_event(body)
    assert isinstance(ours, IncomingCall)
    assert (ours.id, ours.type, ours.created_at) == (theirs.id, theirs.type, theirs.created_at)
    assert ours.call_id == theirs.data.call_id
    assert ours.sip_media_security == theirs.data.sip_media_security == "something-new"
    assert ours.sip_headers == tuple(SipHeader(h.name, h.value) for h in theirs.data.sip_headers)
