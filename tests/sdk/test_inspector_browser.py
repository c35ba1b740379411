"""The inspector in a real browser: Debian's headless Chromium driven by playwright.

One browser serves the whole module (a launch costs seconds). The sessions and servers run on
an event loop in a thread of their own, so that playwright's synchronous API drives the page
from the test; every wait on either side has a timeout. Without Chromium or playwright the
tests skip locally and fail under ``CI=true`` (scripts/_bootstrap.sh installs Chromium, the
``test`` extra playwright).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from realtime_machines.chat import ChatItem, project
from realtime_machines.live import project_live
from realtime_machines.record import Transition
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Faults
from realtime_sdk.inspector import Inspector, MetricsAdapter, TraceSource, load_trace
from realtime_sdk.live_client import LiveClient
from tests.sdk.inspector_kit import (
    LIVE_ANSWER,
    gated_tool,
    live_client,
    live_round,
    memory_client,
    states_after,
    write_demo_trace,
    write_live_trace,
)
from tests.sdk.test_transports import until

CHROMIUM = "/usr/lib/chromium/chromium"
LIVE_CARDS = ("connection", "handshake", "live_session", "delegation", "input_audio", "fixture")
WAIT_MS = 10_000
T = TypeVar("T")


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
        pytest.fail(f"CI=true: the browser tests need Chromium and playwright: {reason}")
    pytest.skip(f"the browser tests need Chromium and playwright: {reason}")


class LoopThread:
    """An event loop on a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        self.call(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"no {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("no playwright (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(autouse=True)
def fresh_executor(loop: LoopThread) -> Iterator[None]:
    """A default executor per test, shut down (its threads joined) when the test ends: the
    loop outlives the test, its worker threads must not."""
    executor = ThreadPoolExecutor(max_workers=2)

    async def install() -> None:
        asyncio.get_running_loop().set_default_executor(executor)

    loop.call(install())
    yield
    executor.shutdown(wait=True)


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory, loop: LoopThread) -> Path:
    path = tmp_path_factory.mktemp("inspector-browser") / "demo.jsonl"
    loop.call(write_demo_trace(path))
    return path


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


def shown_states(page: Any) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "#charts .chart", "cards => cards.map(c => [c.dataset.kind, c.dataset.state])"
        )
    )


def highlighted(page: Any) -> dict[str, str]:
    """Per chart card, the ``data-state`` of its highlighted SVG element (exactly one each)."""
    pairs = page.eval_on_selector_all(
        "#charts .chart",
        """cards => cards.map(c => [c.dataset.kind,
             Array.from(c.querySelectorAll('g.state.current')).map(g => g.dataset.state)])""",
    )
    out: dict[str, str] = {}
    for kind, states in pairs:
        assert len(states) == 1, f"{kind}: highlighted {states}"
        out[kind] = states[0]
    return out


def log_seqs(page: Any, visible_only: bool = False) -> list[int]:
    selector = "#log tbody tr:not(.filtered)" if visible_only else "#log tbody tr"
    return [int(s) for s in page.eval_on_selector_all(selector, "rs => rs.map(r => r.dataset.seq)")]


def wait_seq(page: Any, seq: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.seq) >= {seq}", timeout=WAIT_MS)


def live_expected(client: RealtimeClient) -> dict[str, str]:
    record = [s for s in client.record if not s.is_fact]
    initial = {"connection": "idle", "handshake": "waiting", "response": "idle"}
    initial |= {"playback": "silent", "mode": "text", "tool_call": "streaming"}
    return states_after(record, initial)


def follow(page: Any, client: RealtimeClient) -> None:
    """Wait until the page has every transition of ``client`` so far, then check it shows them."""
    steps = [s for s in client.record if not s.is_fact]
    wait_seq(page, steps[-1].seq)
    expected = live_expected(client)
    assert highlighted(page) == expected
    assert shown_states(page) == expected
    assert log_seqs(page) == [s.seq for s in steps]


def test_the_page_loads_and_follows_a_live_session_step_by_step(
    page: Any, loop: LoopThread, tmp_path: Path
) -> None:
    client = memory_client(faults=Faults(delta_delay_s=0.0))
    gate = loop.call(_gate(client))
    inspector: Inspector = loop.call(client.inspect())
    try:
        page.goto(inspector.url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        # Every state of every chart is there, once, under its stable id.
        for chart in ("connection", "handshake", "response", "playback", "mode", "tool_call"):
            assert page.locator(f"#chart-{chart}").count() == 1
        for state in ("idle", "create_requested", "generating", "cancelling", "done"):
            assert page.locator(f"#state-response-{state}").count() == 1
        assert highlighted(page)["connection"] == "idle"
        metrics = page.text_content("#metrics") or ""
        if not MetricsAdapter().available:
            assert metrics == "metrics unavailable"

        loop.call(client.connect())  # step 1: connected
        follow(page, client)
        assert highlighted(page)["connection"] == "connected"

        loop.call(client.ask("hello inspector"))  # step 2: a whole turn
        follow(page, client)
        assert highlighted(page)["response"] == "done"
        page.wait_for_function(
            "document.querySelector('#chat').innerText.includes('You said: hello inspector')",
            timeout=WAIT_MS,
        )

        loop.call(client.send_text_message("please hold"))  # step 3: a tool call, held
        loop.call(
            until(lambda: any(c.state == "executing" for c in client.model.tool_calls.values()))
        )
        follow(page, client)
        assert highlighted(page)["tool_call"] == "executing"
        (call_id,) = client.model.tool_calls
        assert page.text_content("#chart-tool_call .instance") == call_id

        loop.call(_release(gate))  # step 4: the tool answers, the follow-up completes
        loop.call(until(lambda: client.model.response.state == "done" and _answered(client)))
        follow(page, client)
        assert highlighted(page)["tool_call"] == "answered"

        loop.call(client.disconnect())  # step 5: disconnected
        follow(page, client)
        assert highlighted(page)["connection"] == "disconnected"
        shot = tmp_path / "inspector-live.png"
        shot.write_bytes(page.screenshot(full_page=True))  # (a path= would leave a thread)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if client.status != "disconnected":
            loop.call(client.disconnect())
        loop.call(inspector.close())


@contextlib.contextmanager
def slider_page(
    page: Any, loop: LoopThread, path: Path
) -> Iterator[tuple[TraceSource, dict[str, str]]]:
    """The trace at ``path`` served and open in ``page`` (its slider checked): yields the
    source and each chart kind's initial state; the server stops after."""
    source = load_trace(path)
    initial = {shape.kind: shape.initial or "" for shape in source.shapes()}
    inspector = Inspector(source)
    loop.call(inspector.start())
    try:
        page.goto(inspector.url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        assert page.get_attribute("#slider", "max") == str(len(source.steps))
        yield source, initial
    finally:
        loop.call(inspector.close())


def test_the_slider_replays_a_trace(page: Any, loop: LoopThread, trace_file: Path) -> None:
    with slider_page(page, loop, trace_file) as (source, initial):
        steps = source.steps
        for position in (0, 3, len(steps) // 2, len(steps)):
            set_slider(page, position)
            check_position(page, position, steps, initial, source.record)
        # The buttons step one transition at a time.
        set_slider(page, 4)
        page.click("#next")
        check_position(page, 5, steps, initial, source.record)
        page.click("#prev")
        page.click("#prev")
        check_position(page, 3, steps, initial, source.record)


def set_slider(page: Any, position: int) -> None:
    page.eval_on_selector(
        "#slider",
        "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input', {bubbles: true})); }",
        position,
    )


def check_position(
    page: Any,
    position: int,
    steps: list[Transition],
    initial: dict[str, str],
    record: list[Transition],
    projection: Callable[[list[Transition]], list[ChatItem]] = project,
) -> None:
    page.wait_for_function(
        f"document.body.dataset.position === '{position}' && "
        f"document.body.dataset.chatPosition === '{position}'",
        timeout=WAIT_MS,
    )
    expected = states_after(steps[:position], initial)
    assert highlighted(page) == expected
    assert log_seqs(page) == [s.seq for s in steps[:position]]
    bound = steps[position - 1].seq if position else steps[0].seq - 1
    chat = projection([s for s in record if s.seq <= bound])
    texts = page.eval_on_selector_all("#chat .msg .text", "rs => rs.map(r => r.textContent)")
    assert texts == [item.text for item in chat]


def test_the_chart_filter_shows_one_charts_transitions(
    page: Any, loop: LoopThread, trace_file: Path, tmp_path: Path
) -> None:
    source = load_trace(trace_file)
    inspector = Inspector(source)
    loop.call(inspector.start())
    try:
        page.goto(inspector.url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        every = [s.seq for s in source.steps]
        assert log_seqs(page, visible_only=True) == every
        for kind in ("response", "mode", "tool_call"):
            page.select_option("#chart-filter", kind)
            want = [s.seq for s in source.steps if s.chart.partition(":")[0] == kind]
            assert want, kind
            assert log_seqs(page, visible_only=True) == want
            assert page.text_content("#log-count") == f"{len(want)} of {len(every)}"
        page.select_option("#chart-filter", "")
        assert log_seqs(page, visible_only=True) == every
        shot = tmp_path / "inspector-trace.png"
        shot.write_bytes(page.screenshot(full_page=True))  # (a path= would leave a thread)
        assert shot.stat().st_size > 10_000
    finally:
        loop.call(inspector.close())


def fake_metrics(record: Sequence[Transition]) -> dict[str, Any]:
    """Turn metrics in the shape ``realtime_machines.metrics`` gives: one turn per response
    created, ``response_created`` its distance in time from the previous transition."""
    turns: list[dict[str, Any]] = []
    previous: Transition | None = None
    for step in record:
        if step.chart == "response" and step.target == "generating" and previous is not None:
            turns.append(
                {
                    "index": len(turns),
                    "trigger": "request",
                    "started": previous.time,
                    "response_created": step.time - previous.time,
                    "first_audio": None,
                    "tools": [],
                    "usage": {"input_tokens": 10, "output_tokens": 20},
                }
            )
        previous = step
    values: list[float] = [t["response_created"] for t in turns]
    summary = {}
    if values:
        median = sorted(values)[len(values) // 2]
        summary["response_created"] = {"count": len(values), "median": median, "p90": max(values)}
    return {"turns": turns, "summary": summary, "usage": {}, "cost": None, "turn_count": len(turns)}


def test_the_metrics_panel_shows_the_turns_at_the_slider_position(
    page: Any, loop: LoopThread, trace_file: Path
) -> None:
    source = load_trace(trace_file)
    source.metrics_adapter = MetricsAdapter(compute=fake_metrics)
    inspector = Inspector(source)
    loop.call(inspector.start())
    try:
        page.goto(inspector.url)
        page.wait_for_selector("body[data-ready='1']", timeout=WAIT_MS)
        created = [i for i, s in enumerate(source.steps, 1) if s.target == "generating"]
        for position in (0, created[1], len(source.steps)):
            set_slider(page, position)
            page.wait_for_function(
                f"document.body.dataset.chatPosition === '{position}'", timeout=WAIT_MS
            )
            bound = source.steps[position - 1].seq if position else 0
            expected = fake_metrics([s for s in source.record if s.seq <= bound])
            rows = page.eval_on_selector_all(
                "#metrics table.metrics-turns tr",
                "rs => rs.slice(1).map(r => Array.from(r.cells).map(c => c.textContent))",
            )
            assert [row[0] for row in rows] == [str(t["index"]) for t in expected["turns"]]
            for row, turn in zip(rows, expected["turns"], strict=True):
                assert row[2] == f"{round(turn['response_created'] * 1000)} ms"
                assert row[3] == "–"  # a measure without a value
                assert row[-1] == "10/20"
            summary = page.eval_on_selector_all(
                "#metrics table.metrics-summary tr",
                "rs => rs.slice(1).map(r => r.cells[0].textContent)",
            )
            assert summary == (["response created"] if expected["turns"] else [])
    finally:
        loop.call(inspector.close())


def test_a_gpt_live_session_live_and_its_trace_with_the_slider(
    page: Any, loop: LoopThread, tmp_path: Path
) -> None:
    """The Live session chart's highlighted state follows a Live session in memory; then the
    slider steps through the wire trace of another."""
    client: LiveClient = loop.call(_live_client())
    inspector: Inspector = loop.call(client.inspect())
    live_initial = {shape.kind: shape.initial or "" for shape in inspector.source.shapes()}

    def follow_live() -> None:
        steps = [s for s in client.record if not s.is_fact]
        wait_seq(page, steps[-1].seq)
        expected = states_after(steps, live_initial)
        assert highlighted(page) == expected
        assert shown_states(page) == expected
        assert log_seqs(page) == [s.seq for s in steps]

    try:
        page.goto(inspector.url)
        page.wait_for_selector("body[data-live='1']", timeout=WAIT_MS)
        assert page.get_attribute("body", "data-api") == "live"
        cards = page.eval_on_selector_all("#charts .chart", "cs => cs.map(c => c.dataset.kind)")
        assert cards == list(LIVE_CARDS)
        assert highlighted(page)["live_session"] == "idle"
        assert page.text_content("#chart-delegation .current") == "no delegation yet"
        assert "not computed for GPT-Live" in (page.text_content("#metrics") or "")

        loop.call(client.connect())
        follow_live()
        assert highlighted(page)["live_session"] == "started"
        loop.call(live_round(client))  # spoken, delegated, answered; muted and unmuted
        follow_live()
        assert highlighted(page)["delegation"] == "done"
        assert highlighted(page)["input_audio"] == "unmuted"
        page.wait_for_function(
            f"document.querySelector('#chat').innerText.includes({LIVE_ANSWER!r})",
            timeout=WAIT_MS,
        )
        loop.call(client.disconnect())
        follow_live()
        assert highlighted(page)["live_session"] == "closed"
        assert "not computed for GPT-Live" in (page.text_content("#metrics") or "")
    finally:
        if client.status != "disconnected":
            loop.call(client.disconnect())
        loop.call(inspector.close())

    path = tmp_path / "live.jsonl"
    loop.call(write_live_trace(path))
    with slider_page(page, loop, path) as (source, initial):
        steps = source.steps
        started = next(i for i, s in enumerate(steps, 1) if s.target == "started")
        for position in (0, started, len(steps) // 2, len(steps)):
            set_slider(page, position)
            check_position(page, position, steps, initial, source.record, project_live)
        assert highlighted(page)["live_session"] == "closed"
        page.click("#prev")
        check_position(page, len(steps) - 1, steps, initial, source.record, project_live)
        assert highlighted(page)["live_session"] == "closing"
        assert "not computed for GPT-Live" in (page.text_content("#metrics") or "")


async def _live_client() -> LiveClient:
    return live_client()  # made on the loop thread, where it runs


async def _gate(client: RealtimeClient) -> asyncio.Event:
    return gated_tool(client)  # the event belongs to the loop thread


async def _release(gate: asyncio.Event) -> None:
    gate.set()


def _answered(client: RealtimeClient) -> bool:
    calls = list(client.model.tool_calls.values())
    return (
        bool(calls)
        and all(c.state == "answered" for c in calls)
        and any(item.text.startswith("Tool result") for item in client.chat)
    )
