"""Client defects found under attack (issue 8, item 3), each against the emulator, on every
transport (WebRTC and WebSocket on loopback, memory in process) unless it is WebRTC's own.

* a message sent into a silently dead call: delivered on the next call, or the app is told;
* a token ending in a newline connects; any exception in any connect step fails that step at
  once, with its stage;
* ``expires_at`` NaN / infinite / past / too near: no rollover storm;
* a send larger than the peer's max-message-size: ``SendError`` + ``ErrorEvent``, nothing after
  it sent; the emulator advertises OpenAI's max-message-size and large legal messages go;
* the liveness check notices a dead peer within ``liveness_timeout``, never later (fake time).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from realtime_machines import AssistantCompleted
from realtime_sdk.client import LIVENESS_LEAD_S, RealtimeClient, liveness_wait
from realtime_sdk.emulator import Emulator, Engine, Faults
from realtime_sdk.emulator.brain import Say, Turn
from realtime_sdk.emulator.webrtc import OPENAI_MAX_MESSAGE_SIZE
from realtime_sdk.errors import ConnectError, ErrorEvent, SendError, TokenError
from realtime_sdk.keys import api_key_token_provider
from realtime_sdk.middleware import IncomingContext
from realtime_sdk.peer import Peer
from realtime_sdk.transports import MemoryTransport
from realtime_sdk.transports.webrtc import WebRTCTransport
from realtime_sdk.transports.websocket import WebSocketTransport
from tests.sdk.test_client import (
    connection_path,
    engine_of,
    make_client,
    on_every_transport,
    wait_for,
)

Runner = Callable[..., Any]

FAST_RECONNECT = {"attempts": 2, "backoff_initial": 0.05, "backoff_max": 0.2}


async def until(check: Callable[[], bool], limit: float, what: str) -> None:
    """Poll ``check`` (bounded by ``limit`` seconds, a generous upper bound)."""
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"not within {limit} s: {what}"
        await asyncio.sleep(0.01)


def user_messages(engine: Any) -> list[str]:
    return [
        item["content"][0]["text"]
        for item in engine.items
        if item.get("type") == "message" and item.get("role") == "user"
    ]


# -------------------------------------------------------------------------------------------
# 1. A message sent into a silently dead call
# -------------------------------------------------------------------------------------------
async def _send_into_a_dead_call(client: RealtimeClient) -> None:
    """Connect; a first question whose answer stops after one delta (the call vanished: no
    close, nothing more); then a message into that dead call, which the client cannot know."""
    first_delta = asyncio.Event()
    client.on("assistant:delta", lambda _n: first_delta.set())
    await client.connect()
    await client.send_text_message("hello")
    await asyncio.wait_for(first_delta.wait(), 10)
    await client.send_text_message("Remember the word teal.")  # returns: the channel is "open"


@on_every_transport
def test_a_message_sent_into_a_silently_dead_call_is_delivered_on_the_next_call(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=Faults(vanish_mid_response=True)) as emu:
            client = make_client(
                emu,
                transport,
                on_error=reported.append,
                liveness_timeout=1.0,
                reconnect=FAST_RECONNECT,
            )
            first_delta = asyncio.Event()
            client.on("assistant:delta", lambda _n: first_delta.set())
            await client.connect()
            first_engine = engine_of(emu, client)
            await client.send_text_message("hello")
            await asyncio.wait_for(first_delta.wait(), 10)
            emu.faults.vanish_mid_response = False  # the next call is a healthy one
            await client.send_text_message("Remember the word teal.")
            await until(
                lambda: client.model.connection.reconnects == 1 and client.status == "connected",
                10,
                "reconnected",
            )
            engine = engine_of(emu, client)
            assert engine is not first_engine
            # The new call has the message, once, after the history, and answers it.
            await until(lambda: "Remember the word teal." in user_messages(engine), 10, "re-sent")
            assert user_messages(engine) == ["hello", "Remember the word teal."]
            await until(
                lambda: (
                    bool(client.chat)
                    and client.chat[-1].role == "assistant"
                    and client.chat[-1].status == "done"
                    and [i.text for i in client.chat].count("Remember the word teal.") == 1
                ),
                10,
                "answered on the new call",
            )
            rows = [(i.role, i.text) for i in client.chat]
            assert rows.count(("user", "Remember the word teal.")) == 1
            teal = rows.index(("user", "Remember the word teal."))
            assert rows[teal + 1][0] == "assistant"  # its answer follows it
            assert [e for e in reported if e.context.get("item_id")] == []  # delivered: no error
            await client.disconnect()

    run(scenario(), timeout=40)


@on_every_transport
def test_a_message_sent_into_a_silently_dead_call_is_reported_when_no_call_replaces_it(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=Faults(vanish_mid_response=True)) as emu:
            client = make_client(emu, transport, on_error=reported.append, liveness_timeout=1.0)
            await _send_into_a_dead_call(client)
            await until(lambda: client.status == "error", 10, "the dead call noticed")
            [undelivered] = [e for e in reported if "item_id" in e.context]
            assert undelivered.stage == "data_channel"
            assert not undelivered.recoverable
            assert undelivered.context["text"] == "Remember the word teal."
            assert "not delivered" in undelivered.message
            await client.disconnect()

    run(scenario(), timeout=30)


async def close_the_channel(client: RealtimeClient) -> None:
    """Close the call's event channel under the client, which notices it only later (in a
    task): WebRTC's DataChannel; the WebSocket's TCP connection (aborted: its reader learns
    it on a later turn of the loop); the in-memory engine ends the call."""
    transport = client.transport
    if client.transport_kind == "webrtc":
        client.data_channel.close()
    elif isinstance(transport, WebSocketTransport):
        assert transport._ws is not None
        connection = transport._ws._response.connection
        assert connection is not None
        assert connection.transport is not None
        connection.transport.abort()
    else:
        assert isinstance(transport, MemoryTransport)
        assert transport.engine is not None
        transport.engine._shutdown_transport("fault")


#: What each transport's SendError says of a channel that has closed.
CLOSED_CHANNEL = {
    "webrtc": "not open",
    "websocket": "the WebSocket failed",
    "memory": "the in-memory call is closed",
}


@on_every_transport
def test_a_message_sent_when_the_channel_has_closed_raises_send_error(
    run: Runner, transport: str
) -> None:
    """The app is told at once when the client can know: the channel closed, and the lost
    call is not handled yet (the status is still ``connected``)."""

    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator() as emu:
            client = make_client(emu, transport, on_error=reported.append)
            await client.connect()
            await close_the_channel(client)
            assert client.status == "connected"  # the loss is noticed in a task, later
            with pytest.raises(SendError) as caught:
                await client.send_text_message("into the void")
            assert caught.value.event_type == "conversation.item.create"
            assert CLOSED_CHANNEL[transport] in str(caught.value)
            assert [(e.stage, e.context.get("type")) for e in reported][:1] == [
                ("data_channel", "conversation.item.create")
            ]
            assert client._unacked == {}  # told by the exception: not re-sent, not reported
            await client.disconnect()

    run(scenario())


@on_every_transport
def test_a_message_acknowledged_before_a_disconnect_is_not_reported(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator() as emu:
            client = make_client(emu, transport, on_error=reported.append)
            async with client:
                await client.send_text_message("hello")
                await wait_for(client, AssistantCompleted)
            assert client._unacked == {}
            assert reported == []

    run(scenario())


@on_every_transport
def test_a_message_the_server_refuses_is_not_kept_for_the_next_call(
    run: Runner, transport: str
) -> None:
    def break_it(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("type") == "conversation.item.create":
            event["item"] = {**event["item"], "role": "narrator"}
        return event

    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator() as emu:
            client = make_client(
                emu, transport, on_error=reported.append, outgoing_middleware=[break_it]
            )
            async with client:
                await client.send_text_message("hello")
                await until(lambda: bool(reported), 5, "the server's error")
                assert reported[0].stage == "openai_api"
                await until(lambda: client._unacked == {}, 5, "the refused message forgotten")

    run(scenario())


# -------------------------------------------------------------------------------------------
# 2. Tokens and connect steps
# -------------------------------------------------------------------------------------------
@on_every_transport
def test_a_token_ending_in_a_newline_connects(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            mint = api_key_token_provider(emu.api_key, base_url=emu.base_url)

            async def from_a_file() -> str:
                return f"{await mint()}\n"  # as read from a file

            client = make_client(emu, transport)
            client.set_token_provider(from_a_file)
            await asyncio.wait_for(client.connect(), 10)
            assert client.status == "connected"
            await client.disconnect()

    run(scenario(), timeout=30)


@on_every_transport
@pytest.mark.parametrize("token", ["ek_abc\ndef", "ek_abc def", "ek_abcé", ""])
def test_a_token_that_is_no_header_value_is_a_clear_token_error(
    run: Runner, transport: str, token: str
) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, transport)
            client.set_token_provider(lambda: token)
            started = time.monotonic()
            with pytest.raises(TokenError) as caught:
                await client.connect()
            assert time.monotonic() - started < 5.0  # at once, not after the 15 s SDP timeout
            assert caught.value.stage == "fetch_token"
            assert ("no token" if not token else "HTTP header") in str(caught.value)
            assert str(caught.value).count("could not get an ephemeral key") == 1
            assert token.strip() == "" or token not in str(caught.value)  # no token echoed
            await client.disconnect()

    run(scenario(), timeout=30)


def _raise(exc: BaseException) -> Callable[..., Any]:
    def raiser(*_args: Any, **_kwargs: Any) -> Any:
        raise exc

    return raiser


STEP_FAULTS: dict[tuple[str, str], tuple[str, Any, bool]] = {
    # (transport, handshake state): (what to patch, on what, whether it is a coroutine)
    ("webrtc", "creating_peer"): ("__init__", Peer, False),
    ("webrtc", "creating_offer"): ("create_offer", Peer, True),
    ("webrtc", "posting_offer"): ("post", aiohttp.ClientSession, False),
    ("webrtc", "applying_answer"): ("apply_answer", Peer, True),
    ("websocket", "opening_socket"): ("ws_connect", aiohttp.ClientSession, False),
    ("websocket", "awaiting_session"): ("_await_session", WebSocketTransport, True),
    ("memory", "attaching"): ("start", Engine, False),
}

TRANSPORT_CLASSES: dict[str, Any] = {
    "webrtc": WebRTCTransport,
    "websocket": WebSocketTransport,
    "memory": MemoryTransport,
}

STEP_CASES = [
    *[(transport, "fetching_token") for transport in ("webrtc", "websocket", "memory")],
    *STEP_FAULTS,
]


@pytest.mark.parametrize(("transport", "state"), STEP_CASES, ids=["-".join(c) for c in STEP_CASES])
def test_any_exception_in_a_connect_step_fails_that_step_at_once_with_its_stage(
    run: Runner, monkeypatch: pytest.MonkeyPatch, transport: str, state: str
) -> None:
    """A ValueError is what aiohttp raised on a token ending in a newline, in posting_offer.
    Every transport's own handshake steps are covered (the step's stage is the one the
    transport declares in its ``steps``)."""

    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                on_error=reported.append,
                timeouts={"token": 15.0, "offer": 15.0, "sdp": 15.0, "answer": 15.0},
            )
            stages = {step.state: step.stage for step in TRANSPORT_CLASSES[transport].steps}
            stage = "fetch_token" if state == "fetching_token" else stages[state]
            # A plain key: the emulator takes its API key as Bearer (no aiohttp for the token).
            if state == "fetching_token":
                client.set_token_provider(_raise(ValueError("boom")))
            else:
                client.set_token_provider(lambda: emu.api_key)
                name, owner, is_coroutine = STEP_FAULTS[(transport, state)]
                if is_coroutine:

                    async def fail(*_args: Any) -> Any:
                        raise ValueError("boom")

                    monkeypatch.setattr(owner, name, fail)
                else:
                    monkeypatch.setattr(owner, name, _raise(ValueError("boom")))
            started = time.monotonic()
            with pytest.raises(ConnectError) as caught:
                await client.connect()
            took = time.monotonic() - started
            assert took < 5.0, f"waited {took:.1f} s: for the 15 s step timeout?"
            assert caught.value.stage == stage
            assert "ValueError: boom" in str(caught.value)
            assert [(e.stage, e.severity) for e in reported] == [(stage, "critical")]
            path = connection_path(client.model)
            if state == "fetching_token":
                assert path[-1] == (state, "step_failed", "error")
            else:  # a handshake step: its chart fails, then the connection
                assert path[-1] == ("handshaking", "step_failed", "error")
                handshake = connection_path(client.model, "handshake")
                assert handshake[-1] == (state, "step_failed", "failed")
            await client.disconnect()

    run(scenario(), timeout=40)


# -------------------------------------------------------------------------------------------
# 3. Rollover on a cap that is no cap
# -------------------------------------------------------------------------------------------
@on_every_transport
@pytest.mark.parametrize(
    "expires_at",
    [math.nan, math.inf, -math.inf, "past", "within the margin", "soon", None, True],
    ids=["nan", "inf", "-inf", "past", "within-margin", "string", "none", "bool"],
)
def test_rollover_on_an_unusable_expires_at_opens_no_new_calls(
    run: Runner, caplog: pytest.LogCaptureFixture, transport: str, expires_at: Any
) -> None:
    def scripted(ctx: IncomingContext) -> Any:
        """The server's session.created, with this expires_at."""
        event = dict(ctx.event)
        if event.get("type") == "session.created":
            value = expires_at
            if expires_at == "past":
                value = int(time.time()) - 100
            elif expires_at == "within the margin":
                value = time.time() + 0.5
            event["session"] = {**event["session"], "expires_at": value}
        return event

    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                incoming_middleware=[scripted],
                reconnect={**FAST_RECONNECT, "rollover_before_cap": 1.5},
            )
            async with client:
                first_engine = engine_of(emu, client)
                await asyncio.sleep(1.5)  # a rollover storm opens a call every backoff (0.05 s)
                events = [e for _, e, _ in connection_path(client.model)]
                assert events.count("rollover") == 0
                assert engine_of(emu, client) is first_engine
                assert client.model.connection.reconnects == 0
                assert client.status == "connected"
        refused = [r for r in caplog.records if "no rollover" in r.getMessage()]
        assert len(refused) == 1

    with caplog.at_level(logging.WARNING, logger="realtime_sdk.client"):
        run(scenario())


# -------------------------------------------------------------------------------------------
# 4. max-message-size
# -------------------------------------------------------------------------------------------
# WebRTC only: the limit is the one the SDP answer advertises (``a=max-message-size``) and
# SCTP enforces; WebSocket and memory have no SDP (their own limits are the transports'
# ``max_message_size``, tested in test_transports.py).
class Brief:
    """Answers anything with one word (the default brain echoes the whole message)."""

    def respond(self, turn: Turn) -> list[Say]:
        return [Say("Noted.")]


def test_the_emulator_advertises_openais_max_message_size_and_a_large_message_goes(
    run: Runner,
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(brain=Brief()) as emu:
            client = make_client(emu, on_error=reported.append)
            async with client:
                answer = client.peer_connection.remoteDescription.sdp
                assert f"a=max-message-size:{OPENAI_MAX_MESSAGE_SIZE}" in answer
                assert OPENAI_MAX_MESSAGE_SIZE == 1073741823
                # 200 KB: over RFC 8841's default 65536; under the 262144 the client's aiortc
                # advertises, so that the server can echo it back in conversation.item.added.
                large = "word " * 40_000
                await client.send_text_message(large)
                await wait_for(client, AssistantCompleted, timeout=20)
                engine = emu.calls[client.call_id or ""].engine
                assert user_messages(engine) == [large]
                assert (client.chat[0].role, client.chat[0].text) == ("user", large)
            assert reported == []

    run(scenario(), timeout=40)


def test_a_send_over_the_peers_max_message_size_raises_and_nothing_follows(run: Runner) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=Faults(max_message_size=4096)) as emu:
            client = make_client(emu, on_error=reported.append)
            async with client:
                answer = client.peer_connection.remoteDescription.sdp
                assert "a=max-message-size:4096" in answer
                engine = emu.calls[client.call_id or ""].engine
                await until(
                    lambda: any(e.get("type") == "session.update" for e in engine.received),
                    5,
                    "session.update received",
                )
                received_before = len(engine.received)
                with pytest.raises(SendError) as caught:
                    await client.send_text_message("x" * 5000)
                assert caught.value.event_type == "conversation.item.create"
                assert "4096" in str(caught.value)
                [event] = reported
                assert (event.stage, event.severity) == ("data_channel", "warning")
                assert event.context["type"] == "conversation.item.create"
                await asyncio.sleep(0.3)
                assert len(engine.received) == received_before  # no response.create after it
                assert client.model.response.state == "idle"
                assert client._unacked == {}  # told by the exception: not re-sent later
                await client.send_text_message("a small one")  # the session goes on
                await wait_for(client, AssistantCompleted)
                assert user_messages(engine) == ["a small one"]

    run(scenario(), timeout=30)


# -------------------------------------------------------------------------------------------
# 5. Liveness: noticed within liveness_timeout, by construction (fake time)
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [10.0, 1.0, 0.25])
@pytest.mark.parametrize("silent", [0.0, 0.3, 0.999, 5.0, 8.9])
def test_liveness_wait_checks_no_later_than_the_limit(limit: float, silent: float) -> None:
    last_inbound = 1000.0
    now = last_inbound + silent * limit / 10.0
    lead = min(LIVENESS_LEAD_S, limit / 10)
    wait = liveness_wait(last_inbound, now, limit)
    assert wait is not None
    assert wait > 0
    assert now + wait == pytest.approx(last_inbound + limit - lead)  # the next check
    assert now + wait < last_inbound + limit  # a check late by < lead is still in time
    assert liveness_wait(last_inbound, last_inbound + limit - lead, limit) is None
    assert liveness_wait(last_inbound, last_inbound + limit + 0.5, limit) is None
    assert liveness_wait(last_inbound, last_inbound + limit - 2 * lead, limit) is not None


def _connected_client(**options: Any) -> RealtimeClient:
    client = RealtimeClient(token_provider=lambda: "ek_test", ice_servers=[], **options)
    model = client.model
    model.connect()
    steps: list[tuple[str, dict[str, Any]]] = [
        ("token_received", {}),
        ("microphone_unavailable", {}),
        *[("step_done", {}) for _ in WebRTCTransport.steps],
    ]
    for event, data in steps:
        model.signal(event, time=None, **data)
    model.outbox.clear()  # nothing is executed: this client talks to no one
    assert client.status == "connected"
    assert client._watchdog is not None
    client._watchdog.cancel()  # the test runs the loop itself, on a fake clock
    return client


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.999])
def test_a_dead_peer_is_noticed_at_the_liveness_timeout_never_later(
    run: Runner, phase: float
) -> None:
    """The real ``_liveness`` loop with a fake clock: the peer's last frame arrives at
    ``phase`` of a second, then more traffic for a while, then nothing. With the old 1 s
    polling interval this was noticed 10.0–11.0 s after the last frame."""

    async def scenario() -> None:
        client = _connected_client(liveness_timeout=10.0)
        now = [100.0 + phase]
        peer = SimpleNamespace(last_inbound=now[0])
        client._transport = peer  # type: ignore[assignment]
        traffic_until = 100.0 + phase + 7.3
        lost: list[tuple[float, dict[str, Any]]] = []

        async def sleep(seconds: float) -> None:
            assert seconds > 0
            end = now[0] + seconds
            while now[0] + 0.4 < min(end, traffic_until):  # frames every 0.4 s, for a while
                now[0] += 0.4
                peer.last_inbound = now[0]
            now[0] = end

        async def signal(event: str, **data: Any) -> None:
            lost.append((now[0], {"event": event, **data}))

        client._signal = signal  # type: ignore[method-assign]
        watch: Callable[..., Awaitable[None]] = client._liveness
        await asyncio.wait_for(watch(clock=lambda: now[0], sleep=sleep), 5)
        [(at, data)] = lost
        assert data["event"] == "connection_lost"
        noticed_after = at - peer.last_inbound
        assert noticed_after <= 10.0  # the promise: within liveness_timeout, worst case
        assert noticed_after == pytest.approx(10.0 - LIVENESS_LEAD_S)  # and not before that
        client._transport = None
        await client._release()  # the call's consumer task, started on entering handshaking

    run(scenario())
