"""Webhooks as OpenAI sends them: signed deliveries of events such as ``realtime.call.incoming``.

* :mod:`.signature` signs and verifies a delivery the way OpenAI signs it (the Standard Webhooks
  scheme: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers, HMAC-SHA256
  over ``"{id}.{timestamp}.{body}"``), so that a delivery this module signs verifies with the
  official ``openai`` package and the other way round.
* :mod:`.events` parses a delivery into a typed event (:class:`IncomingCall` for
  ``realtime.call.incoming``, :class:`WebhookEvent` for any other type).
* :mod:`.receiver` is the aiohttp endpoint (:class:`WebhookReceiver`) and :mod:`.replay` the
  pluggable memory of delivery ids it uses to ignore replays (:class:`MemoryReplayStore`,
  :class:`RedisReplayStore`).

See ``docs/webhooks.md``.
"""

from __future__ import annotations

from .events import (
    INCOMING_CALL,
    IncomingCall,
    SipHeader,
    WebhookEvent,
    WebhookPayloadError,
    parse_event,
)
from .receiver import DEFAULT_PATH, EventHandler, WebhookReceiver
from .replay import (
    MemoryReplayStore,
    RedisReplayStore,
    ReplayStore,
    ReplayStoreError,
)
from .signature import (
    DEFAULT_TOLERANCE,
    WebhookSignatureError,
    check_secret,
    sign,
    signed_headers,
    verify,
)

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_TOLERANCE",
    "INCOMING_CALL",
    "EventHandler",
    "IncomingCall",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "ReplayStoreError",
    "SipHeader",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookSignatureError",
    "check_secret",
    "parse_event",
    "sign",
    "signed_headers",
    "verify",
]
