"""The sideband transport: a server's WebSocket attached to a call someone else holds.

Shape: a browser or a phone holds the call's media (WebRTC with an ephemeral key, or SIP)
while the server keeps the API key, the tools and the business logic on a WebSocket attached
by the call's id: ``GET {base_url}/v1/realtime?call_id=rtc_…`` with ``Authorization: Bearer
<API key>`` and no ``model`` (the call already has its session). The sideband sees every
event of the call except audio (no ``response.output_audio.delta``; the
``output_audio_buffer.*`` events do arrive) and may send any client event. Use it through
:meth:`realtime_sdk.RealtimeClient.attach`::

    client = RealtimeClient.attach("rtc_…", api_key=api_key, tools=[lookup_order])

The handshake is one step, ``attaching`` (stage ``openai_api``): the HTTP upgrade. It does not
wait for ``session.created``, which a sideband never gets (the first server frame is whatever
happens next on the call, usually the ``session.updated`` answering the client's own
``session.update``), so the open socket is "connected". OpenAI refuses an unknown or ended
call at the upgrade (HTTP 404 ``call_id_not_found``); the step fails with that said plainly,
as a :class:`~realtime_sdk.errors.CallGoneError`.
An ephemeral key (``ek_…``) is refused before any request: a sideband needs the API key.

The end: when the server closes the socket with a final close code (1000 when the call hangs
up, the auth and request closes 3000/4000, …) the call is over, and the transport reports it
through ``on_ended``: the client lands in the Connection chart's ``ended`` state and does not
reattach. A dropped socket (1006, 1011, … :data:`~.websocket.RETRYABLE_CLOSE_CODES`) is
``on_lost``: the client's ``reconnect`` policy may reattach to the same call; once the call is
gone the server refuses the reattach with a 404, and the client lands in ``ended`` too (the
call is over) instead of spending its attempts into ``error``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from ..errors import CallGoneError, ConnectError
from .base import ConnectContext, HandshakeStep, TransportEvents
from .websocket import MAX_INCOMING, MAX_MESSAGE_SIZE, WebSocketTransport

__all__ = ["SidebandTransport", "check_call_id", "check_id"]

_CALL_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,199}")
NO_AUDIO: Final = (
    "a sideband carries no audio: the call's media flows between its caller (browser, phone) "
    "and the server; the sideband sees the events only"
)


def check_call_id(call_id: object) -> str:
    """``call_id`` if it looks like a Realtime call id (``rtc_…``: letters, digits, ``_`` and
    ``-``, at most 200); else a ``ValueError`` (a ``TypeError`` for a non-string) saying so."""
    return check_id(call_id, "call_id", "a call's id such as 'rtc_…'")


def check_id(value: object, name: str, what: str) -> str:
    """``value`` if it is an id of letters, digits, ``_`` and ``-`` (at most 200); else a
    ``ValueError`` (a ``TypeError`` for a non-string) saying that ``name`` must be ``what``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string: {what}, not {type(value).__name__}")
    if not _CALL_ID.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(
            f"{name} must be {what} (letters, digits, '_' and '-', at most 200), not {shown!r}"
        )
    return value


class SidebandTransport(WebSocketTransport):
    """A WebSocket attached to the existing call ``call_id`` (``SidebandTransport(call_id=
    "rtc_…")``, or ``transport="sideband", transport_options={"call_id": ...}``); no audio.

    The other options are :class:`~realtime_sdk.transports.WebSocketTransport`'s."""

    kind: ClassVar[str] = "sideband"
    owns_playback: ClassVar[bool] = False  # the call's peer plays; output_audio_buffer.* say when
    carries_audio: ClassVar[bool] = False
    resumes_call: ClassVar[bool] = True  # a reattach finds the call's conversation in place
    awaits_first_event: ClassVar[bool] = False
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        HandshakeStep("attaching", "openai_api", 10.0, success="data_channel_open"),
    )

    def __init__(
        self,
        *,
        call_id: str,
        ping_interval: float | None = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_incoming: int = MAX_INCOMING,
        http: Any = None,
        close_timeout: float = 2.0,
    ) -> None:
        super().__init__(
            ping_interval=ping_interval,
            max_message_size=max_message_size,
            max_incoming=max_incoming,
            http=http,
            close_timeout=close_timeout,
        )
        self.call_id = check_call_id(call_id)
        self._attached = False
        self._refused: int | None = None

    def __repr__(self) -> str:
        state = "closed" if self._ended.is_set() else "open" if self._ws is not None else "new"
        return f"<SidebandTransport {self.call_id} {state} close_code={self.close_code}>"

    async def run_step(self, state: str, context: ConnectContext) -> None:
        if state != "attaching":
            raise ValueError(f"the sideband transport has no handshake step {state!r}")
        if context.token.startswith("ek_"):
            raise ConnectError(
                "openai_api",
                "a sideband attaches with the server's API key, not an ephemeral key (ek_…): "
                "OpenAI refuses ephemeral keys on ?call_id=",
            )
        try:
            await self._open(context)
        except ConnectError as exc:
            if self._refused == 404:
                raise CallGoneError(exc.stage, exc.message) from None
            raise
        self._attached = True

    async def send_audio(self, pcm: bytes) -> None:
        raise NotImplementedError(NO_AUDIO)

    def fresh(self) -> SidebandTransport:
        return SidebandTransport(call_id=self.call_id or "", **self._options)

    # -- WebSocketTransport hooks ------------------------------------------------------------
    def _query(self, context: ConnectContext) -> dict[str, str]:
        return {"call_id": self.call_id or ""}

    #: What the sideband attaches to, as its refusals say.
    attaches_to: ClassVar[str] = "call"

    def _attach_url(self) -> str:
        return f"/v1/realtime?call_id={self.call_id}"

    def _refusal(self, status: int, message: str) -> str:
        self._refused = status
        where = f"GET {self._attach_url()} answered HTTP {status}"
        if status == 404:
            return (
                f"no {self.attaches_to} {self.call_id!r} to attach to: it has ended or never "
                f"existed ({where})"
            )
        if status in (401, 403):
            return f"the key was refused for attaching to {self.call_id!r} ({where}: {message})"
        return f"{where}: {message}"

    def _live(self) -> bool:
        return self._attached

    def _report_end(self, reason: str, events: TransportEvents) -> None:
        if self.retryable or events.on_ended is None:
            super()._report_end(reason, events)
            return
        events.on_ended(f"the call ended {self._closed_text()}")
