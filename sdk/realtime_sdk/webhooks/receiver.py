"""An aiohttp endpoint for OpenAI's webhooks: verify, answer at once, hand the event to the app.

``WebhookReceiver(secret, on_event=...)`` serves ``POST /webhooks/openai`` (``path=``). Each
delivery goes through, in order (the first that fails answers):

========================================  ======  ==================================
check                                     status  ``error.code``
========================================  ======  ==================================
declared length over ``max_body_bytes``   413     ``too_large``
``Content-Type`` not ``application/json``  415     ``unsupported_media_type``
a ``webhook-*`` header missing            400     ``missing_header``
body over ``max_body_bytes``              413     ``too_large``
timestamp not a whole number              400     ``bad_timestamp``
timestamp older / newer than tolerance    401     ``too_old`` / ``too_new``
no signature matches the secret           401     ``mismatch`` / ``no_signature``
body not UTF-8 / not an event             400     ``bad_body`` / ``malformed``
``max_in_flight`` handlers still running  503     ``busy`` (``Retry-After: 1``)
replay store cannot answer (Redis down)   503     ``replay_store_unavailable``
``webhook-id`` seen before                200     — (``{"status": "duplicate"}``)
otherwise                                 200     — (``{"status": "accepted"}``)
========================================  ======  ==================================

Refusals answer ``{"error": {"code", "message"}}`` and are logged at WARNING with the code, the
peer and the ``webhook-id``; never the secret, the signature or the body.

Why these choices:

* **200 before the app's work.** An accepted event is handed to ``on_event`` on a task of its
  own and the answer goes out at once: OpenAI waits only seconds for it. The app's errors are
  logged (``logger.exception``) and never become a 5xx: a retry would not fix the app, and an
  incoming call is handed over **at most once** (its id is recorded before the 200).
* **503 when it cannot be sure.** A full house (``max_in_flight`` handlers running) or a
  replay store that does not answer is not the sender's fault: 503 lets OpenAI retry later,
  and the id is not recorded, so the retry is handed over. Handing it over without asking the
  store could hand one call to two processes.
* **Duplicates answer 200**, so that OpenAI stops retrying, and are not handed over again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from .._aio import maybe_await
from .events import WebhookEvent, WebhookPayloadError, parse_event
from .replay import MemoryReplayStore, ReplayStore, ReplayStoreError
from .signature import DEFAULT_TOLERANCE, WebhookSignatureError, check_secret, verify

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_PATH",
    "SECRET_ENV",
    "EventHandler",
    "WebhookReceiver",
]

logger = logging.getLogger(__name__)

DEFAULT_PATH: Final = "/webhooks/openai"
DEFAULT_MAX_BODY_BYTES: Final = 256 * 1024
"""A ``realtime.call.incoming`` with every SIP header is a few KiB."""
DEFAULT_MAX_IN_FLIGHT: Final = 100
SECRET_ENV: Final = "OPENAI_WEBHOOK_SECRET"
MIN_REPLAY_TTL: Final = 3600
"""The replay TTL is at least an hour: beyond the window in which a replay still verifies, it
also absorbs OpenAI's early retries of a delivery whose 200 got lost."""

_HEADERS: Final = ("webhook-id", "webhook-timestamp", "webhook-signature")
_UNAUTHENTIC: Final = frozenset({"too_old", "too_new", "mismatch", "no_signature"})

EventHandler = Callable[[WebhookEvent], Awaitable[object] | object]
"""``on_event``: called with each accepted event; sync or async (an async one runs on its own
task, a sync one on the event loop: keep it short)."""


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers or None
    )


class WebhookReceiver:
    """Receives OpenAI's signed webhooks and hands each new event once to ``on_event``.

    ``secret`` is the endpoint's signing secret (``whsec_…``); ``None`` reads
    ``$OPENAI_WEBHOOK_SECRET``; neither is a :class:`ValueError` here, not at the first
    delivery. ``replay`` is where delivery ids are remembered (default: a
    :class:`~.replay.MemoryReplayStore`; several processes share a
    :class:`~.replay.RedisReplayStore`); ids are kept ``replay_ttl`` seconds (default: the
    larger of an hour and twice ``tolerance``, the longest a replay could still verify).
    ``tolerance`` is how far a delivery's timestamp may lie from ``clock()``, either way.

    Serve it with :meth:`app` or mount it with :meth:`add_to`; the app's cleanup waits up to
    ``drain_timeout`` seconds for running handlers, cancels the rest, and closes the store.
    ``counts`` counts outcomes (``accepted``, ``duplicate``, ``refused``, ``busy``,
    ``store_error``, ``handler_error``).
    """

    def __init__(
        self,
        secret: str | None = None,
        *,
        on_event: EventHandler,
        replay: ReplayStore | None = None,
        tolerance: int = DEFAULT_TOLERANCE,
        path: str = DEFAULT_PATH,
        replay_ttl: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        drain_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is None:
            secret = os.environ.get(SECRET_ENV) or None
        if secret is None:
            raise ValueError(
                f"No webhook secret: pass secret='whsec_…' or set ${SECRET_ENV} "
                "(the endpoint's signing secret from the OpenAI dashboard)."
            )
        try:
            check_secret(secret)
        except WebhookSignatureError as exc:
            raise ValueError(f"The webhook secret cannot be used: {exc}") from None
        if tolerance <= 0:
            raise ValueError(f"tolerance must be a positive number of seconds, not {tolerance!r}.")
        ttl = max(MIN_REPLAY_TTL, 2 * tolerance) if replay_ttl is None else replay_ttl
        if ttl < 2 * tolerance:
            raise ValueError(
                f"replay_ttl ({ttl!r} s) must be at least twice the tolerance ({tolerance} s): "
                "a delivery dated up to the tolerance ahead still verifies that long."
            )
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}.")
        if max_body_bytes < 1 or max_in_flight < 1:
            raise ValueError("max_body_bytes and max_in_flight must be at least 1.")
        if not callable(on_event):
            raise TypeError("on_event must be a function of one event.")
        self._secret = secret
        self.on_event = on_event
        self.replay: ReplayStore = MemoryReplayStore() if replay is None else replay
        self.tolerance = tolerance
        self.replay_ttl = ttl
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.drain_timeout = drain_timeout
        self.counts: Counter[str] = Counter()
        self._clock = clock
        self._reserved = 0  # handlers running + deliveries between the capacity check and them
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:  # never the secret
        return (
            f"WebhookReceiver(path={self.path!r}, in_flight={len(self._tasks)}, "
            f"replay={self.replay!r})"
        )

    @property
    def in_flight(self) -> int:
        """How many ``on_event`` handlers are running."""
        return len(self._tasks)

    # -- serving ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """A new aiohttp application with only this endpoint."""
        app = web.Application()
        self.add_to(app)
        return app

    def add_to(self, app: web.Application) -> None:
        """Add ``POST {path}`` and the cleanup (drain handlers, close the store) to ``app``."""
        app.router.add_post(self.path, self.handle)

        async def cleanup(_app: web.Application) -> None:
            await self.close()

        app.on_cleanup.append(cleanup)

    async def close(self) -> None:
        """Wait up to ``drain_timeout`` for running handlers, cancel the rest, close the store."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self.drain_timeout)
            if pending:
                logger.warning("webhook receiver: cancelling %d running handlers", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        aclose = getattr(self.replay, "aclose", None)
        if aclose is not None:
            await aclose()

    async def join(self) -> None:
        """Wait until no handler is running (tests; a graceful stop uses :meth:`close`)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- one delivery -------------------------------------------------------------------------

    def _refuse(self, request: web.Request, status: int, code: str, message: str) -> web.Response:
        self.counts["refused"] += 1
        webhook_id = request.headers.get("webhook-id", "")[:80]
        logger.warning(
            "webhook refused: %d %s from %s (webhook-id %r): %s",
            status,
            code,
            request.remote,
            webhook_id,
            message,
        )
        return _error(status, code, message)

    async def _read(self, request: web.Request) -> bytes | None:
        """The body, or ``None`` once it exceeds ``max_body_bytes``."""
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > self.max_body_bytes:
                return None
        return bytes(body)

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler of ``POST {path}`` (the table in this module's docstring)."""
        too_large = f"The body is larger than {self.max_body_bytes} bytes."
        if (request.content_length or 0) > self.max_body_bytes:
            return self._refuse(request, 413, "too_large", too_large)
        if request.content_type != "application/json":
            return self._refuse(
                request, 415, "unsupported_media_type", "The body must be application/json."
            )
        missing = [name for name in _HEADERS if name not in request.headers]
        if missing:
            text = f"The {', '.join(repr(name) for name in missing)} header is missing."
            return self._refuse(request, 400, "missing_header", text)
        body = await self._read(request)
        if body is None:
            return self._refuse(request, 413, "too_large", too_large)
        try:
            webhook_id = verify(
                body, request.headers, self._secret, tolerance=self.tolerance, clock=self._clock
            )
        except WebhookSignatureError as exc:
            status = 401 if exc.reason in _UNAUTHENTIC else 400
            return self._refuse(request, status, exc.reason, str(exc))
        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            return self._refuse(request, 400, "malformed", str(exc))
        return await self._admit(request, webhook_id, event)

    async def _admit(
        self, request: web.Request, webhook_id: str, event: WebhookEvent
    ) -> web.Response:
        if self._reserved >= self.max_in_flight:
            self.counts["busy"] += 1
            logger.warning(
                "webhook %r deferred: %d handlers running (503, OpenAI retries)",
                webhook_id,
                self._reserved,
            )
            message = f"{self.max_in_flight} events are being handled; retry later."
            return _error(503, "busy", message, **{"Retry-After": "1"})
        self._reserved += 1
        try:
            first = await self.replay.first_seen(webhook_id, self.replay_ttl)
        except ReplayStoreError as exc:
            self._reserved -= 1
            self.counts["store_error"] += 1
            logger.error("webhook %r deferred (503, OpenAI retries): %s", webhook_id, exc)
            return _error(
                503, "replay_store_unavailable", "Cannot check for replays now; retry later."
            )
        except BaseException:
            self._reserved -= 1
            raise
        if not first:
            self._reserved -= 1
            self.counts["duplicate"] += 1
            logger.info("webhook %r is a replay: answered, not handed over again", webhook_id)
            return web.json_response({"status": "duplicate"})
        self.counts["accepted"] += 1
        logger.info("webhook %r accepted: %s %s", webhook_id, event.type, event.id)
        task = asyncio.get_running_loop().create_task(
            self._deliver(webhook_id, event), name=f"webhook-{event.type}-{event.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return web.json_response({"status": "accepted"})

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._reserved -= 1

    async def _deliver(self, webhook_id: str, event: WebhookEvent) -> None:
        try:
            await maybe_await(self.on_event(event))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counts["handler_error"] += 1
            logger.exception(
                "webhook %r: on_event failed for %s %s (answered 200: not retried)",
                webhook_id,
                event.type,
                event.id,
            )
