"""Shared by the inspector's tests: a client on the in-memory transport, and a recorded trace;
the same for a GPT-Live session (the emulator's Live engine in memory)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from realtime_machines.record import Transition
from realtime_sdk.cli.demo import run_demo
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import CallTool, Faults, Say, ScriptedBrain
from realtime_sdk.errors import NotConnectedError, SendError
from realtime_sdk.live_client import LiveClient
from realtime_sdk.trace import WireTrace
from realtime_sdk.transports import MemoryTransport
from tests.sdk.test_live_client import QUICK, WEATHER_DELEGATION
from tests.sdk.test_live_memory import SILENCE, options, pcm_of

TEXT_ONLY = {"type": "realtime", "output_modalities": ["text"]}


def memory_client(**options: Any) -> RealtimeClient:
    """A text-only client on the in-memory transport (the emulator's default assistant)."""
    faults = options.pop("faults", None) or Faults()
    return RealtimeClient(
        transport=MemoryTransport(faults=faults),
        token_provider=lambda: "memory",
        session=TEXT_ONLY,
        greet_enabled=False,
        **options,
    )


def gated_tool(client: RealtimeClient) -> asyncio.Event:
    """Declare a ``hold`` tool on ``client`` that runs until the returned event is set."""
    gate = asyncio.Event()

    async def hold() -> str:
        """Wait until the test lets go."""
        await gate.wait()
        return "released"

    client.tool(hold)
    return gate


async def write_demo_trace(path: Path) -> None:
    """The demo session over the in-memory transport, its wire trace written to ``path``."""
    with path.open("w", encoding="utf-8") as fp:
        result = await run_demo(trace=fp, transport="memory", delta_delay_s=0.0)
    assert result.ok, result.checks


def states_after(steps: list[Transition], initial: dict[str, str]) -> dict[str, str]:
    """Per chart kind, the state the page shows after ``steps``: the chart's own, or for
    per-instance kinds (``tool_call:<id>``) the instance that moved last."""
    shown = dict(initial)
    for step in steps:
        if step.is_fact:
            continue
        kind = step.chart.partition(":")[0]
        shown[kind] = step.target if step.target is not None else step.source or shown[kind]
    return shown


# --- GPT-Live ---------------------------------------------------------------------------------
LIVE_QUESTION = "weather in Paris"
LIVE_ANSWER = "It is sunny in Paris."


def live_client(trace: TextIO | None = None) -> LiveClient:
    """A GPT-Live client on the in-memory Live transport whose assistant delegates the weather
    question to the backend (``get_weather``, which the client runs) and then says
    :data:`LIVE_ANSWER`; with ``trace``, its wire trace is written there. Its clock moves with
    the audio sent (:func:`live_until` sends silence)."""
    brain = ScriptedBrain([[CallTool("get_weather", {"city": "Paris"})], [Say(LIVE_ANSWER)]])
    wire = WireTrace(trace) if trace is not None else None
    hooks: dict[str, Any] = dict(wire.client_options()) if wire is not None else {}
    client = LiveClient(  # what RealtimeClient(api="live", ...) makes
        api_key="sk-test",
        transport="memory",
        transport_options={"brain": brain, "options": options(LIVE_QUESTION)},
        silence=False,
        session={"delegation": WEATHER_DELEGATION},
        chat_options=QUICK,
        **hooks,
    )
    if wire is not None:
        wire.watch(client)

    @client.tool
    def get_weather(city: str) -> dict[str, str]:
        """The weather in a city."""
        return {"city": city, "conditions": "sunny"}

    return client


def live_said(client: LiveClient) -> str:
    return "".join(row.text for row in client.chat if row.role == "assistant")


async def live_until(client: LiveClient, done: Callable[[], bool], what: str) -> None:
    """Keep the Live session's clock moving (100 ms of silence a step) until ``done``."""
    try:
        async with asyncio.timeout(10):
            while not done():
                if client.status == "connected":
                    with contextlib.suppress(SendError, NotConnectedError):
                        await client.send_audio(SILENCE)
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"no {what} within 10 s") from None


async def live_round(client: LiveClient) -> None:
    """The question spoken, delegated and answered, then mute and unmute (acknowledged)."""
    await client.send_audio(pcm_of(LIVE_QUESTION))
    await live_until(client, lambda: LIVE_ANSWER in live_said(client), "answer")
    await client.mute()
    await client.unmute()


async def write_live_trace(path: Path) -> LiveClient:
    """A whole GPT-Live session in memory, its wire trace written to ``path``."""
    with path.open("w", encoding="utf-8") as fp:
        client = live_client(fp)
        await client.connect()
        await live_round(client)
        await client.disconnect()
    return client
