"""``realtime demo --api live``: a scripted GPT-Live session against an embedded emulator.

One :class:`~realtime_sdk.live_client.LiveClient` (``RealtimeClient(api="live")``) connects
to an in-process :class:`~realtime_sdk.emulator.Emulator`'s ``/v1/live/sessions`` over
loopback WebRTC (the default) or WebSocket, or to the emulator's Live engine in this process
(``transport="memory"``: a :class:`~realtime_sdk.transports.LiveMemoryTransport`, no socket and
no server), and plays seven steps, each checked:

1. **connect** — the handshake, ending with ``starting_session``;
2. **started** — ``session.started``: the session id and the Live session chart ``started``;
3. **text** — ``session.instructions.append`` (text into Live is an append): acknowledged, and
   the assistant greets (its transcript, timed on the session's timeline);
4. **spoken** — the user's question is spoken into the microphone (synthesised speech): the
   user's turn and the assistant's answer both arrive as transcripts, grouped into turns;
5. **delegation** — a spoken question about the weather makes the model delegate to the
   backend (a Responses delegation); the client runs its ``get_weather`` tool, submits the
   output and sends exactly one ``response.create``; the assistant says the result;
6. **mute** — ``session.input_audio.mute`` then ``unmute``, each acknowledged;
7. **close** — ``session.close`` → ``session.closed`` (``close_requested``) and disconnected.

The emulator cannot recognise speech: its transcription returns the script's next line for
each utterance its voice activity detection hears, as a recogniser would.

Every step runs in memory too: none is about the wire itself. What differs is only what the
connect step shows (the handshake is ``attaching → starting_session``: no SDP exchange or socket
upgrade) and where the session runs (no base URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TextIO

from realtime_machines.live import LiveChatOptions

from .._aio import wait_until
from ..client import RealtimeClient
from ..emulator import CallTool, Emulator, EmulatorConfig, LiveOptions, Say, Turn
from ..emulator.audio import SpeechTrack, synthesize
from ..emulator.brain import Output
from ..live_client import LiveClient
from ..trace import WireTrace
from ..transports.live_memory import LiveMemoryTransport
from .demo import (
    ANSWER,
    GREETING,
    QUESTION,
    WEATHER_QUESTION,
    WEATHER_TOOL,
    Check,
    DemoResult,
    StepFailed,
    checker,
    connect_checked,
    finish_run,
    summarize_transitions,
    weather_sentence,
    write_checks,
    write_rows,
)

__all__ = [
    "LIVE_DEMO_STEPS",
    "LIVE_DEMO_TRANSPORTS",
    "LiveDemoBrain",
    "LiveDemoResult",
    "embedded_live",
    "main",
    "print_live_demo",
    "run_live_demo",
]

LIVE_DEMO_STEPS: tuple[str, ...] = (
    "connect",
    "started",
    "text",
    "spoken",
    "delegation",
    "mute",
    "close",
)
"""The checks of a Live demo run, in order."""
LIVE_DEMO_TRANSPORTS: tuple[str, ...] = ("webrtc", "websocket", "memory")
"""The transports ``realtime demo --api live --transport`` runs on."""
MS_PER_CHAR = 15.0
"""The emulator's speech pace: quick, so the demo takes seconds."""
GREET = "Greet the user in one sentence."


class LiveDemoBrain:
    """The emulator's voice model for the Live demo: greets when instructed, answers the
    question about France, delegates the weather (a ``get_weather`` call for the backend)
    and says the tool's result."""

    def respond(self, turn: Turn) -> Sequence[Output]:
        last = turn.last_item()
        if last is not None and last.get("type") == "function_call_output":
            return [Say(weather_sentence(str(last.get("output", ""))))]
        said = _last_text(turn.items)
        text = said.lower()
        if "greet" in text:
            return [Say(GREETING)]
        if "weather" in text and any(t.get("name") == "get_weather" for t in turn.tools):
            return [CallTool("get_weather", {"city": "Paris"})]
        if "france" in text:
            return [Say(ANSWER)]
        return [Say(f"You said: {said}" if said else "Hello! How can I help?")]


def _last_text(items: Sequence[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    return str(part["text"])
    return ""


@dataclass
class LiveDemoResult(DemoResult):
    """What a Live demo run did (``responses`` stays empty: Live has none)."""

    STEPS: ClassVar[tuple[str, ...]] = LIVE_DEMO_STEPS

    def to_json(self) -> dict[str, Any]:
        summary = super().to_json()
        summary["api"] = "live"
        del summary["responses"]
        return summary

    def closed_check(self, client: RealtimeClient) -> Check:
        """``close``: the session closed as asked (``close_requested``) and disconnected."""
        assert isinstance(client, LiveClient)
        live = client.model.session
        closed = (
            live.state == "closed"
            and live.reason == "close_requested"
            and client.status == "disconnected"
        )
        detail = f"session {live.state} ({live.reason}); usage {live.usage}; status {client.status}"
        return Check(self.STEPS[-1], closed, detail)

    def keep(self, client: RealtimeClient) -> None:
        self.chat = list(client.chat)
        self.record = list(client.record)


class _Waiter:
    """Wakes on every convenience event and chat change of the client; waits time out."""

    def __init__(self, client: LiveClient, timeout: float) -> None:
        self.timeout = timeout
        self.changed = asyncio.Event()
        for name in ("user:delta", "assistant:delta", "assistant:completed", "tool:call_done"):
            client.on(name, lambda _n: self.changed.set())
        for name in ("session:started", "delegation:done", "input:muted", "input:unmuted"):
            client.on(name, lambda _n: self.changed.set())

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        await wait_until(predicate, self.changed, self.timeout, what)


async def run_live_demo(
    *,
    trace: TextIO | None = None,
    step_timeout: float = 15.0,
    transport: str = "webrtc",
) -> LiveDemoResult:
    """Run the scripted Live session over ``transport`` (one of
    :data:`LIVE_DEMO_TRANSPORTS`); every wait is bounded by ``step_timeout`` seconds. Never
    raises for a failed step: its :class:`~realtime_sdk.cli.demo.Check` says what went wrong
    and the later steps are not run."""
    started_at = time.monotonic()
    wire = WireTrace(trace, keep=True)  # the checks read it back
    heard = iter([QUESTION, WEATHER_QUESTION])
    mic = SpeechTrack()
    ran: list[dict[str, Any]] = []
    config = EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=lambda _pcm: next(heard, ""))
    async with embedded_live(transport, config) as (where, options):
        result = LiveDemoResult(base_url=where, transport=transport, trace=wire)
        client = LiveClient(
            **options,
            session={
                "model": "gpt-live-1.1",
                "instructions": "You are the demo assistant. Be brief.",
                "delegation": {"type": "responses", "responses": {"model": "gpt-5-mini"}},
            },
            microphone=lambda: mic,
            chat_options=LiveChatOptions(silence_ms=600),
            **wire.client_options(),
        )

        @client.tool(name="get_weather", description=WEATHER_TOOL["description"])
        def get_weather(city: str) -> dict[str, Any]:
            forecast = {"city": city, "conditions": "sunny", "temperature_c": 21}
            ran.append(forecast)
            return forecast

        waiter = _Waiter(client, step_timeout)
        checks = result.checks
        check = checker(checks)

        def rows(role: str) -> list[str]:
            return [row.text for row in client.chat if row.role == role]

        def done(text: str) -> Callable[[], bool]:
            return lambda: any(
                text in row.text and row.status == "done"
                for row in client.chat
                if row.role == "assistant"
            )

        step = "connect"
        try:
            await connect_checked(client, step_timeout, check)
            handshake = client.model.handshake
            steps = [s.state for s in client.transport.steps] if client.transport else []
            check(
                step,
                client.status == "connected" and handshake is not None,
                f"connected {_WIRES[transport]}; handshake {' → '.join(steps)}",
            )

            step = "started"
            session_id = client.session_id or ""
            check(
                step,
                session_id.startswith("live_") and client.model.session.state == "started",
                f"session {session_id} {client.model.session.state}",
            )

            step = "text"
            event_id = await client.send_instructions(GREET)
            await waiter.until(done(GREETING), "greeting")
            acknowledged = any(
                e.get("type") == "session.instructions.appended"
                and e.get("client_event_id") == event_id
                for e in wire.events("received")
            )
            check(
                step,
                acknowledged and rows("assistant")[-1] == GREETING,
                f"instructions appended (acknowledged: {acknowledged}); "
                f"assistant: {rows('assistant')[-1]!r}",
            )

            step = "spoken"
            mic.play(synthesize(QUESTION, ms_per_char=MS_PER_CHAR))
            await waiter.until(done(ANSWER), "spoken answer")
            user = rows("user")
            check(
                step,
                user == [QUESTION] and ANSWER in rows("assistant"),
                f"user said {user[-1] if user else '(nothing)'!r}; assistant answered "
                f"{len(ANSWER)} characters in transcript fragments",
            )

            step = "delegation"
            mic.play(synthesize(WEATHER_QUESTION, ms_per_char=MS_PER_CHAR))
            await waiter.until(done("degrees"), "weather answer")
            delegations = list(client.model.delegations.values())
            sent = [e["type"] for e in wire.events("sent")]
            outputs = [i for i, kind in enumerate(sent) if kind == "response.item.create"]
            continues = sent[outputs[0] :].count("response.create") if outputs else 0
            states = [chart.state for chart in delegations]
            check(
                step,
                len(ran) == 1 and len(outputs) == 1 and continues == 1 and states == ["done"],
                f"get_weather({ran[0]['city'] if ran else '?'}) ran {len(ran)}x; "
                f"{continues} response.create after its output; delegation {states}; "
                f"assistant: {rows('assistant')[-1]!r}",
            )

            step = "mute"
            muted = await client.mute()
            state = client.model.input_audio.state
            unmuted = await client.unmute()
            check(
                step,
                muted and state == "muted" and unmuted,
                f"muted {'acknowledged' if muted else 'NOT acknowledged'}, then unmuted "
                f"{'acknowledged' if unmuted else 'NOT acknowledged'}",
            )
        except StepFailed:
            pass
        except TimeoutError as exc:
            checks.append(Check(step, False, str(exc)))
        finally:
            await finish_run(client, result, step_timeout)
    result.seconds = time.monotonic() - started_at
    return result


_WIRES = {
    "webrtc": "over loopback webrtc",
    "websocket": "over loopback websocket",
    "memory": "in memory",
}


@contextlib.asynccontextmanager
async def embedded_live(
    transport: str, config: EmulatorConfig
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The demo's voice model (:class:`LiveDemoBrain`, speaking and hearing as ``config``
    says: ``ms_per_char``, ``transcribe``, ``session_ttl_s``) on ``transport``: yields where
    it runs (a base URL, or ``"memory"``) and the :class:`LiveClient` options that reach it.
    An emulator runs on 127.0.0.1 for WebRTC and WebSocket until the block ends; in memory
    the client gets a :class:`LiveMemoryTransport` (no socket, no key to check). Also the
    embedded session of ``realtime chat --api live``."""
    if transport not in LIVE_DEMO_TRANSPORTS:
        raise ValueError(
            f"unknown Live demo transport {transport!r}: choose one of "
            f"{', '.join(LIVE_DEMO_TRANSPORTS)}"
        )
    if transport == "memory":
        options = LiveOptions(
            ms_per_char=config.ms_per_char,
            transcribe=config.transcribe,
            session_ttl_s=config.session_ttl_s,
        )
        memory = LiveMemoryTransport(brain=LiveDemoBrain(), options=options)
        yield "memory", {"api_key": "sk-memory", "transport": memory}
        return
    async with Emulator(config=config, brain=LiveDemoBrain()) as emu:
        yield (
            emu.base_url,
            {
                "api_key": emu.api_key,
                "base_url": emu.base_url,
                "transport": transport,
                "ice_servers": [],
            },
        )


def print_live_demo(result: LiveDemoResult, out: TextIO) -> None:
    """The human-readable report: chat (inferred turns), transitions, checks."""
    if result.transport == "memory":
        out.write("GPT-Live demo session against the emulator's Live engine, in memory\n")
    else:
        out.write(
            f"GPT-Live demo session against the embedded emulator at {result.base_url} "
            f"(loopback {result.transport})\n"
        )
    out.write("\nChat\n")
    write_rows(result.chat, out)
    summaries = summarize_transitions(result.record)
    out.write(f"\nTransitions ({sum(s.count for s in summaries)})\n")
    width = max((len(s.chart) for s in summaries), default=0)
    for s in summaries:
        out.write(f"  {s.chart:<{width}} {s.count:>4}  {' → '.join(s.states)}\n")
    write_checks(result, out, "Live demo")


def main(args: argparse.Namespace) -> int:
    """``realtime demo --api live [--transport webrtc|websocket|memory] [--trace FILE]
    [--json]``: 0 when every check passed, else 1."""
    transport = getattr(args, "transport", "webrtc")
    if transport not in LIVE_DEMO_TRANSPORTS:
        print(
            f"realtime demo: --api live runs over {', '.join(LIVE_DEMO_TRANSPORTS)}, "
            f"not {transport}.",
            file=sys.stderr,
        )
        return 2
    if getattr(args, "metrics", False):
        print("realtime demo: --metrics is not available with --api live.", file=sys.stderr)
        return 2
    trace_path: str | None = args.trace
    try:
        fp = open(trace_path, "w", encoding="utf-8") if trace_path else None  # noqa: SIM115
    except OSError as exc:
        print(f"realtime demo: cannot write {trace_path}: {exc.strerror or exc}.", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run_live_demo(trace=fp, transport=transport))
    finally:
        if fp is not None:
            fp.close()
    if args.json:
        summary = result.to_json()
        summary["trace"] = trace_path
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_live_demo(result, sys.stdout)
        if trace_path:
            sys.stdout.write(f"Trace: {trace_path} (realtime replay {trace_path})\n")
    return 0 if result.ok else 1
