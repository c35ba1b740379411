"""HTTP routes: client secrets, calls (SDP / multipart), hang-up, error shapes."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.testing import RtcClient, WsClient

Runner = Any


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def post(
    url: str, key: str | None, *, body: Any = None, content_type: str | None = None
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if content_type:
        headers["Content-Type"] = content_type
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        text = await r.text()
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        return r.status, data, r.headers


def test_client_secret_shape_and_expiry(run: Runner) -> None:
    clock = FakeClock()

    async def main() -> None:
        async with Emulator(config=EmulatorConfig(clock=clock)) as emu:
            url = emu.base_url + "/v1/realtime/client_secrets"
            body = json.dumps(
                {
                    "expires_after": {"anchor": "created_at", "seconds": 60},
                    "session": {
                        "type": "realtime",
                        "model": "gpt-realtime",
                        "instructions": "Be brief.",
                        "audio": {"output": {"voice": "marin"}},
                    },
                }
            )
            status, data, _ = await post(
                url, emu.api_key, body=body, content_type="application/json"
            )
            assert status == 200
            assert data["value"].startswith("ek_")
            assert data["expires_at"] == int(clock.now) + 60
            assert data["session"]["audio"]["output"]["voice"] == "marin"
            assert data["session"]["instructions"] == "Be brief."
            assert data["session"]["object"] == "realtime.session"
            # The ephemeral key opens a WebSocket session with the secret's configuration.
            async with await WsClient.connect(emu.base_url, data["value"]) as c:
                created = await c.wait_for("session.created")
                assert created["session"]["instructions"] == "Be brief."
            clock.now += 61
            async with await WsClient.connect(emu.base_url, data["value"]) as c:
                assert (await c.wait_for("error"))["error"]["code"] == "invalid_api_key"
            # An ephemeral key cannot mint more keys; the API key is needed.
            status, data, _ = await post(
                url, data["value"], body="{}", content_type="application/json"
            )
            assert status == 401

    run(main())


def test_http_errors_have_openai_shape(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            secrets = emu.base_url + "/v1/realtime/client_secrets"
            calls = emu.base_url + "/v1/realtime/calls"
            status, data, _ = await post(secrets, None, body="{}")
            assert status == 401
            assert set(data["error"]) == {"message", "type", "param", "code"}
            assert data["error"]["message"].startswith("You didn't provide an API key.")
            status, data, _ = await post(secrets, "sk-not-the-key", body="{}")
            assert status == 401
            assert data["error"]["code"] == "invalid_api_key"
            assert "sk-not-the-key" not in data["error"]["message"]
            status, data, _ = await post(
                secrets, emu.api_key, body="{oops", content_type="application/json"
            )
            assert status == 400
            assert data["error"]["message"].startswith("We could not parse the JSON body")
            status, data, _ = await post(
                secrets,
                emu.api_key,
                body=json.dumps({"expires_after": {"anchor": "created_at", "seconds": 5}}),
            )
            assert status == 400
            assert data["error"]["param"] == "expires_after.seconds"
            status, data, _ = await post(
                secrets,
                emu.api_key,
                body=json.dumps({"session": {"type": "realtime", "voice": "x"}}),
            )
            assert status == 400
            assert data["error"]["param"] == "session.voice"
            status, data, _ = await post(
                calls, emu.api_key, body="hello", content_type="application/sdp"
            )
            assert status == 400
            assert "must start with 'v=0'" in data["error"]["message"]
            status, data, _ = await post(
                calls, emu.api_key, body="v=0\r\ns=-\r\nt=0 0\r\n", content_type="application/sdp"
            )
            assert status == 400
            assert "no media section" in data["error"]["message"]
            status, data, _ = await post(
                calls, emu.api_key, body="{}", content_type="application/json"
            )
            assert status == 400
            assert "Unsupported content type" in data["error"]["message"]
            status, data, _ = await post(
                calls, "ek_bogus", body="v=0", content_type="application/sdp"
            )
            assert status == 401
            form = aiohttp.FormData()
            form.add_field(
                "session", json.dumps({"type": "realtime"}), content_type="application/json"
            )
            status, data, _ = await post(calls, emu.api_key, body=form)
            assert status == 400
            assert data["error"]["message"] == "Missing required parameter: 'sdp'."
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    calls + "/rtc_nope/hangup", headers={"Authorization": f"Bearer {emu.api_key}"}
                ) as r,
            ):
                assert r.status == 404
            assert emu.calls == {}

    run(main())


def test_multipart_session_is_validated(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            async with RtcClient() as probe:
                await probe.pc.setLocalDescription(await probe.pc.createOffer())
                offer = probe.pc.localDescription.sdp
            form = aiohttp.FormData()
            form.add_field("sdp", offer, content_type="application/sdp")
            form.add_field(
                "session",
                json.dumps({"type": "realtime", "output_modalities": ["video"]}),
                content_type="application/json",
            )
            status, data, _ = await post(
                emu.base_url + "/v1/realtime/calls", emu.api_key, body=form
            )
            assert status == 400
            assert data["error"]["param"] == "session.output_modalities[0]"
            assert emu.calls == {}

    run(main())
