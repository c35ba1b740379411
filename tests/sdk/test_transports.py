"""The transport seam itself, with a tiny scripted in-test transport (no sockets, no aiortc).

The fake answers ``session.update`` with ``session.updated`` and ``response.create`` with a
short text response, has a two-step handshake of its own (``dialing`` → ``greeting``), can
fail or hang a step, and can drop the call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from realtime_machines import effects
from realtime_sdk.client import EFFECT_HANDLERS, EffectEvent, RealtimeClient
from realtime_sdk.errors import ConnectError, ErrorEvent
from realtime_sdk.transports import (
    ConnectContext,
    HandshakeStep,
    Transport,
    register_transport,
    transport_class,
    transport_names,
)
from realtime_sdk.transports.webrtc import WebRTCTransport

Runner = Callable[..., Any]


class FakeTransport(Transport):
    """A scripted wire: each handshake step is a coroutine that succeeds, fails or hangs."""

    kind: ClassVar[str] = "fake"
    owns_playback: ClassVar[bool] = True
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        HandshakeStep("dialing", "fake_dial", 5.0, "dialed"),
        HandshakeStep("greeting", "fake_greet", 5.0),
    )

    def __init__(
        self,
        *,
        fail: dict[str, BaseException] | None = None,
        hang: frozenset[str] = frozenset(),
        calls: list[FakeTransport] | None = None,
    ) -> None:
        self.fail = dict(fail or {})
        self.hang = hang
        self.calls = calls if calls is not None else []
        self.calls.append(self)
        self.context: ConnectContext | None = None
        self.ran: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.audio: list[bytes] = []
        self._last = time.monotonic()
        self.silent = False  # True: last_inbound stops moving (a dead peer)

    def fresh(self) -> FakeTransport:
        return FakeTransport(fail=self.fail, hang=self.hang, calls=self.calls)

    async def run_step(self, state: str, context: ConnectContext) -> None:
        self.ran.append(state)
        self.context = context
        if state in self.hang:
            await asyncio.Event().wait()  # never: the client's step timeout ends it
        if state in self.fail:
            raise self.fail[state]
        if state == "greeting":
            self.deliver({"type": "session.created", "session": {"type": "realtime"}})

    def deliver(self, event: dict[str, Any]) -> None:
        assert self.context is not None
        self._last = time.monotonic()
        self.context.events.on_message(json.dumps(event))

    async def send(self, text: str) -> None:
        event = json.loads(text)
        self.sent.append(event)
        kind = event["type"]
        if kind == "session.update":
            self.deliver({"type": "session.updated", "session": event["session"]})
        elif kind == "response.create":
            for reply in _text_response("resp_1", "item_1", "Hello from the fake."):
                self.deliver(reply)

    @property
    def last_inbound(self) -> float:
        return self._last if not self.silent else self._last - 3600.0

    async def send_audio(self, pcm: bytes) -> None:
        self.audio.append(pcm)

    async def close(self) -> None:
        self.closed = True

    def lose(self, reason: str) -> None:
        assert self.context is not None
        self.context.events.on_lost(reason)


def _text_response(response_id: str, item_id: str, text: str) -> list[dict[str, Any]]:
    item = {"id": item_id, "type": "message", "role": "assistant", "content": []}
    done_item = {**item, "status": "completed", "content": [{"type": "output_text", "text": text}]}
    return [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}},
        {"type": "conversation.item.added", "item": {**item, "status": "in_progress"}},
        {
            "type": "response.output_text.delta",
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": text,
        },
        {
            "type": "response.output_text.done",
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "text": text,
        },
        {"type": "conversation.item.done", "item": done_item},
        {
            "type": "response.done",
            "response": {"id": response_id, "status": "completed", "output": [done_item]},
        },
    ]


def fake_client(transport: FakeTransport, **options: Any) -> RealtimeClient:
    options.setdefault("greet_enabled", False)
    return RealtimeClient(token_provider=lambda: "ek_fake", transport=transport, **options)


def path(client: RealtimeClient, chart: str) -> list[tuple[str | None, str, str | None]]:
    return [(s.source, s.event, s.target) for s in client.record if s.chart == chart]


async def until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the client's state has no event to wait on
            await asyncio.sleep(0.005)


def test_connect_send_receive_and_close_over_a_fake_transport(run: Runner) -> None:
    async def scenario() -> None:
        stages: list[str] = []
        transport = FakeTransport()
        client = fake_client(transport, on_success=lambda stage, _data: stages.append(stage))
        assert client.transport_kind == "fake"
        await client.connect()
        assert client.status == "connected"
        assert client.transport is transport
        assert client.peer_connection is None  # no WebRTC here
        assert client.data_channel is None
        assert transport.ran == ["dialing", "greeting"]
        assert path(client, "connection")[-2:] == [
            ("opening_microphone", "microphone_unavailable", "handshaking"),
            ("handshaking", "handshake_done", "connected"),
        ]
        assert path(client, "handshake") == [
            ("waiting", "start", "dialing"),
            ("dialing", "step_done", "greeting"),
            ("greeting", "step_done", "open"),
        ]
        assert stages.index("dialed") < stages.index("connected")
        assert transport.context is not None
        assert transport.context.token == "ek_fake"
        assert transport.context.model == client.options["model"]
        # Received: the session.created the handshake delivered, the session.updated reply.
        await until(lambda: client.model.session_config is not None)
        assert [e["type"] for e in transport.sent] == ["session.update"]
        answer = await client.ask("Hi")
        assert answer.text == "Hello from the fake."
        assert [e["type"] for e in transport.sent][-2:] == [
            "conversation.item.create",
            "response.create",
        ]
        await client.send_audio(b"\x00\x01" * 240)
        assert transport.audio == [b"\x00\x01" * 240]
        await client.disconnect()
        assert str(client.status) == "disconnected"
        assert transport.closed
        assert [client.transport] == [None]  # the call is gone
        assert path(client, "connection")[-1] == (
            "disconnecting",
            "transport_closed",
            "disconnected",
        )

    run(scenario())


@pytest.mark.parametrize(("state", "stage"), [("dialing", "fake_dial"), ("greeting", "fake_greet")])
def test_a_failing_step_reports_its_own_stage(run: Runner, state: str, stage: str) -> None:
    async def scenario() -> None:
        errors: list[ErrorEvent] = []
        transport = FakeTransport(fail={state: RuntimeError("line busy")})
        client = fake_client(transport, on_error=errors.append)
        with pytest.raises(ConnectError) as caught:
            await client.connect()
        assert caught.value.stage == stage
        assert "RuntimeError: line busy" in str(caught.value)
        assert [(e.stage, e.severity) for e in errors] == [(stage, "critical")]
        assert path(client, "handshake")[-1] == (state, "step_failed", "failed")
        assert path(client, "connection")[-1] == ("handshaking", "step_failed", "error")
        await client.disconnect()
        assert transport.closed  # entering error released the call

    run(scenario())


def test_a_step_that_hangs_times_out_with_its_stage(run: Runner) -> None:
    class Slow(FakeTransport):
        steps: ClassVar[tuple[HandshakeStep, ...]] = (
            HandshakeStep("dialing", "fake_dial", 0.2),
            HandshakeStep("greeting", "fake_greet", 5.0),
        )

    async def scenario() -> None:
        client = fake_client(Slow(hang=frozenset({"dialing"})))
        with pytest.raises(ConnectError) as caught:
            await client.connect()
        assert caught.value.stage == "fake_dial"
        assert "dialing did not finish within 0.2 s" in str(caught.value)
        assert path(client, "handshake")[-1] == ("dialing", "timed_out", "failed")
        assert client._step_tasks == {}  # the hung step was cancelled
        await client.disconnect()

    run(scenario())


def test_a_lost_call_and_a_silent_one_are_noticed_through_the_transport(run: Runner) -> None:
    async def scenario() -> None:
        transport = FakeTransport()
        client = fake_client(transport)
        await client.connect()
        transport.lose("the wire dropped")
        await until(lambda: client.status == "error")
        assert client.model.connection.error_message == "the wire dropped"
        await client.disconnect()

        # Liveness reads transport.last_inbound (no WebRTC peer involved).
        client = fake_client(FakeTransport(), liveness_timeout=0.5)
        await client.connect()
        silent = client.transport
        assert isinstance(silent, FakeTransport)
        silent.silent = True
        await until(lambda: client.status == "error")
        assert "nothing from the server" in (client.model.connection.error_message or "")
        await client.disconnect()

    run(scenario())


def test_reconnect_makes_a_fresh_transport_per_call(run: Runner) -> None:
    async def scenario() -> None:
        calls: list[FakeTransport] = []
        client = fake_client(
            FakeTransport(calls=calls), reconnect={"attempts": 2, "backoff_initial": 0.01}
        )
        await client.connect()
        first = client.transport
        assert isinstance(first, FakeTransport)
        first.lose("gone")
        await until(lambda: client.status == "connected" and client.transport is not first)
        assert first.closed
        assert client.model.connection.reconnects == 1
        assert calls[0] is first
        assert client.transport is calls[-1]
        await client.disconnect()

    run(scenario())


def test_on_effect_sees_each_effect_start_and_finish(run: Runner) -> None:
    async def scenario() -> None:
        seen: list[tuple[str, str]] = []

        def observe(event: EffectEvent) -> None:
            seen.append((event.effect.describe(), event.phase))

        client = fake_client(FakeTransport())
        unsubscribe = client.on_effect(observe)
        await client.connect()
        assert ("fetch_token", "started") in seen
        assert ("run step dialing", "started") in seen
        for described, phase in seen:
            if phase == "started":
                assert seen.count((described, "finished")) >= 1, described
        sends = [d for d, phase in seen if d.startswith("send ") and phase == "finished"]
        assert sends == ["send session.update"]
        unsubscribe()
        count = len(seen)
        await client.disconnect()
        assert len(seen) == count  # unsubscribed: nothing more

    run(scenario())


def test_on_effect_reports_a_failed_effect_and_a_broken_observer_is_only_logged(
    run: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        seen: list[EffectEvent] = []
        client = fake_client(FakeTransport())
        client.on_effect(seen.append)

        def broken(_event: EffectEvent) -> None:
            raise RuntimeError("observer bug")

        client.on_effect(broken)
        await client.connect()
        transport = client.transport
        assert isinstance(transport, FakeTransport)

        async def refuse(_text: str) -> None:
            raise OSError("socket closed")

        transport.send = refuse  # type: ignore[method-assign,assignment]
        with pytest.raises(Exception, match="socket closed"):
            await client.send_raw({"type": "input_audio_buffer.clear"})
        [failed] = [e for e in seen if e.phase == "failed"]
        assert isinstance(failed.effect, effects.SendEvent)
        assert failed.error is not None
        assert "observer bug" in caplog.text
        await client.disconnect()

    run(scenario())


def test_every_effect_the_charts_emit_has_a_handler() -> None:
    emitted = {
        cls
        for cls in vars(effects).values()
        if isinstance(cls, type) and issubclass(cls, effects.Effect) and cls is not effects.Effect
    }
    assert emitted == set(EFFECT_HANDLERS)


def test_transport_names_and_errors() -> None:
    assert transport_class("webrtc") is WebRTCTransport
    assert "webrtc" in transport_names()
    with pytest.raises(
        ValueError, match=r"unknown transport 'carrier-pigeon': choose one of .*'webrtc'"
    ):
        RealtimeClient(token_provider=lambda: "ek", transport="carrier-pigeon")
    with pytest.raises(TypeError, match="transport must be a name"):
        RealtimeClient(token_provider=lambda: "ek", transport=42)  # type: ignore[arg-type]
    client = RealtimeClient(token_provider=lambda: "ek", ice_servers=[])
    assert client.transport_kind == "webrtc"
    handshake = client.model.handshake_class
    assert [s.id for s in handshake.states if s.id in handshake.stages] == [
        "creating_peer",
        "creating_offer",
        "posting_offer",
        "applying_answer",
        "opening_channel",
    ]
    assert dict(handshake.stages) == {
        "creating_peer": "init_peer_connection",
        "creating_offer": "create_offer",
        "posting_offer": "openai_api",
        "applying_answer": "set_remote_description",
        "opening_channel": "data_channel",
    }
    # The client's timeouts option times the WebRTC steps.
    client = RealtimeClient(token_provider=lambda: "ek", timeouts={"sdp": 3.0})
    assert client.model.handshake_timeouts["posting_offer"] == 3.0


def test_each_transport_name_is_its_class_and_an_unknown_name_is_a_clear_error() -> None:
    from realtime_sdk.transports import MemoryTransport, WebRTCTransport, WebSocketTransport

    assert transport_class("webrtc") is WebRTCTransport
    assert transport_class("websocket") is WebSocketTransport
    assert transport_class("memory") is MemoryTransport
    with pytest.raises(
        ValueError,
        match=r"unknown transport 'pigeon': choose one of 'memory', 'sideband', 'webrtc', ",
    ):
        transport_class("pigeon")


def test_a_registered_transport_is_chosen_by_name(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import realtime_sdk.transports as registry

    monkeypatch.setattr(registry, "_CLASSES", dict(registry._CLASSES))  # restored afterwards
    register_transport(FakeTransport)
    assert transport_class("fake") is FakeTransport

    async def scenario() -> None:
        client = RealtimeClient(token_provider=lambda: "ek", transport="fake", greet_enabled=False)
        await client.connect()
        assert isinstance(client.transport, FakeTransport)
        await client.disconnect()

    run(scenario())
    with pytest.raises(TypeError, match="Transport subclass"):
        register_transport(object)  # type: ignore[arg-type]


def test_send_audio_on_webrtc_says_to_use_a_microphone_track(run: Runner) -> None:
    async def scenario() -> None:
        transport = WebRTCTransport()
        with pytest.raises(NotImplementedError, match="webrtc transport takes audio as a media"):
            await transport.send_audio(b"\x00\x00")

    run(scenario())


def test_a_transport_without_handshake_steps_connects_at_once(run: Runner) -> None:
    class Instant(FakeTransport):
        steps: ClassVar[tuple[HandshakeStep, ...]] = ()

    async def scenario() -> None:
        transport = Instant()
        client = fake_client(transport)
        await client.connect()
        assert client.transport is transport
        assert path(client, "handshake") == [("waiting", "start", "open")]
        await client.send_raw({"type": "input_audio_buffer.clear"})
        assert transport.sent[-1] == {"type": "input_audio_buffer.clear"}
        await client.disconnect()
        assert transport.closed

    run(scenario())
