"""The WebSocket transport: one Realtime call over ``GET {base_url}/v1/realtime?model=…``.

For server-side apps (backends, telephony bridges, agents in containers). Events are JSON text
frames both ways; audio goes up as ``input_audio_buffer.append`` (base64 PCM16 mono 24 kHz)
and comes down as ``response.output_audio.delta`` events, so the client owns playback
(``owns_playback``; see :mod:`realtime_sdk.playback`). Standalone use::

    from realtime_sdk.transports import ConnectContext, TransportEvents, WebSocketTransport

    transport = WebSocketTransport()
    events = TransportEvents(on_message=print, on_lost=print)
    context = ConnectContext(base_url="http://127.0.0.1:8765", token=api_key,
                             model="gpt-realtime", events=events)
    for step in transport.steps:  # the client enforces each step's timeout
        await transport.run_step(step.state, context)
    await transport.send('{"type": "response.create"}')
    await transport.send_audio(pcm16_24k_mono)
    await transport.close()

The handshake:

* ``opening_socket`` (stage ``openai_api``): the HTTP upgrade with ``Authorization: Bearer``
  (an API key or an ``ek_…`` key; no ``OpenAI-Beta`` header, which GA refuses), then the
  server's verdict. OpenAI accepts the upgrade even for a bad key or model and then sends an
  ``error`` event and closes (3000 auth, 4000 request shape): that error's message fails the
  step. An HTTP refusal (401, 403, 404, …) fails it with the status.
* ``awaiting_session`` (stage ``data_channel``): until ``session.created`` arrives. It is
  delivered through ``on_message`` like every other event.

Liveness: :attr:`~WebSocketTransport.last_inbound` moves with every frame received, pongs
included; the transport answers the server's pings. :meth:`~WebSocketTransport.ping` sends one
ping per silence (none while one is unanswered and nothing has arrived since): the transport's
keepalive asks for it after ``ping_interval`` seconds with nothing received, and a client's
liveness check after half of its ``liveness_timeout``, so the wire carries one ping however
many ask. A
drop after the handshake calls ``on_lost`` with the close code, its meaning and whether
openai-python would retry it (:data:`RETRYABLE_CLOSE_CODES`; also :attr:`retryable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from typing import Any, ClassVar, Final

import aiohttp
from aiohttp import WSMsgType

from ..audio_convert import MicrophonePump, append_events
from ..errors import ConnectError, SendError, redact_text
from .base import ConnectContext, HandshakeStep, Transport, TransportEvents

__all__ = ["MAX_MESSAGE_SIZE", "RETRYABLE_CLOSE_CODES", "WebSocketTransport"]

log = logging.getLogger("realtime_sdk.transports.websocket")

MAX_MESSAGE_SIZE: Final = 15 * 1024 * 1024
"""The largest client event sent, in bytes: OpenAI documents up to 15 MiB per
``input_audio_buffer.append`` and gives no other WebSocket limit; larger events are refused
with :class:`~realtime_sdk.errors.SendError` (audio is split to fit)."""
MAX_INCOMING: Final = 16 * 1024 * 1024
"""The largest server event accepted (aiohttp's ``max_msg_size``); a larger one closes the
socket with 1009 rather than buffering without bound."""
RETRYABLE_CLOSE_CODES: Final = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
"""Close codes openai-python reconnects on; the auth/shape closes (3000, 4000) are final."""
ERROR_GRACE: Final = 1.0
"""Seconds to wait, after an ``error`` as the server's first event, for the close that makes
it fatal (OpenAI sends both in the same millisecond)."""

_CLOSE_MEANINGS: Final = {
    1000: "normal closure",
    1001: "going away",
    1005: "no status",
    1006: "abnormal closure (connection dropped)",
    1009: "message too big",
    1011: "server error",
    1012: "service restart",
    1013: "try again later",
    1015: "TLS handshake failure",
    3000: "authentication failed",
    4000: "invalid request",
}
_TYPE: Final = re.compile(r'"type"\s*:\s*"([^"\\]{1,80})"')


class WebSocketTransport(Transport):
    """One Realtime call over an aiohttp WebSocket.

    ``ping_interval``: seconds with nothing received after which the transport pings
    (``None``: it does not by itself; a client's liveness check still does, and the server's
    own pings, every ~20 s, count too). ``max_message_size``: the largest event :meth:`send`
    accepts. ``max_incoming``: aiohttp's ``max_msg_size`` for server events. ``http``: an
    ``aiohttp.ClientSession`` to use (not closed by the transport); by default each call owns
    one. ``close_timeout``: the longest :meth:`close` waits for the closing handshake.
    """

    kind: ClassVar[str] = "websocket"
    owns_playback: ClassVar[bool] = True
    awaits_first_event: ClassVar[bool] = True
    """Whether ``opening_socket`` reads the server's first event (a refusal is an ``error``
    then a close); a sideband gets none until it sends something."""
    ready_event: ClassVar[str] = "session.created"
    """The server event that ends the handshake (GPT-Live: ``session.started``)."""
    audio_event: ClassVar[str] = "input_audio_buffer.append"
    """The client event that carries :meth:`send_audio`'s PCM (GPT-Live:
    ``session.input_audio.append``)."""
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        HandshakeStep("opening_socket", "openai_api", 10.0),
        HandshakeStep("awaiting_session", "data_channel", 10.0, success="data_channel_open"),
    )

    def __init__(
        self,
        *,
        ping_interval: float | None = 10.0,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_incoming: int = MAX_INCOMING,
        http: aiohttp.ClientSession | None = None,
        close_timeout: float = 2.0,
    ) -> None:
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError(f"ping_interval must be positive or None, not {ping_interval!r}")
        if max_message_size < 1024:
            raise ValueError(
                f"max_message_size must be at least 1024 bytes, not {max_message_size!r}"
            )
        if max_incoming < 1024:
            raise ValueError(f"max_incoming must be at least 1024 bytes, not {max_incoming!r}")
        self._options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "max_message_size": max_message_size,
            "max_incoming": max_incoming,
            "http": http,
            "close_timeout": close_timeout,
        }
        self.ping_interval = ping_interval
        self._max_message_size = max_message_size
        self._max_incoming = max_incoming
        self._given_http = http
        self._close_timeout = close_timeout
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._context: ConnectContext | None = None
        self._pending: deque[str] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._microphone = MicrophonePump(self.send_audio, name="websocket-microphone")
        self._session_created = asyncio.Event()
        self._ended = asyncio.Event()
        self._closing = False
        self._last_inbound = 0.0
        self._pinged_after: float | None = None
        """The :attr:`last_inbound` the last ping was sent after: one ping per silence."""
        self.pongs = 0
        """Pongs received (answers to this transport's pings)."""
        self.close_code: int | None = None
        """The WebSocket close code once the socket has closed."""
        self.close_reason = ""
        """The close frame's reason text (OpenAI: ``"<error.type>.<error.code>"``)."""

    def __repr__(self) -> str:
        state = "closed" if self._ended.is_set() else "open" if self._ws is not None else "new"
        return f"<WebSocketTransport {state} close_code={self.close_code}>"

    # -- the seam ---------------------------------------------------------------------------
    @property
    def max_message_size(self) -> int | None:
        return self._max_message_size

    @property
    def last_inbound(self) -> float:
        return self._last_inbound

    @property
    def retryable(self) -> bool | None:
        """Whether the close code is one openai-python reconnects on (``None``: still open)."""
        if self.close_code is None:
            return None
        return self.close_code in RETRYABLE_CLOSE_CODES

    async def run_step(self, state: str, context: ConnectContext) -> None:
        if state == "opening_socket":
            await self._open(context)
        elif state == "awaiting_session":
            await self._await_session()
        else:
            raise ValueError(f"the websocket transport has no handshake step {state!r}")

    async def send(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed or self._ended.is_set():
            raise SendError(_event_type(text), "the WebSocket is closed")
        size = len(text.encode("utf-8"))
        if size > self._max_message_size:
            raise SendError(
                _event_type(text),
                f"the event is {size} bytes; the WebSocket takes at most {self._max_message_size}",
            )
        try:
            await ws.send_str(text)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            raise SendError(_event_type(text), f"the WebSocket failed: {exc}") from exc

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 mono 24 kHz as ``input_audio_buffer.append`` events, split so each fits
        :attr:`max_message_size` (on sample boundaries)."""
        for text in append_events(pcm, self._max_message_size, self.audio_event):
            await self.send(text)

    def set_microphone(self, enabled: bool) -> None:
        """Mute (zeros keep flowing, so the server's VAD hears silence) or unmute the
        microphone given as ``ConnectContext.microphone``; before it starts too."""
        self._microphone.set_enabled(enabled)

    async def close(self) -> None:
        self._closing = True
        await self._microphone.aclose()
        task = self._pinger
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._close_timeout):
                    await ws.close(code=1000, message=b"client closed")
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        if self._http is not None and self._http is not self._given_http:
            with contextlib.suppress(Exception):
                await self._http.close()
        self._http = None
        self._ended.set()

    def fresh(self) -> WebSocketTransport:
        return type(self)(**self._options)

    async def ping(self) -> None:
        """Send a WebSocket ping (its pong moves :attr:`last_inbound`), unless one has gone
        since anything last arrived: that one's answer is still the sign of life asked for."""
        ws = self._ws
        if ws is None or ws.closed:
            raise SendError("ping", "the WebSocket is closed")
        if self._pinged_after == self._last_inbound:
            return
        self._pinged_after = self._last_inbound
        await ws.ping()

    # -- handshake --------------------------------------------------------------------------
    async def _open(self, context: ConnectContext) -> None:
        if self._ws is not None:
            raise RuntimeError("this transport has been connected already; use fresh()")
        self._context = context
        url = _ws_url(context.base_url, self._path())
        self._http = self._given_http or aiohttp.ClientSession()
        try:
            try:
                self._ws = await self._http.ws_connect(
                    url,
                    params=self._query(context),
                    headers={"Authorization": f"Bearer {context.token}"},
                    autoping=False,
                    max_msg_size=self._max_incoming,
                    compress=0,
                )
            except aiohttp.WSServerHandshakeError as exc:
                raise ConnectError("openai_api", self._refusal(exc.status, exc.message)) from None
            except aiohttp.ClientError as exc:
                reason = redact_text(str(exc)) or type(exc).__name__
                raise ConnectError("openai_api", f"cannot open {url}: {reason}") from None
            self._last_inbound = time.monotonic()
            if self.awaits_first_event:
                await self._first_events()
        except BaseException:
            await self.close()
            raise
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read(), name="websocket-reader")
        if self.ping_interval is not None:
            self._pinger = loop.create_task(
                self._keepalive(self.ping_interval), name="websocket-ping"
            )

    def _path(self) -> str:
        """The URL's path (GPT-Live: ``/v1/live/sessions``)."""
        return "/v1/realtime"

    def _query(self, context: ConnectContext) -> dict[str, str]:
        """The URL's query: a new session's model."""
        return {"model": context.model}

    def _refusal(self, status: int, message: str) -> str:
        """What an HTTP refusal of the upgrade means, as the step's error text."""
        return f"GET /v1/realtime answered HTTP {status}: {message}"

    async def _first_events(self) -> None:
        """Read the server's first event: an ``error`` then a close refuses the session."""
        assert self._ws is not None
        first = await self._receive_event()
        if first is None:
            raise ConnectError(
                "openai_api",
                f"the server closed the WebSocket {self._closed_text()} before any event",
            )
        self._pending.append(first)
        if _parsed_type(first) == "error":
            second = await self._receive_event(ERROR_GRACE)
            if second is None and self._ws.closed:
                raise ConnectError("openai_api", f"{_error_text(first)} {self._closed_text()}")
            if second is not None:
                self._pending.append(second)

    async def _await_session(self) -> None:
        if self._reader is None:
            raise RuntimeError("awaiting_session runs after opening_socket")
        waiters = [
            asyncio.ensure_future(self._session_created.wait()),
            asyncio.ensure_future(self._ended.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if not self._session_created.is_set():
            raise ConnectError(
                "data_channel",
                f"the WebSocket closed {self._closed_text()} before {self.ready_event}",
            )
        context = self._context
        if context is not None and context.microphone is not None:
            self._microphone.start(context.microphone)

    async def _receive_event(self, timeout: float | None = None) -> str | None:  # noqa: ASYNC109
        """The next text frame during the handshake (pings answered); ``None`` once closed or
        when ``timeout`` passes."""
        ws = self._ws
        assert ws is not None
        while True:
            try:
                msg = await ws.receive(timeout=timeout)
            except TimeoutError:
                return None
            if not self._note(msg):
                self._record_close()
                return None
            if msg.type == WSMsgType.TEXT:
                return str(msg.data)
            await self._control(msg)

    # -- reading ----------------------------------------------------------------------------
    async def _read(self) -> None:
        ws = self._ws
        context = self._context
        assert ws is not None
        assert context is not None
        events = context.events
        reason = "the WebSocket closed"
        try:
            while self._pending:
                self._deliver(self._pending.popleft(), events.on_message)
            while True:
                msg = await ws.receive()
                if not self._note(msg):
                    if msg.type == WSMsgType.ERROR:
                        reason = f"the WebSocket failed: {ws.exception() or msg.data}"
                    break
                if msg.type == WSMsgType.TEXT:
                    self._deliver(str(msg.data), events.on_message)
                else:
                    await self._control(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing reader must end the call, not hang it
            log.exception("websocket reader failed")
            reason = f"the WebSocket reader failed: {exc}"
        finally:
            self._record_close()
            self._ended.set()
            if self._pinger is not None:
                self._pinger.cancel()
        if not self._closing and self._live():
            self._report_end(reason, events)

    def _live(self) -> bool:
        """Whether the handshake is over, so that a close is a lost call (not a failed step)."""
        return self._session_created.is_set()

    def _report_end(self, reason: str, events: TransportEvents) -> None:
        """Tell the client the socket closed by itself (``on_lost``)."""
        retry = "retryable" if self.retryable else "not retryable"
        events.on_lost(f"{reason} {self._closed_text()}; {retry}")

    def _deliver(self, text: str, on_message: Any) -> None:
        if not self._session_created.is_set() and _parsed_type(text) == self.ready_event:
            self._session_created.set()
        try:
            on_message(text)
        except Exception:
            log.exception("on_message failed; the next events are still delivered")

    def _note(self, msg: aiohttp.WSMessage) -> bool:
        """Mark the time for any frame; ``False`` when the socket is closing or closed."""
        if msg.type == WSMsgType.CLOSE:
            self.close_code = int(msg.data)
            self.close_reason = str(msg.extra or "")
            return False
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return False
        self._last_inbound = time.monotonic()
        return True

    async def _control(self, msg: aiohttp.WSMessage) -> None:
        ws = self._ws
        assert ws is not None
        if msg.type == WSMsgType.PING:
            with contextlib.suppress(Exception):
                await ws.pong(msg.data)
        elif msg.type == WSMsgType.PONG:
            self.pongs += 1
        elif msg.type == WSMsgType.BINARY:
            log.warning(
                "ignored a %d-byte binary frame: the Realtime API sends text", len(msg.data)
            )

    def _record_close(self) -> None:
        ws = self._ws
        if ws is not None and self.close_code is None and ws.close_code is not None:
            self.close_code = ws.close_code
        if ws is not None and ws.closed and self.close_code is None:
            self.close_code = 1006

    def _closed_text(self) -> str:
        code = self.close_code if self.close_code is not None else 1006
        meaning = _CLOSE_MEANINGS.get(code, "closed")
        reason = f" {self.close_reason!r}" if self.close_reason else ""
        return f"(code {code}, {meaning}{reason})"

    # -- background -------------------------------------------------------------------------
    async def _keepalive(self, interval: float) -> None:
        """Ask for a ping once nothing has arrived for ``interval`` seconds (:meth:`ping` sends
        one per silence, whoever else asks)."""
        ws = self._ws
        assert ws is not None
        while not ws.closed:
            silent = time.monotonic() - self._last_inbound
            if silent < interval:
                await asyncio.sleep(interval - silent)
                continue
            try:
                await self.ping()
            except (SendError, ConnectionError, RuntimeError, aiohttp.ClientError):
                return
            await asyncio.sleep(interval)


def _ws_url(base_url: str, path: str = "/v1/realtime") -> str:
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    elif not base.startswith(("ws://", "wss://")):
        raise ConnectError(
            "openai_api", f"base_url must start with http(s):// or ws(s)://, not {base_url!r}"
        )
    return base + path


def _event_type(text: str) -> str:
    match = _TYPE.search(text, 0, 200)
    return match.group(1) if match else "event"


def _parsed_type(text: str) -> str | None:
    """The event's ``type``, parsed properly (only during the handshake: the client parses
    every event once itself)."""
    try:
        event = json.loads(text)
    except ValueError:
        return None
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else None


def _error_text(text: str) -> str:
    try:
        error = json.loads(text).get("error") or {}
        message = str(error.get("message") or "the server refused the session")
        code = error.get("code") or error.get("type")
    except (ValueError, AttributeError):
        return "the server refused the session"
    return f"{code}: {message}" if code else message
