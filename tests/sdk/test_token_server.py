"""The token server: the seed's quick-start endpoint, with the emulator as OpenAI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from realtime_sdk.emulator import Emulator
from realtime_sdk.emulator.testing import WsClient
from realtime_sdk.token_server import SESSION_PATH, main, make_token_app, run_token_server
from tests.aio import run_async

SECRET_KEY = "sk-test-SERVER0123456789abcdef"


def run(coro: Coroutine[Any, Any, Any], timeout: float = 5.0) -> Any:
    return run_async(coro, timeout)


def test_the_seeds_endpoint_hands_out_working_ephemeral_keys() -> None:
    async def main_() -> None:
        async with Emulator(api_key=SECRET_KEY) as emu:
            app = make_token_app(
                SECRET_KEY, base_url=emu.base_url, session={"instructions": "Token server."}
            )
            async with (
                TestServer(app, host="127.0.0.1") as server,
                TestClient[Any, Any](server) as http,
            ):
                assert SESSION_PATH == "/realtime/session"
                response = await http.get(SESSION_PATH, headers={"Origin": "http://app"})
                assert response.status == 200
                text = await response.text()
                assert SECRET_KEY not in text
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                assert response.headers["Cache-Control"] == "no-store"
                data = json.loads(text)
                value = data["value"]
                assert value.startswith("ek_")
                # The seed's clients read j.client_secret.value:
                assert data["client_secret"] == {"value": value, "expires_at": data["expires_at"]}
                assert data["session"]["instructions"] == "Token server."
                again = await (await http.get(SESSION_PATH)).json()
                assert again["value"] != value
            ws = await WsClient.connect(emu.base_url, value)
            try:
                created = await ws.wait_for("session.created", timeout=3)
            finally:
                await ws.close()
            assert created["session"]["instructions"] == "Token server."

    run(main_())


def test_health_and_cors_preflight() -> None:
    async def main_() -> None:
        app = make_token_app(SECRET_KEY, base_url="http://127.0.0.1:9", allow_origin="http://ui")
        async with (
            TestServer(app, host="127.0.0.1") as server,
            TestClient[Any, Any](server) as http,
        ):
            health = await http.get("/healthz")
            assert health.status == 200
            assert await health.json() == {"status": "ok"}
            preflight = await http.options(
                SESSION_PATH,
                headers={"Origin": "http://ui", "Access-Control-Request-Method": "GET"},
            )
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == "http://ui"
            assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
            assert preflight.headers["Vary"] == "Origin"
            assert (await http.post(SESSION_PATH)).status == 405

    run(main_())


@pytest.mark.parametrize(
    ("emulator_key", "refuse", "status"), [("sk-emulator-other", None, 401), (SECRET_KEY, 500, 500)]
)
def test_upstream_failures_are_502_without_the_key(
    emulator_key: str, refuse: int | None, status: int
) -> None:
    async def main_() -> tuple[int, str]:
        async with Emulator(api_key=emulator_key) as emu:
            emu.faults.refuse_token = refuse
            app = make_token_app(SECRET_KEY, base_url=emu.base_url)
            async with (
                TestServer(app, host="127.0.0.1") as server,
                TestClient[Any, Any](server) as http,
            ):
                response = await http.get(SESSION_PATH)
                return response.status, await response.text()

    code, text = run(main_())
    assert code == 502
    assert SECRET_KEY not in text
    assert SECRET_KEY[8:20] not in text
    error = json.loads(text)["error"]
    assert error["type"] == "upstream_error"
    assert error["status"] == status
    assert f"HTTP {status}" in error["message"]


def test_run_token_server_serves_until_cancelled() -> None:
    async def main_() -> None:
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_token_server("127.0.0.1", 0, SECRET_KEY, base_url="http://127.0.0.1:9", ready=ready)
        )
        url = await ready
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
            assert await response.json() == {"status": "ok"}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(aiohttp.ClientConnectionError):  # the port is closed again
            async with aiohttp.ClientSession() as http, http.get(url + "/healthz"):
                pass

    run(main_())


def test_the_api_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        make_token_app()
    with pytest.raises(SystemExit) as exited:
        main(["--port", "0"])
    assert exited.value.code == 2
