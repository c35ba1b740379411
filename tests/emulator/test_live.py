"""GPT-Live on the emulator through the official ``openai`` client (``client.live``, WebSocket):
scripted sessions whose every server event validates against ``openai.types.live``."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI, NotFoundError

from realtime_sdk.emulator import CallTool, Emulator, EmulatorConfig, Say, ScriptedBrain
from realtime_sdk.emulator.audio import synthesize
from realtime_sdk.emulator.live.media import decode_audio, encode_audio, fragments
from tests.emulator.live_kit import (
    CONNECT_EVENT,
    MS_PER_CHAR,
    SERVER_EVENT,
    LiveWs,
    assert_valid,
    speech,
)

Runner = Callable[..., Any]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@asynccontextmanager
async def live(
    heard: str = "Hello there", brain: Any = None
) -> AsyncIterator[tuple[Emulator, AsyncOpenAI]]:
    config = EmulatorConfig(ms_per_char=MS_PER_CHAR, transcribe=lambda pcm: heard)
    async with Emulator(config=config, brain=brain) as emu:
        client = AsyncOpenAI(api_key=emu.api_key, base_url=emu.openai_base_url, max_retries=0)
        try:
            yield emu, client
        finally:
            await client.close()


async def started(client: AsyncOpenAI, session: dict[str, Any]) -> tuple[Any, LiveWs]:
    manager = client.live.connect()
    conn = await manager.enter()
    ws = LiveWs(conn)
    await conn.session.start(session=session, event_id="start")  # type: ignore[arg-type]
    first = await ws.next()
    assert first["type"] == "session.started", first
    assert first["client_event_id"] == "start"
    return conn, ws


def test_official_client_holds_a_spoken_session(run: Runner) -> None:
    async def main() -> LiveWs:
        async with live("what is the weather") as (_emu, client):
            conn, ws = await started(client, {"model": "gpt-live-1.1", "instructions": "Be brief."})
            session = ws.events[0]["session"]
            assert session["model"] == "gpt-live-1.1"
            assert session["audio"]["format"] == {"type": "audio/pcm", "rate": 24000}
            await ws.send_audio(speech("what is the weather"))
            await ws.wait_for("session.output_transcript.delta")
            await ws.until_said("You said: what is the weather")
            await conn.session.input_audio.mute(event_id="m")
            assert (await ws.wait_for("session.input_audio.muted"))["client_event_id"] == "m"
            await conn.session.input_audio.unmute(event_id="u")
            await ws.wait_for("session.input_audio.unmuted")
            await conn.session.thinking.append(content="The user is in Paris.", delegation_id=None)
            await ws.wait_for("session.thinking.appended")
            await conn.session.close(event_id="bye")
            closed = await ws.wait_for("session.closed")
            assert closed["reason"] == "close_requested"
            assert closed["client_event_id"] == "bye"
            assert closed["usage"]["seconds"] >= 1
            await conn.close()
            return ws

    ws = run(main())
    heard = ws.of("session.input_transcript.delta")
    assert "".join(e["delta"] for e in heard) == "what is the weather"
    said = ws.of("session.output_transcript.delta")
    # The answer's transcript spans exactly its synthesised audio, after the user stopped.
    duration = synthesize("You said: what is the weather", ms_per_char=MS_PER_CHAR).size // 24
    assert said[-1]["end_ms"] - said[0]["start_ms"] == duration
    assert said[0]["start_ms"] >= heard[-1]["end_ms"]
    assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(said))
    audio = b"".join(base64.b64decode(e["delta"]) for e in ws.of("session.output_audio.delta"))
    assert len(audio) // 48 == duration
    assert "event_id" not in ws.of("session.output_audio.delta")[0]
    seen = assert_valid(ws.events, SERVER_EVENT)
    assert {"session.started", "session.closed", "session.input_audio.muted"} <= seen


def test_acknowledgements_wait_for_the_timeline_and_close_errors_pending_ones(run: Runner) -> None:
    async def main() -> LiveWs:
        async with live() as (_emu, client):
            conn, ws = await started(client, {"model": "gpt-live-1"})
            ws.pump = False  # no audio: the timeline stands still
            await conn.session.commentary.append(
                content="x" * 400, delegation_id=None, event_id="c"
            )
            with pytest.raises(TimeoutError):
                await ws.wait_for("session.commentary.appended", timeout=0.3)
            await conn.session.close(event_id="bye")
            await ws.wait_for("session.closed")
            await conn.close()
            return ws

    ws = run(main())
    [error] = ws.of("error")
    assert error["error"]["client_event_id"] == "c"
    assert error["error"]["code"] == "session_closed"
    assert [e["type"] for e in ws.events][-2:] == ["error", "session.closed"]
    assert_valid(ws.events, SERVER_EVENT)


def test_responses_delegation_streams_nested_events_and_speaks_the_result(run: Runner) -> None:
    async def main() -> LiveWs:
        async with live("get_weather in Paris") as (_emu, client):
            delegation = {
                "type": "responses",
                "responses": {"model": "gpt-5-mini", "tools": [WEATHER]},
            }
            conn, ws = await started(client, {"model": "gpt-live-1", "delegation": delegation})
            await ws.send_audio(speech("get weather in Paris"))
            created = await ws.wait_for("session.delegation.created")
            assert created["delegation"]["target"] == "responses"
            done = await ws.wait_for("response.event")
            while done["event"]["type"] != "response.completed":
                done = await ws.wait_for("response.event")
            assert done["event"]["response"]["output"] == []
            calls = [
                e["event"]["item"]
                for e in ws.of("response.event")
                if e["event"]["type"] == "response.output_item.done"
            ]
            assert [c["name"] for c in calls] == ["get_weather"]
            await conn.response.create(event_id="early")
            early = await ws.wait_for("error")
            assert early["error"]["code"] == "missing_function_call_output"
            await conn.response.item.create(
                item={
                    "type": "function_call_output",
                    "call_id": calls[0]["call_id"],
                    "output": "sunny",
                }
            )
            await conn.response.create(event_id="go")
            await ws.until_said("Tool result: sunny")
            await ws.close_session()
            return ws

    ws = run(main())
    nested = [e["event"]["type"] for e in ws.of("response.event")]
    assert nested.count("response.completed") == 2
    assert "response.output_text.delta" in nested
    delegation_ids = {e["delegation_id"] for e in ws.of("response.event")}
    assert delegation_ids == {ws.of("session.delegation.created")[0]["delegation"]["id"]}
    assert_valid(ws.events, SERVER_EVENT)


def test_client_delegation_is_answered_with_commentary(run: Runner) -> None:
    brain = ScriptedBrain([[CallTool("lookup_order", {"id": 7})]])

    async def main() -> LiveWs:
        async with live("where is my order", brain) as (_emu, client):
            conn, ws = await started(
                client,
                {
                    "model": "gpt-live-1",
                    "delegation": {"type": "client", "acknowledgement_delay_ms": 60000},
                },
            )
            await ws.send_audio(speech("where is my order"))
            created = await ws.wait_for("session.delegation.created")
            assert created["delegation"]["target"] == "client"
            assert created["offset_ms"] > 0
            await conn.session.commentary.append(
                content="It ships tomorrow.",
                delegation_id=created["delegation"]["id"],
                event_id="r",
            )
            acked = await ws.wait_for("session.commentary.appended")
            assert acked["client_event_id"] == "r"
            assert acked["start_ms"] <= acked["end_ms"]
            await ws.until_said("It ships tomorrow.")
            await ws.close_session()
            return ws

    ws = run(main())
    assert "One moment." not in ws.said()  # the commentary cancelled the spoken acknowledgement
    assert_valid(ws.events, SERVER_EVENT)


def test_decisions_delegation_and_triggers(run: Runner) -> None:
    brain = ScriptedBrain([[Say("Let me think."), CallTool("decide")]])
    question = {"type": "predicate", "instructions": "Is the caller angry?", "name": "angry"}

    async def main() -> LiveWs:
        async with live("this is terrible", brain) as (_emu, client):
            session = {
                "model": "gpt-live-1",
                "delegation": {
                    "type": "decisions",
                    "decisions": {"model": "gpt-5-nano", "questions": [question]},
                },
                "triggers": [
                    {
                        "type": "decisions",
                        "event_type": "session.input_transcript.delta",
                        "decisions": {"questions": [question]},
                    }
                ],
            }
            conn, ws = await started(client, session)
            await ws.send_audio(speech("this is terrible"))
            await ws.wait_for("session.delegation.created")
            while len(ws.of("decision.event")) < 2:
                await ws.wait_for("decision.event")
            await conn.decision.item.create(
                item={"type": "message", "role": "user", "content": "hi"}, event_id="di"
            )
            item = (await ws.wait_for("decision.item.created"))["item"]
            await conn.decision.item.delete(item_id=item["id"])
            await ws.wait_for("decision.item.deleted")
            await conn.decision.create(event_id="d1")
            asked = await ws.wait_for("decision.event")  # no client_event_id in its model
            assert asked["delegation_id"] is None
            assert "trigger_id" not in asked
            await ws.close_session()
            return ws

    ws = run(main())
    triggered = [e for e in ws.of("decision.event") if e.get("trigger_id")]
    assert triggered
    assert triggered[0]["source_event_type"] == "session.input_transcript.delta"
    delegated = [e for e in ws.of("decision.event") if e.get("delegation_id")]
    assert delegated[0]["event"]["decision"]["answers"][0]["name"] == "angry"
    assert_valid(ws.events, SERVER_EVENT)


def test_session_update_changes_only_delegation_settings(run: Runner) -> None:
    async def main() -> LiveWs:
        async with live() as (_emu, client):
            conn, ws = await started(client, {"model": "gpt-live-1"})
            await conn.session.update(
                session={"delegation": {"type": "client", "acknowledgement_delay_ms": 250}},
                event_id="ok",
            )
            updated = await ws.wait_for("session.updated")
            assert updated["session"]["delegation"]["acknowledgement_delay_ms"] == 250
            assert updated["client_event_id"] == "ok"
            bad = [
                ({"instructions": "new"}, "immutable_field_update", "session.instructions"),
                (
                    {"delegation": {"type": "responses", "responses": {"model": "gpt-5"}}},
                    "immutable_field_update",
                    "session.delegation.type",
                ),
                ({"voice": "ash"}, "unknown_parameter", "session.voice"),
            ]
            for n, (patch, code, param) in enumerate(bad):
                await conn.send({"type": "session.update", "session": patch, "event_id": f"u{n}"})
                error = (await ws.wait_for("error"))["error"]
                assert (error["code"], error["param"], error["client_event_id"]) == (
                    code,
                    param,
                    f"u{n}",
                )
            await conn.close()
            return ws

    assert_valid(run(main()).events, SERVER_EVENT)


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ("not json", "invalid_json"),
        ({"type": "nope"}, "invalid_value"),
        ({"event_id": "x"}, "missing_required_parameter"),
        ({"type": "session.input_audio.append", "audio": "AA=="}, "invalid_audio"),
        ({"type": "session.input_audio.append", "audio": "%%%"}, "invalid_audio"),
        ({"type": "session.start", "session": {"model": "gpt-live-1"}}, "session_already_started"),
        (
            {"type": "session.commentary.append", "content": "x", "delegation_id": "item_0"},
            "invalid_delegation_id",
        ),
        ({"type": "session.thinking.append", "content": "x"}, "missing_required_parameter"),
        ({"type": "response.create"}, "invalid_delegation_type"),
        ({"type": "response.create", "model": "x"}, "unknown_parameter"),
        ({"type": "decision.create", "event_id": None}, "missing_required_parameter"),
        ({"type": "decision.item.delete", "item_id": "item_9"}, "item_not_found"),
        ({"type": "transport.dtmf.send", "event": "1"}, "invalid_transport"),
    ],
)
def test_bad_client_events_are_error_events(run: Runner, event: Any, code: str) -> None:
    async def main() -> dict[str, Any]:
        async with live() as (_emu, client):
            conn, ws = await started(client, {"model": "gpt-live-1"})
            if isinstance(event, dict):
                await conn.send({**event, "event_id": "bad"} if "event_id" not in event else event)
            else:
                await conn._connection.send(event)
            error = await ws.wait_for("error")
            await conn.close()
            assert_valid(ws.events, SERVER_EVENT)
            return error

    error = run(main())
    assert error["error"]["code"] == code
    if isinstance(event, dict) and "type" in event:
        assert error["error"]["client_event_id"] == event.get("event_id", "bad")
        assert error.get("client_event_id") == event.get("event_id", "bad")


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"model": "gpt-live-1", "voice": "ash"}, "unknown_parameter", "session.voice"),
        ({"instructions": "hi"}, "missing_required_parameter", "session.model"),
        ({"model": "gpt-realtime"}, "model_not_found", "session.model"),
        (
            {"model": "gpt-live-1", "idle_timeout_s": 5},
            "unknown_parameter",
            "session.idle_timeout_s",
        ),
        (
            {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 8000}}},
            "invalid_value",
            "session.audio.format.rate",
        ),
        (
            {"model": "gpt-live-1", "audio": {"output": {"voice": "nobody"}}},
            "invalid_value",
            "session.audio.output.voice",
        ),
        (
            {"model": "gpt-live-1", "delegation": {"type": "responses"}},
            "missing_required_parameter",
            "session.delegation.responses",
        ),
        (
            {"model": "gpt-live-1", "input": [{"role": "system", "content": [{"text": "x"}]}]},
            "invalid_value",
            "session.input[0].role",
        ),
    ],
)
def test_a_refused_start_never_starts(run: Runner, session: Any, code: str, param: str) -> None:
    async def main() -> LiveWs:
        async with live() as (_emu, client):
            conn = await client.live.connect().enter()
            ws = LiveWs(conn, pump=False)
            await conn.session.start(session=session, event_id="s")
            await ws.wait_for("error")
            await conn.session.input_audio.mute(event_id="early")
            await ws.wait_for("error")
            await conn.close()
            return ws

    ws = run(main())
    first, second = (e["error"] for e in ws.of("error"))
    assert (first["code"], first["param"], first["client_event_id"]) == (code, param, "s")
    assert second["code"] == "session_not_started"
    assert not ws.of("session.started")
    assert_valid(ws.events, SERVER_EVENT)


def test_sideband_attach_replays_and_reflects_audio_then_hangup_closes(run: Runner) -> None:
    async def main() -> tuple[LiveWs, LiveWs]:
        async with live("hi") as (_emu, client):
            conn, ws = await started(client, {"model": "gpt-live-1"})
            session_id = ws.events[0]["session"]["id"]
            assert session_id.startswith("live_")
            side_conn = await client.live.sideband.connect(session_id=session_id).enter()
            side = LiveWs(side_conn, pump=False)
            replayed = await side.next()
            assert replayed == ws.events[0]  # session.started, with its original event_id
            await ws.send_audio(speech("hi"))
            await side.wait_for("session.output_transcript.delta")
            await side_conn.session.thinking.append(
                content="noted", delegation_id=None, event_id="t"
            )
            await ws.send_audio(np.zeros(4800, dtype=np.int16))  # the primary moves the timeline
            await side.wait_for("session.thinking.appended")
            await client.live.sessions.hangup(session_id)
            closed = await side.wait_for("session.closed")
            assert closed["reason"] == "close_requested"
            assert (await ws.wait_for("session.closed"))["event_id"] == closed["event_id"]
            with pytest.raises(NotFoundError):
                await client.live.sessions.hangup(session_id)
            await side_conn.close()
            await conn.close()
            return ws, side

    ws, side = run(main())
    reflected = side.of("session.input_audio.append")
    assert reflected
    assert "event_id" not in reflected[0]
    output = side.of("session.output_audio.delta")
    assert output[0]["start_ms"] < output[0]["end_ms"]
    assert_valid(side.events, CONNECT_EVENT)
    assert_valid(ws.events, SERVER_EVENT)


def test_live_http_refusals(run: Runner) -> None:
    async def main() -> None:
        async with live() as (emu, client):
            with pytest.raises(NotFoundError) as missing:
                await client.live.sessions.hangup("live_nope")
            assert missing.value.code == "session_not_found"
            with pytest.raises(NotFoundError):
                await client.post("/live/client_secrets", body={}, cast_to=object)
            bad = AsyncOpenAI(api_key="sk-wrong", base_url=emu.openai_base_url, max_retries=0)
            try:
                with pytest.raises(Exception, match="Incorrect API key"):
                    await bad.live.sessions.hangup("live_x")
            finally:
                await bad.close()
            from openai import BadRequestError

            with pytest.raises(BadRequestError) as refused:
                await client.live.create(
                    session={"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm"}}},  # type: ignore[typeddict-unknown-key]
                    transport={"type": "webrtc", "sdp": "v=0"},
                )
            assert refused.value.code == "unknown_parameter"

    run(main())


def test_wire_formats_round_trip() -> None:
    pcm = synthesize("format check", ms_per_char=MS_PER_CHAR)
    for fmt in (
        {"type": "audio/pcm", "rate": 24000},
        {"type": "audio/pcm", "rate": 16000},
        {"type": "audio/pcmu", "rate": 8000},
        {"type": "audio/pcma", "rate": 8000},
    ):
        back = decode_audio(encode_audio(pcm, fmt), fmt)
        assert abs(back.size - pcm.size) <= 3, fmt
        n = min(back.size, pcm.size)
        correlation = np.corrcoef(back[:n].astype(float), pcm[:n].astype(float))[0, 1]
        assert correlation > 0.9, fmt
    pieces = fragments("Hello there, friend.", 100, 600)
    assert "".join(p for p, _, _ in pieces) == "Hello there, friend."
    assert pieces[0][1] == 100
    assert pieces[-1][2] == 600
    assert json.dumps(pieces)
