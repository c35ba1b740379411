"""The inspector's web server (aiohttp): one static page, a JSON API and a Server-Sent Events
stream, on 127.0.0.1 by default.

Routes: ``GET /`` the page; ``GET /inspector.js`` its script; ``GET /api/info`` the mode,
protocol (``api``), title, every chart's shape and SVG, and whether there are metrics (or the
note saying why not); live: ``GET /api/snapshot`` (states, log tail, chat, metrics,
cursor) and ``GET /api/events?cursor=N`` (SSE: ``transitions`` batches, ``reset`` snapshots
for a page that fell behind, ``chat``, ``metrics``); trace: ``GET /api/trace`` (every
transition) and ``GET /api/at?position=N`` (chat and metrics after the first N transitions).

Each page's stream is its own task: it sleeps until the session changes, waits out a flush
interval (so a burst of transitions is one message), reads the shared ring from its cursor and
writes. A write that does not finish within ``write_timeout`` (a page that stopped reading)
ends that page's stream; at most ``max_pages`` streams run at once (more get 503). None of this
runs on the client's path: the client only appends to the ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from importlib import resources
from typing import Any

from aiohttp import web

from .layout import shapes_json
from .sources import LiveSource, Source, TraceSource, step_json

__all__ = ["INSPECTOR_PORT", "Inspector"]

logger = logging.getLogger("realtime_sdk.inspector")

INSPECTOR_PORT = 8790
"""``realtime inspect``'s default port (``--port 0``: any free one); the CLI keeps its own
copy of the number, checked equal by the tests."""
FLUSH_INTERVAL = 0.05
CHAT_INTERVAL = 0.25
METRICS_INTERVAL = 1.0
KEEPALIVE = 15.0
WRITE_TIMEOUT = 5.0
MAX_PAGES = 32
MAX_BATCH = 1000

_STATIC = {
    "/": ("index.html", "text/html"),
    "/inspector.js": ("inspector.js", "application/javascript"),
}


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Inspector:
    """The inspector of one source, served on ``host:port`` (``port=0``: any free one).

    ``async with Inspector(source) as inspector: print(inspector.url)``, or :meth:`start` and
    :meth:`close`. On a loopback address (the default) requests whose ``Host`` is not a
    loopback name are refused, so another site cannot read the session through the browser.
    """

    def __init__(
        self,
        source: Source,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        flush_interval: float = FLUSH_INTERVAL,
        write_timeout: float = WRITE_TIMEOUT,
        max_pages: int = MAX_PAGES,
        dot: str | None = "auto",
    ) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0 (any free) to 65535, got {port!r}")
        for name, value in (("flush_interval", flush_interval), ("write_timeout", write_timeout)):
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(max_pages, int) or max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages!r}")
        self.source = source
        self.host = host
        self.port = port
        self.flush_interval = float(flush_interval)
        self.write_timeout = float(write_timeout)
        self.max_pages = max_pages
        self._dot = dot
        self._info: dict[str, Any] | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self._url: str | None = None
        #: Pages whose stream ended because they stopped reading (write timed out).
        self.dropped_pages = 0
        #: Set when the first page opens its live stream.
        self.page_opened = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Inspector {self.source.mode} {self._url or 'not started'}>"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the inspector is not started: await inspector.start() first")
        return self._url

    @property
    def pages(self) -> int:
        """How many pages are streaming now."""
        return len(self._streams)

    async def __aenter__(self) -> Inspector:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def app(self) -> web.Application:
        """The aiohttp application (to mount it in your own server)."""
        middlewares = [self._host_guard] if _loopback(self.host) else []
        app = web.Application(middlewares=middlewares)
        app.router.add_get("/", self._page)
        app.router.add_get("/inspector.js", self._page)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_get("/api/info", self._api_info)
        if isinstance(self.source, LiveSource):
            app.router.add_get("/api/snapshot", self._api_snapshot)
            app.router.add_get("/api/events", self._api_events)
        if isinstance(self.source, TraceSource):
            app.router.add_get("/api/trace", self._api_trace)
            app.router.add_get("/api/at", self._api_at)
        return app

    async def start(self) -> str:
        """Listen; return the page's URL. ``OSError`` when the address cannot be bound."""
        if self._runner is not None:
            return self.url
        if not _loopback(self.host):
            logger.warning(
                "inspector: listening on %s, not a loopback address: anyone who can reach it "
                "sees the session's chat",
                self.host,
            )
        runner = web.AppRunner(
            self.app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            handler_cancellation=True,  # a page that goes away ends its stream at once
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = self.port
        for address in runner.addresses:  # the port the system picked for port 0
            port = address[1]
            break
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{shown}:{port}/"
        logger.info("inspector: %s", self._url)
        return self._url

    async def close(self) -> None:
        """End every page's stream, stop listening, and stop watching a live session (the
        inspector owns its source)."""
        for task in list(self._streams):
            task.cancel()
        for task in list(self._streams):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if isinstance(self.source, LiveSource):
            self.source.close()

    # --- handlers ---------------------------------------------------------------------------
    @web.middleware
    async def _host_guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if not _loopback(host):
            return web.json_response(
                {"error": f"this inspector answers on a loopback address only, not {host!r}"},
                status=403,
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def _page(self, request: web.Request) -> web.Response:
        name, content_type = _STATIC[request.path]
        return web.Response(
            text=_static(name),
            content_type=content_type,
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def _no_icon(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _api_info(self, _request: web.Request) -> web.Response:
        if self._info is None:
            charts = await shapes_json(self.source.shapes(), dot=self._dot)
            self._info = {
                "mode": self.source.mode,
                "api": self.source.kind.api,
                "title": self.source.title,
                "charts": charts,
                "metrics_available": self.source.metrics_adapter.available,
                "metrics_note": self.source.metrics_adapter.note,
            }
        return web.json_response(self._info)

    async def _api_snapshot(self, _request: web.Request) -> web.Response:
        source = self.source
        assert isinstance(source, LiveSource)
        snapshot = source.snapshot()
        snapshot["chat"] = source.chat()
        snapshot["metrics"] = source.metrics()
        return web.json_response(snapshot)

    async def _api_trace(self, _request: web.Request) -> web.Response:
        assert isinstance(self.source, TraceSource)
        return web.json_response(self.source.trace())

    async def _api_at(self, request: web.Request) -> web.Response:
        assert isinstance(self.source, TraceSource)
        try:
            position = int(request.query.get("position", "0"))
            at = self.source.at(position)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(at)

    async def _api_events(self, request: web.Request) -> web.StreamResponse:
        source = self.source
        assert isinstance(source, LiveSource)
        if len(self._streams) >= self.max_pages:
            return web.json_response(
                {"error": f"too many inspector pages open (at most {self.max_pages})"},
                status=503,
            )
        try:
            cursor = int(request.query.get("cursor", str(source.count)))
        except ValueError:
            return web.json_response({"error": "cursor must be a whole number"}, status=400)
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        self.page_opened.set()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await self._stream(source, response, cursor)
        except (ConnectionError, TimeoutError):
            pass  # the page went away, or stopped reading: its stream ends, nothing else
        finally:
            self._streams.discard(task)
        return response

    async def _send(self, response: web.StreamResponse, event: str, data: Any) -> None:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        await self._write(response, f"event: {event}\ndata: {payload}\n\n".encode())

    async def _write(self, response: web.StreamResponse, message: bytes) -> None:
        try:
            async with asyncio.timeout(self.write_timeout):
                await response.write(message)
        except TimeoutError:
            self.dropped_pages += 1
            logger.info("inspector: a page stopped reading; its stream is closed")
            raise

    async def _stream(self, source: LiveSource, response: web.StreamResponse, cursor: int) -> None:
        seen = source.changes  # the page's snapshot holds the chat and metrics as of now
        chat_due = metrics_due = False
        chat_sent = metrics_sent = time.monotonic()
        while True:
            if source.changes == seen and not (chat_due or metrics_due):
                await source.changed(KEEPALIVE)
                if source.changes == seen:
                    await self._write(response, b": keepalive\n\n")
                    continue
            await asyncio.sleep(self.flush_interval)  # a burst becomes one message
            if source.changes != seen:
                seen = source.changes
                chat_due = metrics_due = True
                batch = source.since(cursor, MAX_BATCH)
                if batch is None:  # too far behind: one snapshot instead of the backlog
                    snapshot = source.snapshot()
                    cursor = snapshot["cursor"]
                    await self._send(response, "reset", snapshot)
                else:
                    steps, cursor = batch
                    if steps:
                        await self._send(response, "transitions", [step_json(s) for s in steps])
            now = time.monotonic()
            if chat_due and now - chat_sent >= CHAT_INTERVAL:
                chat_due, chat_sent = False, now
                await self._send(response, "chat", source.chat())
            if metrics_due and now - metrics_sent >= METRICS_INTERVAL:
                metrics_due, metrics_sent = False, now
                if source.metrics_adapter.available:
                    await self._send(response, "metrics", source.metrics())
