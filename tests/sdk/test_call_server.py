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

from realtime_sdk.call_server import BUSY, CALLS_PATH, HEALTH_PATH, CallServer
from realtime_sdk.calls import Accept, CallControl, Refer, Reject, SidebandAttach, SipCall
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.sip import SimulatedCall
from realtime_sdk.errors import ConnectError
from realtime_sdk.webhooks import DEFAULT_PATH, IncomingCall, signed_headers
from tests.aio import run_async
from tests.sdk.conftest import RedisServer
from tests.sdk.test_ws_fidelity import until

INSTRUCTIONS = "You answer the phone for a shop."
START_TIMEOUT = 20.0
TOOLS_MODULE = '''
def order_status(order: str) -> str:
    """Where an order is.

    Args:
        order: The order's number.
    """
    return f"order {order} is on its way"


TOOLS = [order_status]
'''


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
    client = await served.server.wait_attached(line.id, timeout=10)
    assert client.status == "connected"
    assert served.server.calls[line.id].channel is client
    return client


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
            assert not served.server._logs  # nothing of an ended call is kept but counters
            assert not served.server._attached
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


# -- decisions, limits, refusals --------------------------------------------------------------


def test_decide_rejects_and_refers_and_a_failing_decide_rejects_with_500() -> None:
    def decide(event: IncomingCall) -> Accept | Reject | Refer:
        caller = event.caller or ""
        if "+1900" in caller:
            return Reject(603)
        if "+1800" in caller:
            return Refer("tel:+14155550123")
        if "+1666" in caller:
            raise RuntimeError("the CRM is down")
        return Accept({"instructions": "Override for this caller."})

    async def scenario() -> None:
        async with emulator() as emu, call_server(emu, decide=decide) as served:
            rejected = await emu.sip.incoming("+19005550100", webhook_url=served.hook)
            referred = await emu.sip.incoming("+18005550100", webhook_url=served.hook)
            broken = await emu.sip.incoming("+16665550100", webhook_url=served.hook)
            accepted = await emu.sip.incoming(
                "+14255550100", webhook_url=served.hook, realtime=False
            )
            await served.server.receiver.join()
            assert (rejected.status, rejected.reject_status) == ("rejected", 603)
            assert (referred.status, referred.refer_target) == ("referred", "tel:+14155550123")
            assert (broken.status, broken.reject_status) == ("rejected", 500)
            assert accepted.status == "accepted"
            # An Accept with a session of its own is laid over the configured one.
            assert accepted.engine.session["instructions"] == "Override for this caller."
            assert [t["name"] for t in accepted.engine.session["tools"]] == ["order_status"]
            counts = served.server.counts
            assert (counts["rejected"], counts["referred"], counts["decide_failed"]) == (2, 1, 1)
            assert counts["accepted"] == 1
            assert list(served.server.calls) == [accepted.id]
            await attached(served, accepted)

    run(scenario())


def test_beyond_max_calls_a_call_is_rejected_busy_and_closing_hangs_up_the_live_ones() -> None:
    async def scenario() -> None:
        async with emulator() as emu, call_server(emu, max_calls=1) as served:
            first = await emu.sip.incoming(webhook_url=served.hook, realtime=False)
            client = await attached(served, first)
            second = await emu.sip.incoming(webhook_url=served.hook, realtime=False)
            await served.server.receiver.join()
            assert (second.status, second.reject_status) == ("rejected", BUSY)
            assert served.server.counts["busy"] == 1
            assert list(served.server.calls) == [first.id]
            assert first.status == "accepted"
            # Closing: the live call is hung up and its sideband closed, within the timeout.
            await served.server.close()
            await first.wait_ended(5.0)
            assert first.end_reason == "hung up by the server"
            assert served.server.calls == {}
            assert client.model.connection.state == "disconnected"
            assert served.server.counts["ended"] == 2
            status, health = await served.get(HEALTH_PATH)
            assert (status, health["status"]) == (503, "closing")
            # A webhook arriving while it closes is answered 503: OpenAI retries it elsewhere.
            late = emu.sip.create(realtime=False)
            body = json.dumps(emu.sip.event(late))
            headers = signed_headers(emu.config.webhook_secret, "wh_late", body)
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    served.hook, data=body, headers={**headers, "Content-Type": "application/json"}
                ) as response,
            ):
                assert response.status == 503
                assert response.headers["Retry-After"] == "1"
            assert late.status == "ringing"
            assert served.server.calls == {}

    run(scenario())


def test_a_bad_signature_is_401_and_no_call_is_taken() -> None:
    async def scenario() -> None:
        async with emulator() as emu, call_server(emu) as served:
            line = emu.sip.create(realtime=False)
            body = json.dumps(emu.sip.event(line))
            forged = signed_headers("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "wh_1", body)
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    served.hook,
                    data=body,
                    headers={**forged, "Content-Type": "application/json"},
                ) as response,
            ):
                assert response.status == 401
                assert (await response.json())["error"]["code"] == "mismatch"
            assert line.status == "ringing"
            assert served.server.calls == {}
            assert served.server.counts["incoming"] == 0
            assert served.server.receiver.counts["refused"] == 1

    run(scenario())


# -- the sideband as the call's control channel -----------------------------------------------


def test_a_sideband_that_reattaches_to_a_call_gone_meanwhile_ends_the_call() -> None:
    """The sideband drops (1012), the caller hangs up while it is down: the reattach is
    refused with 404, and the client lands in ``ended`` (not ``error`` after its attempts);
    the call ends with it."""

    async def scenario() -> None:
        async with emulator() as emu:
            line = emu.sip.create(realtime=False)
            async with CallControl(emu.api_key, base_url=emu.base_url, timeout=5.0) as control:
                attach = SidebandAttach(
                    emu.api_key,
                    base_url=emu.base_url,
                    reconnect={"attempts": 3, "backoff_initial": 0.3},
                )
                call = SipCall(line.id, control, attach=attach)
                assert await call.accept({"type": "realtime"}) == "active"
                await until(lambda: isinstance(call.channel, RealtimeClient), "attached")
                client = call.channel
                assert isinstance(client, RealtimeClient)
                await until(lambda: client.status == "connected", "connected")
                [socket] = list(emu._websockets)
                await socket.close(code=1012, message=b"service restart")
                await until(lambda: client.model.connection.state == "reconnecting", "reconnecting")
                await line.hang_up()  # while the sideband is down
                assert await call.wait_over(5.0) == "ended"
                assert call.chart.ended_by == "caller"
                assert "no call" in (call.chart.end_reason or "")
                connection = [
                    (s.source, s.target) for s in client.model.record if s.chart == "connection"
                ]
                assert ("handshaking", "ended") in connection
                assert "error" not in [target for _, target in connection]
                assert client.model.connection.reconnects == 0
                await until(lambda: call.channel is None, "detached")
                assert client.model.connection.state == "disconnected"
                await call.aclose()
            # A first attach to a call that does not exist stays a connect error.
            lost = RealtimeClient.attach("rtc_gone", api_key=emu.api_key, base_url=emu.base_url)
            with pytest.raises(ConnectError, match="no call 'rtc_gone'"):
                await lost.connect()
            assert lost.model.connection.state == "error"
            await lost.disconnect()

    run(scenario())


def test_a_call_nobody_can_control_is_hung_up() -> None:
    """The sideband cannot attach (here the app's hook fails), or is lost for good (dropped,
    no reconnect attempts): the call, which nobody would run, is hung up."""
    failing: list[str] = []

    def on_client(call: SipCall, _client: RealtimeClient) -> None:
        if not failing:
            failing.append(call.id)
            raise RuntimeError("the app could not set up this call")

    async def scenario() -> None:
        async with emulator() as emu, call_server(emu, on_client=on_client) as served:
            first = await emu.sip.incoming(webhook_url=served.hook, realtime=False)
            await first.wait_ended(5.0)
            assert first.end_reason == "hung up by the server"
            assert served.server.counts["attach_failed"] == 1
            await until(lambda: not served.server.calls, "the first call forgotten")

            second = await emu.sip.incoming(webhook_url=served.hook, realtime=False)
            client = await attached(served, second)
            [socket] = list(emu._websockets)
            await socket.close(code=1011, message=b"internal error")  # a drop, not an end
            await second.wait_ended(5.0)
            assert second.end_reason == "hung up by the server"
            assert client.model.connection.error_message is not None
            await until(lambda: not served.server.calls, "the second call forgotten")
            assert served.server.counts["ended"] == 2

    run(scenario())


# -- the command ------------------------------------------------------------------------------


def test_the_command_says_what_is_wrong_with_its_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from realtime_sdk.cli import main
    from realtime_sdk.cli.call_server import DEFAULT_WEBHOOK_PATH

    assert DEFAULT_WEBHOOK_PATH == DEFAULT_PATH

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "whsec_dGVzdC1zZWNyZXQta2V5LWZvci1jbGk=")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    a_list = tmp_path / "list.json"
    a_list.write_text("[1, 2]", encoding="utf-8")
    cases = [
        (["--max-calls", "0"], "--max-calls must be at least 1"),
        (["--path", "hook"], "--path must start with '/'"),
        (["--base-url", "ftp://x"], "--base-url must be an http://"),
        (["--session", str(tmp_path / "missing.json")], "--session: cannot read"),
        (["--session", str(bad_json)], "is not JSON"),
        (["--session", str(a_list)], "must hold a JSON object"),
        (["--tools", "nomodule"], "--tools must be MODULE:ATTR"),
        (["--tools", "no_such_module_here:TOOLS"], "cannot import 'no_such_module_here'"),
        (["--tools", "json:NOPE"], "'json' has no 'NOPE'"),
        (["--redis", "http://127.0.0.1:6379"], "--redis must be a redis://"),
        (["--log-dir", str(bad_json / "sub")], "--log-dir: cannot create"),
        (["--webhook-secret", "whsec_!!!"], "webhook secret"),
    ]
    for argv, words in cases:
        assert main(["call-server", "--port", "0", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("realtime call-server: "), err
        assert words in err, (argv, err)
        assert err.count("\n") == 1, err  # one line
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    assert main(["call-server", "--port", "0"]) == 2
    assert "--webhook-secret" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY")
    assert main(["call-server", "--port", "0", "--webhook-secret", "whsec_x"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err


class Process:
    """``realtime call-server`` as a subprocess: its base URL from the first line of stdout."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, path: str) -> None:
        self.process = process
        self.url = url
        self.hook = url + path

    @classmethod
    async def start(cls, emu: Emulator, tmp_path: Path, *argv: str) -> Process:
        import realtime_machines
        import realtime_sdk

        roots = [
            str(tmp_path),
            str(Path(realtime_sdk.__file__).parents[1]),
            str(Path(realtime_machines.__file__).parents[1]),
        ]
        env = {
            **os.environ,
            "OPENAI_API_KEY": emu.api_key,
            "OPENAI_WEBHOOK_SECRET": emu.config.webhook_secret,
            "PYTHONPATH": os.pathsep.join(roots),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "realtime_sdk.cli",
            "call-server",
            "--port",
            "0",
            "--base-url",
            emu.base_url,
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        url = line.decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            process.kill()
            _out, err = await process.communicate()
            raise AssertionError(f"the call server did not start: {line!r} {err.decode()}")
        return cls(process, url, DEFAULT_PATH)

    async def calls(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + CALLS_PATH) as response,
        ):
            assert response.status == 200
            answer: dict[str, Any] = await response.json()
            return answer

    async def stop(self) -> str:
        """SIGTERM, wait for the graceful stop; its standard error."""
        if self.process.returncode is None:
            self.process.terminate()
        _out, err = await asyncio.wait_for(self.process.communicate(), 15)
        text = err.decode()
        assert self.process.returncode == 0, text[-2000:]
        return text


async def poll(process: Process, predicate: Callable[[dict[str, Any]], bool], what: str) -> None:
    """Ask ``GET /calls`` until ``predicate`` holds of its answer (at most 10 s)."""
    for _ in range(200):
        answer = await process.calls()
        if predicate(answer):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not reached within 10 s (last: {answer})")


def test_the_command_answers_a_call_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "shop_tools.py").write_text(TOOLS_MODULE, encoding="utf-8")
    logs = tmp_path / "logs"

    async def scenario() -> None:
        async with emulator() as emu:
            process = await Process.start(
                emu,
                tmp_path,
                "--tools",
                "shop_tools:TOOLS",
                "--instructions",
                INSTRUCTIONS,
                "--log-dir",
                str(logs),
            )
            try:
                line = await emu.sip.incoming(webhook_url=process.hook, realtime=False)

                def live(state: str) -> Callable[[dict[str, Any]], bool]:
                    return lambda answer: (
                        [(c["call_id"], c["sideband"]) for c in answer["calls"]]
                        == [(line.id, state)]
                    )

                await poll(process, live("connected"), "the sideband attached")
                assert line.engine.session["instructions"] == INSTRUCTIONS
                await line.say('Where is my parcel? order_status {"order": "B2"}')
                await until(
                    lambda: any(
                        "order B2 is on its way" in json.dumps(item)
                        for item in line.engine.items
                        if item.get("role") == "assistant"
                    ),
                    "the tool's answer in the call",
                )
                await until(lambda: line.frames_heard > 0, "the answer played to the caller")
                await line.press("7")
                await poll(process, lambda a: [c["digits"] for c in a["calls"]] == ["7"], "the key")
                await line.hang_up()
                await poll(process, lambda a: a["calls"] == [], "the call forgotten")
                counts = (await process.calls())["counts"]
                assert (counts["accepted"], counts["ended"]) == (1, 1)
            finally:
                err = await process.stop()
        assert f"call {line.id}: tool order_status" in err
        assert "user: Where is my parcel?" in err
        assert emu.api_key not in err
        records = [
            json.loads(row)
            for row in (logs / f"{line.id}.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert records[-1]["kind"] == "ended"
        assert records[-1]["ended_by"] == "caller"
        assert any(r["kind"] == "chat" and "on its way" in r["text"] for r in records)

    run(scenario(), timeout=60)


def test_two_processes_sharing_redis_answer_one_delivery_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with emulator() as emu:
            processes = await asyncio.gather(
                *(Process.start(emu, tmp_path, "--redis", redis_server.url) for _ in range(2))
            )
            try:
                line = emu.sip.create(realtime=False)
                body = json.dumps(emu.sip.event(line))
                headers = {
                    **signed_headers(emu.config.webhook_secret, "wh_same_delivery", body),
                    "Content-Type": "application/json",
                }
                async with aiohttp.ClientSession() as http:

                    async def post(process: Process) -> tuple[int, Any]:
                        async with http.post(process.hook, data=body, headers=headers) as r:
                            return r.status, await r.json()

                    answers = await asyncio.gather(*(post(p) for p in processes))
                assert [status for status, _ in answers] == [200, 200]
                assert sorted(a["status"] for _, a in answers) == ["accepted", "duplicate"]
                await until(lambda: line.status == "accepted", "accepted once")
                winner = processes[[a["status"] for _, a in answers].index("accepted")]
                other = processes[1 - processes.index(winner)]
                await poll(winner, lambda a: len(a["calls"]) == 1, "the winner holds the call")
                assert (await other.calls())["calls"] == []
                assert (await other.calls())["counts"].get("incoming", 0) == 0
                assert (await other.calls())["webhooks"]["duplicate"] == 1
                await line.hang_up()
                await poll(winner, lambda a: a["calls"] == [], "the call over")
            finally:
                errs = await asyncio.gather(*(p.stop() for p in processes))
            for err in errs:
                assert emu.config.webhook_secret.removeprefix("whsec_") not in err

    run(scenario(), timeout=60)
