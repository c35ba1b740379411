"""The emulator's HTTP/WebSocket server (aiohttp): same paths and shapes as OpenAI's.

Routes (all under the emulator's base URL, e.g. ``http://127.0.0.1:8765``):

* ``POST /v1/realtime/client_secrets`` — mint an ``ek_…`` key (Bearer = the API key).
* ``POST /v1/realtime/calls`` — WebRTC offer → ``201`` answer SDP + ``Location``; either
  ``application/sdp`` or ``multipart/form-data`` (``sdp`` + ``session``).
* ``POST /v1/realtime/calls/{call_id}/hangup`` (and ``DELETE /v1/realtime/calls/{call_id}``):
  WebRTC and SIP calls.
* ``POST /v1/realtime/calls/{call_id}/accept`` | ``/reject`` | ``/refer`` — control a simulated
  SIP call (see :mod:`.sip`).
* ``GET /v1/realtime?model=…`` — WebSocket session; ``?call_id=…`` attaches a sideband
  WebSocket to a running call (any :class:`~.calls.AttachableCall` in ``Emulator.calls``) with
  the API key: an unknown call is a 404 ``call_id_not_found``, an ephemeral key a 403, both
  before the upgrade; when the call ends its sidebands close with 1000 and the reason.
* ``GET /emulator/stats`` — counters (not an OpenAI path).
* ``POST /emulator/sip/calls`` — place a simulated SIP call (not an OpenAI path).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from .._aio import wait_until
from ..config import EMULATOR_API_KEY, EMULATOR_PORT
from .audio import SpeechTrack
from .brain import Brain, DeterministicBrain
from .calls import AttachableCall
from .engine import Engine, EngineOptions, default_transcribe
from .faults import FAULTS_HEADER, Faults
from .ids import IdFactory
from .live.server import LiveSessions
from .loopback import disable_loopback_ice, enable_loopback_ice
from .sdp import validate_offer
from .session import (
    DEFAULT_MODEL,
    JSON,
    ProtocolError,
    apply_session_update,
    default_session,
    parse_json,
    validate_model,
)
from .sip import (
    CallStateError,
    SimulatedCall,
    SipSimulator,
    check_accept_body,
    refer_target,
    reject_status,
)
from .webrtc import Call, SdpError

log = logging.getLogger(__name__)

DEFAULT_API_KEY = EMULATOR_API_KEY
DEFAULT_PORT = EMULATOR_PORT
WS_MAX_MESSAGE = 16 * 1024 * 1024 + 4096
DEFAULT_CONNECT_TIMEOUT_S = 20.0
_NOT_CONFIG = ("object", "id", "expires_at")  # a session's fields that are not configuration
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
    "us through our help center at help.openai.com.)"
)
_ALLOW_HEADERS = "Authorization, Content-Type, OpenAI-Beta, OpenAI-Safety-Identifier"
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def _mask(key: str) -> str:
    return f"{key[:4]}***{key[-4:]}" if len(key) > 8 else "***"


def error_body(
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> JSON:
    """OpenAI's HTTP error JSON shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error(status: int, message: str, **kwargs: Any) -> web.Response:
    return web.json_response(error_body(message, **kwargs), status=status)


class _HttpError(Exception):
    """Answer the request with this status and OpenAI's error JSON (see ``_errors``)."""

    def __init__(self, status: int, message: str, **kwargs: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kwargs = kwargs

    @classmethod
    def from_protocol(cls, exc: ProtocolError) -> _HttpError:
        return cls(400, exc.message, code=exc.code, param=exc.param, type_=exc.type)


class _AuthError(Exception):
    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class _Secret:
    value: str
    expires_at: float
    session: JSON


def new_webhook_secret() -> str:
    """A random ``whsec_…`` webhook signing secret."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass
class EmulatorConfig:
    """How the emulator behaves (everything but where it listens)."""

    api_key: str = DEFAULT_API_KEY
    model: str = DEFAULT_MODEL
    session_ttl_s: float = 3600.0
    #: An answered call whose ICE/DTLS has not connected after this long is closed and forgotten.
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    ms_per_char: float = 40.0
    transcribe: Callable[[bytes], str] = default_transcribe
    brain_factory: Callable[[], Brain] = DeterministicBrain
    faults: Faults = field(default_factory=Faults)
    seed: int | None = None
    clock: Callable[[], float] = time.time
    #: Signs the ``realtime.call.incoming`` webhooks of simulated SIP calls (``whsec_…``).
    webhook_secret: str = field(default_factory=new_webhook_secret)
    #: Where simulated SIP calls post their webhook (``None``: only where a call says).
    sip_webhook_url: str | None = None
    #: A simulated SIP call nobody accepts, rejects or refers ends after this long.
    sip_ring_timeout_s: float = 30.0


class Emulator:
    """A running local Realtime server::

        async with Emulator() as emu:
            emu.base_url   # "http://127.0.0.1:<port>"; the OpenAI base URL is base_url + "/v1"

    ``port=0`` (the default) picks a free port. ``brain`` shares one brain between all
    sessions (e.g. a :class:`~realtime_sdk.emulator.ScriptedBrain`); otherwise each session gets
    ``config.brain_factory()``. ``faults`` (mutable) applies to every new session/call; a
    request can add its own with the ``X-Emulator-Faults`` header (see :class:`Faults`).
    While running, aioice is restricted to 127.0.0.1 host candidates (see ``loopback``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        *,
        brain: Brain | None = None,
        faults: Faults | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        if api_key is not None:
            self.config = dataclasses.replace(self.config, api_key=api_key)
        self.host = host
        self.port = port
        self.brain = brain
        self.faults = faults or self.config.faults
        self.ids = IdFactory(self.config.seed)
        self.calls: dict[str, Call | SimulatedCall] = {}
        #: Simulated SIP calls: ``await emu.sip.incoming(...)`` (see :mod:`.sip`).
        self.sip = SipSimulator(self)
        #: GPT-Live sessions (``/v1/live/sessions``, see :mod:`.live`).
        self.live = LiveSessions(self)
        self.engines: list[Engine] = []
        #: Set when a call or a session is forgotten (``wait_idle`` wakes on it).
        self._released = asyncio.Event()
        self._secrets: dict[str, _Secret] = {}
        self._websockets: set[web.WebSocketResponse] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._loopback = False
        self.ended_calls = 0

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """What to give the ``openai`` client as ``base_url``."""
        return self.base_url + "/v1"

    @property
    def websocket_base_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        enable_loopback_ice()
        self._loopback = True
        runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            self._release_loopback()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("realtime emulator listening on %s", self.base_url)

    async def aclose(self) -> None:
        """Close every call and WebSocket, stop listening, restore aioice."""
        self._stopping.set()
        await self.sip.aclose()
        await self.live.aclose()
        calls = list(self.calls.values())
        if calls:
            await asyncio.gather(*(call.close() for call in calls), return_exceptions=True)
        if self._watchers:  # each ends once its call is closed (or closing it)
            await asyncio.gather(*self._watchers, return_exceptions=True)
        for ws in list(self._websockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"emulator shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._release_loopback()

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Return once no call and no WebSocket session is open: a call ends on the
        emulator's side a moment after its client leaves, so a test or benchmark waits for
        this between runs that must not overlap. ``TimeoutError`` saying what is still open
        after ``timeout`` seconds."""
        try:
            await wait_until(lambda: not (self.calls or self.engines), self._released, timeout, "")
        except TimeoutError:
            raise TimeoutError(
                f"the emulator is not idle after {timeout} s: {len(self.calls)} call(s) "
                f"and {len(self.engines)} session(s) still open"
            ) from None

    def _release_loopback(self) -> None:
        if self._loopback:
            self._loopback = False
            disable_loopback_ice()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._cors, self._errors], client_max_size=32 * 1024 * 1024
        )
        app.router.add_post("/v1/realtime/client_secrets", self._client_secrets)
        app.router.add_post("/v1/realtime/calls", self._create_call)
        app.router.add_post("/v1/realtime/calls/{call_id}/hangup", self._hangup)
        for step in ("accept", "reject", "refer"):
            app.router.add_post(f"/v1/realtime/calls/{{call_id}}/{step}", self._sip_control)
        app.router.add_post("/emulator/sip/calls", self._sip_place)
        app.router.add_delete("/v1/realtime/calls/{call_id}", self._hangup)
        app.router.add_get("/v1/realtime", self._websocket)
        app.router.add_get("/emulator/stats", self._stats)
        self.live.add_routes(app)
        return app

    @web.middleware
    async def _cors(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        if not response.prepared:
            # A browser SDK sends its own headers (the official JS SDK: X-OpenAI-Agents-SDK):
            # allow whatever the preflight asks for, as a public API without cookies may.
            requested = request.headers.get("Access-Control-Request-Headers")
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = requested or _ALLOW_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = "Location"
            response.headers["Access-Control-Max-Age"] = "600"
            if requested:
                response.headers["Vary"] = "Access-Control-Request-Headers"
        return response

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Refusals (``_HttpError``) and unexpected failures as OpenAI's error JSON."""
        try:
            response: web.StreamResponse = await handler(request)
        except _HttpError as exc:
            return _error(exc.status, exc.message, **exc.kwargs)
        except web.HTTPException:
            raise
        except Exception:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                raise  # an upgraded connection cannot carry an HTTP error any more
            log.exception("emulator failed on %s %s", request.method, request.path)
            return _error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                type_="server_error",
            )
        return response

    # ------------------------------------------------------------------ helpers

    def _faults_for(self, request: web.Request) -> Faults:
        """This request's faults; a malformed header (or ``emu.faults`` set wrong) is a 400."""
        header = request.headers.get(FAULTS_HEADER)
        try:
            if header:
                return Faults.from_header(header, self.faults)
            return dataclasses.replace(self.faults)  # checks fields set on ``emu.faults``
        except ValueError as exc:
            where = f"{FAULTS_HEADER} header" if header else "emulator faults"
            raise _HttpError(400, f"Invalid {where}: {exc}.") from exc

    def _authenticate(self, key: str | None, *, allow_ephemeral: bool) -> _Secret | None:
        """``None`` for the API key, the secret for a valid ``ek_``; else :class:`_AuthError`."""
        if not key:
            raise _AuthError(_NO_KEY, None)
        if key == self.api_key:
            return None
        secret = self._secrets.get(key)
        if secret is not None and allow_ephemeral:
            if self.config.clock() >= secret.expires_at:
                raise _AuthError(
                    f"Incorrect API key provided: {_mask(key)}. The ephemeral key has expired.",
                    "invalid_api_key",
                )
            return secret
        raise _AuthError(
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_api_key",
        )

    @staticmethod
    def _bearer(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        return None

    def _new_engine(
        self,
        *,
        kind: str,
        faults: Faults,
        session: JSON | None,
        player: SpeechTrack | None = None,
        close: Callable[[str], None] | None = None,
        session_kind: str = "realtime",
        model: str | None = None,
    ) -> Engine:
        options = EngineOptions(
            model=model or self.config.model,
            session_ttl_s=self.config.session_ttl_s,
            transcribe=self.config.transcribe,
            ms_per_char=self.config.ms_per_char,
            ids=self.ids,
        )
        engine = Engine(
            kind="webrtc" if kind == "webrtc" else "websocket",
            brain=self.brain if self.brain is not None else self.config.brain_factory(),
            faults=faults,
            options=options,
            session=session,
            player=player,
            close_transport=close,
            session_kind=session_kind,
        )
        self.engines.append(engine)
        return engine

    def _validated_session(self, raw: object) -> JSON:
        """A session config from client_secrets/calls, validated like ``session.update``
        (the model by :func:`~realtime_sdk.emulator.session.validate_model`); else a 400."""
        if not isinstance(raw, dict):
            raise _HttpError(
                400,
                "Invalid type for 'session': expected an object.",
                code="invalid_type",
                param="session",
            )
        base = default_session(
            session_id="sess_validation",
            model=self.config.model,
            expires_at=0,
            kind="transcription" if raw.get("type") == "transcription" else "realtime",
        )
        try:
            return apply_session_update(base, raw)
        except ProtocolError as exc:
            raise _HttpError.from_protocol(exc) from exc

    @staticmethod
    async def _json_body(request: web.Request) -> JSON:
        """The request's JSON object body (``{}`` when there is none); else OpenAI's 400."""
        if not request.can_read_body:
            return {}
        try:
            body = parse_json(await request.read())
        except ValueError as exc:
            raise _HttpError(400, _BAD_JSON) from exc
        if not isinstance(body, dict):
            raise _HttpError(400, _BAD_JSON)
        return body

    @staticmethod
    def _model_query(request: web.Request) -> str | None:
        """``?model=`` (optional on ``/calls``), checked like every other model; else a 400."""
        model = request.query.get("model")
        if model is None:
            return None
        try:
            return validate_model(model, "model")
        except ProtocolError as exc:
            raise _HttpError.from_protocol(exc) from exc

    # ------------------------------------------------------------------ HTTP routes

    async def _client_secrets(self, request: web.Request) -> web.Response:
        faults = self._faults_for(request)
        try:
            self._authenticate(self._bearer(request), allow_ephemeral=False)
        except _AuthError as exc:
            return _error(401, exc.message, code=exc.code)
        if faults.refuse_token is not None:
            return _error(
                faults.refuse_token,
                "The emulator was told to refuse this client secret.",
                type_="server_error" if faults.refuse_token >= 500 else "invalid_request_error",
            )
        body = await self._json_body(request)
        unknown = set(body) - {"expires_after", "session"}
        if unknown:
            name = sorted(unknown)[0]
            return _error(
                400, f"Unknown parameter: '{name}'.", code="unknown_parameter", param=name
            )
        seconds = 600
        after = body.get("expires_after")
        if after is not None:
            if not isinstance(after, dict) or after.get("anchor", "created_at") != "created_at":
                return _error(
                    400,
                    "Invalid value for 'expires_after.anchor': expected 'created_at'.",
                    code="invalid_value",
                    param="expires_after.anchor",
                )
            seconds = after.get("seconds", 600)
            if (
                not isinstance(seconds, int)
                or isinstance(seconds, bool)
                or not 10 <= seconds <= 7200
            ):
                return _error(
                    400,
                    "Invalid 'expires_after.seconds': expected an integer between 10 and 7200, "
                    f"but got {seconds!r} instead.",
                    code="invalid_value",
                    param="expires_after.seconds",
                )
        session = self._validated_session(body.get("session", {"type": "realtime"}))
        session["id"] = self.ids.session()
        session["expires_at"] = 0
        value = self.ids.ephemeral_key()
        expires_at = int(self.config.clock()) + seconds
        self._secrets[value] = _Secret(value=value, expires_at=expires_at, session=session)
        return web.json_response({"value": value, "expires_at": expires_at, "session": session})

    async def _create_call(self, request: web.Request) -> web.Response:
        faults = self._faults_for(request)
        try:
            secret = self._authenticate(self._bearer(request), allow_ephemeral=True)
        except _AuthError as exc:
            return _error(401, exc.message, code=exc.code)
        if faults.calls_status is not None:
            return _error(
                faults.calls_status,
                "The emulator was told to fail this call.",
                type_="server_error" if faults.calls_status >= 500 else "invalid_request_error",
            )
        if faults.stall_calls:
            await self._stopping.wait()
            return _error(503, "The emulator is shutting down.", type_="server_error")
        session: JSON | None = dict(secret.session) if secret is not None else None
        model = self._model_query(request)
        content_type = request.content_type
        if content_type == "application/sdp":
            offer = _sdp_text(await request.read())
        elif content_type == "multipart/form-data":
            offer, raw_session = await self._read_multipart(request)
            if raw_session is not None:
                session = self._validated_session(raw_session)
        else:
            return _error(
                400,
                f"Unsupported content type: '{content_type}'. Send the SDP offer as "
                "'application/sdp', or as 'multipart/form-data' with 'sdp' and 'session' parts.",
            )
        try:
            validate_offer(offer)
        except SdpError as exc:
            return _error(400, str(exc), param="sdp")
        if session is not None:
            session = {k: v for k, v in session.items() if k not in ("object", "id", "expires_at")}
        if model is not None:
            session = {**(session or {"type": "realtime"}), "model": model}
        call_id = self.ids.rtc()

        def engine_factory(player: SpeechTrack, call: Call) -> Engine:
            def close(reason: str) -> None:
                if reason == "fault":
                    call.close_channel()
                else:
                    asyncio.get_running_loop().create_task(self._end_call(call))

            return self._new_engine(
                kind="webrtc", faults=faults, session=session, player=player, close=close
            )

        try:
            call = Call(call_id, engine_factory)
        except ProtocolError as exc:
            return _error(400, exc.message, code=exc.code, param=exc.param)
        call.on_closed = self._forget_call
        self.calls[call_id] = call
        try:
            answer = await call.answer(offer)
        except SdpError as exc:
            await call.close()
            return _error(400, str(exc), param="sdp")
        except Exception as exc:  # aiortc refused an offer that passed validate_offer
            log.warning("could not answer an offer for %s", call_id, exc_info=True)
            try:
                await call.close()
            except Exception:  # a half-built aiortc peer can fail to close; it is gone anyway
                log.warning("could not close the refused call %s", call_id, exc_info=True)
            return _error(400, f"Invalid SDP offer: it cannot be answered ({exc}).", param="sdp")
        self._watch_connect(call)
        return web.Response(
            status=201,
            body=answer.encode(),
            content_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/{call_id}"},
        )

    async def _read_multipart(self, request: web.Request) -> tuple[str, object]:
        reader = await request.multipart()
        offer: str | None = None
        session: object = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise _HttpError(400, "Nested multipart bodies are not supported.")
            data = await part.read(decode=True)
            if part.name == "sdp":
                offer = _sdp_text(data)
            elif part.name == "session":
                try:
                    session = parse_json(data)
                except ValueError as exc:
                    raise _HttpError(
                        400, f"Invalid 'session' part: not valid JSON ({exc}).", param="session"
                    ) from exc
        if offer is None:
            raise _HttpError(
                400,
                "Missing required parameter: 'sdp'.",
                code="missing_required_parameter",
                param="sdp",
            )
        return offer, session

    def _watch_connect(self, call: Call) -> None:
        """Close and forget ``call`` unless its ICE/DTLS connects within ``connect_timeout_s``."""
        settled = asyncio.Event()

        def on_state() -> None:
            if call.pc.connectionState in ("connected", "failed", "closed"):
                settled.set()

        async def watch() -> None:
            try:
                await asyncio.wait_for(settled.wait(), self.config.connect_timeout_s)
            except TimeoutError:
                log.warning(
                    "call %s did not connect within %.1f s: closing it",
                    call.id,
                    self.config.connect_timeout_s,
                )
                await self._end_call(call)

        call.pc.on("connectionstatechange", on_state)
        on_state()
        task = asyncio.get_running_loop().create_task(watch())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _forget_call(self, call: Call | SimulatedCall) -> None:
        if self.calls.pop(call.id, None) is not None:
            self.ended_calls += 1
        with contextlib.suppress(ValueError):
            self.engines.remove(call.engine)
        self._released.set()

    async def _end_call(self, call: Call | SimulatedCall, reason: str = "call ended") -> None:
        await call.close(reason)

    async def _hangup(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(self._bearer(request), allow_ephemeral=True)
        except _AuthError as exc:
            return _error(401, exc.message, code=exc.code)
        call = self.calls.get(request.match_info["call_id"])
        if call is None:
            return _error(
                404,
                f"Call with id '{request.match_info['call_id']}' not found.",
                code="not_found",
            )
        await self._end_call(call, "call ended: hung up")
        return web.Response(status=200)

    # ------------------------------------------------------------------ SIP call control

    async def _sip_call(self, request: web.Request) -> SimulatedCall:
        """The simulated SIP call a control request names (with the API key); else 4xx."""
        try:
            self._authenticate(self._bearer(request), allow_ephemeral=False)
        except _AuthError as exc:
            raise _HttpError(401, exc.message, code=exc.code) from exc
        if self._faults_for(request).stall_call_control:
            await self._stopping.wait()
            raise _HttpError(503, "The emulator is shutting down.", type_="server_error")
        call_id = request.match_info["call_id"]
        call = self.calls.get(call_id)
        if isinstance(call, SimulatedCall):
            return call
        if call is not None:
            raise _HttpError(400, f"Call '{call_id}' is not a SIP call.", param="call_id")
        over = self.sip.finished.get(call_id)
        if over is not None:
            raise _HttpError(400, f"Call '{call_id}' has already been {over}.", param="call_id")
        raise _HttpError(404, f"Call with id '{call_id}' not found.", code="not_found")

    async def _sip_control(self, request: web.Request) -> web.Response:
        """``/accept`` (the flat session), ``/reject`` (``status_code``), ``/refer``
        (``target_uri``) of a simulated SIP call; a reject or refer ends the call."""
        call = await self._sip_call(request)
        body = await self._json_body(request)
        step = request.path.rsplit("/", 1)[-1]
        try:
            if step == "accept":
                check_accept_body(body)
                if "model" in body:
                    validate_model(body["model"], "model")
                session = self._validated_session(body)
                call.accept({k: v for k, v in session.items() if k not in _NOT_CONFIG})
            elif step == "reject":
                call.reject(reject_status(body))
            else:
                call.refer(refer_target(body))
        except ProtocolError as exc:
            raise _HttpError.from_protocol(exc) from exc
        except CallStateError as exc:
            raise _HttpError(400, str(exc)) from exc
        if step != "accept":
            await self._end_call(call)
        return web.Response(status=200)

    async def _sip_place(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        try:
            call = self.sip.place(body)
        except ValueError as exc:
            raise _HttpError(400, str(exc)) from exc
        return web.json_response({"call_id": call.id}, status=201)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": len(self.calls),
                "ended_calls": self.ended_calls,
                "websockets": len(self._websockets),
                "frames_sent": sum(c.player.frames_sent for c in self.calls.values()),
                "late_frames": sum(c.player.late_frames for c in self.calls.values()),
                "inbound_frames": sum(c.inbound_frames for c in self.calls.values()),
            }
        )

    # ------------------------------------------------------------------ WebSocket

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        key = self._bearer(request)
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        for proto in protocols:
            if proto.startswith("openai-insecure-api-key."):
                key = key or proto.split(".", 1)[1]
        call_id = request.query.get("call_id")
        if call_id is not None:
            return await self._sideband(request, key, call_id)
        ws = _socket()
        await ws.prepare(request)
        ids = self.ids

        async def fatal(exc: ProtocolError, close_code: int) -> web.WebSocketResponse:
            event = {"type": "error", "event_id": ids.event(), "error": exc.body()}
            await ws.send_str(json.dumps(event))
            reason = f"{exc.type}.{exc.code}" if exc.code else exc.type
            await ws.close(code=close_code, message=reason.encode())
            return ws

        if request.headers.get("OpenAI-Beta"):
            return await fatal(
                ProtocolError(
                    "beta_api_shape_disabled",
                    "The Realtime Beta API is no longer supported. Please use /v1/realtime "
                    "for the GA API.",
                ),
                4000,
            )
        try:
            secret = self._authenticate(key, allow_ephemeral=True)
        except _AuthError as exc:
            return await fatal(ProtocolError(exc.code, exc.message), 3000)
        try:
            faults = self._faults_for(request)
        except _HttpError as exc:
            return await fatal(ProtocolError("invalid_value", exc.message), 4000)
        queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()

        def sink(text: str) -> None:
            queue.put_nowait(text)

        def close(reason: str) -> None:
            queue.put_nowait((1000, reason))

        model = request.query.get("model")
        intent = request.query.get("intent")
        session_kind = "transcription" if intent == "transcription" else "realtime"
        if secret is not None:
            model = model or str(secret.session.get("model", self.config.model))
        if session_kind == "realtime" and not model:
            return await fatal(
                ProtocolError(
                    "missing_model",
                    "You must provide a model parameter, for example "
                    "wss://api.openai.com/v1/realtime?model=gpt-realtime",
                ),
                4000,
            )
        if model:
            try:
                validate_model(model, "model")
            except ProtocolError as exc:
                return await fatal(exc, 4000)
        session = None
        if secret is not None and session_kind == "realtime":
            session = {
                k: v for k, v in secret.session.items() if k not in ("object", "id", "expires_at")
            }
        engine = self._new_engine(
            kind="websocket",
            faults=faults,
            session=session,
            close=close,
            session_kind=session_kind,
            model=model,
        )
        engine.attach(sink)
        try:
            engine.start()
            await self._serve_socket(ws, engine, queue)
        finally:
            engine.detach(sink)
            await engine.aclose()
            with contextlib.suppress(ValueError):
                self.engines.remove(engine)
            self._released.set()
        return ws

    async def _sideband(
        self, request: web.Request, key: str | None, call_id: str
    ) -> web.StreamResponse:
        """``?call_id=``: attach a WebSocket to a running call. Refusals come before the
        upgrade, as OpenAI's do: no or a wrong key 401, an ephemeral key 403 (a sideband needs
        the API key), ``model`` given too 400, an unknown (or ended) call 404."""
        try:
            secret = self._authenticate(key, allow_ephemeral=True)
        except _AuthError as exc:
            return _error(401, exc.message, code=exc.code)
        if secret is not None:
            return _error(
                403,
                "Ephemeral keys cannot attach to a call: a sideband WebSocket (?call_id=) "
                "needs the API key of the server that controls the call.",
                code="ephemeral_key_not_allowed",
            )
        if "model" in request.query:
            return _error(
                400,
                "Provide either 'model' (a new session) or 'call_id' (an existing call), "
                "not both: the call's model was set when it was created.",
                param="model",
            )
        call: AttachableCall | None = self.calls.get(call_id)
        if call is None:
            return _error(
                404,
                "No session found for the provided call_id.",
                code="call_id_not_found",
                param="call_id",
            )
        ws = _socket()
        await ws.prepare(request)
        queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        sideband = _QueuedSideband(queue)
        call.add_sideband(sideband)
        try:
            await self._serve_socket(ws, call.engine, queue)
        finally:
            call.remove_sideband(sideband)
        return ws

    async def _serve_socket(
        self,
        ws: web.WebSocketResponse,
        engine: Engine,
        queue: asyncio.Queue[str | tuple[int, str]],
    ) -> None:
        """Read ``ws`` into ``engine`` and write ``queue`` (events, then a close) to it."""
        self._websockets.add(ws)
        writer = asyncio.get_running_loop().create_task(self._write(ws, queue))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    engine.handle_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    engine.handle_binary()
                elif msg.type == WSMsgType.PING:
                    if not engine.silent:  # vanish_mid_response: a peer that is gone
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._websockets.discard(ws)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    @staticmethod
    async def _write(
        ws: web.WebSocketResponse, queue: asyncio.Queue[str | tuple[int, str]]
    ) -> None:
        while True:
            item = await queue.get()
            if isinstance(item, tuple):
                await ws.close(code=item[0], message=item[1].encode())
                return
            if ws.closed:
                return
            try:
                await ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return


def _socket() -> web.WebSocketResponse:
    return web.WebSocketResponse(
        protocols=("realtime",),
        heartbeat=20.0,
        max_msg_size=WS_MAX_MESSAGE,
        compress=False,
        autoping=False,  # pings answered by _serve_socket: a vanished engine stops answering
    )


class _QueuedSideband:
    """A sideband socket as its call sees it: events and the final close go to its writer."""

    def __init__(self, queue: asyncio.Queue[str | tuple[int, str]]) -> None:
        self._queue = queue

    def send(self, text: str) -> None:
        self._queue.put_nowait(text)

    def end(self, code: int, reason: str) -> None:
        self._queue.put_nowait((code, reason))


def _sdp_text(data: bytes) -> str:
    """The offer as text; an offer that is not UTF-8 is a 400, not a server error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _HttpError(
            400,
            f"Invalid SDP offer: it is not UTF-8 text (byte {exc.start} cannot be decoded).",
            param="sdp",
        ) from exc


async def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    api_key: str = DEFAULT_API_KEY,
    ready: Callable[[str], None] | None = None,
    *,
    config: EmulatorConfig | None = None,
) -> None:
    """Run an emulator until cancelled; ``ready(base_url)`` is called once it listens.

    On cancellation (Ctrl-C in the CLI) every call and WebSocket is closed and no task is left.
    """
    async with Emulator(host, port, api_key, config=config) as emu:
        if ready is not None:
            ready(emu.base_url)
        await asyncio.Event().wait()
