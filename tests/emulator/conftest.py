"""Fixtures for the emulator tests: an event-loop runner that fails on leaked tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from realtime_sdk.emulator.testing import realtime_emulator  # noqa: F401  (the public fixture)

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"

Runner = Callable[..., Any]


async def _guarded(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        result = await coro
    # Everything the test started must be finished (peers closed, emulator stopped).
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    while leftovers and loop.time() < deadline:
        await asyncio.sleep(0.01)  # bounded grace for tasks that are already finishing
        leftovers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leftovers, f"leaked tasks: {leftovers}"
    return result


@pytest.fixture
def run() -> Runner:
    """``run(coro, timeout=20)``: run a coroutine on a fresh loop; leaked tasks fail the test."""

    def runner(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        return asyncio.run(_guarded(coro, timeout))

    return runner


@pytest.fixture
def recorded() -> Path:
    return RECORDED
