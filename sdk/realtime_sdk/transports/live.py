"""The transports of a GPT-Live session: Realtime's WebRTC, WebSocket and sideband transports
with the Live handshake (reference ``gpt-live.md`` §2, §7.1).

They change only what Live changes; the peer, the socket, liveness, send limits and closing
are their Realtime parents':

* :class:`LiveWebSocketTransport` — ``GET {base_url}/v1/live/sessions`` (no query: the model
  goes in ``session.start``), then ``starting_session``: the client sends ``session.start`` as
  the first message and the step waits for ``session.started``. Audio goes up as
  ``session.input_audio.append``.
* :class:`LiveWebRTCTransport` — the five WebRTC steps, the offer posted as JSON
  (``POST /v1/live/sessions`` with ``{"session", "transport": {"type": "webrtc", "sdp"}}``;
  the session id comes back in the body), then ``starting_session``: ``session.started`` on
  the data channel (never ``session.start`` there).
* :class:`LiveSidebandTransport` — ``GET {base_url}/v1/live/sessions/{id}/attach`` on a
  running session: no start, no ``session.started``, no audio.

Each has ``api = "live"``; :class:`~realtime_sdk.live_client.LiveClient` picks them for the
transport names ``"webrtc"`` and ``"websocket"`` (a sideband through ``LiveClient.attach``);
``"memory"`` is :class:`~realtime_sdk.transports.live_memory.LiveMemoryTransport`, which
shares :class:`LiveAudioInput` (input audio as ``session.input_audio.append`` events) with
the WebSocket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from ..audio_convert import append_events, pcm16_bytes
from ..codecs import AudioEncoder
from ..errors import ConnectError
from .base import ConnectContext, HandshakeStep, Transport
from .sideband import SidebandTransport, check_id
from .webrtc import WebRTCTransport, _http_error
from .websocket import WebSocketTransport, _parsed_type

__all__ = [
    "LIVE_PATH",
    "STARTING_SESSION",
    "LiveAudioInput",
    "LiveSidebandTransport",
    "LiveWebRTCTransport",
    "LiveWebSocketTransport",
    "check_session_id",
    "input_encoder",
]

LIVE_PATH: Final = "/v1/live/sessions"
STARTING_SESSION: Final = "starting_session"
"""The handshake step that ends with ``session.started`` (WebSocket and WebRTC)."""


def check_session_id(session_id: object) -> str:
    """``session_id`` if it looks like a Live session id (``live_…``: letters, digits, ``_``
    and ``-``, at most 200); else a ``ValueError`` (``TypeError`` for a non-string)."""
    return check_id(session_id, "session_id", "a Live session's id such as 'live_…'")


class LiveAudioInput(Transport):
    """Live input audio for the transports that carry it as events (WebSocket, in memory):
    ``send_audio`` encodes PCM16 mono 24 kHz into the session's ``audio.format``
    (:func:`input_encoder`) and sends it as ``session.input_audio.append`` events that fit
    :attr:`max_message_size`."""

    sends_start: ClassVar[bool] = True
    """The client sends ``session.start`` as the first message (a WebSocket-like wire)."""
    audio_event: ClassVar[str] = "session.input_audio.append"
    _encoder: AudioEncoder

    @property
    def audio_format(self) -> dict[str, Any]:
        """The wire format input audio is encoded into (the session's ``audio.format``)."""
        return dict(self._encoder.format)

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 mono 24 kHz as ``session.input_audio.append`` events in the session's
        ``audio.format``, split so each fits :attr:`max_message_size`."""
        wire = self._encoder.encode(pcm16_bytes(pcm))
        limit = self.max_message_size or len(wire) * 2 + 64
        for text in append_events(wire, limit, self.audio_event, checked=True):
            await self.send(text)


class LiveWebSocketTransport(LiveAudioInput, WebSocketTransport):
    """A GPT-Live primary WebSocket (the options are :class:`WebSocketTransport`'s)."""

    api: ClassVar[str] = "live"
    awaits_first_event: ClassVar[bool] = False  # the server says nothing before session.start
    ready_event: ClassVar[str] = "session.started"
    audio_event: ClassVar[str] = "session.input_audio.append"
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        HandshakeStep("opening_socket", "openai_api", 10.0),
        HandshakeStep(STARTING_SESSION, "data_channel", 15.0, success="data_channel_open"),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._encoder = AudioEncoder({"type": "audio/pcm", "rate": 24000})

    def __repr__(self) -> str:
        return "<Live" + super().__repr__()[1:]

    async def run_step(self, state: str, context: ConnectContext) -> None:
        if state == STARTING_SESSION:
            await self._await_session()
        else:
            if state == "opening_socket":
                self._encoder = input_encoder(context.session)
            await super().run_step(state, context)

    def _path(self) -> str:
        return LIVE_PATH

    def _query(self, context: ConnectContext) -> dict[str, str]:
        return {}

    def _refusal(self, status: int, message: str) -> str:
        return f"GET {LIVE_PATH} answered HTTP {status}: {message}"

    def _live(self) -> bool:
        return True  # open is enough: a close while starting fails the step at once


def input_encoder(session: object) -> AudioEncoder:
    """The encoder of a Live session's input audio: its ``audio.format`` (PCM16 24 kHz when
    it names none); ``ValueError`` naming ``session.audio.format`` for one Live does not
    have."""
    audio = session.get("audio") if isinstance(session, Mapping) else None
    fmt = audio.get("format") if isinstance(audio, Mapping) else None
    try:
        return AudioEncoder({"type": "audio/pcm", "rate": 24000} if fmt is None else fmt)
    except ValueError as exc:
        raise ValueError(f"session.audio.format: {exc}") from None


class LiveWebRTCTransport(WebRTCTransport):
    """A GPT-Live WebRTC session (the options are :class:`WebRTCTransport`'s)."""

    api: ClassVar[str] = "live"
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        *WebRTCTransport.steps,
        HandshakeStep(STARTING_SESSION, "data_channel", 15.0, "session_started"),
    )
    timeout_options: ClassVar[dict[str, str]] = {
        **WebRTCTransport.timeout_options,
        STARTING_SESSION: "channel",
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._started = asyncio.Event()

    def __repr__(self) -> str:
        return "<Live" + super().__repr__()[1:]

    async def run_step(self, state: str, context: ConnectContext) -> None:
        if state == "creating_peer":
            deliver = context.events.on_message

            def on_message(text: str) -> None:
                if not self._started.is_set() and _parsed_type(text) == "session.started":
                    self._started.set()
                deliver(text)

            events = dataclasses.replace(context.events, on_message=on_message)
            await super().run_step(state, dataclasses.replace(context, events=events))
        elif state == STARTING_SESSION:
            await self._started.wait()  # the client's step timeout bounds this wait
        else:
            await super().run_step(state, context)

    async def _post_offer(self, context: ConnectContext) -> None:
        import aiohttp

        if self._offer is None:
            raise RuntimeError("no offer to post")
        url = f"{context.base_url.rstrip('/')}{LIVE_PATH}"
        body = {
            "session": dict(context.session),
            "transport": {"type": "webrtc", "sdp": self._offer},
        }
        headers = {"Authorization": f"Bearer {context.token}"}
        timeout = aiohttp.ClientTimeout(total=self.sdp_timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(url, json=body, headers=headers) as response,
        ):
            text = await response.text()
            if response.status not in (200, 201):
                raise ConnectError("openai_api", _http_error(response.status, text, LIVE_PATH))
        try:
            created = json.loads(text)
            answer = created["transport"]["sdp"]
            session_id = created["session"]["id"]
        except (ValueError, KeyError, TypeError):
            raise ConnectError(
                "openai_api",
                f"POST {LIVE_PATH} answered without transport.sdp and session.id: {text[:200]!r}",
            ) from None
        if not isinstance(answer, str) or not isinstance(session_id, str):
            raise ConnectError("openai_api", f"POST {LIVE_PATH} answered a malformed session")
        self._answer = answer
        self.call_id = session_id


class LiveSidebandTransport(SidebandTransport):
    """A WebSocket attached to the running Live session ``session_id`` (``live_…``); no audio
    (the other options are :class:`WebSocketTransport`'s)."""

    api: ClassVar[str] = "live"

    def __init__(self, *, session_id: str, **options: Any) -> None:
        super().__init__(call_id=check_session_id(session_id), **options)

    def __repr__(self) -> str:
        return "<Live" + super().__repr__()[1:]

    def fresh(self) -> LiveSidebandTransport:
        return LiveSidebandTransport(session_id=self.call_id or "", **self._options)

    def _path(self) -> str:
        return f"{LIVE_PATH}/{self.call_id}/attach"

    def _query(self, context: ConnectContext) -> dict[str, str]:
        return {}

    attaches_to: ClassVar[str] = "Live session"

    def _attach_url(self) -> str:
        return self._path()
