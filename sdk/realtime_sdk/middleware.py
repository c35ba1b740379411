"""Incoming and outgoing middleware, with the seed library's semantics.

A middleware is a sync or async callable. Its result decides what happens to the event:

* ``"stop"`` (:data:`STOP`): the event is dropped — for incoming events neither the router,
  ``on_event`` nor any ``client.on()`` handler sees it; outgoing events are not sent. Later
  middleware are not called.
* a mapping: it **replaces** the event for the rest of the chain (and for the client).
* ``None`` (or nothing): the event passes on as it is (in-place changes to it are kept).

Any other result is ignored, as in the seed. An exception raised by a middleware propagates to
the caller: the client decides how to report it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from ._aio import maybe_await

__all__ = [
    "STOP",
    "IncomingContext",
    "IncomingMiddleware",
    "OutgoingMiddleware",
    "run_incoming",
    "run_outgoing",
]

STOP: Final[Literal["stop"]] = "stop"
"""Return this from a middleware to drop the event."""


@dataclass(frozen=True, slots=True)
class IncomingContext:
    """What an incoming middleware gets (the seed's ``MiddlewareCtx``).

    ``event``: the incoming server event (a dict; changing it in place is allowed);
    ``send``: ``await ctx.send(event)`` sends a client event (through the outgoing middleware);
    ``client``: the :class:`~realtime_sdk.client.RealtimeClient` itself;
    ``time``: when the event arrived (``time.time()``), the time the session model records it at.
    """

    event: dict[str, Any]
    send: Callable[[Mapping[str, Any]], Awaitable[None]]
    client: Any = None
    time: float | None = None


IncomingMiddleware = Callable[[IncomingContext], object | Awaitable[object]]
"""``(ctx) -> "stop" | mapping | None``, sync or async."""

OutgoingMiddleware = Callable[[dict[str, Any]], object | Awaitable[object]]
"""``(event) -> "stop" | mapping | None``, sync or async."""


def _as_event(result: Mapping[str, Any]) -> dict[str, Any]:
    return result if isinstance(result, dict) else dict(result)


async def run_incoming(
    chain: Iterable[IncomingMiddleware], ctx: IncomingContext
) -> dict[str, Any] | None:
    """Run ``chain`` in order on ``ctx``; the resulting event, or ``None`` when one stopped it.

    Each middleware gets a context whose ``event`` is the current event (the original one, or
    the last replacement).
    """
    for middleware in chain:
        result = await maybe_await(middleware(ctx))
        if isinstance(result, str) and result == STOP:
            return None
        if isinstance(result, Mapping):
            ctx = replace(ctx, event=_as_event(result))
    return ctx.event


async def run_outgoing(
    chain: Iterable[OutgoingMiddleware], event: dict[str, Any]
) -> dict[str, Any] | None:
    """Run ``chain`` in order on ``event``; the event to send, or ``None`` when one stopped it."""
    for middleware in chain:
        result = await maybe_await(middleware(event))
        if isinstance(result, str) and result == STOP:
            return None
        if isinstance(result, Mapping):
            event = _as_event(result)
    return event
