"""Replay protection for webhook deliveries: "is this the first time I see this ``webhook-id``?"

OpenAI sends a delivery again (same ``webhook-id``, new timestamp and signature) when it did
not get a 2xx in time; an attacker who captured a delivery can post it again while its
timestamp is within the tolerance. A :class:`ReplayStore` answers the question atomically and
remembers each id for a TTL, so a receiver hands each delivery to the app once.

* :class:`MemoryReplayStore` — the default: one process, bounded (expired ids are dropped as
  new ones arrive, and at ``max_entries`` the id closest to expiry makes room), so its memory
  stays flat over days.
* :class:`RedisReplayStore` — shared by every process behind a load balancer: one
  ``SET key 1 NX EX ttl`` per delivery (``pip install 'realtime-machines[redis]'``).

Any object with ``async first_seen(key, ttl) -> bool`` is a store (and ``async aclose()``, if it
has one, is called when the receiver's app stops). A store that cannot answer raises
:class:`ReplayStoreError`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from ..errors import redact_text

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "MemoryReplayStore",
    "RedisReplayStore",
    "ReplayStore",
    "ReplayStoreError",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES: Final = 100_000
"""How many ids a :class:`MemoryReplayStore` holds at most (about 20 MB at worst)."""


class ReplayStoreError(RuntimeError):
    """The replay store could not say whether an id is new (e.g. Redis is down)."""


@runtime_checkable
class ReplayStore(Protocol):
    """Remembers delivery ids: the one question a webhook receiver asks per delivery."""

    async def first_seen(self, key: str, ttl: float) -> bool:
        """Record ``key`` for ``ttl`` seconds; ``True`` when it was not recorded already.

        Check and record are one atomic step: of two concurrent calls with one key, exactly
        one gets ``True``. Raise :class:`ReplayStoreError` when the store cannot answer.
        """
        ...


class MemoryReplayStore:
    """An in-process :class:`ReplayStore`: ids with their expiry, bounded in number.

    Every call first drops the ids whose TTL is over, so the store holds only the ids of the
    last TTL. Past ``max_entries`` live ids (a burst of more deliveries per TTL than that), the
    id closest to expiry is dropped early and a warning logged once: replay protection for the
    oldest ids then lasts less than the TTL. Not shared between processes (use
    :class:`RedisReplayStore`) nor between threads (one event loop).
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries!r}.")
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []  # (expiry, key), one entry per live key
        self._warned = False

    def __len__(self) -> int:
        return len(self._expiry)

    def __repr__(self) -> str:
        return f"MemoryReplayStore({len(self)} ids, max_entries={self.max_entries})"

    def _pop_oldest(self) -> None:
        _expiry, key = heapq.heappop(self._heap)
        del self._expiry[key]

    async def first_seen(self, key: str, ttl: float) -> bool:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            self._pop_oldest()
        if key in self._expiry:
            return False
        if len(self._expiry) >= self.max_entries:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "webhook replay store full (%d ids within their TTL): dropping the oldest "
                    "early; raise max_entries or use a shared store",
                    self.max_entries,
                )
            self._pop_oldest()
        expiry = now + ttl
        self._expiry[key] = expiry
        heapq.heappush(self._heap, (expiry, key))
        return True

    async def aclose(self) -> None:
        """Forget every id."""
        self._expiry.clear()
        self._heap.clear()


class RedisReplayStore:
    """A :class:`ReplayStore` in Redis, shared by every receiver process that uses it.

    Each id is one key, ``{prefix}{webhook_id}``, set with ``SET key 1 NX EX ttl``: Redis makes
    the check-and-record atomic across processes and expires the key itself. Give ``url``
    (``redis://host:6379/0``; the store then owns its client and :meth:`aclose` closes it) or a
    ready ``redis.asyncio.Redis`` as ``client`` (yours to close). A call that fails or takes
    longer than ``timeout`` seconds raises :class:`ReplayStoreError`.

    Needs the ``redis`` extra: ``pip install 'realtime-machines[redis]'``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "realtime:webhook:",
        timeout: float = 2.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisReplayStore needs exactly one of url= or client=.")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}.")
        self.prefix = prefix
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            try:
                import redis.asyncio
            except ImportError as exc:
                raise ImportError(
                    "RedisReplayStore needs the 'redis' package: "
                    "pip install 'realtime-machines[redis]'"
                ) from exc
            assert url is not None
            client = redis.asyncio.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self._client: Redis = client

    def __repr__(self) -> str:  # never the URL: it may carry a password
        return f"RedisReplayStore(prefix={self.prefix!r})"

    async def first_seen(self, key: str, ttl: float) -> bool:
        seconds = max(1, math.ceil(ttl))
        try:
            async with asyncio.timeout(self.timeout):
                result: Any = await self._client.set(self.prefix + key, 1, nx=True, ex=seconds)
        except Exception as exc:  # redis.RedisError, OSError, TimeoutError: all mean no answer
            detail = redact_text(str(exc)) or "no answer"
            raise ReplayStoreError(f"Redis replay store: {type(exc).__name__}: {detail}") from exc
        return bool(result)

    async def aclose(self) -> None:
        """Close the client if this store made it (from ``url``)."""
        if self._owns_client:
            await self._client.aclose()
