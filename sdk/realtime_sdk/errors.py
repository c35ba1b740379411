"""Errors: the seed's ``ErrorStage`` / ``ErrorEvent``, the SDK's exceptions, and ``redact``.

Secrets never leave the SDK: every error context, error message and log line goes through
:func:`redact`, which masks API keys (``sk-…``), ephemeral keys (``ek_…``), bearer tokens and
the values of secret-named keys, recursively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

__all__ = [
    "ERROR_STAGES",
    "REDACTED",
    "CallGoneError",
    "ConnectError",
    "ErrorEvent",
    "ErrorStage",
    "NotConnectedError",
    "RealtimeError",
    "SendError",
    "Severity",
    "TokenError",
    "redact",
    "redact_text",
    "redact_value",
]

ErrorStage = Literal[
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
]
"""Where an error happened: the seed library's 15 stage names (``ios_transceiver`` is kept for
parity; it never occurs in Python)."""

ERROR_STAGES: Final[tuple[ErrorStage, ...]] = get_args(ErrorStage)

Severity = Literal["critical", "warning", "info"]
"""``critical`` sets the client's status to ``error``; ``warning`` and ``info`` do not."""

REDACTED: Final = "***"

# ---------------------------------------------------------------------------------------------
# redact
# ---------------------------------------------------------------------------------------------

_SECRET_KEYS: Final = frozenset(
    {
        "api_key",
        "apikey",
        "openai_api_key",
        "x_api_key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "ephemeral_key",
        "authorization",
        "proxy_authorization",
        "client_secret",
        "secret",
        "password",
        "bearer",
    }
)
_SECRET_SUFFIXES: Final = ("_api_key", "_token", "_secret", "_password")
_KEY_LIKE: Final = re.compile(r"^\s*(sk-|ek_)")
_PATTERNS: Final = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-" + REDACTED),
    (re.compile(r"\bek_[A-Za-z0-9_-]{6,}"), "ek_" + REDACTED),
)
_MAX_DEPTH: Final = 64


def _is_secret_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    name = key.strip().lower().replace("-", "_")
    return name in _SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """``text`` with every ``sk-…`` / ``ek_…`` key and ``Bearer …`` token masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _mask(value: Any) -> Any:
    return value if value is None or value == "" else REDACTED


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A redacted copy of any JSON-like value (see :func:`redact`)."""
    if _depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if _is_secret_key(key):
                out[key] = _mask(item)
            elif key == "value" and isinstance(item, str) and _KEY_LIKE.match(item):
                out[key] = REDACTED
            else:
                out[key] = redact_value(item, _depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [redact_value(item, _depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    return value


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` with secrets masked, recursively through mappings, lists, tuples.

    * Values of secret-named keys (``api_key``, ``token``, ``authorization``,
      ``client_secret``, ``secret``, ``password``, ``*_token``, ``*_api_key``, …; any case,
      ``-`` or ``_``) become ``"***"`` (``None`` and ``""`` are left as they are).
    * A ``value`` that looks like a key (``ek_…`` / ``sk-…``) becomes ``"***"``.
    * In every string, ``sk-…`` (8+ chars), ``ek_…`` (6+ chars) and ``Bearer <token>`` are
      masked (``sk-***``, ``ek_***``, ``Bearer ***``).

    The input is never mutated. Other values (numbers, objects) are kept as they are.
    """
    result: dict[str, Any] = redact_value(mapping)
    return result


# ---------------------------------------------------------------------------------------------
# ErrorEvent
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ErrorEvent:
    """An error the client reports (the seed's ``ErrorEvent``), given to ``on_error``.

    ``context`` is redacted on construction and read-only; ``repr()`` and :attr:`message`
    are redacted too, so an event can be logged as it is.
    """

    stage: ErrorStage
    error: BaseException | str
    severity: Severity
    recoverable: bool
    timestamp: float
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", MappingProxyType(redact(self.context)))

    @property
    def message(self) -> str:
        """The error as text, secrets masked (an exception with no text: its class name)."""
        error = self.error
        text = error if isinstance(error, str) else (str(error) or type(error).__name__)
        return redact_text(text)

    def __repr__(self) -> str:
        error = self.message
        if not isinstance(self.error, str):
            error = f"{type(self.error).__name__}: {error}"
        return (
            f"ErrorEvent(stage={self.stage!r}, severity={self.severity!r}, "
            f"recoverable={self.recoverable!r}, error={error!r}, "
            f"timestamp={self.timestamp!r}, context={dict(self.context)!r})"
        )


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


class RealtimeError(Exception):
    """Base class of the SDK's exceptions."""


class NotConnectedError(RealtimeError):
    """Something that needs a connected session was attempted while not connected."""

    def __init__(self, attempted: str, status: str) -> None:
        self.attempted = attempted
        self.status = status
        super().__init__(
            f"cannot {attempted}: the client is not connected (status {status!r}); "
            "await client.connect() (or use 'async with RealtimeClient(...)') first"
        )


class ConnectError(RealtimeError):
    """Connecting failed at ``stage`` (one of :data:`ErrorStage`)."""

    def __init__(self, stage: ErrorStage | str, message: str) -> None:
        self.stage = stage
        self.message = redact_text(message)
        super().__init__(f"connect failed at {stage}: {self.message}")


class CallGoneError(ConnectError):
    """The call to (re)join does not exist any more: the server refused it as unknown (a
    sideband's ``HTTP 404 call_id_not_found``). A first attach reports it as the connect's
    error; a reattach after a drop means the call is over, and the client lands in
    ``ended`` instead of spending its reconnect attempts."""


class SendError(RealtimeError):
    """A client event could not be sent (the call's channel is closed, or the event is larger
    than the peer accepts); nothing after it in the same operation was sent. ``stage`` is where
    (``data_channel``), ``event_type`` the event's ``type``. The same error reached ``on_error``
    as an :class:`ErrorEvent` with that stage."""

    def __init__(self, event_type: str, reason: str, stage: ErrorStage = "data_channel") -> None:
        self.event_type = event_type
        self.stage = stage
        self.reason = redact_text(reason)
        super().__init__(f"{event_type} not sent: {self.reason}")


class TokenError(ConnectError):
    """No ephemeral key: the token provider or ``client_secrets`` failed (stage
    ``fetch_token``). ``status`` is the HTTP status when there was one, ``code`` OpenAI's
    error code when it gave one. The message never contains the API key."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__("fetch_token", message)
        self.args = (f"could not get an ephemeral key: {self.message}",)
