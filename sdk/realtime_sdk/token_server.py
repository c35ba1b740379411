"""The token server: the seed's quick-start endpoint, in aiohttp, on GA ``client_secrets``.

The seed's quick start runs an Express server on port 8787 with ``GET /realtime/session``,
which creates a session with the API key and answers OpenAI's JSON; its clients read
``client_secret.value``. Here the same endpoint mints a GA ephemeral key and answers::

    {"value": "ek_…", "expires_at": 1750000000, "session": {…},
     "client_secret": {"value": "ek_…", "expires_at": 1750000000}}

— the GA answer of ``POST /v1/realtime/client_secrets``, plus the beta-style
``client_secret`` object so that code written for the seed (``j.client_secret.value``) keeps
working. The API key stays on the server: it is never in an answer, an error or a log line.

Routes: ``GET /realtime/session`` (and ``OPTIONS`` for CORS preflight), ``GET /healthz``.
Run it with ``python -m realtime_sdk.token_server`` (``--host``, ``--port``, ``--base-url``).

**Browser media, server brain.** With ``attach=`` (options for
:meth:`~realtime_sdk.RealtimeClient.attach`: the session, the tools, middleware…) or
``on_call=``, the browser tells the server which call it made, and the server attaches a
sideband client to it with the API key:

* ``POST /realtime/calls`` ``{"call_id": "rtc_…"}`` (the id from the ``Location`` header of the
  browser's SDP ``POST``) → ``201 {"call_id", "state": "connected"}`` once attached; a missing or
  malformed ``call_id`` is a ``400`` saying what is wrong, a call attached already a ``409``, a
  refused attach (no such call, a bad key) a ``502`` with the reason;
* ``GET /realtime/calls`` → ``{"calls": [{"call_id", "state"}, …]}``, the attached calls.

Each attached client is dropped when its call ends (the client's connection reaches ``ended``
or ``error``) and disconnected when the app stops. Any page that can reach the token server can
post a call id: put the route behind the app's own authentication in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import web

from ._aio import maybe_await
from .config import DEFAULTS, TOKEN_SERVER_PORT, normalize_session, thaw, warn_model_shutdowns
from .errors import RealtimeError, TokenError, redact_text
from .keys import _resolve_api_key, create_client_secret

if TYPE_CHECKING:
    from .client import RealtimeClient

__all__ = ["CALLS_PATH", "SESSION_PATH", "main", "make_token_app", "run_token_server"]

logger = logging.getLogger(__name__)

SESSION_PATH: Final = "/realtime/session"
HEALTH_PATH: Final = "/healthz"
CALLS_PATH: Final = "/realtime/calls"
ATTACH_TIMEOUT: Final = 15.0
"""Seconds ``POST /realtime/calls`` waits for the sideband to attach."""
DEFAULT_PORT: Final = TOKEN_SERVER_PORT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OnCall = Callable[["RealtimeClient"], "object | Awaitable[object]"]


def make_token_app(
    api_key: str | None = None,
    *,
    base_url: str = DEFAULTS["base_url"],
    session: Mapping[str, Any] | None = None,
    allow_origin: str = "*",
    expires_after_seconds: int | None = None,
    timeout: float = 10.0,
    attach: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
) -> web.Application:
    """An aiohttp application serving ``GET /realtime/session`` and ``GET /healthz``, and
    ``POST``/``GET /realtime/calls`` (the sideband attach, see the module's docstring).

    Every ``GET /realtime/session`` mints one ephemeral key for ``session`` (GA or beta shape;
    default ``DEFAULTS["session"]``) at ``{base_url}/v1/realtime/client_secrets``. Upstream
    failures answer ``502`` with ``{"error": {"message", "type": "upstream_error", "status",
    "code"}}`` (the message redacted). CORS: ``Access-Control-Allow-Origin: allow_origin``.
    ``api_key=None`` reads ``$OPENAI_API_KEY``.

    ``attach``: the options of each sideband client (``RealtimeClient.attach(call_id,
    api_key=..., base_url=base_url, **attach)``). ``on_call(client)`` (sync or async), when
    given, is called with each new client before it connects (add tools, handlers…). Without
    either, ``POST /realtime/calls`` answers ``501``.
    """
    key = _resolve_api_key(api_key)
    attach_options = dict(attach or {})
    from .calls import _RESERVED_CLIENT_OPTIONS

    for reserved in _RESERVED_CLIENT_OPTIONS:
        if reserved in attach_options:
            raise ValueError(f"attach= cannot set {reserved!r}: the token server sets it")
    attaching = attach is not None or on_call is not None
    calls: dict[str, RealtimeClient] = {}
    body_session = normalize_session(session) if session is not None else thaw(DEFAULTS["session"])
    warn_model_shutdowns(body_session)
    http: list[aiohttp.ClientSession] = []

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = allow_origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Cache-Control"] = "no-store"
        if allow_origin != "*":
            response.headers["Vary"] = "Origin"
        return response

    async def client_session(_app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as shared:
            http.append(shared)
            yield
            http.clear()

    async def mint(_request: web.Request) -> web.Response:
        try:
            data = await create_client_secret(
                key,
                base_url=base_url,
                session=body_session,
                expires_after_seconds=expires_after_seconds,
                timeout=timeout,
                http=http[0] if http else None,
            )
        except TokenError as exc:
            logger.warning("token server: %s", exc)
            error = {
                "message": redact_text(str(exc)),
                "type": "upstream_error",
                "status": exc.status,
                "code": exc.code,
            }
            return web.json_response({"error": error}, status=502)
        answer = dict(data)
        if "value" in answer:
            answer["client_secret"] = {
                "value": answer["value"],
                "expires_at": answer.get("expires_at"),
            }
        logger.info("token server: minted an ephemeral key")
        return web.json_response(answer)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def attach_call(request: web.Request) -> web.Response:
        if not attaching:
            return _bad(
                501,
                "this token server attaches to no calls: start it with attach= or on_call= "
                "(realtime token-server --tools module:attr)",
            )
        call_id = await _call_id_of(request)
        if isinstance(call_id, web.Response):
            return call_id
        if call_id in calls:
            return _bad(409, f"call {call_id!r} is attached already")
        from .calls import open_sideband

        async def before_connect(client: RealtimeClient) -> None:
            calls[call_id] = client  # a second POST while this one attaches is a 409
            if on_call is not None:
                await maybe_await(on_call(client))

        try:
            client = await open_sideband(
                call_id,
                api_key=key,
                base_url=base_url,
                timeout=ATTACH_TIMEOUT,
                options=attach_options,
                before_connect=before_connect,
            )
        except (RealtimeError, TimeoutError) as exc:
            calls.pop(call_id, None)
            reason = str(exc) or f"no answer within {ATTACH_TIMEOUT:g} s"
            logger.warning("token server: could not attach to %s: %s", call_id, reason)
            return _bad(502, f"could not attach to call {call_id!r}: {redact_text(reason)}")
        except BaseException:
            calls.pop(call_id, None)
            raise

        def on_transition(step: Any) -> None:
            over = getattr(step, "target", None) in ("ended", "error")
            if over and step.chart == "connection" and calls.get(call_id) is client:
                del calls[call_id]
                task = asyncio.get_running_loop().create_task(client.disconnect())
                detached.add(task)
                task.add_done_callback(detached.discard)

        client.model.subscribe(on_transition)
        logger.info("token server: attached to %s", call_id)
        return web.json_response(
            {"call_id": call_id, "state": client.model.connection.state}, status=201
        )

    async def list_calls(_request: web.Request) -> web.Response:
        listed = [
            {"call_id": call_id, "state": client.model.connection.state}
            for call_id, client in calls.items()
        ]
        return web.json_response({"calls": listed})

    detached: set[asyncio.Task[None]] = set()

    async def release_calls(_app: web.Application) -> AsyncIterator[None]:
        yield
        clients = list(calls.values())
        calls.clear()
        await asyncio.gather(*(c.disconnect() for c in clients), *detached, return_exceptions=True)

    app = web.Application(middlewares=[cors])
    app.cleanup_ctx.append(client_session)
    app.cleanup_ctx.append(release_calls)
    app.router.add_get(SESSION_PATH, mint)
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_post(CALLS_PATH, attach_call)
    app.router.add_get(CALLS_PATH, list_calls)
    return app


def _bad(status: int, message: str) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "upstream_error"
    return web.json_response({"error": {"message": message, "type": kind}}, status=status)


async def _call_id_of(request: web.Request) -> str | web.Response:
    """The ``call_id`` of a ``POST /realtime/calls`` body, or the 400 saying what is wrong."""
    from .transports.sideband import check_call_id

    shape = 'the body must be JSON naming the call: {"call_id": "rtc_..."}'
    try:
        body = await request.json()
    except ValueError:
        return _bad(400, shape)
    raw = body.get("call_id") if isinstance(body, dict) else None
    if raw is None:
        return _bad(400, shape)
    try:
        return check_call_id(raw)
    except (TypeError, ValueError) as exc:
        return _bad(400, str(exc))


async def run_token_server(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    *,
    base_url: str = DEFAULTS["base_url"],
    session: Mapping[str, Any] | None = None,
    allow_origin: str = "*",
    expires_after_seconds: int | None = None,
    ready: asyncio.Future[str] | None = None,
    attach: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
) -> None:
    """Serve :func:`make_token_app` on ``host:port`` until cancelled.

    ``port=0`` picks a free port. ``ready``, when given, receives the server's base URL
    (``"http://127.0.0.1:8787"``) once it accepts connections. ``attach`` and ``on_call`` are
    :func:`make_token_app`'s (the sideband attach).
    """
    app = make_token_app(
        api_key,
        base_url=base_url,
        session=session,
        allow_origin=allow_origin,
        expires_after_seconds=expires_after_seconds,
        attach=attach,
        on_call=on_call,
    )
    await serve_app(app, host, port, ready=ready, what=f"token server ({SESSION_PATH})")


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    ready: asyncio.Future[str] | None = None,
    stop: asyncio.Event | None = None,
    what: str = "server",
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled or ``stop`` is set, then run its
    cleanup. ``port=0`` picks a free port; ``ready`` receives the base URL once it listens."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        addresses = runner.addresses
        bound = addresses[0][1] if addresses else port
        url = f"http://{host}:{bound}"
        logger.info("%s on %s", what, url)
        if ready is not None and not ready.done():
            ready.set_result(url)
        await (stop or asyncio.Event()).wait()  # until cancelled (or stopped)
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m realtime_sdk.token_server [--host H] [--port P] [--base-url URL]``."""
    parser = argparse.ArgumentParser(
        prog="realtime token-server",
        description="Hand out ephemeral keys (GET /realtime/session); the API key "
        "($OPENAI_API_KEY) stays on this server.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--base-url", default=DEFAULTS["base_url"])
    parser.add_argument("--allow-origin", default="*")
    args = parser.parse_args(argv)
    try:
        api_key = _resolve_api_key(None)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = run_token_server(
        args.host, args.port, api_key, base_url=args.base_url, allow_origin=args.allow_origin
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
