"""The inspector of GPT-Live sessions without a browser: a Live client over the in-memory Live
transport, a recorded Live trace (wire trace and transition record), and the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from realtime_machines.live import (
    LIVE_CHARTS,
    LiveSessionModel,
    SipLegChart,
    project_live,
)
from realtime_machines.record import Transition, write_jsonl
from realtime_machines.replay import replay_any
from realtime_machines.session import SessionModel
from realtime_sdk.inspector import Inspector, LiveSource, MetricsAdapter, TraceSource, load_trace
from realtime_sdk.inspector.sources import LIVE, REALTIME, model_kind, step_json
from tests.sdk.inspector_kit import (
    LIVE_ANSWER,
    LIVE_QUESTION,
    live_client,
    live_round,
    write_live_trace,
)
from tests.sdk.test_inspector_server import read_events, served, state_groups

Run = Callable[..., Any]
LIVE_KINDS = ["connection", "handshake", "live_session", "delegation", "input_audio", "fixture"]


@pytest.fixture(scope="module")
def live_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspector-live") / "live.jsonl"
    asyncio.run(write_live_trace(path))
    return path


def chat_json(items: Any) -> list[dict[str, Any]]:
    return [item.to_json() for item in items]


# --- sources ------------------------------------------------------------------------------------
def test_a_live_source_watches_a_live_session_model_with_its_charts() -> None:
    model = LiveSessionModel()
    source = LiveSource(model)
    assert source.kind is LIVE
    assert source.title == "GPT-Live session"
    assert [shape.kind for shape in source.shapes()] == LIVE_KINDS
    assert source.states()["live_session"] == "idle"
    assert not source.metrics_adapter.available
    assert source.metrics() is None
    # A SIP leg (an outbound call seen on the sideband) is drawn once there is one.
    model.receive({"type": "transport.ringing", "event_id": "e1", "session_id": "live_1"})
    assert model.sip_leg is not None
    shapes = source.shapes()
    assert [shape.kind for shape in shapes] == [*LIVE_KINDS, "sip_leg"]
    assert {n.id for n in shapes[-1].nodes} == {s.id for s in SipLegChart.states}
    assert source.states()["sip_leg"] == "ringing"
    assert [s.chart for s in source.tail()] == ["sip_leg"]
    source.close()
    assert LiveSource(SessionModel()).kind is REALTIME  # the Realtime path is unchanged


def test_the_protocol_is_named_or_told_from_the_record() -> None:
    assert model_kind("live") is LIVE
    assert model_kind(REALTIME) is REALTIME
    with pytest.raises(ValueError, match="api must be one of"):
        model_kind("sip")
    for cls in LIVE_CHARTS:  # any Live chart in a record makes it a Live one
        record = [Transition(1, 1.0, f"{cls.chart_kind}:x", "e", "a", "b", {})]
        assert TraceSource(record).kind is LIVE
    realtime = [Transition(1, 1.0, "response", "created", "idle", "generating", {})]
    assert TraceSource(realtime).kind is REALTIME
    assert TraceSource(realtime, api="live").kind is LIVE


def test_a_metrics_adapter_with_a_note_computes_nothing() -> None:
    asked: list[int] = []

    def compute(steps: Any) -> Any:
        asked.append(len(steps))
        return {"turns": []}

    adapter = MetricsAdapter(note="none for this protocol")
    assert not adapter.available
    assert adapter.note == "none for this protocol"
    assert adapter.metrics([]) is None
    with pytest.raises(ValueError, match="computes nothing"):
        MetricsAdapter(compute=compute, note="x")
    assert asked == []
    assert MetricsAdapter(compute=compute).note is None


# --- a live client ------------------------------------------------------------------------------
def test_the_page_and_api_of_a_live_client(run: Run) -> None:
    async def scenario() -> None:
        client = live_client()
        inspector = await client.inspect()
        try:
            async with aiohttp.ClientSession() as http:
                info = await (await http.get(inspector.url + "api/info")).json()
                assert info["mode"] == "live"
                assert info["api"] == "live"
                assert info["title"] == "GPT-Live session"
                assert [c["kind"] for c in info["charts"]] == LIVE_KINDS
                for chart in info["charts"]:  # drawn from the chart classes, every state once
                    assert chart["states"], chart["kind"]
                    assert sorted(state_groups(chart["svg"])) == sorted(
                        s["id"] for s in chart["states"]
                    )
                assert not info["metrics_available"]
                assert "not computed for GPT-Live" in info["metrics_note"]
                before = await (await http.get(inspector.url + "api/snapshot")).json()
                assert before["states"]["connection"] == "idle"
                assert before["states"]["live_session"] == "idle"
                assert before["log"] == []
                assert before["chat"] == []
                assert before["metrics"] is None

                events = await http.get(
                    inspector.url + f"api/events?cursor={before['cursor']}",
                    timeout=aiohttp.ClientTimeout(total=20),
                )
                await client.connect()
                await live_round(client)
                await client.disconnect()
                want = [s.seq for s in client.record if not s.is_fact]
                streamed: list[dict[str, Any]] = []
                names: set[str] = set()
                chats: list[Any] = []
                async with asyncio.timeout(10):
                    async for name, data in read_events(events):
                        names.add(name)
                        if name == "transitions":
                            streamed += data
                        elif name == "chat":
                            chats.append(data)
                        if [s["seq"] for s in streamed] == want and chats[-1:] == [
                            chat_json(client.chat)
                        ]:
                            break
                events.close()
                record = [step_json(s) for s in client.record if not s.is_fact]
                assert streamed == record  # every transition once, in order
                assert "metrics" not in names  # Live has none to send
                kinds = {s["kind"] for s in streamed}
                assert {"handshake", "live_session", "delegation", "input_audio"} <= kinds
                after = await (await http.get(inspector.url + "api/snapshot")).json()
                assert after["states"] == {
                    **client.model.states(),
                    "handshake": client.model.handshake.state if client.model.handshake else "",
                }
                assert after["states"]["live_session"] == "closed"
                assert after["states"]["connection"] == "disconnected"
                [delegation] = client.model.delegations.values()
                assert after["states"][delegation.name] == "done"
                texts = [(row["role"], row["text"]) for row in after["chat"]]
                assert ("user", LIVE_QUESTION) in texts
                assert any(role == "assistant" and LIVE_ANSWER in t for role, t in texts)
                assert after["chat"] == chat_json(client.chat)
                assert after["metrics"] is None
        finally:
            await client.disconnect()
            await inspector.close()

    run(scenario(), timeout=40)


# --- a recorded Live session --------------------------------------------------------------------
def test_a_live_wire_trace_steps_through_its_transitions(run: Run, live_trace: Path) -> None:
    source = load_trace(live_trace)
    assert source.kind is LIVE
    replayed = replay_any(live_trace.read_text().splitlines())
    assert isinstance(replayed.session, LiveSessionModel)
    record = replayed.session.record
    steps = [s for s in record if not s.is_fact]
    assert [step_json(s) for s in source.steps] == [step_json(s) for s in steps]

    async def scenario() -> None:
        async with Inspector(source) as inspector, aiohttp.ClientSession() as http:
            info = await (await http.get(inspector.url + "api/info")).json()
            assert (info["mode"], info["api"]) == ("trace", "live")
            kinds = [c["kind"] for c in info["charts"]]
            assert kinds == ["connection", "live_session", "delegation", "input_audio", "fixture"]
            assert "not computed for GPT-Live" in info["metrics_note"]
            trace = await (await http.get(inspector.url + "api/trace")).json()
            assert [s["seq"] for s in trace["steps"]] == [s.seq for s in steps]
            assert trace["initial"]["live_session"] == "idle"
            assert trace["initial"]["delegation"] == "created"
            for position in (0, len(steps) // 2, len(steps)):
                at = await (await http.get(inspector.url + f"api/at?position={position}")).json()
                bound = steps[position - 1].seq if position else steps[0].seq - 1
                chat = project_live([s for s in record if s.seq <= bound])
                assert at["chat"] == chat_json(chat)
                assert at["metrics"] is None
            last = await (await http.get(inspector.url + f"api/at?position={len(steps)}")).json()
            assert any(LIVE_ANSWER in row["text"] for row in last["chat"])

    run(scenario())


def test_a_live_transition_record_is_read_with_its_handshake(run: Run, tmp_path: Path) -> None:
    async def session() -> list[Transition]:
        client = live_client()
        await client.connect()
        await live_round(client)
        await client.disconnect()
        return list(client.record)

    record = run(session(), timeout=30)
    path = tmp_path / "live-transitions.jsonl"
    with path.open("w") as fp:
        write_jsonl(record, fp)
    source = load_trace(path)
    assert source.kind is LIVE
    assert source.record == record
    kinds = [shape.kind for shape in source.shapes()]
    # the handshake is not one of a trace's charts: drawn from the steps recorded, after them
    assert kinds == [*LIVE_KINDS[:1], *LIVE_KINDS[2:], "handshake"]
    assert source.shapes()[-1].initial == "waiting"
    at = source.at(len(source.steps))
    assert at["chat"] == chat_json(project_live(record))


def test_realtime_inspect_serves_a_live_trace(run: Run, live_trace: Path) -> None:
    async def scenario() -> None:
        async with served(["--trace", str(live_trace)]) as url, aiohttp.ClientSession() as http:
            info = await (await http.get(url + "api/info")).json()
            assert (info["mode"], info["api"]) == ("trace", "live")
            assert info["title"] == live_trace.name

    run(scenario())
