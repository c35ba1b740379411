"""The sideband: a server's client attached by ``call_id`` to a call a WebRTC client holds.

One WebRTC call per test at most (socket tests are few): the holder is a
:class:`RealtimeClient` over WebRTC with no tools, the brain a :meth:`RealtimeClient.attach`
client over the sideband WebSocket with a tool. The refusals and the transport's own checks
need no call at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from realtime_machines import Notice
from realtime_sdk import ErrorEvent, IncomingContext
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.errors import ConnectError
from realtime_sdk.keys import api_key_token_provider
from realtime_sdk.token_server import CALLS_PATH, SESSION_PATH, make_token_app
from realtime_sdk.transports import SidebandTransport, TransportEvents, transport_class
from tests.sdk.test_client import drop_call
from tests.sdk.test_ws_fidelity import (
    RecordedServer,
    Recording,
    check_fidelity,
    responses_ended,
    until,
    user_texts,
)

Runner = Callable[..., Any]
FAST = EmulatorConfig(ms_per_char=8.0)


def holder_of(emu: Emulator, frames: list[Any], errors: list[ErrorEvent]) -> RealtimeClient:
    """The browser's side: WebRTC media, an ephemeral key, no tools, no session of its own."""
    return RealtimeClient(
        token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
        base_url=emu.base_url,
        ice_servers=[],
        greet_enabled=False,
        auto_session_update=False,
        audio_sink=frames.append,
        on_error=errors.append,
    )


def order_status(order: str) -> str:
    """Where an order is.

    Args:
        order: The order's number.
    """
    return f"order {order} shipped"


def test_a_sideband_client_runs_the_tool_of_a_call_a_webrtc_client_holds(run: Runner) -> None:
    async def main() -> None:
        frames: list[Any] = []
        seen: list[str] = []
        errors: list[ErrorEvent] = []
        successes: list[str] = []

        def middleware(ctx: IncomingContext) -> None:
            seen.append(str(ctx.event.get("type")))

        async with Emulator(config=FAST) as emu:
            holder_errors: list[ErrorEvent] = []
            holder = holder_of(emu, frames, holder_errors)
            async with holder:
                call_id = holder.call_id
                assert call_id is not None
                assert call_id.startswith("rtc_")
                brain = RealtimeClient.attach(
                    call_id,
                    api_key=emu.api_key,
                    base_url=emu.base_url,
                    session={"type": "realtime", "instructions": "Answer about orders."},
                    tools=[order_status],
                    incoming_middleware=[middleware],
                    on_error=errors.append,
                    on_success=lambda stage, _data: successes.append(stage),
                    reconnect={"attempts": 2, "backoff_initial": 0.05},
                )
                notices: list[Notice] = []
                brain.on("tool:call_done", notices.append)
                async with brain:
                    assert brain.transport_kind == "sideband"
                    assert brain.call_id == call_id
                    engine = emu.calls[call_id].engine
                    await until(
                        lambda: (
                            [t.get("name") for t in engine.session.get("tools", [])]
                            == ["order_status"]
                        ),
                        "the sideband's session.update installs its tool",
                    )
                    await holder.send_text_message('Check order_status {"order": "A7"}')
                    await until(
                        lambda: any(
                            item.role == "assistant" and "order A7 shipped" in item.text
                            for item in holder.chat
                        ),
                        "the tool's answer in the holder's chat",
                    )
                    await until(lambda: len(frames) > 10, "the answer's audio on the holder")
                    # The tool ran on the sideband (the holder has none), once.
                    assert [n.payload()["name"] for n in notices] == ["order_status"]
                    assert holder.model.tool_calls
                    assert not holder.tools
                    assert holder_errors == []  # the holder sent nothing of its own about it
                    assert any("order A7 shipped" in item.text for item in brain.chat)
                    # No session.created on a sideband; the call's events all pass its middleware.
                    assert "session.created" not in seen
                    assert "response.function_call_arguments.done" in seen
                    assert "output_audio_buffer.started" in seen
                    assert "response.output_audio.delta" not in seen
                    # Errors from the call reach the sideband's on_error with their stage.
                    await brain.send_raw({"type": "conversation.item.delete", "item_id": "nope"})
                    await until(lambda: bool(errors), "the server's error on the sideband")
                    assert errors[0].stage == "openai_api"
                    # A dropped sideband (1012, retryable) reattaches to the same call and
                    # replays nothing into it: the conversation is still there.
                    items = [item["id"] for item in engine.items]
                    received = len(engine.received)
                    [socket] = list(emu._websockets)  # the sideband's, server side
                    await socket.close(code=1012, message=b"service restart")
                    await until(lambda: brain.model.connection.reconnects == 1, "reattached")
                    assert brain.model.connection.state == "connected"
                    await brain.send_raw({"type": "input_audio_buffer.clear"})  # a marker
                    await until(
                        lambda: engine.received[-1]["type"] == "input_audio_buffer.clear",
                        "the marker after the reattach",
                    )
                    since = [event["type"] for event in list(engine.received)[received:]]
                    assert "conversation.item.create" not in since, since
                    assert [item["id"] for item in engine.items] == items
                    # The caller hangs up: the sideband's client lands in `ended`, not retried.
                    await drop_call(emu, holder)  # DELETE /v1/realtime/calls/{call_id}
                    await until(lambda: brain.model.connection.state == "ended", "ended")
                    assert brain.status == "disconnected"
                    reason = brain.model.connection.end_reason or ""
                    assert "code 1000" in reason
                    assert "hung up" in reason
                    assert "call_ended" in successes
                    with pytest.raises(NotImplementedError, match="carries no audio"):
                        await brain.send_audio(b"\0\0")
                assert brain.model.connection.state == "disconnected"
                targets = [s.target for s in brain.model.record if s.chart == "connection"]
                assert targets.count("reconnecting") == 1  # the drop's, not the hang-up's
                ended = targets.index("ended")
                assert targets.index("reconnecting") < ended
                assert targets[ended:] == ["ended", "disconnecting", "disconnected"]

    run(main(), timeout=40)


def test_an_unknown_call_and_an_ephemeral_key_are_refused_before_the_upgrade(
    run: Runner,
) -> None:
    async def main() -> None:
        async with Emulator() as emu, aiohttp.ClientSession() as http:
            url = f"{emu.base_url}/v1/realtime"
            auth = {"Authorization": f"Bearer {emu.api_key}"}
            async with http.get(url, params={"call_id": "rtc_nope"}, headers=auth) as r:
                assert r.status == 404
                assert (await r.json())["error"]["code"] == "call_id_not_found"
            async with http.post(
                url + "/client_secrets", json={"session": {"type": "realtime"}}, headers=auth
            ) as r:
                ephemeral = str((await r.json())["value"])
            bearer = {"Authorization": f"Bearer {ephemeral}"}
            async with http.get(url, params={"call_id": "rtc_nope"}, headers=bearer) as r:
                assert r.status == 403
                body = await r.json()
                assert body["error"]["code"] == "ephemeral_key_not_allowed"
                assert "API key" in body["error"]["message"]
            async with http.get(url, params={"call_id": "rtc_x", "model": "gpt-realtime"}) as r:
                assert r.status == 401  # no key at all comes first

            # The client says it plainly, as the connect's error with its stage.
            client = RealtimeClient.attach(
                "rtc_nope", api_key=emu.api_key, base_url=emu.base_url, reconnect={"attempts": 2}
            )
            with pytest.raises(ConnectError) as caught:
                await client.connect()
            assert caught.value.stage == "openai_api"
            assert "no call 'rtc_nope'" in caught.value.message
            assert "HTTP 404" in caught.value.message
            await client.disconnect()
            sneaky = RealtimeClient(
                token_provider=lambda: ephemeral,
                base_url=emu.base_url,
                transport="sideband",
                transport_options={"call_id": "rtc_nope"},
            )
            with pytest.raises(ConnectError, match="not an ephemeral key"):
                await sneaky.connect()
            await sneaky.disconnect()

    run(main())


def test_attach_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="not an ephemeral key"):
        RealtimeClient.attach("rtc_1", api_key="ek_123")
    with pytest.raises(ValueError, match="call's id such as 'rtc_"):
        RealtimeClient.attach("rtc_1&model=x", api_key="sk-test")
    with pytest.raises(TypeError, match="call_id must be a string"):
        RealtimeClient.attach(7, api_key="sk-test")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="leave out transport="):
        RealtimeClient.attach("rtc_1", api_key="sk-test", transport="webrtc")
    with pytest.raises(ValueError, match="microphone cannot be used on the sideband"):
        RealtimeClient.attach("rtc_1", api_key="sk-test", microphone=lambda: None)
    with pytest.raises(ValueError, match="audio_sink cannot be used"):
        RealtimeClient.attach("rtc_1", api_key="sk-test", audio_sink=print)
    client = RealtimeClient.attach("rtc_1", api_key="sk-secret-value")
    assert "sk-secret-value" not in repr(client._token_provider)
    assert client.transport_kind == "sideband"
    assert not client.options["greet_enabled"]
    assert transport_class("sideband") is SidebandTransport
    fresh = SidebandTransport(call_id="rtc_1").fresh()
    assert fresh.call_id == "rtc_1"


def test_audio_chunks_says_a_sideband_has_no_audio(run: Runner) -> None:
    async def main() -> None:
        client = RealtimeClient.attach("rtc_1", api_key="sk-test")
        with pytest.raises(TypeError, match="carries no audio"):
            async for _chunk in client.audio_chunks():
                pass
        with pytest.raises(NotImplementedError, match="carries no audio"):
            await client.send_audio(b"\0\0")

    run(main())


def reports_for(close_code: int) -> list[str]:
    got: list[str] = []
    events = TransportEvents(
        on_message=lambda _t: None,
        on_lost=lambda r: got.append("lost:" + r),
        on_ended=lambda r: got.append("ended:" + r),
    )
    transport = SidebandTransport(call_id="rtc_1")
    transport.close_code = close_code
    transport._report_end("the WebSocket closed", events)
    return got


def test_the_sideband_transport_keeps_the_websocket_close_codes_apart() -> None:
    """A final close (the call hung up) is ``on_ended``; a drop is ``on_lost``."""
    for code, expected in ((1000, "ended"), (4000, "ended"), (1006, "lost"), (1011, "lost")):
        [report] = reports_for(code)
        assert report.startswith(expected + ":"), (code, report)
        assert f"code {code}" in report


@pytest.mark.parametrize(
    "name", ["webrtc_sideband_text_turn.jsonl", "webrtc_sideband_audio_turn.jsonl"]
)
def test_a_recorded_sideband_session_replays_through_the_attached_client(
    run: Runner, name: str
) -> None:
    """OpenAI's own sideband traffic (no ``session.created``; ``output_audio_buffer.*`` after
    ``response.done`` on the audio turn), played by the scripted server of the WebSocket
    fidelity tests: the attached client sends what the recorded client sent and reads the
    session as a replay of the recording does."""
    recording = Recording.load(name)
    assert recording.opening == []  # the server says nothing first on a sideband

    async def scenario() -> None:
        async with RecordedServer(recording) as server:
            session = recording.sent_of("session.update")[0]["session"]
            client = RealtimeClient.attach(
                "rtc_recorded",
                api_key="sk-recorded",
                base_url=server.base_url,
                session=session,
                delete_chat_history_on_disconnect=False,
            )
            async with client:
                [text] = user_texts(recording)
                await client.send_text_message(text)
                await responses_ended(client, 1, "the recorded response's end")
                if "output_audio_buffer.stopped" in recording.lines()[-1]:
                    await until(
                        lambda: client.model.playback.state == "silent", "the playback's end"
                    )
            [request] = server.requests
            assert dict(request.query) == {"call_id": "rtc_recorded"}
            assert request.headers["Authorization"] == "Bearer sk-recorded"
            check_fidelity(server, client)
            assert list(client.model.responses.values()) == ["completed"]

    run(scenario(), timeout=30)


def test_the_token_server_attaches_a_sideband_brain_to_the_browsers_call(run: Runner) -> None:
    """Browser media, server brain: the holder gets its ephemeral key from the token server,
    makes its WebRTC call, posts the call id back; the token server attaches a client with the
    tool and the API key, which answers the holder's question; the call's end detaches it."""

    async def main() -> None:
        frames: list[Any] = []
        attached: list[RealtimeClient] = []

        def on_call(client: RealtimeClient) -> None:
            attached.append(client)
            client.tool(order_status)

        async with Emulator(config=FAST) as emu:
            app = make_token_app(
                emu.api_key,
                base_url=emu.base_url,
                attach={"session": {"type": "realtime", "instructions": "Orders."}},
                on_call=on_call,
            )
            async with (
                TestServer(app, host="127.0.0.1") as server,
                TestClient[Any, Any](server) as http,
            ):

                async def ephemeral_key() -> str:
                    answer = await (await http.get(SESSION_PATH)).json()
                    return str(answer["value"])

                holder = RealtimeClient(
                    token_provider=ephemeral_key,
                    base_url=emu.base_url,
                    ice_servers=[],
                    greet_enabled=False,
                    auto_session_update=False,
                    audio_sink=frames.append,
                )
                # Bad bodies first: each a 400 that says what is wrong.
                for body, says in (
                    ("not json", "must be JSON"),
                    ({"call": "rtc_1"}, "must be JSON naming the call"),
                    ({"call_id": 12}, "must be a string"),
                    ({"call_id": "rtc_1/../hangup"}, "call's id such as"),
                ):
                    sent = {"data": body} if isinstance(body, str) else {"json": body}
                    response = await http.post(CALLS_PATH, **sent)
                    assert response.status == 400, body
                    assert says in (await response.json())["error"]["message"]
                refused = await http.post(CALLS_PATH, json={"call_id": "rtc_gone"})
                assert refused.status == 502
                assert "no call 'rtc_gone'" in (await refused.json())["error"]["message"]
                async with holder:
                    call_id = holder.call_id
                    response = await http.post(CALLS_PATH, json={"call_id": call_id})
                    assert response.status == 201, await response.text()
                    assert await response.json() == {"call_id": call_id, "state": "connected"}
                    again = await http.post(CALLS_PATH, json={"call_id": call_id})
                    assert again.status == 409
                    listed = await (await http.get(CALLS_PATH)).json()
                    assert listed == {"calls": [{"call_id": call_id, "state": "connected"}]}
                    brain = attached[-1]
                    assert brain.transport_kind == "sideband"
                    engine = emu.calls[call_id or ""].engine
                    await until(lambda: bool(engine.session.get("tools")), "the brain's tool")
                    await holder.send_text_message('order_status {"order": "B2"}')
                    await until(
                        lambda: any("order B2 shipped" in item.text for item in holder.chat),
                        "the answer in the browser's chat",
                    )
                    await until(lambda: len(frames) > 10, "the answer's audio in the browser")
                # The browser hung up: the brain's call ended, and the token server let it go.
                await until(lambda: brain.status == "disconnected", "the brain's call ended")
                assert "ended" in [s.target for s in brain.model.record]
                for _ in range(1000):
                    if await (await http.get(CALLS_PATH)).json() == {"calls": []}:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the ended call stays on the token server")

    run(main(), timeout=40)


@pytest.mark.parametrize(
    ("tools", "says"),
    [
        ("no_colon", "must be MODULE:ATTR"),
        ("no_such_module_xyz:TOOLS", "cannot import 'no_such_module_xyz'"),
        ("json:NO_TOOLS", "'json' has no 'NO_TOOLS'"),
        ("json:__name__", "must be a function or a list of functions"),
    ],
)
def test_token_server_tools_option_says_what_is_wrong(
    tools: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_sdk.cli import main

    assert main(["token-server", "--port", "0", "--api-key", "sk-x", "--tools", tools]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realtime token-server: --tools")
    assert says in err


def test_token_server_tools_option_loads_the_tools() -> None:
    from realtime_sdk.cli import _attach_options

    assert _attach_options(None, None) is None
    options = _attach_options("tests.sdk.test_sideband:order_status", "Orders only.")
    assert options == {
        "session": {"type": "realtime", "instructions": "Orders only."},
        "tools": [order_status],
    }
    with pytest.raises(ValueError, match="cannot set 'api_key'"):
        make_token_app("sk-x", attach={"api_key": "sk-other"})
