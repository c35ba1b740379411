"""Webhooks as OpenAI sends them: signed deliveries of events such as ``realtime.call.incoming``.

:mod:`.signature` signs and verifies a delivery the way OpenAI signs it (the Standard Webhooks
scheme: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers, HMAC-SHA256
over ``"{id}.{timestamp}.{body}"``), so that a delivery this module signs verifies with the
official ``openai`` package and the other way round.
"""

from __future__ import annotations

from .signature import (
    DEFAULT_TOLERANCE,
    WebhookSignatureError,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookSignatureError",
    "sign",
    "signed_headers",
    "verify",
]
