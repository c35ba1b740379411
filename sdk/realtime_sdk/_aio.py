"""Small asyncio helpers the shell shares: a callback's result awaited when it is awaitable,
and a wait for a condition that wakes on an event, with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["maybe_await", "wait_until"]

_T = TypeVar("_T")


@overload
async def maybe_await(value: Awaitable[_T]) -> _T: ...
@overload
async def maybe_await(value: Awaitable[_T] | _T) -> _T: ...
async def maybe_await(value: Any) -> Any:
    """``value`` itself, or what it gives when awaited (a hook or handler may be sync or async:
    ``await maybe_await(handler(event))``)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def wait_until(
    probe: Callable[[], _T | None],
    changed: asyncio.Event,
    timeout: float,  # noqa: ASYNC109
    what: str,
    *,
    recheck: float | None = None,
) -> _T:
    """The first result of ``probe()`` that is neither ``None`` nor ``False``.

    ``probe`` is called now and again each time ``changed`` is set (this clears it before each
    wait; whoever changes what ``probe`` reads sets it), and with ``recheck`` at least every
    ``recheck`` seconds too (for what no event reports, such as a device's counters).
    ``TimeoutError("no {what} within {timeout} s")`` when ``timeout`` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := probe()) is None or value is False:
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError(f"no {what} within {timeout:g} s")
        changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(left if recheck is None else min(left, recheck)):
                await changed.wait()
    return value
