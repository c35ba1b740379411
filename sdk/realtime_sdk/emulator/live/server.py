"""GPT-Live's HTTP and WebSocket routes on the emulator (``emu.live``), and its WebRTC sessions.

Routes (the API key as Bearer; Live has no ephemeral keys):

* ``GET /v1/live/sessions`` — the primary WebSocket: ``session.start`` first, then
  ``session.started``.
* ``POST /v1/live/sessions`` — WebRTC: ``{"session", "transport": {"type": "webrtc", "sdp"}}``
  → ``200 {"session": {"id"}, "transport": {"type": "webrtc", "sdp": <answer>}}``;
  ``session.started`` arrives on the ``oai-events`` data channel once it opens.
* ``GET /v1/live/sessions/{id}/attach`` — a sideband WebSocket on a running session: the last
  3 s of events replayed, then its events, reflected input and output audio.
* ``POST /v1/live/sessions/{id}/hangup`` — end the session (``session.closed``,
  ``close_requested``).
* ``POST /v1/live/client_secrets`` — a 404: Live has no client secrets.
* ``fork``, ``accept``, ``reject``, ``refer``, ``content`` — a 501 naming what the emulator
  does not implement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from aiortc import RTCDataChannel

from ..audio import SpeechTrack
from ..session import ProtocolError
from ..webrtc import EVENTS_LABEL, OPENAI_MAX_MESSAGE_SIZE, Answerer, SdpError
from .config import validate_config
from .engine import LiveConnection, LiveEngine, LiveOptions

if TYPE_CHECKING:
    from ..server import Emulator

__all__ = ["LiveCall", "LiveSessions"]

log = logging.getLogger(__name__)

_UNIMPLEMENTED = ("fork", "accept", "reject", "refer", "content")
#: How long a closed WebRTC session keeps its peer open so the final events arrive.
DRAIN_S = 0.5


def _error(status: int, message: str, **kwargs: Any) -> web.Response:
    """OpenAI's HTTP error JSON (the Realtime server's, imported late: it imports this module)."""
    from ..server import _error as http_error

    return http_error(status, message, **kwargs)


class LiveCall(Answerer):
    """One Live WebRTC session: the aiortc answerer, its data channel, its audio both ways."""

    def __init__(self, sessions: LiveSessions, config: dict[str, Any]) -> None:
        super().__init__()
        self.engine = sessions.new_engine("webrtc", config, self.player, self._ended)
        self.id = self.engine.id
        self.channel: RTCDataChannel | None = None
        self.connection: LiveConnection | None = None
        self.closed = asyncio.Event()
        self.opened = asyncio.Event()
        self._closing = False
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)

    async def answer(self, offer: str) -> str:
        return await self.answer_offer(offer, OPENAI_MAX_MESSAGE_SIZE)

    def watch(self, timeout_s: float) -> None:
        """Close the session unless its data channel opens within ``timeout_s``."""

        async def watch() -> None:
            try:
                await asyncio.wait_for(self.opened.wait(), timeout_s)
            except TimeoutError:
                log.warning("Live session %s did not connect within %.1f s", self.id, timeout_s)
                self._spawn(self.close())

        self._spawn(watch())

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or self.channel is not None:
            return
        self.channel = channel

        def send(text: str) -> None:
            if channel.readyState == "open":
                channel.send(text)

        def end(code: int, reason: str) -> None:
            self._spawn(self._drain_and_close())

        connection = LiveConnection("datachannel", send, end)
        self.connection = connection

        def on_message(message: str | bytes) -> None:
            if isinstance(message, str):
                self.engine.handle_text(connection, message)
            else:
                self.engine.handle_binary(connection)

        def on_open() -> None:
            self.opened.set()
            self.engine.connect(connection)
            self.engine.start_webrtc()

        channel.on("message", on_message)
        if channel.readyState == "open":
            on_open()
        else:
            channel.on("open", on_open)

    def _heard(self, pcm: bytes) -> None:
        """The microphone drives the session timeline."""
        self.engine.feed_audio(pcm)

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed") and self.connection is not None:
            self.engine.disconnect(self.connection, lost=state == "failed")
        elif state in ("failed", "closed"):
            self._spawn(self.close())

    def _ended(self, reason: str) -> None:
        if self.connection is None:
            self._spawn(self.close())

    async def _drain_and_close(self) -> None:
        await asyncio.sleep(DRAIN_S)  # the final events must reach the peer before it closes
        await self.close()

    async def close(self) -> None:
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        try:
            if self.engine.ended is None:
                self.engine.close("close_requested")
            await self.stop_media()
        finally:
            self.closed.set()


class LiveSessions:
    """The emulator's GPT-Live side: its sessions by id and its routes (``emu.live``)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.engines: dict[str, LiveEngine] = {}
        self.calls: dict[str, LiveCall] = {}
        self.options = LiveOptions()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/live/sessions", self._websocket)
        app.router.add_post("/v1/live/sessions", self._create)
        app.router.add_get("/v1/live/sessions/{session_id}/attach", self._attach)
        app.router.add_post("/v1/live/sessions/{session_id}/hangup", self._hangup)
        app.router.add_post("/v1/live/client_secrets", self._no_client_secrets)
        for step in _UNIMPLEMENTED:
            method = app.router.add_get if step == "content" else app.router.add_post
            method(f"/v1/live/sessions/{{session_id}}/{step}", self._unimplemented)

    async def aclose(self) -> None:
        calls = list(self.calls.values())
        if calls:
            await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        for engine in list(self.engines.values()):
            engine.close("close_requested")

    def new_engine(
        self,
        transport: str,
        config: dict[str, Any] | None,
        player: SpeechTrack | None = None,
        on_end: Callable[[str], None] | None = None,
    ) -> LiveEngine:
        emu = self.emulator
        options = LiveOptions(
            session_ttl_s=emu.config.session_ttl_s,
            ms_per_char=emu.config.ms_per_char,
            transcribe=emu.config.transcribe,
            usage_interval_s=self.options.usage_interval_s,
            silence_ms=self.options.silence_ms,
            replay_s=self.options.replay_s,
            ids=emu.ids,
        )

        def ended(reason: str) -> None:
            self.engines.pop(engine.id, None)
            self.calls.pop(engine.id, None)
            if on_end is not None:
                on_end(reason)

        engine = LiveEngine(
            transport="webrtc" if transport == "webrtc" else "websocket",
            brain=emu.brain if emu.brain is not None else emu.config.brain_factory(),
            options=options,
            config=config,
            player=player,
            on_end=ended,
        )
        self.engines[engine.id] = engine
        return engine

    # ------------------------------------------------------------------ helpers

    def _api_key(self, request: web.Request) -> web.Response | None:
        """``None`` when the request carries the API key; else the 401 to answer."""
        from ..server import _AuthError

        try:
            if self.emulator._authenticate(self.emulator._bearer(request), allow_ephemeral=False):
                raise _AuthError("Live sessions need the project API key.", "invalid_api_key")
        except _AuthError as exc:
            return _error(401, exc.message, code=exc.code)
        return None

    def _not_found(self, session_id: str) -> web.Response:
        return _error(
            404,
            f"Live session '{session_id}' not found (it never existed or has ended).",
            code="session_not_found",
            param="session_id",
        )

    # ------------------------------------------------------------------ routes

    async def _no_client_secrets(self, request: web.Request) -> web.Response:
        return _error(
            404,
            "GPT-Live has no client secrets: create the session on your server "
            "(POST /v1/live/sessions with the API key) and restrict a browser with "
            "session.client.data_channel.",
            code="not_found",
        )

    async def _unimplemented(self, request: web.Request) -> web.Response:
        step = request.path.rsplit("/", 1)[-1]
        return _error(
            501,
            f"The emulator does not implement '{step}' for Live sessions.",
            type_="server_error",
            code="not_implemented",
        )

    async def _create(self, request: web.Request) -> web.Response:
        refused = self._api_key(request)
        if refused is not None:
            return refused
        body = await self.emulator._json_body(request)
        try:
            unknown = sorted(set(body) - {"session", "transport"})
            if unknown:
                raise ProtocolError(
                    "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", unknown[0]
                )
            transport = body.get("transport")
            if not isinstance(transport, dict):
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'transport'.",
                    "transport",
                )
            if transport.get("type") != "webrtc":
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid value: '{transport.get('type')}'. The emulator supports "
                    "'webrtc' (outbound SIP is not emulated).",
                    "transport.type",
                )
            extra = sorted(set(transport) - {"type", "sdp"})
            if extra:
                raise ProtocolError(
                    "unknown_parameter",
                    f"Unknown parameter: 'transport.{extra[0]}'.",
                    f"transport.{extra[0]}",
                )
            offer = transport.get("sdp")
            if not isinstance(offer, str):
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'transport.sdp'.",
                    "transport.sdp",
                )
            if "session" not in body:
                raise ProtocolError(
                    "missing_required_parameter",
                    "Missing required parameter: 'session'.",
                    "session",
                )
            config = validate_config(body["session"], "webrtc")
        except ProtocolError as exc:
            return _error(400, exc.message, code=exc.code, param=exc.param, type_=exc.type)
        call = LiveCall(self, config)
        self.calls[call.id] = call
        try:
            answer = await call.answer(offer)
        except SdpError as exc:
            await call.close()
            return _error(400, str(exc), param="transport.sdp")
        except Exception as exc:  # aiortc refused an offer that passed check_offer
            log.warning("could not answer a Live offer", exc_info=True)
            await call.close()
            return _error(
                400, f"Invalid SDP offer: it cannot be answered ({exc}).", param="transport.sdp"
            )
        call.watch(self.emulator.config.connect_timeout_s)
        return web.json_response(
            {"session": {"id": call.id}, "transport": {"type": "webrtc", "sdp": answer}}
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        refused = self._api_key(request)
        if refused is not None:
            return refused
        session_id = request.match_info["session_id"]
        engine = self.engines.get(session_id)
        if engine is None:
            return self._not_found(session_id)
        engine.close("close_requested")
        return web.Response(status=200)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        refused = self._api_key(request)
        if refused is not None:
            return refused
        if request.query:
            name = next(iter(request.query))
            return _error(
                400,
                f"Unknown query parameter '{name}': a Live WebSocket takes none (the model goes "
                "in session.start).",
                code="unknown_parameter",
                param=name,
            )
        engine = self.new_engine("websocket", None)
        return await self._serve(request, engine, "websocket")

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        refused = self._api_key(request)
        if refused is not None:
            return refused
        session_id = request.match_info["session_id"]
        engine = self.engines.get(session_id)
        if engine is None or not engine.started:
            return self._not_found(session_id)
        return await self._serve(request, engine, "sideband")

    async def _serve(
        self, request: web.Request, engine: LiveEngine, kind: str
    ) -> web.WebSocketResponse:
        """Run one WebSocket on ``engine``: frames in, events (and the final close) out."""
        from ..server import _socket

        ws = _socket()
        await ws.prepare(request)
        queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        connection = LiveConnection(
            "sideband" if kind == "sideband" else "websocket",
            queue.put_nowait,
            lambda code, reason: queue.put_nowait((code, reason)),
        )
        engine.connect(connection)
        writer = asyncio.get_running_loop().create_task(self.emulator._write(ws, queue))
        sockets = self.emulator._websockets
        sockets.add(ws)
        lost = True
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    engine.handle_text(connection, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    engine.handle_binary(connection)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
            lost = ws.close_code not in (1000, 1001, None)
        finally:
            sockets.discard(ws)
            engine.disconnect(connection, lost=lost)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws
