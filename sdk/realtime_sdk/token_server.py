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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import aiohttp
from aiohttp import web

from .config import DEFAULTS, TOKEN_SERVER_PORT, normalize_session, thaw, warn_model_shutdowns
from .errors import TokenError, redact_text
from .keys import _resolve_api_key, create_client_secret

__all__ = ["SESSION_PATH", "main", "make_token_app", "run_token_server"]

logger = logging.getLogger(__name__)

SESSION_PATH: Final = "/realtime/session"
HEALTH_PATH: Final = "/healthz"
DEFAULT_PORT: Final = TOKEN_SERVER_PORT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_token_app(
    api_key: str | None = None,
    *,
    base_url: str = DEFAULTS["base_url"],
    session: Mapping[str, Any] | None = None,
    allow_origin: str = "*",
    expires_after_seconds: int | None = None,
    timeout: float = 10.0,
) -> web.Application:
    """An aiohttp application serving ``GET /realtime/session`` and ``GET /healthz``.

    Every ``GET /realtime/session`` mints one ephemeral key for ``session`` (GA or beta shape;
    default ``DEFAULTS["session"]``) at ``{base_url}/v1/realtime/client_secrets``. Upstream
    failures answer ``502`` with ``{"error": {"message", "type": "upstream_error", "status",
    "code"}}`` (the message redacted). CORS: ``Access-Control-Allow-Origin: allow_origin``.
    ``api_key=None`` reads ``$OPENAI_API_KEY``.
    """
    key = _resolve_api_key(api_key)
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
        response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
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

    app = web.Application(middlewares=[cors])
    app.cleanup_ctx.append(client_session)
    app.router.add_get(SESSION_PATH, mint)
    app.router.add_get(HEALTH_PATH, health)
    return app


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
) -> None:
    """Serve :func:`make_token_app` on ``host:port`` until cancelled.

    ``port=0`` picks a free port. ``ready``, when given, receives the server's base URL
    (``"http://127.0.0.1:8787"``) once it accepts connections.
    """
    app = make_token_app(
        api_key,
        base_url=base_url,
        session=session,
        allow_origin=allow_origin,
        expires_after_seconds=expires_after_seconds,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        addresses = runner.addresses
        bound = addresses[0][1] if addresses else port
        url = f"http://{host}:{bound}"
        logger.info("token server on %s%s", url, SESSION_PATH)
        if ready is not None and not ready.done():
            ready.set_result(url)
        await asyncio.Event().wait()  # until cancelled
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
