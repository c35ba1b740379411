"""RealtimeClient against the emulator over real loopback WebRTC."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import pytest

from realtime_machines import AssistantCompleted, Notice, SessionModel, ToolCallDone
from realtime_sdk.client import RealtimeClient, ToolCall
from realtime_sdk.emulator import Emulator, EmulatorConfig, Engine, EngineOptions, Faults
from realtime_sdk.errors import ConnectError, ErrorEvent, NotConnectedError
from realtime_sdk.keys import api_key_token_provider
from realtime_sdk.transports import MemoryTransport, Transport, WebSocketTransport
from tests.sdk.test_transports import until

Runner = Callable[..., Any]

CONNECT_PATH = [
    ("idle", "connect", "fetching_token"),
    ("fetching_token", "token_received", "opening_microphone"),
    ("opening_microphone", "microphone_unavailable", "handshaking"),
    ("handshaking", "handshake_done", "connected"),
]

#: The WebRTC transport's handshake, as its handshake chart records it.
HANDSHAKE_PATH = [
    ("waiting", "start", "creating_peer"),
    ("creating_peer", "step_done", "creating_offer"),
    ("creating_offer", "step_done", "posting_offer"),
    ("posting_offer", "step_done", "applying_answer"),
    ("applying_answer", "step_done", "opening_channel"),
    ("opening_channel", "step_done", "open"),
]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


TRANSPORTS = ("webrtc", "websocket", "memory")
"""The client's transports: the feature tests run on each (WebRTC and WebSocket over loopback
sockets to the emulator, memory to an emulator engine in process)."""

on_every_transport = pytest.mark.parametrize("transport", TRANSPORTS)


def make_client(emu: Emulator, transport: str = "webrtc", **kwargs: Any) -> RealtimeClient:
    """A client of ``emu`` over ``transport``; on ``"memory"`` its calls go to engines in
    process with the emulator's brain, faults and engine settings (the token still comes from
    the emulator, so the token stage is the same on every transport)."""
    kwargs.setdefault("greet_enabled", False)
    kwargs.setdefault("ice_servers", [])
    kwargs.setdefault("session", {"type": "realtime", "output_modalities": ["text"]})
    chosen: str | Transport = transport
    if transport == "memory":
        chosen = MemoryTransport(
            brain=emu.brain,
            faults=emu.faults,
            options=EngineOptions(
                session_ttl_s=emu.config.session_ttl_s,
                transcribe=emu.config.transcribe,
                ms_per_char=emu.config.ms_per_char,
                ids=emu.ids,
            ),
        )
    return RealtimeClient(
        token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
        base_url=emu.base_url,
        transport=chosen,
        **kwargs,
    )


def engine_of(emu: Emulator, client: RealtimeClient) -> Engine:
    """The emulator engine serving the client's current call (the server side of it)."""
    transport = client.transport
    if isinstance(transport, MemoryTransport):
        assert transport.engine is not None
        return transport.engine
    if client.transport_kind == "webrtc":
        return emu.calls[client.call_id or ""].engine
    return emu.engines[-1]


async def drop_call(emu: Emulator, client: RealtimeClient) -> None:
    """End the client's call from the server side, without the client asking: WebRTC by the
    calls API's hang-up; WebSocket and memory as the engine's ``close_mid_response`` fault
    does (the emulator closes the socket; the in-memory engine ends the call)."""
    if client.transport_kind == "webrtc":
        async with (
            aiohttp.ClientSession() as http,
            http.delete(
                f"{emu.base_url}/v1/realtime/calls/{client.call_id}",
                headers={"Authorization": f"Bearer {emu.api_key}"},
            ) as response,
        ):
            assert response.status < 300
        return
    engine_of(emu, client)._shutdown_transport("fault")


def status(client: RealtimeClient) -> str:
    return client.status


def connection_path(
    model: SessionModel, chart: str = "connection"
) -> list[tuple[str | None, str, str | None]]:
    return [(s.source, s.event, s.target) for s in model.record if s.chart == chart]


N = TypeVar("N", bound=Notice)


def collect(client: RealtimeClient, kind: type[N]) -> list[N]:
    """Every ``kind`` notice from now on, in a list (nothing is missed between two waits)."""
    got: list[N] = []
    client.on(kind.name, got.append)
    return got


async def wait_for(client: RealtimeClient, kind: type[N], timeout: float = 10.0) -> N:  # noqa: ASYNC109
    got: asyncio.Future[N] = asyncio.get_running_loop().create_future()

    def handler(notice: N) -> None:
        if not got.done():
            got.set_result(notice)

    unsubscribe = client.on(kind.name, handler)
    try:
        return await asyncio.wait_for(got, timeout)
    finally:
        unsubscribe()


def test_connect_walks_every_step_then_disconnects(run: Runner) -> None:
    async def scenario() -> None:
        stages: list[str] = []
        async with Emulator() as emu:
            client = make_client(emu, on_success=lambda stage, _data: stages.append(stage))
            assert status(client) == "idle"
            async with client:
                assert status(client) == "connected"
                assert connection_path(client.model) == CONNECT_PATH
                assert connection_path(client.model, "handshake") == HANDSHAKE_PATH
                assert client.peer_connection is not None
                assert client.data_channel.label == "oai-events"
                assert client.call_id is not None
                assert client.call_id in emu.calls
                updated = client.model.session_config
                for _ in range(100):
                    if updated is not None and updated.get("output_modalities") == ["text"]:
                        break
                    await asyncio.sleep(0.02)
                    updated = client.model.session_config
                assert updated is not None
                assert updated["output_modalities"] == ["text"]
            assert status(client) == "disconnected"
            assert connection_path(client.model)[-2:] == [
                ("connected", "disconnect", "disconnecting"),
                ("disconnecting", "transport_closed", "disconnected"),
            ]
            assert client.peer_connection is None
            assert "connected" in stages
            assert "data_channel_open" in stages

    run(scenario())


@pytest.mark.parametrize("transport", ["websocket", "memory"])
def test_connect_walks_the_transports_own_handshake(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        stages: list[str] = []
        async with Emulator() as emu:
            client = make_client(
                emu, transport, on_success=lambda stage, _data: stages.append(stage)
            )
            async with client:
                assert connection_path(client.model) == CONNECT_PATH
                assert client.transport is not None
                steps = [step.state for step in client.transport.steps]
                assert connection_path(client.model, "handshake") == [
                    ("waiting", "start", steps[0]),
                    *(
                        (a, "step_done", b)
                        for a, b in zip(steps, [*steps[1:], "open"], strict=True)
                    ),
                ]
                assert client.peer_connection is None  # no peer on this wire
                await client.send_text_message("Hello?")
                await wait_for(client, AssistantCompleted)
            assert status(client) == "disconnected"
            assert connection_path(client.model)[-2:] == [
                ("connected", "disconnect", "disconnecting"),
                ("disconnecting", "transport_closed", "disconnected"),
            ]
            assert "data_channel_open" in stages
            assert "connected" in stages

    run(scenario())


@on_every_transport
def test_greeting_and_a_typed_question_stream_into_the_chat(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(
                emu, transport, greet_enabled=True, greet_instructions="Say hello."
            )
            deltas: list[str] = []
            client.on("assistant:delta", lambda n: deltas.append(n.delta))
            async with client:
                greeting = await wait_for(client, AssistantCompleted)
                assert greeting.status == "done"
                await client.send_text_message("What is the capital of France?")
                answer = await wait_for(client, AssistantCompleted)
                assert answer.response_id != greeting.response_id
                chat = client.chat
                roles = [item.role for item in chat]
                assert roles == ["assistant", "user", "assistant"]
                assert chat[1].text == "What is the capital of France?"
                assert all(item.status == "done" for item in chat)
                assert "".join(deltas) == chat[0].text + chat[2].text
                statuses = set(client.model.responses.values())
                assert statuses == {"completed"}
            assert client.chat == []  # delete_chat_history_on_disconnect defaults to True

    run(scenario())


@on_every_transport
def test_tool_call_auto_mode_answers_once_then_follows_up(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        calls: list[ToolCall] = []

        async def on_tool_call(call: ToolCall) -> dict[str, Any]:
            calls.append(call)
            return {"city": call.args.get("city"), "temperature_c": 12}

        sent: list[str] = []

        def outgoing(event: dict[str, Any]) -> None:
            sent.append(event["type"])

        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                session={
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": [WEATHER_TOOL],
                },
                on_tool_call=on_tool_call,
                outgoing_middleware=[outgoing],
            )
            completed = collect(client, AssistantCompleted)
            async with client:
                done = asyncio.ensure_future(wait_for(client, ToolCallDone))
                await client.send_text_message('get_weather {"city": "Paris"}')
                tool_done = await done
                assert tool_done.tool_name == "get_weather"
                assert tool_done.args == {"city": "Paris"}
                # the tool-call response, then the follow-up answer
                await until(lambda: len(completed) == 2)
                assert [c.args for c in calls] == [{"city": "Paris"}]
                [chart] = client.model.tool_calls.values()
                assert chart.state == "answered"
                assert json.loads(chart.output or "") == {"city": "Paris", "temperature_c": 12}
                assert sent.count("response.create") == 2  # the question, then one follow-up
                assert client.chat[-1].role == "assistant"

    run(scenario())


def test_sending_before_connect_raises_not_connected(run: Runner) -> None:
    async def scenario() -> None:
        client = RealtimeClient(token_provider=lambda: "ek_x", greet_enabled=False)
        with pytest.raises(NotConnectedError, match="idle"):
            await client.send_text_message("hello")
        with pytest.raises(NotConnectedError):
            await client.send_raw({"type": "response.create"})

    run(scenario())


@on_every_transport
def test_concurrent_connects_make_one_peer(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, transport)
            await asyncio.gather(client.connect(), client.connect())
            assert status(client) == "connected"
            assert len(emu.calls) == (1 if transport == "webrtc" else 0)
            assert [e for _, e, _ in connection_path(client.model)].count("connect") == 1
            assert [e for _, e, _ in connection_path(client.model, "handshake")].count(
                "start"
            ) == 1  # one call, one handshake
            await client.disconnect()

    run(scenario())


@on_every_transport
def test_cancel_with_nothing_active_sends_nothing(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        errors: list[str] = []
        async with Emulator() as emu:
            client = make_client(emu, transport)
            client.on("error", lambda n: errors.append(str(n.error)))
            sent: list[str] = []
            client._outgoing.append(lambda event: sent.append(event["type"]))
            async with client:
                await client.cancel_response()
                await client.send_text_message("hello")
                await wait_for(client, AssistantCompleted)
            assert "response.cancel" not in sent
            assert errors == []

    run(scenario())


@pytest.mark.parametrize(
    ("faults", "stage", "transport"),
    [
        *((Faults(refuse_token=401), "fetch_token", transport) for transport in TRANSPORTS),
        (Faults(calls_status=500), "openai_api", "webrtc"),
    ],
)
def test_connect_faults_land_in_error_with_their_stage(
    run: Runner, faults: Faults, stage: str, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=faults) as emu:
            client = make_client(emu, transport, on_error=reported.append)
            with pytest.raises(ConnectError) as info:
                await client.connect()
            assert info.value.stage == stage
            assert status(client) == "error"
            assert client.model.connection.error_stage == stage
            assert [e.stage for e in reported] == [stage]
            assert emu.api_key not in repr(reported[0])
            await client.disconnect()
            assert status(client) == "disconnected"

    run(scenario())


def test_a_stalled_sdp_post_times_out_with_its_stage(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(stall_calls=True)) as emu:
            client = make_client(emu, timeouts={"sdp": 0.5})
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ConnectError) as info:
                await client.connect()
            assert loop.time() - started < 5.0
            assert info.value.stage == "openai_api"
            assert "did not finish within 0.5 s" in str(info.value)
            await client.disconnect()

    run(scenario())


@on_every_transport
def test_non_json_from_the_channel_is_a_recoverable_warning(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=Faults(nonjson_frame=True)) as emu:
            client = make_client(emu, transport, on_error=reported.append)
            async with client:
                for _ in range(200):
                    if reported:
                        break
                    await asyncio.sleep(0.01)
                [warning] = reported
                assert warning.severity == "warning"
                assert warning.recoverable
                assert warning.stage == "data_channel"
                assert "raw" in warning.context
                assert len(warning.context["raw"]) <= 2000
                await client.send_text_message("still there?")
                completed = await wait_for(client, AssistantCompleted)
                assert completed.status == "done"

    run(scenario())


@on_every_transport
def test_incoming_middleware_can_stop_and_rewrite_in_order(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        seen: list[str] = []

        async def slow_first(ctx: Any) -> Any:
            await asyncio.sleep(0)  # async middleware must not reorder events
            seen.append(ctx.event["type"])
            if ctx.event["type"] == "response.output_text.delta":
                return {**ctx.event, "delta": ctx.event["delta"].upper()}
            return None

        def stop_rate_limits(ctx: Any) -> Any:
            return "stop" if ctx.event["type"] == "rate_limits.updated" else None

        raw: list[str] = []
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                incoming_middleware=[slow_first, stop_rate_limits],
                on_event=lambda event: raw.append(event["type"]),
            )
            deltas: list[str] = []
            client.on("assistant:delta", lambda n: deltas.append(n.delta))
            async with client:
                await client.send_text_message("hello there")
                await wait_for(client, AssistantCompleted)
                for _ in range(100):
                    if "rate_limits.updated" in seen:
                        break
                    await asyncio.sleep(0.02)
            assert "rate_limits.updated" in seen
            assert "rate_limits.updated" not in raw
            assert raw == [t for t in seen if t != "rate_limits.updated"]
            assert raw.index("response.created") < raw.index("response.done")
            assert deltas
            assert all(d == d.upper() for d in deltas)
            assert any(d != d.lower() for d in deltas)  # the rewrite reached the model

    run(scenario())


@on_every_transport
def test_lost_call_reconnects_and_replays_the_history(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(
                emu,
                transport,
                reconnect={"attempts": 2, "backoff_initial": 0.05, "backoff_max": 0.2},
            )
            async with client:
                await client.send_text_message("Remember the word teal.")
                await wait_for(client, AssistantCompleted)
                before = [(item.role, item.text) for item in client.chat]
                first_call = client.transport
                await drop_call(emu, client)
                for _ in range(500):
                    if client.model.connection.reconnects == 1 and status(client) == "connected":
                        break
                    await asyncio.sleep(0.01)
                assert client.model.connection.reconnects == 1
                assert client.transport is not first_call
                path = [e for _, e, _ in connection_path(client.model)]
                assert "connection_lost" in path
                engine = engine_of(emu, client)
                for _ in range(200):
                    if len(engine.items) >= len(before):
                        break
                    await asyncio.sleep(0.01)
                replayed = [
                    (item["role"], item["content"][0]["text"])
                    for item in engine.items
                    if item.get("type") == "message"
                ]
                assert replayed == before  # the new call knows the conversation
                assert [(i.role, i.text) for i in client.chat] == before  # no duplicate rows
                await client.send_text_message("Which word?")
                await wait_for(client, AssistantCompleted)
                assert [i.role for i in client.chat] == ["user", "assistant", "user", "assistant"]

    run(scenario(), timeout=30)


@on_every_transport
def test_server_errors_reach_on_error_as_well_as_the_error_event(
    run: Runner, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        notices: list[Notice] = []
        async with Emulator() as emu:
            client = make_client(emu, transport, on_error=reported.append)
            client.on("error", notices.append)
            async with client:
                await client.send_raw({"type": "conversation.item.delete", "item_id": "nope"})
                for _ in range(300):
                    if reported:
                        break
                    await asyncio.sleep(0.01)
                assert status(client) == "connected"  # a server error is not fatal
            [event] = reported
            assert event.stage == "openai_api"
            assert event.severity == "warning"
            assert event.recoverable
            assert event.context["scope"] == "server"
            [notice] = notices
            assert notice.payload()["error"] == event.context["error"]

    run(scenario())


@on_every_transport
def test_rollover_replaces_the_call_before_the_session_cap(run: Runner, transport: str) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        config = EmulatorConfig(session_ttl_s=3.0)
        async with Emulator(config=config) as emu:
            client = make_client(
                emu,
                transport,
                on_error=reported.append,
                reconnect={"rollover_before_cap": 1.5, "backoff_initial": 0.05},
            )
            async with client:
                first_call = client.transport
                await client.send_text_message("Remember the word teal.")
                await wait_for(client, AssistantCompleted)
                for _ in range(500):
                    if client.model.connection.reconnects == 1 and status(client) == "connected":
                        break
                    await asyncio.sleep(0.01)
                assert client.model.connection.reconnects == 1
                assert client.transport is not first_call
                events = [e for _, e, _ in connection_path(client.model)]
                assert "rollover" in events
                assert "connection_lost" not in events
                await client.send_text_message("Which word?")
                await wait_for(client, AssistantCompleted)
                assert [i.role for i in client.chat] == ["user", "assistant", "user", "assistant"]
            assert reported == []  # the old call never hit its cap

    run(scenario(), timeout=30)


def quiet_client(emu: Emulator, transport: Transport, **options: Any) -> RealtimeClient:
    """A client on ``transport`` that sends nothing by itself (no greeting, no session)."""
    return RealtimeClient(
        api_key=emu.api_key,
        base_url=emu.base_url,
        transport=transport,
        greet_enabled=False,
        auto_session_update=False,
        **options,
    )


def test_an_idle_websocket_call_stays_alive_on_the_liveness_checks_pings(run: Runner) -> None:
    """Nothing arrives on an idle WebSocket call but pongs: the liveness check pings after half
    of ``liveness_timeout`` of silence, so a healthy idle call is never declared lost (the
    transport's own pings are off here: with its default 10 s interval and the default 10 s
    limit, the first pong came too late)."""

    async def scenario() -> None:
        async with Emulator() as emu:
            transport = WebSocketTransport(ping_interval=None)
            async with quiet_client(emu, transport, liveness_timeout=0.4) as client:
                await asyncio.sleep(1.2)  # three times the limit, all idle
                assert status(client) == "connected"
                assert transport.pongs >= 2
                assert "connection_lost" not in [e for _, e, _ in connection_path(client.model)]

    run(scenario())


def test_a_silence_gets_one_ping_however_many_ask_for_it(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport's keepalive (after ``ping_interval`` of silence) and the client's liveness
    check (after half of ``liveness_timeout``) both ask for a ping: the wire carries one per
    silence. The peer vanishes mid-response (no events, no pongs) until the call is lost."""
    pinged: list[float] = []  # the transport's last_inbound when each ping went out
    original = aiohttp.ClientWebSocketResponse.ping

    async def ping(self: aiohttp.ClientWebSocketResponse, message: bytes = b"") -> None:
        pinged.append(transport.last_inbound)
        await original(self, message)

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "ping", ping)
    transport = WebSocketTransport(ping_interval=0.05)

    async def scenario() -> None:
        async with Emulator(faults=Faults(vanish_mid_response=True)) as emu:
            client = quiet_client(emu, transport, liveness_timeout=1.0)
            await client.connect()
            await client.send_text_message("hello")
            await until(lambda: status(client) == "error")
            assert "connection_lost" in [e for _, e, _ in connection_path(client.model)]
            silence = transport.last_inbound  # the last thing that came before the vanishing
            assert pinged.count(silence) == 1
            await client.disconnect()

    run(scenario())
