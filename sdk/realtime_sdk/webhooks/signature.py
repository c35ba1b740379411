"""Sign and verify webhook deliveries exactly as OpenAI does (Standard Webhooks, ``v1``).

The signed content is ``f"{webhook_id}.{timestamp}.{body}"`` over the raw header strings and
the raw body; the signature is ``base64(HMAC-SHA256(key, content))``, sent as ``v1,<b64>``
(several, space-separated, during a secret rotation). A secret ``whsec_<b64>`` is keyed by its
decoded bytes, any other secret by its UTF-8 bytes. A delivery is valid when any signature
matches (constant-time comparison) and its timestamp is within ``tolerance`` seconds of now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Final

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookSignatureError",
    "check_secret",
    "sign",
    "signed_headers",
    "verify",
]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a delivery's timestamp may lie from now, either way (OpenAI's default)."""


class WebhookSignatureError(ValueError):
    """A delivery that does not verify; ``reason`` is a short, secret-free code.

    Reasons: ``missing_header``, ``bad_timestamp``, ``too_old``, ``too_new``,
    ``no_signature``, ``mismatch``, ``bad_secret``, ``bad_body`` (bytes that are not UTF-8).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _key(secret: str) -> bytes:
    if not secret:
        raise WebhookSignatureError("bad_secret", "The webhook secret is empty.")
    if not secret.startswith("whsec_"):
        return secret.encode()
    # As openai-python decodes it: characters outside the base64 alphabet are discarded (not
    # refused), so that any secret it accepts is keyed here by the same bytes.
    try:
        key = base64.b64decode(secret[len("whsec_") :])
    except binascii.Error as exc:
        raise WebhookSignatureError(
            "bad_secret", "A 'whsec_' webhook secret must be base64 after the prefix."
        ) from exc
    if not key:
        raise WebhookSignatureError("bad_secret", "The 'whsec_' webhook secret is empty.")
    return key


def check_secret(secret: str) -> None:
    """Raise :class:`WebhookSignatureError` (``bad_secret``) when ``secret`` cannot sign."""
    _key(secret)


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise WebhookSignatureError("bad_body", "The body is not UTF-8 text.") from exc


def sign(secret: str, webhook_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one delivery."""
    content = f"{webhook_id}.{timestamp}.{_text(body)}".encode()
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str,
    webhook_id: str,
    body: bytes | str,
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three ``webhook-*`` headers for a delivery of ``body`` (timestamp: now)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, webhook_id, ts, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookSignatureError("missing_header", f"The {name!r} header is missing.")


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    clock: Callable[[], float] = time.time,
) -> str:
    """Check one delivery; return its ``webhook-id``, or raise :class:`WebhookSignatureError`.

    ``headers`` may be any mapping (names are matched case-insensitively, as HTTP does).
    """
    key = _key(secret)
    webhook_id = _header(headers, "webhook-id")
    raw_ts = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        ts = int(raw_ts)
    except ValueError as exc:
        raise WebhookSignatureError(
            "bad_timestamp", "The 'webhook-timestamp' header is not a whole number of seconds."
        ) from exc
    now = int(clock())
    if now - ts > tolerance:
        raise WebhookSignatureError("too_old", f"The delivery is older than {tolerance} s.")
    if ts > now + tolerance:
        raise WebhookSignatureError(
            "too_new", f"The delivery's timestamp is more than {tolerance} s in the future."
        )
    candidates = [s.removeprefix("v1,") for s in signatures.split()]
    if not candidates:
        raise WebhookSignatureError("no_signature", "The 'webhook-signature' header is empty.")
    content = f"{webhook_id}.{raw_ts}.{_text(body)}".encode()
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    # compare_digest on every candidate (no early exit on the first match's position).
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise WebhookSignatureError("mismatch", "No webhook signature matches the secret.")
    return webhook_id
