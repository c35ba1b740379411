"""Models: every name the official ``openai`` package lists is accepted the same way on every
route (client secrets, calls as SDP and as multipart, the WebSocket), unknown ones are refused
the same way, and ``session.reasoning`` / ``parallel_tool_calls`` are validated and echoed."""

from __future__ import annotations

import json
import typing
from typing import Any

import aiohttp
import pydantic
import pytest
from openai.types.realtime import (
    RealtimeSessionCreateResponse,
    audio_transcription,
    call_accept_params,
    realtime_session_create_request,
)

from realtime_sdk.emulator import Emulator
from realtime_sdk.emulator.session import (
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    REALTIME_MODELS,
    TRANSCRIPTION_MODELS,
)
from realtime_sdk.emulator.testing import WsClient
from tests.emulator.kit import offer_sdp

Runner = Any
ROUTES = ("client_secrets", "calls_sdp", "calls_multipart", "websocket")
SESSION_ROUTES = ("client_secrets", "calls_multipart", "websocket")
UNKNOWN = "gpt-unknown-9"


def literals(hint: object) -> set[str]:
    """The string literals inside a (possibly nested, possibly forward-referenced) type hint."""
    if isinstance(hint, str):
        return set()
    found: set[str] = set()
    for arg in typing.get_args(hint):
        if isinstance(arg, str):
            found.add(arg)
        else:
            found |= literals(arg)
    return found


def package_models() -> tuple[set[str], set[str]]:
    """(realtime models, transcription models) as the installed ``openai`` package lists them."""
    request = realtime_session_create_request.RealtimeSessionCreateRequest.model_fields["model"]
    accept = typing.get_type_hints(call_accept_params.CallAcceptParams)["model"]
    transcription = audio_transcription.AudioTranscription.model_fields["model"]
    realtime = literals(request.annotation) | literals(accept)
    return realtime, literals(transcription.annotation)


PACKAGE_REALTIME, PACKAGE_TRANSCRIPTION = package_models()


def test_the_emulator_lists_exactly_the_package_models() -> None:
    assert PACKAGE_REALTIME, "no model literals found in the openai package"
    assert set(REALTIME_MODELS) == PACKAGE_REALTIME
    assert set(TRANSCRIPTION_MODELS) == PACKAGE_TRANSCRIPTION
    assert DEFAULT_MODEL == "gpt-realtime-2.1"
    assert DEFAULT_MODEL in PACKAGE_REALTIME
    assert DEFAULT_TRANSCRIPTION_MODEL == "gpt-realtime-whisper"
    assert DEFAULT_TRANSCRIPTION_MODEL in PACKAGE_TRANSCRIPTION


async def open_session(emu: Emulator, route: str, session: dict[str, Any]) -> dict[str, Any]:
    """Open a session on ``route`` with ``session``; return what the emulator made of it, or
    ``{"error": ...}`` as that route reports a refusal (HTTP body, or the WebSocket's event)."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    calls = emu.base_url + "/v1/realtime/calls"
    async with aiohttp.ClientSession() as http:
        if route == "client_secrets":
            async with http.post(
                emu.base_url + "/v1/realtime/client_secrets",
                json={"session": session},
                headers=headers,
            ) as r:
                data: dict[str, Any] = await r.json()
                assert r.status == (200 if "session" in data else 400), data
                return dict(data.get("session", data))
        if route == "websocket":
            async with await WsClient.connect(emu.base_url, emu.api_key, model=DEFAULT_MODEL) as ws:
                await ws.send({"type": "session.update", "session": session})
                event = await ws.next()
                while event["type"] not in ("session.updated", "error"):
                    event = await ws.next()
                return dict(event.get("session") or event)
        offer = await offer_sdp()
        if route == "calls_sdp":
            body: Any = offer
            url = calls + "?model=" + session["model"]
            headers["Content-Type"] = "application/sdp"
        else:
            body = aiohttp.FormData()
            body.add_field("sdp", offer, content_type="application/sdp")
            body.add_field("session", json.dumps(session), content_type="application/json")
            url = calls
        async with http.post(url, data=body, headers=headers) as r:
            if r.status != 201:
                assert r.status == 400
                return dict(await r.json())
            call_id = r.headers["Location"].rsplit("/", 1)[-1]
    return dict(emu.calls[call_id].engine.session)


async def open_websocket(emu: Emulator, model: str) -> dict[str, Any]:
    """``GET /v1/realtime?model=…``: the session, or the refusal (error event and close)."""
    async with await WsClient.connect(emu.base_url, emu.api_key, model=model) as ws:
        event = await ws.next()
        if event["type"] == "error":
            await ws.closed.wait()
            assert ws.close_code == 4000
            return {"error": event["error"]}
        assert event["type"] == "session.created"
        return dict(event["session"])


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("model", sorted(PACKAGE_REALTIME))
def test_every_package_model_is_accepted_on_every_route(
    run: Runner, model: str, route: str
) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            if route == "websocket":
                session = await open_websocket(emu, model)
                assert session["model"] == model
            session = await open_session(emu, route, {"type": "realtime", "model": model})
            assert session.get("model") == model, session

    run(main())


@pytest.mark.parametrize("route", SESSION_ROUTES)
@pytest.mark.parametrize("model", sorted(PACKAGE_TRANSCRIPTION))
def test_every_package_transcription_model_is_accepted(run: Runner, model: str, route: str) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            session = await open_session(
                emu,
                route,
                {"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}},
            )
            assert session["audio"]["input"]["transcription"]["model"] == model, session

    run(main())


def test_an_unknown_model_is_refused_the_same_way_on_every_route(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            refusals = [await open_websocket(emu, UNKNOWN)]
            for route in ROUTES:
                refusals.append(
                    await open_session(emu, route, {"type": "realtime", "model": UNKNOWN})
                )
            errors = [r["error"] for r in refusals]
            for error in errors:
                assert error["code"] == "invalid_model"
                assert error["type"] == "invalid_request_error"
                assert error["message"] == f'Model "{UNKNOWN}" is not supported in realtime mode.'
            assert {e["param"] for e in errors} == {"model", "session.model"}
            for route in SESSION_ROUTES:
                transcription = {"model": "whisper-9"}
                refused = await open_session(
                    emu,
                    route,
                    {"type": "realtime", "audio": {"input": {"transcription": transcription}}},
                )
                assert refused["error"]["code"] == "invalid_value"
                assert refused["error"]["param"] == "session.audio.input.transcription.model"
                assert "'gpt-realtime-whisper'" in refused["error"]["message"]
            assert emu.calls == {}

    run(main())


def test_defaults_are_current_models(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            for route in ("client_secrets", "websocket"):
                session = await open_session(
                    emu, route, {"type": "realtime", "audio": {"input": {"transcription": {}}}}
                )
                assert session["audio"]["input"]["transcription"]["model"] == (
                    "gpt-realtime-whisper"
                )
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    emu.base_url + "/v1/realtime/client_secrets",
                    json={},
                    headers={"Authorization": f"Bearer {emu.api_key}"},
                ) as r,
            ):
                assert (await r.json())["session"]["model"] == "gpt-realtime-2.1"

    run(main())


SESSION_RESPONSE: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeSessionCreateResponse)


@pytest.mark.parametrize("route", SESSION_ROUTES)
def test_reasoning_and_parallel_tool_calls_are_validated_and_echoed(
    run: Runner, route: str
) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            for effort in ("minimal", "low", "medium", "high", "xhigh"):
                session = await open_session(
                    emu,
                    route,
                    {
                        "type": "realtime",
                        "model": "gpt-realtime-2",
                        "reasoning": {"effort": effort},
                        "parallel_tool_calls": False,
                    },
                )
                assert session["reasoning"] == {"effort": effort}
                # The package's session object declares reasoning, not parallel_tool_calls.
                assert "parallel_tool_calls" not in session
                parsed = SESSION_RESPONSE.validate_python(session)
                assert parsed.reasoning is not None
                assert parsed.reasoning.effort == effort
                assert set(parsed.model_extra or {}) <= {"object", "id", "expires_at"}
            bad = await open_session(
                emu, route, {"type": "realtime", "reasoning": {"effort": "maximum"}}
            )
            assert bad["error"]["code"] == "invalid_value"
            assert bad["error"]["param"] == "session.reasoning.effort"
            assert "'xhigh'" in bad["error"]["message"]
            bad = await open_session(emu, route, {"type": "realtime", "parallel_tool_calls": "yes"})
            assert bad["error"]["code"] == "invalid_type"
            assert bad["error"]["param"] == "session.parallel_tool_calls"

    run(main())


def test_reasoning_is_echoed_in_session_created(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, aiohttp.ClientSession() as http:
            async with http.post(
                emu.base_url + "/v1/realtime/client_secrets",
                json={"session": {"type": "realtime", "reasoning": {"effort": "low"}}},
                headers={"Authorization": f"Bearer {emu.api_key}"},
            ) as r:
                key = (await r.json())["value"]
            async with await WsClient.connect(emu.base_url, key) as ws:
                created = await ws.wait_for("session.created")
                assert created["session"]["reasoning"] == {"effort": "low"}

    run(main())
