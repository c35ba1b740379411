"""Small asyncio helpers the shell shares: a callback's result awaited when it is awaitable."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["maybe_await"]

_T = TypeVar("_T")


async def maybe_await(value: Awaitable[_T] | _T) -> _T:
    """``value`` itself, or what it gives when awaited (a hook or handler may be sync or async:
    ``await maybe_await(handler(event))``)."""
    if inspect.isawaitable(value):
        return await value
    return value
