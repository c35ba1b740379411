"""Replay protection shared through Redis: two receiver processes, one redis-server.

A redis-server is started on a free 127.0.0.1 port (no persistence) for these tests and stopped
after them (``redis_server`` in tests/sdk/conftest.py); scripts/_bootstrap.sh installs it.
Without it the tests skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio
from aiohttp.test_utils import TestClient, TestServer

from realtime_sdk.webhooks import (
    DEFAULT_PATH,
    RedisReplayStore,
    ReplayStoreError,
    WebhookEvent,
    WebhookReceiver,
    signed_headers,
)
from tests.aio import run_async
from tests.sdk.conftest import RedisServer

SECRET = "whsec_cmVkaXMtc2hhcmVkLXRlc3Qta2V5"
PEER = Path(__file__).with_name("webhook_peer.py")
START_TIMEOUT = 15.0


def run(coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    return run_async(coro, timeout)


def call_body(event_id: str, call_id: str) -> str:
    return json.dumps(
        {
            "object": "event",
            "id": event_id,
            "type": "realtime.call.incoming",
            "created_at": int(time.time()),
            "data": {"call_id": call_id, "sip_headers": []},
        }
    )


async def post(
    http: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    sent = {**headers, "Content-Type": "application/json"}
    async with http.post(url, data=body, headers=sent) as response:
        return response.status, await response.json()


class Peer:
    """One receiver process (tests/sdk/webhook_peer.py)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.url = ""

    @classmethod
    async def start(cls, redis_url: str) -> Peer:
        env = {**os.environ, "OPENAI_WEBHOOK_SECRET": SECRET}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PEER),
            redis_url,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        peer = cls(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        if not line.startswith(b"READY "):
            await peer.stop()
            raise AssertionError(f"the receiver process did not start: {line!r}")
        peer.url = f"http://127.0.0.1:{int(line.split()[1])}{DEFAULT_PATH}"
        return peer

    async def stop(self) -> tuple[list[str], str]:
        """SIGTERM, wait for the drain; the ``EVENT`` ids it printed and its stderr."""
        if self.process.returncode is None:
            self.process.terminate()
        out, err = await asyncio.wait_for(self.process.communicate(), 10)
        lines = out.decode().splitlines()
        assert self.process.returncode == 0, err.decode()[-2000:]
        assert lines[-1:] == ["STOPPED"], lines
        return [line.split()[1] for line in lines if line.startswith("EVENT ")], err.decode()


def test_two_processes_sharing_redis_hand_each_delivery_over_once(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        peers = await asyncio.gather(Peer.start(redis_server.url), Peer.start(redis_server.url))
        a, b = peers
        try:
            async with aiohttp.ClientSession() as http:
                shared = call_body("evt_shared", "rtc_1")
                headers = signed_headers(SECRET, "wh_shared", shared)
                # The same signed delivery to both processes at once (a balancer that retried).
                answers = await asyncio.gather(
                    post(http, a.url, shared, headers), post(http, b.url, shared, headers)
                )
                assert sorted(answer["status"] for _, answer in answers) == [
                    "accepted",
                    "duplicate",
                ]
                assert {status for status, _ in answers} == {200}
                # OpenAI's retry of it (new timestamp, new signature) to either: a duplicate.
                retry = signed_headers(SECRET, "wh_shared", shared, timestamp=int(time.time()))
                assert (await post(http, b.url, shared, retry))[1] == {"status": "duplicate"}
                # Another delivery: handed over by whichever gets it first.
                second = call_body("evt_second", "rtc_2")
                second_headers = signed_headers(SECRET, "wh_second", second)
                assert (await post(http, b.url, second, second_headers))[1]["status"] == (
                    "accepted"
                )
                assert (await post(http, a.url, second, second_headers))[1]["status"] == (
                    "duplicate"
                )
        finally:
            (events_a, err_a), (events_b, err_b) = await asyncio.gather(a.stop(), b.stop())
        assert sorted(events_a + events_b) == ["evt_second", "evt_shared"]
        assert "evt_second" in events_b
        for err in (err_a, err_b):
            assert SECRET.removeprefix("whsec_") not in err

    run(main())


def test_the_redis_store_sets_each_id_once_with_its_ttl(redis_server: RedisServer) -> None:
    async def main() -> None:
        store = RedisReplayStore(redis_server.url, prefix="test-ttl:")
        other = RedisReplayStore(redis_server.url, prefix="test-ttl-other:")
        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            assert await store.first_seen("wh_1", 600)
            assert not await store.first_seen("wh_1", 600)
            assert await other.first_seen("wh_1", 600)  # prefixes keep receivers apart
            assert 0 < await client.ttl("test-ttl:wh_1") <= 600
            assert await store.first_seen("wh_short", 0.2)  # rounded up to Redis's 1 s
            assert 0 < await client.ttl("test-ttl:wh_short") <= 1
            assert "redis://" not in repr(store)
        finally:
            await client.aclose()
            await store.aclose()
            await other.aclose()

    run(main())


def test_a_redis_that_goes_down_makes_the_receiver_answer_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer()  # its own: this test stops it
    handed: list[WebhookEvent] = []

    async def main() -> None:
        store = RedisReplayStore(server.url, timeout=1.0)
        receiver = WebhookReceiver(SECRET, on_event=handed.append, replay=store)
        async with (
            TestServer(receiver.app(), host="127.0.0.1") as http_server,
            TestClient[Any, Any](http_server) as http,
        ):
            url = str(http.make_url(DEFAULT_PATH))
            first = call_body("evt_before", "rtc_1")
            status, _ = await post(http.session, url, first, signed_headers(SECRET, "wh_1", first))
            assert status == 200
            await asyncio.wait_for(receiver.join(), 5)
            await asyncio.to_thread(server.stop)
            later = call_body("evt_while_down", "rtc_2")
            status, answer = await post(
                http.session, url, later, signed_headers(SECRET, "wh_2", later)
            )
            assert status == 503
            assert answer["error"]["code"] == "replay_store_unavailable"
            assert receiver.counts["store_error"] == 1
        down = RedisReplayStore(server.url, timeout=1.0)
        try:
            with pytest.raises(ReplayStoreError, match="Redis replay store: ConnectionError"):
                await down.first_seen("wh_3", 60)
        finally:
            await down.aclose()

    try:
        with caplog.at_level(logging.ERROR, logger="realtime_sdk.webhooks"):
            run(main())
    finally:
        server.stop()
    assert [event.id for event in handed] == ["evt_before"]
    [line] = [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]
    assert "wh_2" in line
    assert "Redis replay store" in line
