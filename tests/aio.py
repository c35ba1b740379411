"""Running a coroutine in a test: a fresh event loop, a hard timeout, no leaked tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

TASK_GRACE_S = 2.0
"""How long tasks that are already finishing get before they count as leaked."""


async def guarded(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        result = await coro
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TASK_GRACE_S
    leftovers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    while leftovers and loop.time() < deadline:
        await asyncio.sleep(0.01)
        leftovers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leftovers, f"leaked tasks: {leftovers}"
    return result


def run_async(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run ``coro`` on a fresh loop within ``timeout``; tasks it leaves behind fail the test."""
    return asyncio.run(guarded(coro, timeout))
