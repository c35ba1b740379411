"""The shell's asyncio helpers: ``maybe_await`` and ``wait_until``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from realtime_sdk._aio import maybe_await, wait_until

Runner = Callable[..., Any]


def test_maybe_await_returns_a_value_and_awaits_an_awaitable(run: Runner) -> None:
    async def later() -> str:
        await asyncio.sleep(0)
        return "awaited"

    async def scenario() -> None:
        assert await maybe_await("plain") == "plain"
        nothing: object = None
        assert await maybe_await(nothing) is None
        assert await maybe_await(later()) == "awaited"
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(7)
        assert await maybe_await(future) == 7

    run(scenario())


def test_wait_until_wakes_when_the_event_is_set_and_returns_the_probe(run: Runner) -> None:
    async def scenario() -> None:
        changed = asyncio.Event()
        seen: list[str] = []
        calls = [0]

        def probe() -> str | None:
            calls[0] += 1
            return seen[0] if seen else None

        async def produce() -> None:
            await asyncio.sleep(0)
            seen.append("ready")
            changed.set()

        task = asyncio.get_running_loop().create_task(produce())
        assert await wait_until(probe, changed, 5, "value") == "ready"
        await task
        assert calls[0] == 2  # once before waiting, once after the event: no polling

    run(scenario())


def test_wait_until_false_is_not_done_and_the_timeout_names_what(run: Runner) -> None:
    async def scenario() -> None:
        changed = asyncio.Event()
        changed.set()  # a stale set is cleared, not taken for a change
        with pytest.raises(TimeoutError, match=r"^no the thing within 0\.05 s$"):
            await wait_until(lambda: False, changed, 0.05, "the thing")

    run(scenario())


def test_wait_until_rechecks_what_no_event_reports(run: Runner) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        counter = [0]
        loop.call_later(0.03, lambda: counter.__setitem__(0, 1))  # no event is set
        changed = asyncio.Event()
        assert await wait_until(lambda: counter[0] == 1, changed, 5, "count", recheck=0.01)
        with pytest.raises(TimeoutError):  # without recheck only an event wakes it
            await wait_until(lambda: counter[0] == 2, changed, 0.05, "count")

    run(scenario())
