"""Webhook signatures agree with the official ``openai`` package and with Standard Webhooks.

Both directions: what :func:`signed_headers` signs verifies with openai's ``verify_signature``
and ``unwrap``; what an independent signer (the ``standardwebhooks`` package, the reference
implementation of the scheme OpenAI follows) signs verifies with :func:`verify`. Tampered
deliveries are refused by every verifier.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
import standardwebhooks
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent

from realtime_sdk.webhooks import (
    WebhookSignatureError,
    check_secret,
    sign,
    signed_headers,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"realtime-machines webhook test key").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some other endpoint's key").decode()


def incoming_body(call_id: str = "rtc_abc123") -> str:
    return json.dumps(
        {
            "object": "event",
            "id": "evt_685343a1381c819085d44c354e1b330e",
            "type": "realtime.call.incoming",
            "created_at": int(time.time()),
            "data": {
                "call_id": call_id,
                "sip_headers": [
                    {"name": "From", "value": "sip:+142555512112@sip.example.com"},
                    {"name": "To", "value": "sip:+18005551212@sip.example.com"},
                    {"name": "Call-ID", "value": "03782086-4ce9-44bf-8b0d-4e303d2cc590"},
                ],
                "sip_media_security": "srtp",
            },
        }
    )


@functools.cache
def official(secret: str = SECRET) -> openai.OpenAI:
    """The official client (one per secret: making one takes milliseconds; it never sends)."""
    return openai.OpenAI(api_key="x", webhook_secret=secret)


def openai_accepts(body: str | bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    try:
        official(secret).webhooks.verify_signature(body, headers)
    except openai.InvalidWebhookSignatureError:
        return False
    return True


def ours_accept(body: str | bytes, headers: dict[str, str], secret: str = SECRET) -> bool:
    try:
        verify(body, headers, secret)
    except WebhookSignatureError:
        return False
    return True


def standard_signed(body: str, webhook_id: str, secret: str = SECRET) -> dict[str, str]:
    """Headers made by the ``standardwebhooks`` package, not by this SDK."""
    now = datetime.now(tz=UTC)
    signature = standardwebhooks.Webhook(secret).sign(webhook_id, now, body)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def standard_accepts(body: str, headers: dict[str, str], secret: str = SECRET) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(body, headers, json_parse=False)
    except standardwebhooks.webhooks.WebhookVerificationError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# This SDK signs → the official package verifies and unwraps
# ---------------------------------------------------------------------------------------------


def test_our_delivery_verifies_and_unwraps_with_the_official_package() -> None:
    body = incoming_body()
    headers = signed_headers(SECRET, "wh_685342e6c53c8190a1be43f081506c52", body)
    client = official()
    client.webhooks.verify_signature(body, headers)  # raises when it disagrees
    event = client.webhooks.unwrap(body.encode(), headers)
    assert isinstance(event, RealtimeCallIncomingWebhookEvent)
    assert event.data.call_id == "rtc_abc123"
    assert [h.name for h in event.data.sip_headers] == ["From", "To", "Call-ID"]
    assert event.data.sip_media_security == "srtp"
    assert standard_accepts(body, headers)
    assert verify(body, headers, SECRET) == "wh_685342e6c53c8190a1be43f081506c52"


def test_the_official_package_refuses_our_delivery_with_another_secret() -> None:
    body = incoming_body()
    headers = signed_headers(OTHER_SECRET, "wh_1", body)
    assert not openai_accepts(body, headers)
    assert not ours_accept(body, headers)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        official().webhooks.unwrap(body, headers)


# ---------------------------------------------------------------------------------------------
# An independent signer → this SDK verifies
# ---------------------------------------------------------------------------------------------


def test_a_standard_webhooks_delivery_verifies_here_and_with_the_official_package() -> None:
    body = incoming_body("rtc_from_elsewhere")
    headers = standard_signed(body, "wh_standard_1")
    assert verify(body.encode(), headers, SECRET) == "wh_standard_1"
    assert openai_accepts(body, headers)
    # And the two signers produce the same signature for the same delivery.
    assert (
        sign(SECRET, "wh_standard_1", headers["webhook-timestamp"], body)
        == (headers["webhook-signature"])
    )


def tampered(body: str, headers: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    """``(what, body, headers)`` for each way of changing one signed thing."""
    sig = headers["webhook-signature"]
    raw = base64.b64decode(sig.removeprefix("v1,"))
    flipped = "v1," + base64.b64encode(bytes([raw[0] ^ 1]) + raw[1:]).decode()
    return [
        ("body", body.replace("rtc_", "rtx_", 1), headers),
        ("body, one more space", body + " ", headers),
        ("id", body, {**headers, "webhook-id": headers["webhook-id"] + "x"}),
        (
            "timestamp",
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)},
        ),
        ("signature bit", body, {**headers, "webhook-signature": flipped}),
        ("signature version", body, {**headers, "webhook-signature": "v2," + sig[3:]}),
    ]


@pytest.mark.parametrize("signer", ["ours", "standardwebhooks"])
def test_every_tampered_delivery_is_refused_by_every_verifier(signer: str) -> None:
    body = incoming_body()
    if signer == "ours":
        headers = signed_headers(SECRET, "wh_tamper", body)
    else:
        headers = standard_signed(body, "wh_tamper")
    assert ours_accept(body, headers)
    assert openai_accepts(body, headers)
    for what, bad_body, bad_headers in tampered(body, headers):
        assert not ours_accept(bad_body, bad_headers), what
        assert not openai_accepts(bad_body, bad_headers), what
        assert not standard_accepts(bad_body, bad_headers), what


def test_a_rotated_secret_any_of_several_signatures_matches_as_in_the_official_package() -> None:
    body = incoming_body()
    ours = signed_headers(SECRET, "wh_rot", body)
    other = sign(OTHER_SECRET, "wh_rot", ours["webhook-timestamp"], body)
    headers = {**ours, "webhook-signature": f"{other} {ours['webhook-signature']}"}
    assert ours_accept(body, headers)
    assert openai_accepts(body, headers)
    only_other = {**ours, "webhook-signature": other}
    assert not ours_accept(body, only_other)
    assert not openai_accepts(body, only_other)


def test_a_plain_secret_is_keyed_by_its_utf8_bytes_as_in_the_official_package() -> None:
    body = '{"type": "x"}'
    headers = signed_headers("plain-secret-ü", "wh_plain", body)
    assert ours_accept(body, headers, "plain-secret-ü")
    assert openai_accepts(body, headers, "plain-secret-ü")


def test_a_whsec_secret_with_stray_characters_keys_as_the_official_package_does() -> None:
    # openai-python base64-decodes leniently (characters outside the alphabet are dropped):
    # a secret pasted with a trailing newline still verifies there, and must here.
    sloppy = SECRET + "\n"
    body = '{"type": "x"}'
    headers = signed_headers(SECRET, "wh_nl", body)
    assert openai_accepts(body, headers, sloppy)
    assert ours_accept(body, headers, sloppy)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("", "empty"), ("whsec_", "empty"), ("whsec_abc", "base64")],
)
def test_an_unusable_secret_is_a_clear_error_without_the_secret(secret: str, problem: str) -> None:
    with pytest.raises(WebhookSignatureError) as info:
        check_secret(secret)
    assert info.value.reason == "bad_secret"
    assert problem in str(info.value)
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in str(info.value)


def test_a_body_that_is_not_utf8_is_refused_with_a_reason() -> None:
    headers = signed_headers(SECRET, "wh_bin", "x")
    with pytest.raises(WebhookSignatureError) as info:
        verify(b"\xff\xfe", headers, SECRET)
    assert info.value.reason == "bad_body"


def test_missing_headers_and_a_bad_timestamp_are_refused_by_both() -> None:
    body = incoming_body()
    headers = signed_headers(SECRET, "wh_h", body)
    for name in headers:
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(WebhookSignatureError) as info:
            verify(body, partial, SECRET)
        assert info.value.reason == "missing_header"
        assert name in str(info.value)
        with pytest.raises(ValueError, match=name):
            official().webhooks.verify_signature(body, partial)
    bad_ts = {**headers, "webhook-timestamp": "soon"}
    with pytest.raises(WebhookSignatureError) as info:
        verify(body, bad_ts, SECRET)
    assert info.value.reason == "bad_timestamp"
    assert not openai_accepts(body, bad_ts)


# ---------------------------------------------------------------------------------------------
# Tolerance, both sides, with an injected clock
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tolerance", [300, 10])
def test_the_tolerance_window_is_inclusive_on_both_sides(tolerance: int) -> None:
    sent = 1_750_000_000
    body = '{"type": "x"}'
    headers = signed_headers(SECRET, "wh_t", body, timestamp=sent)

    def at(now: float) -> str:
        try:
            verify(body, headers, SECRET, tolerance=tolerance, clock=lambda: now)
        except WebhookSignatureError as exc:
            return exc.reason
        return "ok"

    assert at(sent) == "ok"
    assert at(sent + tolerance) == "ok"  # exactly as old as allowed
    assert at(sent + tolerance + 0.9) == "ok"  # whole seconds, as openai: int(time.time())
    assert at(sent + tolerance + 1) == "too_old"
    assert at(sent - tolerance) == "ok"  # dated exactly as far ahead as allowed
    assert at(sent - tolerance - 1) == "too_new"


def test_the_official_package_draws_the_same_tolerance_lines() -> None:
    body = '{"type": "x"}'
    now = int(time.time())
    # A margin of 5 s from each line keeps the real clock's tick out of the comparison.
    for offset, inside in [(-295, True), (295, True), (-310, False), (310, False)]:
        headers = signed_headers(SECRET, "wh_o", body, timestamp=now + offset)
        assert openai_accepts(body, headers) is inside, offset
        assert ours_accept(body, headers) is inside, offset


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

ids = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
bodies = st.text(max_size=300)


@settings(max_examples=150, deadline=None)
@given(body=bodies, webhook_id=ids, offset=st.integers(-300, 300))
def test_any_delivery_round_trips_with_both_verifiers(
    body: str, webhook_id: str, offset: int
) -> None:
    sent = 1_750_000_000
    headers = signed_headers(SECRET, webhook_id, body, timestamp=sent + offset)
    assert verify(body, headers, SECRET, clock=lambda: sent) == webhook_id
    assert verify(body.encode(), headers, SECRET, clock=lambda: sent) == webhook_id
    live = signed_headers(SECRET, webhook_id, body)  # openai reads the real clock
    assert openai_accepts(body.encode(), live)


@settings(max_examples=150, deadline=None)
@given(
    body=st.text(min_size=1, max_size=200),
    webhook_id=ids,
    where=st.sampled_from(["body", "id", "timestamp"]),
    data=st.data(),
)
def test_any_one_byte_change_fails(body: str, webhook_id: str, where: str, data: Any) -> None:
    sent = 1_750_000_000
    headers = signed_headers(SECRET, webhook_id, body, timestamp=sent)
    raw = {"body": body.encode(), "id": webhook_id.encode(), "timestamp": str(sent).encode()}
    target = bytearray(raw[where])
    index = data.draw(st.integers(0, len(target) - 1), label="index")
    replacement = data.draw(
        st.integers(0x20, 0x7E).filter(lambda b: b != target[index]), label="byte"
    )
    target[index] = replacement
    changed = bytes(target)
    new_body = changed if where == "body" else body.encode()
    new_headers = dict(headers)
    if where == "id":
        new_headers["webhook-id"] = changed.decode()
    elif where == "timestamp":
        new_headers["webhook-timestamp"] = changed.decode()
    # (A change inside a multi-byte character leaves bytes that are not UTF-8: bad_body.)
    with pytest.raises(WebhookSignatureError):
        verify(new_body, new_headers, SECRET, clock=lambda: sent)
