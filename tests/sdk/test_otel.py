"""OpenTelemetry spans from a live client's transitions (the SDK's in-memory exporter): names,
nesting, GenAI attributes, and span times equal to the turn metrics; no OpenTelemetry import
unless asked, and a clear error without it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from realtime_sdk.client import ToolCall
from realtime_sdk.emulator import Emulator
from realtime_sdk.otel import SessionTracer, instrument
from tests.sdk.test_client import WEATHER_TOOL, make_client

Runner = Callable[..., Any]
TOOL_SESSION = {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]}


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def test_spans_of_a_live_session(run: Runner) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def scenario() -> Any:
        async def tool(call: ToolCall) -> str:
            await asyncio.sleep(0.02)
            return "rain"

        async with Emulator() as emu:
            client = make_client(
                emu, "memory", session=TOOL_SESSION, on_tool_call=tool, model="gpt-realtime-2.1"
            )
            tracer = instrument(client, tracer_provider=provider)
            assert isinstance(tracer, SessionTracer)
            async with client:
                await client.ask("hello", timeout=10)
                await client.ask('get_weather {"city": "Oslo"}', timeout=10)
            return client.metrics

    metrics = run(scenario())
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    by_id = {span.context.span_id: span for span in spans}

    def parent(span: ReadableSpan) -> ReadableSpan | None:
        return by_id.get(span.parent.span_id) if span.parent is not None else None

    [session] = [s for s in spans if s.name == "realtime.session"]
    assert session.parent is None
    assert session.attributes is not None
    assert session.attributes["gen_ai.provider.name"] == "openai"
    assert session.attributes["gen_ai.system"] == "openai"
    assert session.attributes["gen_ai.request.model"] == "gpt-realtime-2.1"

    [connect] = [s for s in spans if s.name == "realtime.connect"]
    assert parent(connect) is session
    [connect_metrics] = metrics.connects
    assert connect.start_time == _ns(connect_metrics.started)
    assert connect.end_time == _ns(connect_metrics.started + connect_metrics.seconds)
    steps = {s.name: s for s in spans if s.name.startswith("realtime.connect.")}
    assert parent(steps["realtime.connect.fetching_token"]) is connect
    assert parent(steps["realtime.connect.attaching"]) is steps["realtime.connect.handshaking"]

    turns = sorted((s for s in spans if s.name == "realtime.turn"), key=lambda s: s.start_time or 0)
    assert [parent(t) for t in turns] == [session, session]
    for span, turn in zip(turns, metrics.turns, strict=True):
        assert span.start_time == _ns(turn.started)
        assert span.end_time == _ns(turn.ended)
        assert span.attributes is not None
        assert span.attributes["realtime.turn.response_created"] == turn.response_created
        assert span.attributes["gen_ai.usage.output_tokens"] == turn.usage.output_tokens
        responses = [s for s in spans if parent(s) is span and s.name == "chat gpt-realtime-2.1"]
        assert len(responses) == len(turn.responses)
        for response_span, response in zip(
            sorted(responses, key=lambda s: s.start_time or 0), turn.responses, strict=True
        ):
            attributes = response_span.attributes or {}
            assert attributes["gen_ai.operation.name"] == "chat"
            assert attributes["gen_ai.response.id"] == response.response_id
            assert attributes["gen_ai.response.finish_reasons"] == ("completed",)
            assert attributes["gen_ai.usage.input_tokens"] == response.usage.input_tokens
            assert response_span.start_time == _ns(response.created)
            assert response.done is not None
            assert response_span.end_time == _ns(response.done)

    [tool_span] = [s for s in spans if s.name == "execute_tool get_weather"]
    assert parent(tool_span) is turns[1]
    [tool] = metrics.turns[1].tools
    attributes = tool_span.attributes or {}
    assert attributes["gen_ai.tool.call.id"] == tool.call_id
    assert attributes["gen_ai.tool.name"] == "get_weather"
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.latency is not None
    assert tool.started is not None
    assert tool.ended is not None
    assert (tool_span.start_time, tool_span.end_time) == (_ns(tool.started), _ns(tool.ended))
    # the span lasts the tool's latency (to the microsecond: record times are epoch floats)
    duration = (tool_span.end_time or 0) - (tool_span.start_time or 0)
    assert duration == pytest.approx(tool.latency * 1e9, abs=1_000)
    assert tool_span.status.status_code != StatusCode.ERROR
    assert session.end_time is not None
    assert session.end_time >= max(s.end_time or 0 for s in spans if s is not session)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_no_opentelemetry_unless_asked_and_a_clear_error_without_it() -> None:
    unused = _python(
        "import sys\n"
        "from realtime_sdk import RealtimeClient\n"
        "from realtime_sdk.transports import MemoryTransport\n"
        "RealtimeClient(transport=MemoryTransport())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    assert unused.returncode == 0, unused.stderr
    assert unused.stdout.strip() == "[]"
    missing = _python(
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import realtime_sdk.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert "pip install 'realtime-machines[otel]'" in missing.stdout, missing.stderr
