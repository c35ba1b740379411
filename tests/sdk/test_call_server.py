"""The call server against the emulator: whole SIP calls through the webhook, the decision,
the sideband and the tools; busy, refusals, shutdown; two processes sharing Redis; the command.

Everything runs on 127.0.0.1: the emulator (in this process) posts its signed webhooks to a
:class:`CallServer` (in this process, or a subprocess for the CLI and the Redis tests).
Caller speech is fed as fast as possible (``realtime=False``) and driven step by step.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from realtime_machines.charts import CallTimeouts
from realtime_sdk.call_server import BUSY, CALLS_PATH, HEALTH_PATH, CallServer
from realtime_sdk.calls import Accept, Refer, Reject, SidebandAttach, SipCall
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.sip import SimulatedCall
from realtime_sdk.errors import CallGoneError
from realtime_sdk.webhooks import DEFAULT_PATH, IncomingCall, signed_headers
from tests.aio import run_async
from tests.sdk.test_ws_fidelity import until

INSTRUCTIONS = "You answer the phone for a shop."


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    return run_async(coro, timeout)


def order_status(order: str) -> str:
    """Where an order is.

    Args:
        order: The order's number.
    """
    return f"order {order} left the warehouse"


class Served:
    """A running call server: its object, its base URL and the webhook URL."""

    def __init__(self, server: CallServer, url: str) -> None:
        self.server = server
        self.url = url
        self.hook = url + server.path

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as response:
            return response.status, await response.json()


@asynccontextmanager
async def call_server(emu: Emulator, **options: Any) -> AsyncIterator[Served]:
    options.setdefault("instructions", INSTRUCTIONS)
    options.setdefault("tools", [order_status])
    server = CallServer(
        emu.api_key,
        webhook_secret=emu.config.webhook_secret,
        base_url=emu.base_url,
        shutdown_timeout=5.0,
        **options,
    )
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield Served(server, f"http://127.0.0.1:{runner.addresses[0][1]}")
    finally:
        await runner.cleanup()


def emulator() -> Emulator:
    return Emulator(config=EmulatorConfig(ms_per_char=6.0))


async def attached(served: Served, line: SimulatedCall) -> RealtimeClient:
    """Wait until the server's sideband client on ``line`` is connected; return it."""

    def ready() -> bool:
        call = served.server.calls.get(line.id)
        channel = call.channel if call is not None else None
        return isinstance(channel, RealtimeClient) and channel.status == "connected"

    await until(ready, "the sideband attached")
    channel = served.server.calls[line.id].channel
    assert isinstance(channel, RealtimeClient)
    return channel


# -- a whole call -----------------------------------------------------------------------------


def test_a_phone_call_is_answered_its_tool_runs_here_and_it_ends_when_the_caller_hangs_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen_calls: list[SipCall] = []
    digits: list[str] = []
    incoming: list[IncomingCall] = []

    def decide(event: IncomingCall) -> Accept:
        incoming.append(event)
        return Accept()

    def on_call(call: SipCall) -> None:
        seen_calls.append(call)
        call.on("call:dtmf", lambda notice: digits.append(notice.digit))

    async def scenario() -> None:
        async with (
            emulator() as emu,
            call_server(emu, decide=decide, on_call=on_call, log_dir=tmp_path) as served,
        ):
            line = await emu.sip.incoming("+14255550123", webhook_url=served.hook, realtime=False)
            assert line.webhook_attempts == [200]
            client = await attached(served, line)
            # Accepted with the configured session: instructions and the tool's schema.
            assert line.status == "accepted"
            assert line.engine.session["instructions"] == INSTRUCTIONS
            assert [t["name"] for t in line.engine.session["tools"]] == ["order_status"]
            assert incoming[0].call_id == line.id
            assert incoming[0].caller == "sip:+14255550123@sip.example.com"
            status, listed = await served.get(CALLS_PATH)
            assert status == 200
            assert [(c["call_id"], c["state"], c["sideband"]) for c in listed["calls"]] == [
                (line.id, "active", "connected")
            ]
            # The caller asks; the model calls the tool, which runs here, on the sideband.
            await line.say('Where is my order? order_status {"order": "A7"}')
            await until(
                lambda: any("left the warehouse" in row.text for row in client.chat),
                "the tool's answer in the sideband's chat",
            )
            assert line.frames_heard > 0  # the phone played the answer
            spoken = [item for item in line.engine.items if item.get("role") == "assistant"]
            assert any("order A7 left the warehouse" in json.dumps(item) for item in spoken)
            # The caller's keys reach the app.
            await line.press("42#")
            await until(lambda: digits == ["4", "2", "#"], "the keys as call:dtmf")
            # The caller hangs up: the sideband ends, the call ends, the server forgets it.
            await line.hang_up()
            call = seen_calls[0]
            assert await call.wait_over(5.0) == "ended"
            assert call.chart.ended_by == "caller"
            await until(lambda: not served.server.calls, "the call forgotten")
            await until(lambda: call.channel is None, "the sideband detached")
            assert client.model.connection.state == "disconnected"
            status, listed = await served.get(CALLS_PATH)
            assert listed["calls"] == []
            counts = listed["counts"]
            assert (counts["incoming"], counts["accepted"], counts["ended"]) == (1, 1, 1)
            status, health = await served.get(HEALTH_PATH)
            assert (status, health["status"], health["calls"]) == (200, "ok", 0)

        text = (tmp_path / f"{call.id}.jsonl").read_text(encoding="utf-8")
        records = [json.loads(line) for line in text.splitlines()]
        kinds = [r["kind"] for r in records]
        assert kinds[0] == "incoming"
        assert kinds[-1] == "ended"
        states = [(r["source"], r["target"]) for r in records if r["kind"] == "state"]
        assert ("incoming", "accepting") in states
        assert ("accepting", "active") in states
        assert ("active", "ended") in states
        sideband = [r["target"] for r in records if r["kind"] == "sideband"]
        assert sideband[0] == "fetching_token"
        assert "connected" in sideband
        assert "ended" in sideband
        assert [r["digit"] for r in records if r["kind"] == "dtmf"] == ["4", "2", "#"]
        assert [(r["name"], r["args"]) for r in records if r["kind"] == "tool"] == [
            ("order_status", {"order": "A7"})
        ]
        chat = [(r["role"], r["text"]) for r in records if r["kind"] == "chat"]
        assert ("user", 'Where is my order? order_status {"order": "A7"}') in chat
        assert any(role == "assistant" and "left the warehouse" in text for role, text in chat)
        assert records[-1]["digits"] == "42#"
        assert records[-1]["state"] == "ended"
        # The same lines went to the one logger, with the fields for structured handlers.
        logged = [r for r in caplog.records if r.name == "realtime_sdk.call_server"]
        assert any(getattr(r, "call", {}).get("kind") == "chat" for r in logged)

    with caplog.at_level(logging.INFO, logger="realtime_sdk.call_server"):
        run(scenario(), timeout=40)
