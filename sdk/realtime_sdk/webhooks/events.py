"""Webhook deliveries as typed events: ``realtime.call.incoming`` → :class:`IncomingCall`.

:func:`parse_event` reads one delivery's body (after its signature was checked). A
``realtime.call.incoming`` becomes an :class:`IncomingCall`; any other type (``batch.completed``,
``live.transport.incoming``, a type OpenAI adds tomorrow) becomes a plain :class:`WebhookEvent`
with its ``data`` as it came, so that a new event type is never an error. A body that is not a
JSON object with a string ``type``, or a ``realtime.call.incoming`` without the fields a call
needs, raises :class:`WebhookPayloadError`.

The SIP headers of an incoming call are what the caller's side sent in its INVITE: untrusted
metadata, never proof of who is calling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final

__all__ = [
    "INCOMING_CALL",
    "IncomingCall",
    "SipHeader",
    "WebhookEvent",
    "WebhookPayloadError",
    "parse_event",
]

INCOMING_CALL: Final = "realtime.call.incoming"

# SIP's compact header forms (RFC 3261 §7.3.3) of the headers an app is likely to read.
_COMPACT: Final = MappingProxyType(
    {"from": "f", "to": "t", "call-id": "i", "contact": "m", "via": "v", "subject": "s"}
)


def sip_header_values(headers: Iterable[tuple[str, str]], name: str) -> tuple[str, ...]:
    """Every value of the SIP header ``name`` among ``(name, value)`` pairs, in order
    (case-insensitive; SIP's compact form too: ``f`` is ``From``)."""
    wanted = {name.lower()}
    compact = _COMPACT.get(name.lower())
    if compact:
        wanted.add(compact)
    return tuple(value for key, value in headers if key.lower() in wanted)


class WebhookPayloadError(ValueError):
    """A delivery's body that is not an event: not JSON, not an object, or missing a field."""


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    """One delivered event, of any type: ``id``, ``type``, ``created_at`` and its ``data``.

    Event types this module does not model arrive as this class, their ``data`` untouched
    (read-only). ``created_at`` is ``None`` when the event has none.
    """

    id: str
    type: str
    created_at: int | None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True, slots=True)
class SipHeader:
    """One header of the SIP INVITE, as sent (untrusted)."""

    name: str
    value: str


def _uri(value: str | None) -> str | None:
    """The URI of a ``From``/``To`` value: inside ``<…>`` if present, else before any ``;``."""
    if value is None:
        return None
    start, end = value.find("<"), value.find(">")
    if 0 <= start < end:
        return value[start + 1 : end].strip()
    return value.split(";", 1)[0].strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingCall(WebhookEvent):
    """``realtime.call.incoming``: a SIP call is ringing and waits for accept, reject or refer.

    Pass :attr:`call_id` unchanged to the call-control endpoints. :attr:`sip_headers` keeps the
    INVITE's headers in order, repeats included; they are untrusted call metadata.
    :attr:`sip_media_security` is ``"srtp"``, ``"rtp"``, another value OpenAI may add (kept as
    it came: treat it as unknown), or ``None`` when OpenAI does not know.
    """

    TYPE: ClassVar[str] = INCOMING_CALL

    call_id: str
    sip_headers: tuple[SipHeader, ...] = ()
    sip_media_security: str | None = None

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of the header ``name`` (case-insensitive; SIP's compact form too)."""
        return sip_header_values(((h.name, h.value) for h in self.sip_headers), name)

    def header(self, name: str) -> str | None:
        """The first value of the header ``name``, or ``None`` (see :meth:`header_values`)."""
        values = self.header_values(name)
        return values[0] if values else None

    @property
    def caller(self) -> str | None:
        """The URI in the ``From`` header (``sip:+14255550123@…``), or ``None``; untrusted."""
        return _uri(self.header("From"))

    @property
    def callee(self) -> str | None:
        """The URI in the ``To`` header, or ``None``; untrusted."""
        return _uri(self.header("To"))

    @property
    def media_encrypted(self) -> bool | None:
        """``True`` for SRTP, ``False`` for plain RTP, ``None`` when unknown."""
        return {"srtp": True, "rtp": False}.get(self.sip_media_security or "")


def _field(data: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = {str: "a string", int: "an integer", list: "a list"}.get(kind, kind.__name__)
        raise WebhookPayloadError(f"{where}{name!r} must be {wanted}.")
    return value


def _incoming_call(event_id: str, created_at: int | None, data: Mapping[str, Any]) -> IncomingCall:
    where = f"{INCOMING_CALL}: data."
    call_id = _field(data, "call_id", str, where)
    if not call_id:
        raise WebhookPayloadError(f"{where}'call_id' is empty.")
    if created_at is None:
        raise WebhookPayloadError(f"{INCOMING_CALL}: 'created_at' must be an integer.")
    raw_headers = data.get("sip_headers", [])
    if not isinstance(raw_headers, list):
        raise WebhookPayloadError(f"{where}'sip_headers' must be a list.")
    headers: list[SipHeader] = []
    for index, entry in enumerate(raw_headers):
        if not isinstance(entry, Mapping):
            raise WebhookPayloadError(f"{where}sip_headers[{index}] must be an object.")
        name = _field(entry, "name", str, f"{where}sip_headers[{index}].")
        value = _field(entry, "value", str, f"{where}sip_headers[{index}].")
        headers.append(SipHeader(name, value))
    security = data.get("sip_media_security")
    if security is not None and not isinstance(security, str):
        raise WebhookPayloadError(f"{where}'sip_media_security' must be a string.")
    return IncomingCall(
        id=event_id,
        type=INCOMING_CALL,
        created_at=created_at,
        data=_frozen(data),
        call_id=call_id,
        sip_headers=tuple(headers),
        sip_media_security=security,
    )


_PARSERS: Final[Mapping[str, Callable[[str, int | None, Mapping[str, Any]], WebhookEvent]]] = (
    MappingProxyType({INCOMING_CALL: _incoming_call})
)


def parse_event(body: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """The event in one delivery's body (raw bytes, text, or already-decoded JSON).

    Raises :class:`WebhookPayloadError` for a body that is not a JSON object with a string
    ``type`` and ``id``, or a known type whose fields are missing or of the wrong kind.
    """
    if isinstance(body, Mapping):
        payload: Any = body
    else:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise WebhookPayloadError("The body is not JSON.") from exc
    if not isinstance(payload, Mapping):
        raise WebhookPayloadError("The body is not a JSON object.")
    event_type = _field(payload, "type", str, "")
    event_id = _field(payload, "id", str, "")
    created_at = payload.get("created_at")
    if created_at is not None:
        created_at = _field(payload, "created_at", int, "")
    data = payload.get("data", {})
    if not isinstance(data, Mapping):
        raise WebhookPayloadError("'data' must be an object.")
    parser = _PARSERS.get(event_type)
    if parser is None:
        return WebhookEvent(id=event_id, type=event_type, created_at=created_at, data=_frozen(data))
    return parser(event_id, created_at, data)
