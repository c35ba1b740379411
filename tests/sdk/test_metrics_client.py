"""``client.metrics`` and ``metrics:turn`` on a live client, and ``realtime replay --metrics`` of
its trace giving the same numbers (in memory: no socket)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_machines import MetricsTurn, Notice, Prices
from realtime_machines.notices import AssistantDelta
from realtime_sdk.cli import main
from realtime_sdk.client import RealtimeClient, ToolCall
from realtime_sdk.emulator import Emulator, Faults
from realtime_sdk.trace import WireTrace
from realtime_sdk.transports import MemoryTransport
from tests.sdk.test_client import WEATHER_TOOL, make_client, wait_for

Runner = Callable[..., Any]
TOOL_SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}
PRICES = Prices(1.0, 0.5, 2.0, 10.0, 5.0, 20.0)


def test_live_metrics_equal_the_replay_of_the_trace(
    run: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_file = tmp_path / "trace.jsonl"
    seen: list[Notice] = []

    async def scenario() -> dict[str, Any]:
        async def tool(call: ToolCall) -> str:
            await asyncio.sleep(0.05)  # a tool that takes a while: the latency is measured
            return f"rain in {call.args['city']}"

        with trace_file.open("w", encoding="utf-8") as out:
            trace = WireTrace(out)
            async with Emulator() as emu:
                client = make_client(
                    emu,
                    "memory",
                    session={
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                    },
                    on_tool_call=tool,
                    prices=PRICES,
                    **trace.client_options(),
                )
                trace.watch(client)
                client.on("metrics:turn", seen.append)
                async with client:
                    await client.ask("hello", timeout=10)
                    await client.ask('get_weather {"city": "Oslo"}', timeout=10)
                    metrics = client.metrics
        return metrics.to_json()

    live = run(scenario())
    assert [t["trigger"] for t in live["turns"]] == ["message", "message"]
    tool_turn = live["turns"][1]
    [call] = tool_turn["tools"]
    assert call["name"] == "get_weather"
    assert call["latency"] >= 0.05
    assert len(tool_turn["responses"]) == 2
    assert all(t["settled"] and t["response_done"] > t["first_text"] > 0 for t in live["turns"])
    assert live["cost"] is not None
    assert live["usage"]["input_tokens"] > 0
    assert [n.payload() for n in seen if isinstance(n, MetricsTurn)] == live["turns"]

    assert main(["replay", str(trace_file), "--metrics", "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["timed"] is True
    assert replayed["turns"] == [
        {**turn, "cost": None} for turn in live["turns"]
    ]  # the same turns; the replay was given no prices
    for name in ("response_created", "first_text", "response_done", "tool_latency"):
        assert replayed["summary"][name] == live["summary"][name]
    assert "connect" in live["summary"]  # connects are not wire events: only live
    assert "connect" not in replayed["summary"]


def test_replay_metrics_table_and_an_untimed_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "u1"},
        {"type": "response.created", "response": {"id": "r1", "status": "in_progress"}},
        {"type": "response.done", "response": {"id": "r1", "status": "completed"}},
    ]
    untimed = tmp_path / "old.jsonl"
    untimed.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert main(["replay", str(untimed), "--metrics"]) == 0
    out, err = capsys.readouterr()
    assert "has no event times" in err
    assert "Turns (1)" in out
    assert "speech" in out
    assert "response_created" in out
    timed = tmp_path / "timed.jsonl"
    entries = [
        {"direction": "received", "data": e, "time": 5.0 + i / 4} for i, e in enumerate(lines)
    ]
    timed.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    assert main(["replay", str(timed), "--metrics", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    [turn] = json.loads(out)["turns"]
    assert (turn["started"], turn["response_created"], turn["response_done"]) == (5.0, 0.25, 0.5)


def test_demo_prints_the_metrics_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--transport", "memory", "--metrics"]) == 0
    out = capsys.readouterr().out
    table = out.split("\nMetrics\n", 1)[1]
    assert "Turns (4)" in table
    assert "get_weather" in table
    assert "response_done" in table
    assert "connect:attaching" in table
    assert main(["demo", "--voice", "--metrics"]) == 2
    assert "--metrics is not available with --voice" in capsys.readouterr().err


def test_client_refuses_bad_metrics_options() -> None:
    with pytest.raises(TypeError, match="prices"):
        RealtimeClient(transport=MemoryTransport(), prices={"text_input": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metrics_window"):
        RealtimeClient(transport=MemoryTransport(), metrics_window=0)
    client = RealtimeClient(transport=MemoryTransport(), prices=PRICES)
    assert client.metrics.turns == ()
    assert client.metrics.cost == 0.0


def test_a_hang_up_mid_answer_ends_the_turn_unsettled_before_the_events_end(run: Runner) -> None:
    """The tracker processes what it holds when the client hangs up: the open turn reaches
    ``metrics:turn`` handlers and ``events()`` before the iteration ends."""

    async def scenario() -> None:
        async with Emulator(faults=Faults(delta_delay_s=0.05)) as emu:
            client = make_client(emu, "memory")
            heard: list[MetricsTurn] = []
            client.on("metrics:turn", heard.append)
            await client.connect()
            streamed: list[str] = []

            async def consume() -> None:
                async for notice in client.events():
                    streamed.append(notice.name)

            consumer = asyncio.get_running_loop().create_task(consume())
            await asyncio.sleep(0)  # the generator registers its stream on its first step
            await client.send_text_message("tell me something long please")
            await wait_for(client, AssistantDelta)
            await client.disconnect()
            await asyncio.wait_for(consumer, 5)
            [notice] = heard
            assert notice.metrics.settled is False
            assert notice.metrics.trigger == "message"
            assert notice.metrics.first_text is not None
            assert notice.metrics.response_done is None
            assert streamed[-1] == "metrics:turn"
            [turn] = client.metrics.turns
            assert turn is notice.metrics

    run(scenario())
