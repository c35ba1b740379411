"""Ephemeral keys from an API key, against the emulator and small stand-in servers."""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from realtime_sdk.calls import CallControl, CallControlError
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.testing import WsClient
from realtime_sdk.errors import TokenError
from realtime_sdk.keys import ApiKeyTokenProvider, api_key_token_provider, create_client_secret
from tests.aio import run_async

SECRET_KEY = "sk-test-SECRET0123456789abcdef"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 5.0) -> Any:
    return run_async(coro, timeout)


class FakeClock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert SECRET_KEY not in str(text)
        assert SECRET_KEY[3:15] not in str(text)


# ------------------------------------------------------------------------------- happy paths


def test_the_provider_mints_a_working_ephemeral_key() -> None:
    async def main() -> None:
        async with Emulator(api_key=SECRET_KEY) as emu:
            provider = api_key_token_provider(SECRET_KEY, base_url=emu.base_url, timeout=3)
            first = await provider()
            second = await provider()
            assert first.startswith("ek_")
            assert second.startswith("ek_")
            assert first != second  # one key per call
            client = await WsClient.connect(emu.base_url, first)
            try:
                created = await client.wait_for("session.created", timeout=3)
            finally:
                await client.close()
            session = created["session"]
            assert session["audio"]["output"]["voice"] == "alloy"  # DEFAULTS["session"]
            assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 700

    run(main())


def test_session_and_expiry_are_sent() -> None:
    clock = FakeClock()

    async def main() -> None:
        config = EmulatorConfig(api_key=SECRET_KEY, clock=clock)
        async with Emulator(config=config) as emu:
            data = await create_client_secret(
                SECRET_KEY,
                base_url=emu.base_url + "/",
                session={"instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}},
                expires_after_seconds=60,
                timeout=3,
            )
            assert data["value"].startswith("ek_")
            assert data["expires_at"] == int(clock.now) + 60
            assert data["session"]["instructions"] == "Be brief."
            assert data["session"]["audio"]["output"]["voice"] == "marin"

    run(main())


def test_a_beta_session_is_translated_once_at_construction() -> None:
    async def main() -> None:
        async with Emulator(api_key=SECRET_KEY) as emu:
            with pytest.warns(DeprecationWarning, match="voice"):
                provider = api_key_token_provider(
                    SECRET_KEY, base_url=emu.base_url, session={"voice": "echo"}
                )
            key = await provider()  # no second warning (filterwarnings = error)
            client = await WsClient.connect(emu.base_url, key)
            try:
                created = await client.wait_for("session.created", timeout=3)
            finally:
                await client.close()
            assert created["session"]["audio"]["output"]["voice"] == "echo"

    run(main())


# ------------------------------------------------------------------------------- failures


def test_a_refused_api_key_is_a_clear_token_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> TokenError:
        async with Emulator(api_key="sk-emulator-the-right-one") as emu:
            provider = api_key_token_provider(SECRET_KEY, base_url=emu.base_url, timeout=3)
            with pytest.raises(TokenError) as raised:
                await provider()
            return raised.value

    error = run(main())
    assert error.status == 401
    assert error.stage == "fetch_token"
    assert "HTTP 401" in str(error)
    assert "API key was refused" in str(error)
    # OpenAI's message (which masks the key itself), after our redaction:
    assert "Incorrect API key provided: sk-t***cdef." in str(error)
    assert str(error).startswith("could not get an ephemeral key: http://127.0.0.1:")
    assert error.code == "invalid_api_key"
    assert error.__cause__ is None
    assert_no_key(str(error), repr(error), error.args, caplog.text)


def test_an_upstream_server_error() -> None:
    async def main() -> TokenError:
        async with Emulator(api_key=SECRET_KEY) as emu:
            emu.faults.refuse_token = 500
            with pytest.raises(TokenError) as raised:
                await api_key_token_provider(SECRET_KEY, base_url=emu.base_url)()
            return raised.value

    error = run(main())
    assert error.status == 500
    assert "HTTP 500" in str(error)
    assert "refuse this client secret" in str(error)  # OpenAI-style message from the body
    assert_no_key(str(error))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def stand_in(handler: Handler, call: Callable[[str], Awaitable[Any]]) -> Any:
    app = web.Application()
    app.router.add_post("/v1/realtime/client_secrets", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        return await call(str(server.make_url("")).rstrip("/"))


async def provider_error(handler: Handler, **kwargs: Any) -> TokenError:
    async def call(base_url: str) -> TokenError:
        provider = api_key_token_provider(SECRET_KEY, base_url=base_url, **kwargs)
        with pytest.raises(TokenError) as raised:
            await provider()
        return raised.value

    error: TokenError = await stand_in(handler, call)
    return error


def test_non_json_answer() -> None:
    async def html(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
        return web.Response(text="<html>gateway</html>", content_type="text/html")

    error = run(provider_error(html))
    assert "expected a JSON object" in str(error)
    assert "text/html" in str(error)
    assert "<html>gateway</html>" in str(error)
    assert error.status == 200


def test_an_error_body_that_is_not_json_is_quoted_redacted() -> None:
    async def echo_key(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"denied: {request.headers['Authorization']}")

    error = run(provider_error(echo_key))
    assert error.status == 401
    assert "denied: Bearer ***" in str(error)
    assert_no_key(str(error))


def test_missing_value() -> None:
    async def empty(request: web.Request) -> web.Response:
        return web.json_response({"expires_at": 1, "session": {}})

    error = run(provider_error(empty))
    assert "no ephemeral key ('value')" in str(error)


def test_a_beta_shaped_answer_is_accepted() -> None:
    async def beta(request: web.Request) -> web.Response:
        return web.json_response({"client_secret": {"value": "ek_beta123456", "expires_at": 1}})

    async def call(base_url: str) -> str:
        return await api_key_token_provider(SECRET_KEY, base_url=base_url)()

    assert run(stand_in(beta, call)) == "ek_beta123456"


def test_a_stalled_server_times_out() -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"value": "ek_late"})

    async def main() -> TokenError:
        async def call(base_url: str) -> TokenError:
            provider = api_key_token_provider(SECRET_KEY, base_url=base_url, timeout=0.2)
            try:
                with pytest.raises(TokenError) as raised:
                    await provider()
            finally:
                release.set()
            return raised.value

        error: TokenError = await stand_in(stall, call)
        return error

    error = run(main())
    assert "within 0.2 s" in str(error)
    assert error.status is None


def test_an_unreachable_server() -> None:
    async def main() -> TokenError:
        async def call(base_url: str) -> str:
            return base_url

        async def nothing(request: web.Request) -> web.Response:
            return web.Response()

        base_url = await stand_in(nothing, call)  # the server is closed again
        with pytest.raises(TokenError) as raised:
            await api_key_token_provider(SECRET_KEY, base_url=base_url, timeout=2)()
        return raised.value

    error = run(main())
    assert "cannot reach" in str(error)
    assert_no_key(str(error))


# ------------------------------------------------------------------- the key stays hidden


def test_the_provider_does_not_show_or_pickle_its_key() -> None:
    provider = api_key_token_provider(SECRET_KEY, base_url="http://127.0.0.1:9")
    assert isinstance(provider, ApiKeyTokenProvider)
    assert_no_key(repr(provider), str(provider))
    assert "'***'" in repr(provider)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider)


def test_the_api_key_comes_from_the_environment_or_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        api_key_token_provider()
    with pytest.raises(ValueError, match="no API key"):
        api_key_token_provider("  ")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    assert isinstance(api_key_token_provider(base_url="http://127.0.0.1:9"), ApiKeyTokenProvider)


@pytest.mark.parametrize("seconds", [5, 7201, 60.0, True])
def test_expiry_is_checked(seconds: Any) -> None:
    with pytest.raises(ValueError, match=r"10\.\.7200"):
        api_key_token_provider(SECRET_KEY, expires_after_seconds=seconds)


# ------------------------------------------- one POST helper, each caller's own messages


async def both_fail(
    handler: Handler, step: str, limit_s: float
) -> tuple[str, TokenError, CallControlError]:
    """A client-secrets request and a call-control ``step`` (``hangup`` or ``accept``) to
    ``handler``: the base URL and each caller's error."""
    app = web.Application()
    app.router.add_post("/v1/realtime/client_secrets", handler)
    app.router.add_post(f"/v1/realtime/calls/{{call_id}}/{step}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        base_url = str(server.make_url("")).rstrip("/")
        with pytest.raises(TokenError) as token:
            await api_key_token_provider(SECRET_KEY, base_url=base_url, timeout=limit_s)()
        async with CallControl(SECRET_KEY, base_url=base_url, timeout=limit_s) as control:
            request = (
                control.hangup("rtc_abc")
                if step == "hangup"
                else control.accept("rtc_abc", {"type": "realtime"})
            )
            with pytest.raises(CallControlError) as call:
                await request
    return base_url, token.value, call.value


@pytest.mark.parametrize(
    ("status", "body", "content_type", "said", "code"),
    [
        (
            500,
            f"upstream broke near {SECRET_KEY}",
            "text/plain",
            "upstream broke near sk-***",
            None,
        ),
        (401, "", "text/plain", "(empty body)", None),
        (
            404,
            '{"error": {"message": "no such call", "code": "not_found"}}',
            "application/json",
            "no such call",
            "not_found",
        ),
    ],
)
def test_token_and_call_control_errors_keep_their_messages(
    status: int, body: str, content_type: str, said: str, code: str | None
) -> None:
    """Keys and call control post through one helper; each error still reads as its own."""
    seen: list[tuple[str, str | None, str | None]] = []

    async def refuse(request: web.Request) -> web.Response:
        text = await request.text()
        seen.append((request.path, request.headers.get("Content-Type"), text or None))
        return web.Response(status=status, text=body, content_type=content_type)

    base_url, token, call = run(both_fail(refuse, "hangup", 3))
    reason = "the API key was refused" if status == 401 else "the request failed"
    url = f"{base_url}/v1/realtime/client_secrets"
    assert str(token) == (
        f"could not get an ephemeral key: {url}: {reason} (HTTP {status}): {said}"
    )
    assert (token.status, token.code) == (status, code)
    assert str(call) == f"hangup call rtc_abc failed: HTTP {status}: {said}"
    assert (call.stage, call.status, call.code, call.message) == (
        "hangup",
        status,
        code,
        f"HTTP {status}: {said}",
    )
    # the key's request is JSON; hangup has no body (and is not said to be JSON)
    assert seen[0][0] == "/v1/realtime/client_secrets"
    assert seen[0][1] == "application/json"
    assert seen[1][0] == "/v1/realtime/calls/rtc_abc/hangup"
    assert seen[1][1] != "application/json"
    assert seen[1][2] is None
    assert_no_key(str(token), str(call), repr(token), repr(call))


def test_no_answer_is_said_by_each_caller() -> None:
    async def never(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    base_url, token, call = run(both_fail(never, "accept", 0.1))
    url = f"{base_url}/v1/realtime/client_secrets"
    assert str(token) == f"could not get an ephemeral key: no answer from {url} within 0.1 s"
    assert token.status is None
    assert str(call) == "accept call rtc_abc failed: no answer within 0.1 s"
    assert call.status is None
