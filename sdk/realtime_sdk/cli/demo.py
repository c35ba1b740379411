"""``realtime demo``: a scripted session, end to end, against an embedded emulator.

One :class:`~realtime_sdk.client.RealtimeClient` connects to an in-process
:class:`~realtime_sdk.emulator.Emulator` and plays four steps, each checked. The wire is
``transport``: real loopback WebRTC (the default) or WebSocket (127.0.0.1 only), or the
in-memory transport (the emulator's engine in this process, no socket):

1. **greeting** — the client's greeting response completes with text;
2. **answer** — a typed question gets an answer streamed in several deltas;
3. **tool** — a question about the weather makes the assistant call ``get_weather``; the
   client's ``on_tool_call`` answers and exactly one follow-up ``response.create`` is sent,
   whose answer uses the tool's output;
4. **cancel** — a long answer is cancelled mid-stream: its response ends ``cancelled`` and its
   chat row ``canceled``.

:func:`run_demo` returns a :class:`DemoResult` (chat, responses, transition record, the wire
events and the checks). With ``trace`` every wire event is written as it is sent or received,
one ``{"direction": "sent" | "received", "data": {...}}`` JSON line each — the format
``realtime replay`` reads, so a replay of the trace reproduces the demo's chat.

The checks are the same on every transport; only the connect step's detail differs (a WebRTC
call has a call id from the SDP exchange's ``Location``; a WebSocket or in-memory call has
none). The steps never depend on audio: the session is text-only, so the WebRTC-only audio
events (``output_audio_buffer.*``) and the client-owned playback of the other two take no part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO, TypeVar

from realtime_machines import (
    AssistantCompleted,
    AssistantDelta,
    ChatItem,
    Notice,
    SessionMetrics,
    ToolCallDone,
    Transition,
)

from .._aio import maybe_await, wait_until
from ..client import RealtimeClient, ToolCall
from ..emulator import CallTool, Emulator, Faults, Say, Turn
from ..emulator.brain import Brain, Output
from ..errors import ConnectError
from ..keys import api_key_token_provider
from ..trace import WireTrace
from ..transports import MemoryTransport

DEMO_TRANSPORTS: tuple[str, ...] = ("webrtc", "websocket", "memory")
"""The transports ``realtime demo --transport`` runs on."""

__all__ = [
    "DEMO_STEPS",
    "DEMO_TRANSPORTS",
    "WEATHER_TOOL",
    "ChartSummary",
    "Check",
    "DemoBrain",
    "DemoResult",
    "StepFailed",
    "checker",
    "connect_checked",
    "embedded_wire",
    "main",
    "print_demo",
    "run_demo",
    "weather_sentence",
]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city's name."}},
        "required": ["city"],
    },
}

GREETING = "Hello! I am the demo assistant. Ask me anything."
QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris, a city of about two million people on the Seine."
WEATHER_QUESTION = "What is the weather like in Paris?"
STORY_REQUEST = "Tell me a long story."
STORY = " ".join(
    ["Once upon a time, in a city of many bridges, there lived a clockmaker."]
    + ["Every morning she wound the clocks of the town, one tower after another."] * 12
    + ["And that is the end of the story."]
)

DEMO_STEPS: tuple[str, ...] = ("connect", "greeting", "answer", "tool", "cancel", "disconnect")
"""The checks of a demo run, in order."""


class DemoBrain:
    """The emulator's assistant for the demo: answers by what the last turn asks.

    A turn with no user text is the greeting; after a ``function_call_output`` it reports the
    tool's output; ``weather`` calls ``get_weather`` (when the session declares it); ``story``
    starts a long answer; anything else gets the answer about Paris.
    """

    def respond(self, turn: Turn) -> Sequence[Output]:
        last = turn.last_item()
        if last is not None and last.get("type") == "function_call_output":
            return [Say(weather_sentence(str(last.get("output", ""))))]
        text = (turn.last_user_text() or "").lower()
        if not text.strip():
            return [Say(GREETING)]
        tools = {str(tool.get("name")) for tool in turn.tools}
        if "weather" in text and WEATHER_TOOL["name"] in tools:
            city = "Paris" if "paris" in text else "London"
            return [CallTool(WEATHER_TOOL["name"], {"city": city})]
        if "story" in text:
            return [Say(STORY)]
        return [Say(ANSWER)]


def weather_sentence(output: str) -> str:
    try:
        data = json.loads(output)
    except ValueError:
        return f"The weather service says: {output}"
    if not isinstance(data, dict):
        return f"The weather service says: {output}"
    return (
        f"In {data.get('city', 'the city')} it is {data.get('conditions', 'unknown')} "
        f"and {data.get('temperature_c', '?')} degrees."
    )


def demo_weather(call: ToolCall) -> dict[str, Any]:
    """The demo's ``on_tool_call``: a fixed forecast for the asked city."""
    return {"city": call.args.get("city", "?"), "conditions": "sunny", "temperature_c": 21}


@dataclass(frozen=True, slots=True)
class Check:
    """One step of the demo and whether it worked."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ChartSummary:
    """A chart's transitions: how many, and the states it went through (repeats collapsed)."""

    chart: str
    count: int
    states: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "states": list(self.states)}


def summarize_transitions(record: Sequence[Transition]) -> list[ChartSummary]:
    """Per chart (in order of first appearance): transition count and state path."""
    counts: dict[str, int] = {}
    paths: dict[str, list[str]] = {}
    for step in record:
        if step.is_fact or step.target is None:
            continue
        counts[step.chart] = counts.get(step.chart, 0) + 1
        path = paths.setdefault(step.chart, [])
        if not path and step.source is not None:
            path.append(step.source)
        if not path or path[-1] != step.target:
            path.append(step.target)
    return [ChartSummary(chart, counts[chart], tuple(paths[chart])) for chart in counts]


@dataclass
class DemoResult:
    """What a demo run did."""

    #: The checks a complete run makes, in order.
    STEPS: ClassVar[tuple[str, ...]] = DEMO_STEPS

    base_url: str = ""
    transport: str = "webrtc"
    checks: list[Check] = field(default_factory=list)
    chat: list[ChatItem] = field(default_factory=list)
    responses: dict[str, str] = field(default_factory=dict)
    record: list[Transition] = field(default_factory=list)
    trace: WireTrace = field(default_factory=WireTrace)
    seconds: float = 0.0
    #: The client's turn metrics (``client.metrics``) after the run.
    metrics: SessionMetrics | None = None

    @property
    def ok(self) -> bool:
        """True when every step ran and worked."""
        names = [check.name for check in self.checks]
        return names == list(self.STEPS) and all(check.ok for check in self.checks)

    def transitions(self) -> list[ChartSummary]:
        return summarize_transitions(self.record)

    def to_json(self) -> dict[str, Any]:
        """The ``realtime demo --json`` object."""
        return {
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "chat": [item.to_json() for item in self.chat],
            "responses": [{"id": rid, "status": status} for rid, status in self.responses.items()],
            "transitions": {s.chart: s.to_json() for s in self.transitions()},
            "events": {
                "sent": self.trace.count("sent"),
                "received": self.trace.count("received"),
            },
            "base_url": self.base_url,
            "transport": self.transport,
            "seconds": round(self.seconds, 3),
        }

    def closed_check(self, client: RealtimeClient) -> Check:
        """The last step's check once the client has disconnected in time."""
        status = client.status
        return Check(self.STEPS[-1], status == "disconnected", f"status {status}")

    def keep(self, client: RealtimeClient) -> None:
        """Keep what the run made (after the disconnect)."""
        self.chat = list(client.chat)
        self.responses = dict(client.model.responses)
        self.record = list(client.record)
        self.metrics = client.metrics


N = TypeVar("N", bound=Notice)


class _Notices:
    """Every convenience event the client raises, kept in order, with waits that time out."""

    def __init__(self, client: RealtimeClient, timeout: float) -> None:
        self.seen: list[Notice] = []
        self.timeout = timeout
        self._changed = asyncio.Event()
        for kind in (AssistantDelta, AssistantCompleted, ToolCallDone):
            client.on(kind.name, self._push)

    def _push(self, notice: Notice) -> None:
        self.seen.append(notice)
        self._changed.set()

    def of(self, kind: type[N]) -> list[N]:
        return [n for n in self.seen if isinstance(n, kind)]

    async def wait(self, kind: type[N], what: str, predicate: Callable[[N], bool]) -> N:
        """The first ``kind`` notice matching ``predicate``; ``TimeoutError`` names ``what``."""

        def first() -> N | None:
            return next((n for n in self.of(kind) if predicate(n)), None)

        return await wait_until(first, self._changed, self.timeout, what)


class StepFailed(Exception):
    """A checked step failed (its :class:`Check` is recorded): the later steps are not run."""


def checker(checks: list[Check]) -> Callable[[str, bool, str], None]:
    """``check(name, ok, detail)``: record a :class:`Check` in ``checks``; raise
    :class:`StepFailed` when it failed."""

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, ok, detail))
        if not ok:
            raise StepFailed(detail)

    return check


async def connect_checked(
    client: RealtimeClient,
    timeout: float,  # noqa: ASYNC109
    check: Callable[[str, bool, str], None],
    step: str = "connect",
) -> None:
    """Connect ``client`` within ``timeout`` seconds; a failure is the ``step``'s failed check."""
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
    except (ConnectError, TimeoutError) as exc:
        check(step, False, f"connect failed: {exc}")


def _row(chat: Sequence[ChatItem], response_id: str) -> ChatItem | None:
    for item in chat:
        if item.response_id == response_id and item.role == "assistant":
            return item
    return None


async def run_demo(
    *,
    trace: TextIO | None = None,
    step_timeout: float = 10.0,
    delta_delay_s: float = 0.02,
    transport: str = "webrtc",
    on_client: Callable[[RealtimeClient], Awaitable[object] | object] | None = None,
) -> DemoResult:
    """Run the scripted session over ``transport`` (one of :data:`DEMO_TRANSPORTS`); every wait
    is bounded by ``step_timeout`` seconds.

    ``delta_delay_s`` paces the emulator's deltas (so the long answer is still streaming when it
    is cancelled). ``on_client`` is called (and awaited, if it returns an awaitable) with the
    client before it connects: to watch the run (``realtime inspect --demo`` serves the
    inspector of it). Never raises for a failed step: the step's :class:`Check` says what went wrong
    and the steps after it are not run.
    """
    started = time.monotonic()
    wire = WireTrace(trace, keep=True)  # the checks read it back
    brain, faults = DemoBrain(), Faults(delta_delay_s=delta_delay_s)
    async with embedded_wire(transport, brain, faults) as (base_url, wire_options):
        result = DemoResult(base_url=base_url, transport=transport, trace=wire)
        tool_calls: list[ToolCall] = []

        def on_tool_call(call: ToolCall) -> dict[str, Any]:
            tool_calls.append(call)
            return demo_weather(call)

        client = RealtimeClient(
            **wire_options,
            ice_servers=[],
            session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER_TOOL]},
            greet_enabled=True,
            greet_instructions="Greet the user in one sentence.",
            greet_modalities=["text"],
            on_tool_call=on_tool_call,
            **wire.client_options(),
            delete_chat_history_on_disconnect=False,
        )
        wire.watch(client)
        if on_client is not None:
            await maybe_await(on_client(client))
        notices = _Notices(client, step_timeout)
        checks = result.checks
        check = checker(checks)

        def completed_ids() -> set[str]:
            return {n.response_id for n in notices.of(AssistantCompleted)}

        def deltas(response_id: str) -> list[str]:
            return [n.delta for n in notices.of(AssistantDelta) if n.response_id == response_id]

        async def ask(text: str, what: str) -> AssistantCompleted:
            before = completed_ids()
            await client.send_text_message(text)
            return await notices.wait(
                AssistantCompleted, what, lambda n: n.response_id not in before
            )

        step = "connect"
        try:
            await connect_checked(client, step_timeout, check)
            check(step, True, connected_detail(client, transport))

            step = "greeting"
            greeting = await notices.wait(AssistantCompleted, "greeting", lambda _n: True)
            row = _row(client.chat, greeting.response_id)
            check(
                step,
                greeting.response_status == "completed" and row is not None and bool(row.text),
                f"response {greeting.response_status}: {row.text if row else '(no chat row)'!r}",
            )

            step = "answer"
            answer = await ask(QUESTION, "answer to the question")
            row = _row(client.chat, answer.response_id)
            parts = deltas(answer.response_id)
            check(
                step,
                answer.response_status == "completed"
                and row is not None
                and len(parts) > 1
                and "".join(parts) == row.text,
                f"{len(parts)} deltas streamed into {row.text if row else '(no chat row)'!r}",
            )

            step = "tool"
            before = completed_ids()
            await client.send_text_message(WEATHER_QUESTION)
            done = await notices.wait(ToolCallDone, "tool call", lambda _n: True)
            chart = client.model.tool_calls[done.call_id]
            follow_up = await notices.wait(
                AssistantCompleted,
                "follow-up answer to the tool call",
                lambda n: n.response_id not in before and n.response_id != chart.response_id,
            )
            sent = wire.events("sent")
            outputs = [
                i
                for i, e in enumerate(sent)
                if e.get("type") == "conversation.item.create"
                and e.get("item", {}).get("type") == "function_call_output"
            ]
            creates_after = (
                sum(1 for e in sent[outputs[0] :] if e.get("type") == "response.create")
                if outputs
                else 0
            )
            row = _row(client.chat, follow_up.response_id)
            check(
                step,
                len(tool_calls) == 1
                and chart.state == "answered"
                and len(outputs) == 1
                and creates_after == 1
                and follow_up.response_status == "completed"
                and row is not None
                and "sunny" in row.text,
                f"{done.tool_name}({json.dumps(done.args)}) -> {chart.state}; "
                f"{creates_after} follow-up response.create; "
                f"answer {row.text if row else '(no chat row)'!r}",
            )

            step = "cancel"
            before = completed_ids()
            await client.send_text_message(STORY_REQUEST)
            first = await notices.wait(
                AssistantDelta,
                "first delta of the long answer",
                lambda n: n.response_id not in before,
            )
            story_id = first.response_id
            await notices.wait(
                AssistantDelta,
                "third delta of the long answer",
                lambda _n: len(deltas(story_id)) >= 3,
            )
            await client.cancel_response()
            cancelled = await notices.wait(
                AssistantCompleted,
                "end of the cancelled answer",
                lambda n: n.response_id == story_id,
            )
            row = _row(client.chat, story_id)
            streamed = len(deltas(story_id))
            check(
                step,
                story_id not in before
                and cancelled.response_status == "cancelled"
                and cancelled.status == "canceled"
                and client.model.responses.get(story_id) == "cancelled"
                and row is not None
                and row.status == "canceled"
                and len(row.text) < len(STORY),
                f"response {cancelled.response_status} after {streamed} deltas; "
                f"chat row {row.status if row else '(none)'!r}",
            )
        except StepFailed:
            pass
        except TimeoutError as exc:
            checks.append(Check(step, False, str(exc)))
        finally:
            await finish_run(client, result, step_timeout)
    result.seconds = time.monotonic() - started
    return result


@contextlib.asynccontextmanager
async def embedded_wire(
    transport: str, brain: Brain | None, faults: Faults
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """An embedded emulator's assistant (``brain``, ``faults``; ``None``: the emulator's
    :class:`~realtime_sdk.emulator.DeterministicBrain`) on ``transport``: yields where
    it is (a base URL, or ``"memory"``) and the :class:`RealtimeClient` options that reach it
    (``transport``, ``token_provider`` and, on a socket, ``base_url``). The emulator runs on
    127.0.0.1 for WebRTC and WebSocket until the block ends; the memory transport needs none
    (no URL, and no key to check)."""
    if transport not in DEMO_TRANSPORTS:
        raise ValueError(
            f"unknown demo transport {transport!r}: choose one of {', '.join(DEMO_TRANSPORTS)}"
        )
    if transport == "memory":
        yield (
            "memory",
            {
                "transport": MemoryTransport(brain=brain, faults=faults),
                "token_provider": lambda: "memory",
            },
        )
        return
    async with Emulator(brain=brain, faults=faults) as emu:
        yield (
            emu.base_url,
            {
                "transport": transport,
                "base_url": emu.base_url,
                "token_provider": api_key_token_provider(emu.api_key, base_url=emu.base_url),
            },
        )


_ARROW = " → "

_WIRES = {"webrtc": "loopback WebRTC", "websocket": "loopback WebSocket", "memory": "memory"}


def connected_detail(client: RealtimeClient, transport: str) -> str:
    """The connect check's detail: the wire, and the call id where the transport has one."""
    detail = f"connected over {_WIRES.get(transport, transport)}"
    return detail + (f" (call {client.call_id})" if client.call_id else "")


async def finish_run(client: RealtimeClient, result: DemoResult, timeout: float) -> None:  # noqa: ASYNC109
    """Disconnect (the last step, checked by ``result.closed_check`` only when every earlier
    step passed) and keep what the run made (``result.keep``)."""
    checks = result.checks
    try:
        async with asyncio.timeout(timeout):
            await client.disconnect()
    except TimeoutError:
        checks.append(Check(result.STEPS[-1], False, "disconnect timed out"))
    else:
        if all(c.ok for c in checks) and len(checks) == len(result.STEPS) - 1:
            checks.append(result.closed_check(client))
    result.keep(client)


def write_rows(chat: Sequence[ChatItem], out: TextIO) -> None:
    """Chat rows, one a line (a row still streaming or cut shows its status)."""
    for item in chat:
        marker = "" if item.status == "done" else f"  ({item.status})"
        out.write(f"  {item.role:>9}: {item.text}{marker}\n")


def write_chat(result: DemoResult, out: TextIO) -> None:
    """The report's chat and response sections."""
    out.write("\nChat\n")
    write_rows(result.chat, out)
    out.write("\nResponses\n")
    for response_id, status in result.responses.items():
        out.write(f"  {response_id}: {status}\n")


def write_checks(result: DemoResult, out: TextIO, title: str) -> None:
    """The report's checks (steps not reached shown as skipped) and its verdict line."""
    width = max(len(name) for name in result.STEPS)
    out.write("\nChecks\n")
    for c in result.checks:
        out.write(f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}} {c.detail}\n")
    ran = {c.name for c in result.checks}
    for name in result.STEPS:
        if name not in ran:
            out.write(f"  skip  {name:<{width}} not run\n")
    passed = sum(1 for c in result.checks if c.ok)
    out.write(
        f"\n{result.trace.count('sent')} events sent, {result.trace.count('received')} received."
        f"\n{title} {'passed' if result.ok else 'FAILED'} ({passed}/{len(result.STEPS)} checks) "
        f"in {result.seconds:.1f} s.\n"
    )


def print_demo(result: DemoResult, out: TextIO) -> None:
    """The human-readable report: chat, responses, transitions, checks."""
    if result.transport == "memory":
        out.write("Demo session against the embedded emulator's engine, in memory\n")
    else:
        wire = _WIRES.get(result.transport, result.transport)
        out.write(f"Demo session against the embedded emulator at {result.base_url} ({wire})\n")
    write_chat(result, out)
    summaries = result.transitions()
    total = sum(s.count for s in summaries)
    out.write(f"\nTransitions ({total})\n")
    width = max((len(s.chart) for s in summaries), default=0)
    for s in summaries:
        out.write(f"  {s.chart:<{width}} {s.count:>4}  {_ARROW.join(s.states)}\n")
    write_checks(result, out, "Demo")


def main(args: argparse.Namespace) -> int:
    """``realtime demo [--transport T] [--trace FILE] [--json]``: 0 when every check passed,
    else 1."""
    trace_path: str | None = args.trace
    try:
        fp = open(trace_path, "w", encoding="utf-8") if trace_path else None  # noqa: SIM115
    except OSError as exc:
        print(f"realtime demo: cannot write {trace_path}: {exc.strerror or exc}.", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run_demo(trace=fp, transport=getattr(args, "transport", "webrtc")))
    finally:
        if fp is not None:
            fp.close()
    metrics = result.metrics if getattr(args, "metrics", False) else None
    if args.json:
        summary = result.to_json()
        summary["trace"] = trace_path
        if metrics is not None:
            summary["metrics"] = metrics.to_json()
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_demo(result, sys.stdout)
        if trace_path:
            sys.stdout.write(f"Trace: {trace_path} (realtime replay {trace_path})\n")
        if metrics is not None:
            sys.stdout.write(f"\nMetrics\n\n{metrics.table()}")
    return 0 if result.ok else 1
