"""Inspector overhead: a live client's events/s with and without pages watching it.

    PYTHONPATH=machines:sdk .venv/bin/python bench/inspector.py [--rounds R] [--turns T] [--words W]

A scripted session on the in-memory transport (the emulator's engine in this process, no
socket, deltas unpaced): connect, then ``--turns`` questions of ``--words`` words, each echoed
back by the emulator's default assistant one delta per word, then disconnect. The figure is
wire events received per second from the first question to the last answer. It is measured
side by side, interleaved round by round, for:

* **no inspector** — the baseline;
* **inspector, no page** — ``client.inspect()`` listening, nobody reading;
* **1 SSE page** / **10 SSE pages** — aiohttp clients reading ``/api/events`` as a page does;
* **Chromium page** — a real headless Chromium (Debian's, through playwright) showing the page,
  next to its control **Chromium, blank page** (the same browser on ``about:blank``): the
  ratio of the two is what the page itself costs (both are left out without Chromium or
  playwright, or with ``--no-chromium``);

and printed as the median events/s and this process's median CPU time per event, each with its
ratio to the baseline. The CPU time is what the client's process pays and is steady on a busy
machine; events/s is wall-clock, so it also counts whatever else runs on the machine's cores,
Chromium's own processes included (on 2 cores a browser competes with the client). Everything
in this process shares one event loop, the pages' HTTP included, so the figures are an upper
bound of what a page costs a client. 127.0.0.1 only. Exits 0 (a benchmark is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Faults
from realtime_sdk.inspector import Inspector
from realtime_sdk.middleware import IncomingContext
from realtime_sdk.transports import MemoryTransport

CHROMIUM = "/usr/lib/chromium/chromium"
TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}


def make_client(counter: list[int]) -> RealtimeClient:
    def count(_ctx: IncomingContext) -> None:
        counter[0] += 1

    return RealtimeClient(
        transport=MemoryTransport(faults=Faults(delta_delay_s=0.0)),
        token_provider=lambda: "memory",
        session=TEXT_ONLY,
        greet_enabled=False,
        incoming_middleware=[count],
    )


async def drain_sse(url: str, http: aiohttp.ClientSession, seen: list[int]) -> None:
    async with http.get(url + "api/events") as response:
        async for _line in response.content:
            seen[0] += 1


@contextlib.asynccontextmanager
async def sse_pages(inspector: Inspector, n: int) -> AsyncIterator[None]:
    seen = [0]
    async with aiohttp.ClientSession() as http:
        tasks = [asyncio.ensure_future(drain_sse(inspector.url, http, seen)) for _ in range(n)]
        while inspector.pages < n:  # noqa: ASYNC110 - the server has no event for it
            await asyncio.sleep(0.005)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def blank_page(browser: Any, _inspector: Inspector) -> AsyncIterator[None]:
    """The control: the same browser showing an empty page, not the inspector."""
    page = await browser.new_page()
    try:
        await page.goto("about:blank")
        yield
    finally:
        await page.close()


@contextlib.asynccontextmanager
async def chromium_page(browser: Any, inspector: Inspector) -> AsyncIterator[None]:
    page = await browser.new_page()
    try:
        await page.goto(inspector.url)
        await page.wait_for_selector("body[data-live='1']", timeout=10_000)
        yield
    finally:
        await page.close()


async def session_rate(
    turns: int, words: int, watch: Callable[[Inspector], Any] | None, inspect: bool
) -> tuple[float, float]:
    """Events/s of one scripted session (watched by ``watch(inspector)``, a context manager),
    and this process's CPU µs per event."""
    counter = [0]
    client = make_client(counter)
    done: asyncio.Queue[object] = asyncio.Queue()
    client.on("assistant:completed", done.put_nowait)
    inspector = await client.inspect() if inspect else None
    await client.connect()
    question = " ".join(f"w{i}" for i in range(words))
    try:
        async with (
            watch(inspector) if watch is not None and inspector else contextlib.nullcontext()
        ):
            start_count, started, cpu = counter[0], time.perf_counter(), time.process_time()
            for _ in range(turns):
                await client.send_text_message(question)
                await asyncio.wait_for(done.get(), 60)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            events = counter[0] - start_count
    finally:
        await client.disconnect()
        if inspector is not None:
            await inspector.close()
    return events / elapsed, cpu / events * 1e6


async def main(args: argparse.Namespace) -> None:
    browser: Any = None
    playwright: Any = None
    if args.chromium:
        try:
            from playwright.async_api import async_playwright

            playwright = await async_playwright().start()
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
        except ImportError:
            browser = None
    configs: list[tuple[str, bool, Callable[[Inspector], Any] | None]] = [
        ("no inspector", False, None),
        ("inspector, no page", True, None),
        ("1 SSE page", True, lambda i: sse_pages(i, 1)),
        ("10 SSE pages", True, lambda i: sse_pages(i, 10)),
    ]
    if browser is not None:
        configs.append(("Chromium, blank page", True, lambda i: blank_page(browser, i)))
        configs.append(("Chromium page", True, lambda i: chromium_page(browser, i)))
    rates: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in configs}
    try:
        await session_rate(1, args.words, None, False)  # warm-up
        for round_ in range(args.rounds):
            # Each round starts with another configuration: none always follows another's teardown.
            shift = round_ % len(configs)
            for name, inspect, watch in configs[shift:] + configs[:shift]:
                rate, cpu = await session_rate(args.turns, args.words, watch, inspect)
                rates[name].append(rate)
                cpus[name].append(cpu)
    finally:
        if browser is not None:
            await browser.close()
        if playwright is not None:
            await playwright.stop()
    base = statistics.median(rates["no inspector"])
    base_cpu = statistics.median(cpus["no inspector"])
    print(
        f"live client on the memory transport: {args.turns} turns x {args.words} deltas, "
        f"median of {args.rounds} interleaved rounds"
    )
    for name, _, _ in configs:
        median = statistics.median(rates[name])
        cpu = statistics.median(cpus[name])
        print(
            f"  {name:20s} {median:7.0f} events/s (ratio {median / base:4.2f})   "
            f"{cpu:5.1f} µs CPU/event in this process (ratio {cpu / base_cpu:4.2f})"
        )
    if browser is None:
        print("  (no Chromium page: install chromium and playwright to measure one)")
    else:
        page = statistics.median(rates["Chromium page"])
        blank = statistics.median(rates["Chromium, blank page"])
        print(f"  inspector page / blank page (the page's own cost): {page / blank:4.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--no-chromium", dest="chromium", action="store_false", help="leave out the Chromium page"
    )
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--words", type=int, default=1000)
    arguments = parser.parse_args()
    arguments.chromium = arguments.chromium and Path(CHROMIUM).exists()
    asyncio.run(main(arguments))
