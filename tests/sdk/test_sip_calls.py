"""SIP calls end to end against the emulator: its signed webhook (checked by the official
``openai`` package), :class:`CallControl` / :class:`SipCall` on its control endpoints, and the
simulated caller (speech, DTMF, hang-up, ring timeout)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai import InvalidWebhookSignatureError, OpenAI
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent

from realtime_machines.charts import CallDtmf, CallTimeouts
from realtime_sdk.calls import (
    Accept,
    CallControl,
    CallControlError,
    CallStateError,
    Refer,
    Reject,
    SipCall,
)
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator import sip as sip_module
from realtime_sdk.emulator.audio import PTIME, WS_RATE, synthesize
from realtime_sdk.emulator.sip import USER_AGENT, WEBHOOK_ATTEMPTS
from realtime_sdk.emulator.sip import SimulatedCall as PhoneLine
from realtime_sdk.emulator.testing import WsClient
from realtime_sdk.webhooks import verify
from tests.aio import run_async
from tests.sdk.test_ws_fidelity import until

SESSION = {
    "type": "realtime",
    "model": "gpt-realtime-2.1",
    "instructions": "You answer the phone.",
    "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}},
}


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    return run_async(coro, timeout)


class Receiver:
    """A webhook endpoint on 127.0.0.1: keeps each delivery, answers with ``statuses`` in turn
    (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.deliveries.append((await request.read(), dict(request.headers)))
        self.arrived.set()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@asynccontextmanager
async def receiver(statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    hook = Receiver(statuses)
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@asynccontextmanager
async def emulator(**config: Any) -> AsyncIterator[tuple[Emulator, CallControl]]:
    async with (
        Emulator(config=EmulatorConfig(ms_per_char=8.0, **config)) as emu,
        CallControl(emu.api_key, base_url=emu.base_url, timeout=5.0) as control,
    ):
        yield emu, control


def sideband(line: PhoneLine) -> Any:
    """An in-process stand-in for the sideband client: the call's server events reach the
    SipCall, and the call ending (the socket closing) is the caller hanging up."""

    async def attach(call: SipCall) -> object:
        line.engine.listeners.append(call.handle_server_event)

        async def watch() -> None:
            await line.closed.wait()
            call.caller_hung_up("the sideband closed")

        return asyncio.ensure_future(watch())  # over when the call is

    return attach


# -- the webhook ------------------------------------------------------------------------------


def test_the_webhook_is_signed_as_openai_signs_it() -> None:
    async def scenario() -> None:
        async with receiver() as hook, emulator() as (emu, _):
            line = await emu.sip.incoming("+14255550123", webhook_url=hook.url)
            body, headers = hook.deliveries[0]
            secret = emu.config.webhook_secret
            event = OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(body, headers)
            assert isinstance(event, RealtimeCallIncomingWebhookEvent)
            assert event.data.call_id == line.id
            assert line.id.startswith("rtc_")
            assert event.data.sip_media_security == "srtp"
            names = [h.name for h in event.data.sip_headers]
            assert names == ["From", "To", "Call-ID"]
            assert "+14255550123" in event.data.sip_headers[0].value
            assert headers["User-Agent"] == USER_AGENT
            assert verify(body, headers, secret) == headers["webhook-id"]  # ours agrees
            with pytest.raises(InvalidWebhookSignatureError):
                OpenAI(api_key="x", webhook_secret=secret).webhooks.unwrap(
                    body.replace(line.id.encode(), b"rtc_someoneelse"), headers
                )
            assert line.webhook_attempts == [200]
            assert emu.calls[line.id] is line

    run(scenario())


def test_the_webhook_is_retried_on_5xx_and_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sip_module, "WEBHOOK_BACKOFF_S", 0.01)

    async def scenario() -> None:
        async with receiver([503, 500]) as hook, emulator() as (emu, _):
            line = await emu.sip.incoming(webhook_url=hook.url)
            assert line.webhook_attempts == [503, 500, 200]
            assert len(line.webhook_seconds) == 3  # each attempt timed
            assert all(seconds >= 0 for seconds in line.webhook_seconds)
            ids = {headers["webhook-id"] for _, headers in hook.deliveries}
            assert len(ids) == 1  # one delivery, retried
        async with receiver([502] * 10) as hook, emulator() as (emu, _):
            line = await emu.sip.incoming(webhook_url=hook.url)
            assert line.webhook_attempts == [502] * WEBHOOK_ATTEMPTS
        async with receiver([404]) as hook, emulator() as (emu, _):
            line = await emu.sip.incoming(webhook_url=hook.url)
            assert line.webhook_attempts == [404]  # a 4xx is an answer, not retried

    run(scenario())


# -- a whole call -----------------------------------------------------------------------------


def test_an_accepted_call_hears_the_caller_and_ends_when_the_caller_hangs_up() -> None:
    async def scenario() -> None:
        async with receiver() as hook, emulator() as (emu, control):
            line = await emu.sip.incoming(webhook_url=hook.url, realtime=False)
            event = json.loads(hook.deliveries[0][0])
            call = SipCall.from_webhook(event, control, attach=sideband(line))
            assert call.sip_header("from") == "sip:+14255550100@sip.example.com"
            digits: list[CallDtmf] = []
            ended: list[SipCall] = []
            call.on("call:dtmf", digits.append)
            call.on("call:ended", ended.append)
            events: list[dict[str, Any]] = []
            line.engine.listeners.append(events.append)

            assert await call.decide(Accept(SESSION)) == "active"
            assert line.status == "accepted"
            assert line.accepted_at is not None
            assert line.engine.session["instructions"] == "You answer the phone."
            await asyncio.sleep(0)  # the attach runs
            assert not line.first_heard_at  # nothing heard yet
            await line.say("I would like to book a table.")
            transcripts = [
                e["transcript"]
                for e in events
                if e["type"] == "conversation.item.input_audio_transcription.completed"
            ]
            assert transcripts == ["I would like to book a table."]
            assert any(e["type"] == "response.done" for e in events)
            assert line.frames_heard > 0  # the phone played the answer
            assert line.first_heard_at is not None
            assert line.first_heard_at > line.accepted_at

            await line.press("12#")
            assert [d.digit for d in digits] == ["1", "2", "#"]
            assert call.digits == "12#"

            await line.hang_up()
            assert await call.wait_over(5.0) == "ended"
            assert call.chart.ended_by == "caller"
            assert ended == [call]
            assert line.status == "ended"
            assert line.id not in emu.calls
            states = [(t.source, t.target) for t in call.transitions if t.target]
            assert states == [
                ("incoming", "accepting"),
                ("accepting", "active"),
                ("active", "ended"),
            ]
            await call.aclose()

    run(scenario())


def test_a_phone_with_nothing_to_play_waits_and_plays_on_the_same_frame_grid() -> None:
    """The phone pulls no silent frames while nothing is queued (one emulator holds hundreds
    of calls); speech queued later starts on the 20 ms grid the first frame started, as if
    every silent frame had been pulled (they are counted as sent), not behind it."""

    async def scenario() -> None:
        async with emulator() as (emu, control):
            line = emu.sip.create(realtime=False)
            assert await SipCall(line.id, control).accept(SESSION) == "active"
            player = line.player
            await until(lambda: player.frames_sent == 1, "the first frame")
            start = player._start
            assert start is not None
            await asyncio.sleep(0.2)
            assert player.frames_sent == 1  # waiting, not pulling silence
            idle_for = time.monotonic() - start
            player.play(synthesize("Hello there.", WS_RATE, 8.0))
            await until(lambda: line.first_heard_at is not None, "the first audible frame")
            await until(lambda: player.idle and not player.playing, "the speech played out")
            assert player._start == start  # the same grid
            assert player._pts % player.samples_per_frame == 0
            # Every frame due while it waited counts as sent (silence), then the speech's:
            # the speech was not played from behind the clock.
            assert player.frames_sent >= int(idle_for / PTIME) + player.audible_frames
            await line.hang_up()

    run(scenario())


def test_a_sideband_websocket_on_a_sip_call_carries_dtmf_and_closes_with_the_call() -> None:
    async def scenario() -> None:
        async with emulator() as (emu, control):
            line = emu.sip.create(realtime=False)
            sockets: list[WsClient] = []
            attached, detached, pressed = asyncio.Event(), asyncio.Event(), asyncio.Event()

            async def attach(call: SipCall) -> object:
                ws = await WsClient.connect(emu.base_url, emu.api_key, call_id=call.id)
                sockets.append(ws)
                attached.set()

                async def pump() -> None:
                    while True:
                        call.handle_server_event(await ws.next(timeout=30))

                reader = asyncio.ensure_future(pump())

                async def closed() -> None:
                    await ws.closed.wait()
                    call.caller_hung_up("the sideband closed")

                watcher = asyncio.ensure_future(closed())

                class Channel:
                    async def aclose(self) -> None:
                        reader.cancel()
                        watcher.cancel()
                        await asyncio.gather(reader, watcher, return_exceptions=True)
                        await ws.close()
                        detached.set()

                return Channel()

            call = SipCall(line.id, control, attach=attach)
            digits: list[str] = []

            def on_dtmf(notice: CallDtmf) -> None:
                digits.append(notice.digit)
                if len(digits) == 2:
                    pressed.set()

            call.on("call:dtmf", on_dtmf)
            await call.accept(SESSION)
            async with asyncio.timeout(5):
                await attached.wait()
            await line.press("9*")
            async with asyncio.timeout(5):
                await pressed.wait()
            assert digits == ["9", "*"]
            await line.hang_up()  # the emulator closes the sideband; the app sees it end
            assert await call.wait_over(5.0) == "ended"
            assert call.chart.end_reason == "the sideband closed"
            assert sockets[0].close_code == 1000
            async with asyncio.timeout(5):
                await detached.wait()
            assert call.channel is None

    run(scenario())


def test_the_server_hangs_up_and_refers() -> None:
    async def scenario() -> None:
        async with emulator() as (emu, control):
            line = emu.sip.create(realtime=False)
            call = SipCall(line.id, control)
            await call.accept(SESSION)
            assert await call.hangup() == "ended"
            assert call.chart.ended_by == "server"
            await line.wait_ended(5.0)
            assert line.status == "ended"
            assert line.id not in emu.calls

            line = emu.sip.create(realtime=False)
            call = SipCall(line.id, control)
            await call.accept()
            assert await call.decide(Refer("tel:+14155550123")) == "referred"
            assert line.status == "referred"
            assert line.refer_target == "tel:+14155550123"

            line = emu.sip.create(realtime=False)
            call = SipCall(line.id, control)
            assert await call.refer("sip:agent@example.com") == "referred"  # from incoming
            with pytest.raises(CallStateError, match="cannot accept"):
                await call.accept()

    run(scenario())


def test_reject_then_any_other_decision_is_refused() -> None:
    async def scenario() -> None:
        async with emulator() as (emu, control):
            line = emu.sip.create(realtime=False)
            call = SipCall(line.id, control)
            assert await call.decide(Reject(486)) == "rejected"
            assert line.status == "rejected"
            assert line.reject_status == 486
            with pytest.raises(CallControlError) as refused:
                await control.accept(line.id, SESSION)
            assert refused.value.status == 400
            assert refused.value.stage == "accept"
            assert "already been rejected" in str(refused.value)

            line = emu.sip.create(realtime=False)
            await control.accept(line.id, SESSION)
            with pytest.raises(CallControlError, match="already been accepted") as twice:
                await control.accept(line.id, SESSION)
            assert twice.value.status == 400
            with pytest.raises(CallControlError, match="already been accepted"):
                await control.reject(line.id)

    run(scenario())


# -- refusals ---------------------------------------------------------------------------------


def test_unknown_calls_and_invalid_bodies_are_4xx_with_the_servers_words() -> None:
    async def scenario() -> None:
        async with emulator() as (emu, control):
            with pytest.raises(CallControlError, match="not found") as missing:
                await control.hangup("rtc_nosuchcall")
            assert (missing.value.status, missing.value.stage) == (404, "hangup")
            line = emu.sip.create(realtime=False)
            with pytest.raises(CallControlError, match="gpt-nope") as bad_model:
                await control.accept(line.id, {"type": "realtime", "model": "gpt-nope"})
            assert bad_model.value.status == 400
            headers = {"Authorization": f"Bearer {emu.api_key}"}
            base = f"{emu.base_url}/v1/realtime/calls/{line.id}"
            cases = [
                ("accept", {"model": "gpt-realtime"}, "'type'"),
                ("accept", {"type": "transcription"}, "'realtime'"),
                ("reject", {"status_code": 200}, "status_code"),
                ("refer", {"target_uri": "https://example.com"}, "target_uri"),
                ("refer", {}, "target_uri"),
            ]
            async with aiohttp.ClientSession() as http:
                for step, body, words in cases:
                    async with http.post(f"{base}/{step}", json=body, headers=headers) as resp:
                        assert resp.status == 400, (step, body)
                        error = (await resp.json())["error"]
                        assert words in error["message"], (step, error)
            assert line.status == "ringing"  # nothing invalid touched the call

    run(scenario())


def test_decisions_are_checked_before_any_request() -> None:
    with pytest.raises(ValueError, match="300-699"):
        Reject(200)
    with pytest.raises(ValueError, match="'tel:' or 'sip:'"):
        Refer("+14155550123")
    with pytest.raises(ValueError, match="'realtime'"):
        Accept({"type": "transcription"})
    with pytest.raises(ValueError, match="call_id"):
        SipCall("", CallControl("sk-test"))
    with pytest.raises(ValueError, match=r"realtime\.call\.incoming"):
        SipCall.from_webhook({"type": "realtime.call.ended"}, CallControl("sk-test"))
    with pytest.raises(ValueError, match="call_id"):
        SipCall.from_webhook(object(), CallControl("sk-test"))


def test_a_call_is_made_from_a_typed_incoming_event_too() -> None:
    @dataclass(frozen=True)
    class Header:
        name: str
        value: str

    @dataclass(frozen=True)
    class Incoming:  # the shape of the webhook receiver's typed event
        call_id: str
        sip_headers: tuple[Header, ...]

    event = Incoming("rtc_1", (Header("From", "sip:+1@x"), Header("To", "sip:+2@y")))
    call = SipCall.from_webhook(event, CallControl("sk-test"))
    assert call.id == "rtc_1"
    assert (call.sip_header("to"), call.state) == ("sip:+2@y", "incoming")


def test_a_refused_key_is_not_echoed() -> None:
    key = "sk-proj-verysecretkey1234567890"

    async def scenario() -> None:
        async with emulator() as (emu, _):
            line = emu.sip.create(realtime=False)
            async with CallControl(key, base_url=emu.base_url) as control:
                with pytest.raises(CallControlError) as refused:
                    await control.accept(line.id, SESSION)
            assert refused.value.status == 401
            assert "verysecretkey" not in str(refused.value)
            assert "verysecretkey" not in repr(control)

    run(scenario())


def test_a_stalled_step_times_out_and_fails_that_stage() -> None:
    async def scenario() -> None:
        async with emulator() as (emu, control):
            emu.faults.stall_call_control = True
            line = emu.sip.create(realtime=False)
            call = SipCall(line.id, control, timeouts=CallTimeouts(accept=0.2))
            errors: list[Exception] = []
            call.on("call:error", errors.append)
            with pytest.raises(CallControlError, match=r"accept did not answer within 0\.2 s"):
                await call.accept(SESSION)
            assert (call.state, call.chart.error_stage) == ("failed", "accept")
            assert len(errors) == 1
            assert isinstance(errors[0], CallControlError)
            await call.aclose()
            # the HTTP client's own limit, without a chart
            async with CallControl(emu.api_key, base_url=emu.base_url, timeout=0.2) as quick:
                with pytest.raises(CallControlError, match=r"no answer within 0\.2 s"):
                    await quick.reject(line.id)

    run(scenario())


def test_an_unanswered_call_rings_out() -> None:
    async def scenario() -> None:
        async with emulator(sip_ring_timeout_s=0.1) as (emu, control):
            line = emu.sip.create(realtime=False)
            await line.wait_ended(5.0)
            assert line.status == "missed"
            assert line.id not in emu.calls
            with pytest.raises(CallControlError, match="already been missed"):
                await control.accept(line.id, SESSION)

    run(scenario())


def test_a_call_placed_over_http_sends_its_webhook() -> None:
    async def scenario() -> None:
        async with receiver() as hook, emulator() as (emu, _):
            emu.config.sip_webhook_url = hook.url
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{emu.base_url}/emulator/sip/calls",
                    json={"caller": "+33123456789", "says": ["Bonjour"]},
                ) as resp,
            ):
                assert resp.status == 201
                call_id = (await resp.json())["call_id"]
            async with asyncio.timeout(5):
                await hook.arrived.wait()
            event = json.loads(hook.deliveries[0][0])
            assert event["data"]["call_id"] == call_id
            assert "+33123456789" in event["data"]["sip_headers"][0]["value"]

    run(scenario())


def test_the_emulator_command_checks_its_sip_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from realtime_sdk.cli import main

    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    assert main(["emulator", "--port", "0", "--sip-webhook", "ftp://example.com/hook"]) == 2
    assert "http:// or https://" in capsys.readouterr().err
    assert main(["emulator", "--port", "0", "--sip-webhook", "http://127.0.0.1:9/hook"]) == 2
    assert "--webhook-secret" in capsys.readouterr().err
    argv = ["emulator", "--sip-webhook", "http://127.0.0.1:9/h", "--webhook-secret", "whsec_x"]
    assert main([*argv, "--sip-ring-timeout", "0"]) == 2
    assert "--sip-ring-timeout" in capsys.readouterr().err
