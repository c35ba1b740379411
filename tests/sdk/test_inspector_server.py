"""The inspector without a browser: diagrams, sources, the HTTP API, the SSE stream, the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import pytest

from realtime_machines.charts import ALL_CHARTS
from realtime_machines.chat import project
from realtime_machines.record import Transition, write_jsonl
from realtime_machines.replay import replay_lines
from realtime_machines.session import SessionModel
from realtime_sdk import cli
from realtime_sdk.inspector import (
    INSPECTOR_PORT,
    Inspector,
    LiveSource,
    MetricsAdapter,
    TraceSource,
    builtin_svg,
    chart_shape,
    chart_svg,
    load_trace,
)
from realtime_sdk.inspector.layout import dot_svg
from realtime_sdk.inspector.sources import step_json
from tests.sdk.inspector_kit import gated_tool, memory_client, write_demo_trace
from tests.sdk.test_transports import until

Run = Callable[..., Any]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def demo_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspector") / "demo.jsonl"
    asyncio.run(write_demo_trace(path))
    return path


def state_groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG}g") if "state" in (g.get("class") or "").split()]
    return {g.get("data-state") or "": g for g in groups}


# --- diagrams ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL_CHARTS, ids=[c.chart_kind for c in ALL_CHARTS])
def test_every_state_has_one_element_with_a_stable_id_in_both_layouts(cls: Any) -> None:
    shape = chart_shape(cls)
    states = [s.id for s in cls.states]
    assert [n.id for n in shape.nodes] == states
    assert shape.initial == next(s.id for s in cls.states if s.initial)
    drawings = [builtin_svg(shape)]
    dot = shutil.which("dot")
    assert dot is not None, "Graphviz's dot is installed by scripts/_bootstrap.sh"
    drawings.append(dot_svg(shape, dot))
    for svg in drawings:
        groups = state_groups(svg)
        assert sorted(groups) == sorted(states)
        for state, group in groups.items():
            assert group.get("id") == f"state-{shape.kind}-{state}"
            assert group.get("data-chart") == shape.kind


def test_transitions_are_drawn_with_their_source_and_target() -> None:
    from realtime_machines.charts import ResponseChart

    shape = chart_shape(ResponseChart)
    pairs = {(e.source, e.target) for e in shape.edges}
    assert ("idle", "create_requested") in pairs
    assert all(e.source != e.target for e in shape.edges)  # targetless actions are left out
    root = ET.fromstring(builtin_svg(shape))
    drawn = {
        (g.get("data-source"), g.get("data-target"))
        for g in root.iter(f"{SVG}g")
        if "transition" in (g.get("class") or "").split()
    }
    assert drawn == pairs


def test_without_graphviz_the_builtin_layout_is_used(tmp_path: Path) -> None:
    from realtime_machines.charts import ModeChart

    shape = chart_shape(ModeChart)
    assert chart_svg(shape, dot=None) == builtin_svg(shape)
    missing = str(tmp_path / "no-such-dot")
    assert chart_svg(shape, dot=missing) == builtin_svg(shape)
    failing = tmp_path / "dot"
    failing.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    failing.chmod(0o755)
    assert chart_svg(shape, dot=str(failing)) == builtin_svg(shape)


# --- the live source ----------------------------------------------------------------------------
def model_with_steps(n: int) -> SessionModel:
    model = SessionModel()
    for i in range(n):
        model.record_transition("response", f"e{i}", "idle", "idle", {})
    return model


def test_live_source_reads_from_a_cursor_and_coalesces_a_page_that_fell_behind() -> None:
    model = model_with_steps(3)
    source = LiveSource(model, ring_size=4)
    assert source.count == 3  # what the model did before is in the ring
    cursor = source.count
    model.record_transition("mode", "x", "text", "voice", {})
    got = source.since(cursor, limit=100)
    assert got is not None
    steps, cursor = got
    assert [s.event for s in steps] == ["x"]
    assert source.since(cursor, limit=100) == ([], cursor)
    for i in range(5):  # more than the ring holds
        model.record_transition("response", f"late{i}", "idle", "idle", {})
    assert source.since(cursor, limit=100) is None  # too far behind: a snapshot instead
    snapshot = source.snapshot()
    assert snapshot["cursor"] == source.count
    assert [s["event"] for s in snapshot["log"]] == [f"late{i}" for i in range(1, 5)]
    assert source.since(source.count - 2, limit=1) is None  # behind by more than a batch
    source.close()
    model.record_transition("response", "after", "idle", "idle", {})
    assert source.count == 3 + 1 + 5


def test_facts_wake_pages_but_stay_out_of_the_log(run: Run) -> None:
    model = SessionModel()
    source = LiveSource(model)

    async def scenario() -> None:
        waiting = asyncio.ensure_future(source.changed(5.0))
        await asyncio.sleep(0)
        model.add_message({"type": "ui", "role": "system", "text": "hi"})
        await asyncio.wait_for(waiting, 1.0)
        assert source.count == 0
        assert source.changes > 0
        assert source.chat()[-1]["text"] == "hi"

    run(scenario())


def test_live_source_needs_a_session() -> None:
    with pytest.raises(TypeError, match="RealtimeClient or a SessionModel"):
        LiveSource(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ring_size"):
        LiveSource(SessionModel(), ring_size=0)


# --- metrics ------------------------------------------------------------------------------------
def test_metrics_adapter_turns_whatever_it_gets_into_json(caplog: pytest.LogCaptureFixture) -> None:
    record = [Transition(1, 1.0, "response", "created", "idle", "generating", {})]
    seen: list[int] = []

    def compute(steps: Any) -> Any:
        seen.append(len(steps))
        return {"turns": [{"ttfb": 0.25, "when": float("nan")}], "count": len(steps)}

    adapter = MetricsAdapter(compute=compute)
    assert adapter.available
    assert adapter.metrics(record) == {"turns": [{"ttfb": 0.25, "when": None}], "count": 1}
    assert seen == [1]

    class Owner:
        metrics: ClassVar[dict[str, Any]] = {"summary": {"median": 0.5}}

    assert MetricsAdapter(Owner(), compute=compute).metrics(record) == Owner.metrics
    assert seen == [1]  # the live metrics first

    def broken(_steps: Any) -> Any:
        raise RuntimeError("boom")

    failing = MetricsAdapter(compute=broken)
    with caplog.at_level(logging.ERROR, "realtime_sdk.inspector"):
        assert failing.metrics(record) is None
    assert not failing.available
    assert "turn metrics failed" in caplog.text


# --- the HTTP API and the stream ----------------------------------------------------------------
async def read_events(response: aiohttp.ClientResponse) -> Any:
    """Yield ``(event, data)`` from an SSE response."""
    event, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and data:
            yield event, json.loads(data)
            event, data = "message", ""


def test_the_page_and_api_of_a_live_client(run: Run) -> None:
    async def scenario() -> None:
        client = memory_client()
        inspector = await client.inspect()
        assert inspector.url.startswith("http://127.0.0.1:")
        try:
            async with aiohttp.ClientSession() as http:
                page = await (await http.get(inspector.url)).text()
                assert '<script src="inspector.js">' in page
                assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing external
                script = await http.get(inspector.url + "inspector.js")
                assert script.status == 200
                assert "http://" not in await script.text()
                info = await (await http.get(inspector.url + "api/info")).json()
                assert info["mode"] == "live"
                kinds = [c["kind"] for c in info["charts"]]
                assert kinds == [
                    "connection",
                    "handshake",
                    "response",
                    "playback",
                    "mode",
                    "tool_call",
                ]
                for chart in info["charts"]:
                    assert sorted(state_groups(chart["svg"])) == sorted(
                        s["id"] for s in chart["states"]
                    )
                before = await (await http.get(inspector.url + "api/snapshot")).json()
                assert before["states"]["connection"] == "idle"
                assert before["log"] == []

                events = await http.get(
                    inspector.url + f"api/events?cursor={before['cursor']}",
                    timeout=aiohttp.ClientTimeout(total=15),
                )
                assert events.headers["Content-Type"].startswith("text/event-stream")
                streamed: list[dict[str, Any]] = []
                chats: list[Any] = []
                await client.connect()
                await client.ask("hello inspector")
                async with asyncio.timeout(10):
                    async for name, data in read_events(events):
                        if name == "transitions":
                            streamed += data
                        elif name == "chat":
                            chats.append(data)
                        want = [s.seq for s in client.record if not s.is_fact]
                        texts = [item["text"] for item in chats[-1]] if chats else []
                        if [
                            s["seq"] for s in streamed
                        ] == want and "You said: hello inspector" in texts:
                            break
                events.close()
                record = [step_json(s) for s in client.record if not s.is_fact]
                assert streamed == record  # every transition once, in order, nothing else
                after = await (await http.get(inspector.url + "api/snapshot")).json()
                assert after["states"]["connection"] == "connected"
                assert after["states"]["handshake"] == "open"
                assert after["states"]["response"] == client.model.response.state
                assert after["log"] == record
                assert after["chat"] == [item.to_json() for item in client.chat]
                assert (await http.get(inspector.url + "api/trace")).status == 404
        finally:
            await client.disconnect()
            await inspector.close()

    run(scenario())


def test_a_page_that_fell_behind_gets_one_snapshot(run: Run) -> None:
    async def scenario() -> None:
        model = model_with_steps(0)
        source = LiveSource(model, ring_size=8)
        async with Inspector(source) as inspector, aiohttp.ClientSession() as http:
            events = await http.get(inspector.url + "api/events?cursor=0")
            for i in range(50):
                model.record_transition("response", f"e{i}", "idle", "idle", {})
            async with asyncio.timeout(10):
                async for name, data in read_events(events):
                    assert name == "reset"
                    assert data["cursor"] == 50
                    assert [s["event"] for s in data["log"]] == [f"e{i}" for i in range(42, 50)]
                    break
            events.close()

    run(scenario())


def test_pages_are_bounded_and_only_loopback_hosts_are_answered(run: Run) -> None:
    async def scenario() -> None:
        source = LiveSource(SessionModel())
        async with Inspector(source, max_pages=1) as inspector, aiohttp.ClientSession() as http:
            first = await http.get(inspector.url + "api/events")
            await until(lambda: inspector.pages == 1)
            second = await http.get(inspector.url + "api/events")
            assert second.status == 503
            assert "at most 1" in (await second.json())["error"]
            first.close()
            await until(lambda: inspector.pages == 0)  # the page went away: its stream ends
            bad = await http.get(inspector.url + "api/info", headers={"Host": "evil.example:80"})
            assert bad.status == 403
            ok = await http.get(inspector.url + "api/info", headers={"Host": "localhost:1"})
            assert ok.status == 200
            assert (await http.get(inspector.url + "api/events?cursor=x")).status == 400

    run(scenario())


def test_a_page_that_stops_reading_is_dropped_and_the_session_goes_on(run: Run) -> None:
    async def scenario() -> None:
        model = SessionModel()
        source = LiveSource(model)
        async with Inspector(source, write_timeout=0.2) as inspector:
            host, port = "127.0.0.1", int(inspector.url.rsplit(":", 1)[1].strip("/"))
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
            _reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            await until(lambda: inspector.pages == 1)
            big = "x" * 1_000_000
            for _ in range(200):  # the chat grows; the page never reads a byte
                model.add_message({"type": "ui", "role": "system", "text": big})
                if inspector.dropped_pages:
                    break
                await asyncio.sleep(0.05)
            assert inspector.dropped_pages == 1
            await until(lambda: inspector.pages == 0)
            model.record_transition("response", "still", "idle", "idle", {})  # goes on
            assert source.count == 1
            writer.close()

    run(scenario(), timeout=30)


def test_inspector_options_are_checked() -> None:
    source = LiveSource(SessionModel())
    with pytest.raises(ValueError, match="port"):
        Inspector(source, port=70000)
    with pytest.raises(ValueError, match="flush_interval"):
        Inspector(source, flush_interval=0)
    with pytest.raises(ValueError, match="max_pages"):
        Inspector(source, max_pages=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = Inspector(source).url


def test_pages_add_nothing_to_the_clients_path(run: Run) -> None:
    """However many pages listen, a transition costs the client the same: the ring append."""

    async def scenario() -> None:
        client = memory_client()
        gate = gated_tool(client)
        source = LiveSource(client)
        async with Inspector(source) as inspector, aiohttp.ClientSession() as http:
            pages = [await http.get(inspector.url + "api/events") for _ in range(5)]
            await client.connect()
            await client.send_text_message("please hold")
            await until(lambda: bool(client.model.tool_calls))
            gate.set()
            await client.disconnect()
            assert len(source.model._observers) == 2  # the client's own, and the source's
            for page in pages:
                page.close()
        assert len(client.model._observers) == 1  # closed, the inspector watches no more

    run(scenario())


# --- traces -------------------------------------------------------------------------------------
def test_a_wire_trace_steps_through_its_transitions(run: Run, demo_trace: Path) -> None:
    source = load_trace(demo_trace)
    replayed = replay_lines(demo_trace.read_text().splitlines()).session.record
    steps = [s for s in replayed if not s.is_fact]
    assert [step_json(s) for s in source.steps] == [step_json(s) for s in steps]

    async def scenario() -> None:
        async with Inspector(source) as inspector, aiohttp.ClientSession() as http:
            info = await (await http.get(inspector.url + "api/info")).json()
            assert info["mode"] == "trace"
            assert info["title"] == demo_trace.name
            trace = await (await http.get(inspector.url + "api/trace")).json()
            assert [s["seq"] for s in trace["steps"]] == [s.seq for s in steps]
            assert trace["initial"]["response"] == "idle"
            for position in (0, 5, len(steps)):
                at = await (await http.get(inspector.url + f"api/at?position={position}")).json()
                bound = steps[position - 1].seq if position else steps[0].seq - 1
                chat = project([s for s in replayed if s.seq <= bound])
                assert at["chat"] == [item.to_json() for item in chat]
            bad = await http.get(inspector.url + f"api/at?position={len(steps) + 1}")
            assert bad.status == 400
            assert "position must be 0 to" in (await bad.json())["error"]
            assert (await http.get(inspector.url + "api/events")).status == 404

    run(scenario())


def test_a_transition_record_is_read_too(tmp_path: Path, demo_trace: Path) -> None:
    replayed = replay_lines(demo_trace.read_text().splitlines()).session.record
    path = tmp_path / "transitions.jsonl"
    with path.open("w") as fp:
        write_jsonl(replayed, fp)
    source = load_trace(path)
    assert isinstance(source, TraceSource)
    assert source.record == replayed


def test_charts_a_record_names_beyond_the_sessions_are_drawn_too() -> None:
    record = [
        Transition(1, 1.0, "handshake", "start", "waiting", "opening_socket", {}),
        Transition(2, 2.0, "handshake", "step_done", "opening_socket", "open", {}),
        Transition(3, 3.0, "call", "accept", "incoming", "accepting", {}),
        Transition(4, 4.0, "conversation", "item_added", None, None, {}),
    ]
    shapes = {shape.kind: shape for shape in TraceSource(record).shapes()}
    assert list(shapes)[-2:] == ["handshake", "call"]
    handshake = shapes["handshake"]  # no class for a recorded handshake: the steps seen
    assert [n.id for n in handshake.nodes] == ["waiting", "opening_socket", "open"]
    assert handshake.initial == "waiting"
    assert [(e.source, e.target, e.events) for e in handshake.edges] == [
        ("waiting", "opening_socket", ("start",)),
        ("opening_socket", "open", ("step_done",)),
    ]
    from realtime_machines.charts import CallChart

    assert shapes["call"] == chart_shape(CallChart)  # the model's own class
    assert sorted(state_groups(builtin_svg(handshake))) == ["open", "opening_socket", "waiting"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\n", "empty"),
        (b"not json\n", "line 1 is not JSON"),
        (b"[1, 2]\n", "no replayable events"),
        (b'{"seq": 1, "chart": "x"}\n', "line 1: not a transition record"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_unreadable_traces_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_trace(path)


def test_a_missing_trace_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_trace(tmp_path / "missing.jsonl")


# --- the command --------------------------------------------------------------------------------
def test_the_command_line_default_port_is_the_inspectors() -> None:
    assert cli.INSPECTOR_PORT == INSPECTOR_PORT


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect"], "give --trace FILE or --demo"),
        (["inspect", "--demo", "--trace", "x"], "give --trace FILE or --demo"),
        (["inspect", "--demo", "--pace", "9"], "--pace must be 0 to 5"),
        (["inspect", "--trace", "/no/such/file.jsonl"], "cannot read /no/such/file.jsonl"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@contextlib.asynccontextmanager
async def served(argv: list[str]) -> AsyncIterator[str]:
    """``realtime inspect ARGV`` served in this loop: yields the page's URL, stops it after and
    checks that it exits 0."""
    from realtime_sdk.cli.inspector import serve

    args = cli.build_parser().parse_args(["inspect", *argv, "--port", "0"])
    stop = asyncio.Event()
    urls: list[str] = []
    server = asyncio.ensure_future(serve(args, urls.append, stop))
    await until(lambda: bool(urls))
    yield urls[0]
    stop.set()
    assert await asyncio.wait_for(server, 10) == 0


def test_realtime_inspect_serves_a_trace_until_stopped(run: Run, demo_trace: Path) -> None:
    async def scenario() -> None:
        async with served(["--trace", str(demo_trace)]) as url, aiohttp.ClientSession() as http:
            info = await (await http.get(url + "api/info")).json()
            assert info["mode"] == "trace"

    run(scenario())


def test_realtime_inspect_demo_runs_the_demo_live(run: Run) -> None:
    async def scenario() -> None:
        argv = ["--demo", "--pace", "0", "--page-wait", "10"]
        async with served(argv) as url, aiohttp.ClientSession() as http:
            events = await http.get(url + "api/events?cursor=0")  # the demo starts now
            seen: list[str] = []
            async with asyncio.timeout(15):
                async for name, data in read_events(events):
                    if name == "transitions":
                        seen += [f"{s['chart']}:{s['target']}" for s in data]
                    if "connection:disconnected" in seen:
                        break
            events.close()
        assert "response:cancelling" in seen  # the demo's last step, seen live

    run(scenario(), timeout=40)
