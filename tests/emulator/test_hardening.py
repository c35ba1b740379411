"""Defects found under attack: hostile input gets a 4xx in OpenAI's shape (or an ``error``
event, the session going on), never a 500, a dropped socket or a call kept forever; and a
browser's CORS preflight is allowed whatever headers its SDK sends."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

import aiohttp
import pytest

from realtime_sdk.emulator import FAULTS_HEADER, Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.testing import RtcClient, WsClient
from realtime_sdk.emulator.webrtc import Call
from tests.emulator.kit import offer_sdp

Runner = Any
DEEP = "[" * 100_000 + "]" * 100_000
ERROR_KEYS = {"message", "type", "param", "code"}


async def request(
    emu: Emulator,
    path: str,
    *,
    body: Any = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    hdrs = {"Authorization": f"Bearer {emu.api_key}", **(headers or {})}
    if content_type:
        hdrs["Content-Type"] = content_type
    async with (
        aiohttp.ClientSession() as http,
        http.post(emu.base_url + path, data=body, headers=hdrs) as r,
    ):
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


def assert_openai_error(status: int, data: Any, expected_status: int = 400) -> dict[str, Any]:
    assert status == expected_status, data
    assert isinstance(data, dict), data
    assert set(data["error"]) == ERROR_KEYS
    assert data["error"]["type"] == "invalid_request_error"
    return dict(data["error"])


def multipart(sdp: bytes | str, session: bytes | str | None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(
        "sdp", io.BytesIO(sdp) if isinstance(sdp, bytes) else sdp, content_type="application/sdp"
    )
    if session is not None:
        form.add_field("session", session, content_type="application/json")
    return form


# --------------------------------------------------------------------- HTTP bodies


def test_non_utf8_sdp_is_a_400_on_both_content_types(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            offer = (
                (await offer_sdp()).replace("s=-", "s=\udcff").encode("utf-8", "surrogateescape")
            )
            status, data = await request(
                emu, "/v1/realtime/calls", body=offer, content_type="application/sdp"
            )
            error = assert_openai_error(status, data)
            assert "not UTF-8" in error["message"]
            assert error["param"] == "sdp"
            status, data = await request(emu, "/v1/realtime/calls", body=multipart(offer, None))
            assert "not UTF-8" in assert_openai_error(status, data)["message"]
            assert emu.calls == {}

    run(main())


def test_deeply_nested_json_bodies_are_a_400(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            status, data = await request(
                emu,
                "/v1/realtime/client_secrets",
                body=DEEP,
                content_type="application/json",
            )
            error = assert_openai_error(status, data)
            assert error["message"].startswith("We could not parse the JSON body")
            # Parseable, but nested beyond what the emulator accepts (and can echo back).
            status, data = await request(
                emu,
                "/v1/realtime/client_secrets",
                body=json.dumps(
                    {"session": {"type": "realtime", "prompt": json.loads("[" * 900 + "]" * 900)}}
                ),
                content_type="application/json",
            )
            assert assert_openai_error(status, data)["message"].startswith(
                "We could not parse the JSON body"
            )
            status, data = await request(
                emu, "/v1/realtime/calls", body=multipart(await offer_sdp(), DEEP)
            )
            error = assert_openai_error(status, data)
            assert error["message"].startswith("Invalid 'session' part: not valid JSON")
            assert "nested deeper than" in error["message"]
            assert emu.calls == {}

    run(main())


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 3000 + "]" * 3000, "nested deeper than"),
        ('["calls_status", 500]', "must be a JSON object"),
        ('{"calls_status": 99}', "between 400 and 599"),
        ('{"calls_status": 600}', "between 400 and 599"),
        ('{"refuse_token": 101}', "between 400 and 599"),
        ('{"refuse_token": "x"}', "must be an integer"),
        ('{"stall_calls": 1}', "must be a boolean"),
        ('{"delta_delay_s": -1}', "finite number >= 0"),
        ('{"explode": true}', "unknown fault"),
    ],
)
def test_malformed_faults_header_is_a_400(run: Runner, header: str, words: str) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            for path, body, content_type in (
                ("/v1/realtime/client_secrets", "{}", "application/json"),
                ("/v1/realtime/calls", await offer_sdp(), "application/sdp"),
            ):
                status, data = await request(
                    emu,
                    path,
                    body=body,
                    content_type=content_type,
                    headers={FAULTS_HEADER: header},
                )
                error = assert_openai_error(status, data)
                assert error["message"].startswith(f"Invalid {FAULTS_HEADER} header: ")
                assert words in error["message"]
            assert emu.calls == {}

    run(main())


def test_fault_values_are_validated_in_code_too() -> None:
    with pytest.raises(ValueError, match="between 400 and 599"):
        Faults(calls_status=99)
    with pytest.raises(ValueError, match="between 400 and 599"):
        Faults(refuse_token=200)
    with pytest.raises(ValueError, match="must be a boolean"):
        Faults(stall_calls="yes")  # type: ignore[arg-type]
    assert Faults(calls_status=503, response_delay_s=1).calls_status == 503


# --------------------------------------------------------------------- WebSocket


def test_nested_json_event_is_an_error_and_the_session_goes_on(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator() as emu,
            await WsClient.connect(emu.base_url, emu.api_key, model="gpt-realtime-2.1") as ws,
        ):
            await ws.wait_for("session.created")
            for frame in (
                DEEP,
                json.dumps({"type": "session.update", "x": json.loads("[" * 900 + "]" * 900)}),
            ):
                await ws.send(frame)
                error = (await ws.wait_for("error"))["error"]
                assert error["type"] == "invalid_request_error"
                assert error["code"] == "invalid_json"
                assert error["message"].startswith("Invalid event: failed to parse JSON value.")
                assert "nested deeper than 128 levels" in error["message"]
            await ws.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": "Go on."},
                }
            )
            updated = await ws.wait_for("session.updated")
            assert updated["session"]["instructions"] == "Go on."
            assert not ws.closed.is_set()

    run(main())


# --------------------------------------------------------------------- offer SDP


def mangle(sdp: str, pattern: str, replacement: str) -> str:
    mangled, count = re.subn(pattern, replacement, sdp, flags=re.MULTILINE)
    assert count, pattern
    return mangled


@pytest.mark.parametrize(
    ("pattern", "replacement", "words"),
    [
        # hex digits that are not hex
        (r"^(a=fingerprint:sha-256 )..", r"\1ZZ", "32 colon-separated hex bytes"),
        # a digest cut short
        (
            r"^(a=fingerprint:sha-256 [0-9A-F:]{47})[0-9A-F:]+",
            r"\1",
            "32 colon-separated hex bytes",
        ),
        # an unknown hash function
        (r"^a=fingerprint:sha-256 ", "a=fingerprint:sha-999 ", "unknown fingerprint hash"),
        # no fingerprint at all
        (r"^a=fingerprint:.*\r?\n", "", "missing DTLS fingerprint"),
        # ICE credentials
        (r"^a=ice-pwd:.*\r?\n", "", "no ICE credentials"),
        (r"^a=ice-pwd:.*$", "a=ice-pwd:short", "'a=ice-pwd'"),
        (r"^a=ice-ufrag:.*$", "a=ice-ufrag:a b!", "'a=ice-ufrag'"),
        # no audio or data channel section
        (r"^m=(audio|application) ", "m=video ", "audio or a data channel"),
        # sections aiortc cannot answer (each was a 500 from inside aiortc)
        (r"^a=mid:1\r\n", "a=mid\r\n", "the application section has no 'a=mid'"),
        (r"^m=application .*\r?\n", "", "which no media section has"),
        (r"^m=audio ", "m=audXo ", "unknown media type 'audXo'"),
        (r"^a=sendrecv\r\n", "a=sendrecX\r\n", "the audio section has no direction"),
    ],
)
def test_a_mangled_offer_is_a_400_with_a_clear_message(
    run: Runner, pattern: str, replacement: str, words: str
) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            offer = mangle(await offer_sdp(), pattern, replacement)
            status, data = await request(
                emu, "/v1/realtime/calls", body=offer, content_type="application/sdp"
            )
            error = assert_openai_error(status, data)
            assert error["message"].startswith("Invalid SDP offer")
            assert words in error["message"]
            assert error["param"] == "sdp"
            assert emu.calls == {}

    run(main())


# --------------------------------------------------------------------- never-connected calls


def test_a_call_that_never_connects_is_closed_and_forgotten(run: Runner) -> None:
    async def main() -> None:
        config = EmulatorConfig(connect_timeout_s=0.5)
        async with Emulator(config=config) as emu:
            # The offering peer goes away without applying the answer: ICE never completes.
            status, _ = await request(
                emu, "/v1/realtime/calls", body=await offer_sdp(), content_type="application/sdp"
            )
            assert status == 201
            assert len(emu.calls) == 1
            call = next(iter(emu.calls.values()))
            async with asyncio.timeout(15):  # generous upper bound, not the measurement
                await call.closed.wait()
            assert emu.calls == {}
            assert emu.ended_calls == 1
            assert isinstance(call, Call)  # a WebRTC call (SIP calls are listed too)
            assert call.pc.connectionState == "closed"
            # A call that does connect is kept past the timeout.
            async with await RtcClient.connect(emu.base_url, emu.api_key) as rtc:
                await rtc.wait_for("session.created")
                await asyncio.sleep(config.connect_timeout_s * 3)
                assert rtc.call_id in emu.calls
                rtc.send({"type": "session.update", "session": {"type": "realtime"}})
                await rtc.wait_for("session.updated")

    run(main())


# --------------------------------------------------------------------- browser callers

BROWSER_ROUTES = [
    ("POST", "/v1/realtime/client_secrets"),
    ("POST", "/v1/realtime/calls"),
    ("POST", "/v1/realtime/calls/rtc_123/hangup"),
    ("DELETE", "/v1/realtime/calls/rtc_123"),
    ("GET", "/v1/realtime"),
]


@pytest.mark.parametrize(("method", "path"), BROWSER_ROUTES)
def test_cors_preflight_allows_the_headers_a_browser_sdk_sends(
    run: Runner, method: str, path: str
) -> None:
    requested = ["authorization", "content-type", "x-openai-agents-sdk", "x-anything-9"]

    async def main() -> None:
        async with (
            Emulator() as emu,
            aiohttp.ClientSession() as http,
            http.options(
                emu.base_url + path,
                headers={
                    "Origin": "http://localhost:5173",
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": ", ".join(requested),
                },
            ) as r,
        ):
            assert 200 <= r.status < 300
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            allowed = {
                h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")
            }
            assert set(requested) <= allowed
            methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
            assert method in methods

    run(main())


def test_cors_headers_on_the_real_call(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator() as emu,
            aiohttp.ClientSession() as http,
            http.post(
                emu.base_url + "/v1/realtime/calls",
                data=await offer_sdp(),
                headers={
                    "Authorization": f"Bearer {emu.api_key}",
                    "Content-Type": "application/sdp",
                    "Origin": "http://localhost:5173",
                    "X-OpenAI-Agents-SDK": "openai-agents-sdk.0.1.0",
                },
            ) as r,
        ):
            assert r.status == 201
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Location" in r.headers["Access-Control-Expose-Headers"]

    run(main())
