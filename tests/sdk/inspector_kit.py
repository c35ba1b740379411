"""Shared by the inspector's tests: a client on the in-memory transport, and a recorded trace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from realtime_machines.record import Transition
from realtime_sdk.cli.demo import run_demo
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Faults
from realtime_sdk.transports import MemoryTransport

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
