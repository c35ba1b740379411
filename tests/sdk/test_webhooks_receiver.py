"""The webhook receiver: verified deliveries handed over once, at once; every refusal path."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from realtime_sdk.webhooks import (
    DEFAULT_PATH,
    IncomingCall,
    MemoryReplayStore,
    ReplayStoreError,
    WebhookEvent,
    WebhookReceiver,
    signed_headers,
)
from tests.aio import run_async

SECRET = "whsec_cmVjZWl2ZXItdGVzdC1zaWduaW5nLWtleQ=="
OTHER = "whsec_c29tZW9uZS1lbHNlcy1rZXk="
NOW = 1_750_000_000
Http = TestClient[Any, Any]


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    return run_async(coro, timeout)


def call_body(call_id: str = "rtc_1", event_id: str = "evt_1") -> str:
    return json.dumps(
        {
            "object": "event",
            "id": event_id,
            "type": "realtime.call.incoming",
            "created_at": NOW,
            "data": {
                "call_id": call_id,
                "sip_headers": [{"name": "From", "value": "sip:+14255550123@example.com"}],
            },
        }
    )


class Recorder:
    """An ``on_event`` that records events; ``gate`` (when set) holds each handler open."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()


@asynccontextmanager
async def serve(receiver: WebhookReceiver) -> AsyncIterator[Http]:
    async with TestServer(receiver.app(), host="127.0.0.1") as server, Http(server) as http:
        yield http


def make(
    on_event: Callable[[WebhookEvent], Any], **options: Any
) -> tuple[WebhookReceiver, MemoryReplayStore]:
    store = MemoryReplayStore()
    options.setdefault("clock", lambda: NOW)
    return WebhookReceiver(SECRET, on_event=on_event, replay=store, **options), store


async def post(
    http: Http,
    body: str | bytes,
    headers: dict[str, str],
    *,
    content_type: str | None = "application/json",
    path: str = DEFAULT_PATH,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    response = await http.post(path, data=body, headers=sent)
    return response.status, await response.json(), response


def delivery(
    webhook_id: str = "wh_1", body: str | None = None, *, secret: str = SECRET
) -> tuple[str, dict[str, str]]:
    """A delivery signed now (``NOW``, the receivers' clock)."""
    body = call_body() if body is None else body
    return body, signed_headers(secret, webhook_id, body, timestamp=NOW)


# ---------------------------------------------------------------------------------------------
# Accepted, once, at once
# ---------------------------------------------------------------------------------------------


def test_a_signed_call_is_answered_before_the_app_has_finished_with_it() -> None:
    async def main() -> None:
        app = Recorder()
        app.gate = asyncio.Event()
        receiver, store = make(app)
        async with serve(receiver) as http:
            status, answer, _ = await post(http, *delivery())
            assert (status, answer) == (200, {"status": "accepted"})
            await asyncio.wait_for(app.started.wait(), 5)
            assert receiver.in_flight == 1  # answered while the app still works on it
            app.gate.set()
            await asyncio.wait_for(receiver.join(), 5)
            assert receiver.in_flight == 0
            assert len(store) == 1
        [event] = app.events
        assert isinstance(event, IncomingCall)
        assert (event.call_id, event.caller) == ("rtc_1", "sip:+14255550123@example.com")
        assert receiver.counts["accepted"] == 1

    run(main())


def test_a_replayed_webhook_id_is_answered_but_not_handed_over_again() -> None:
    async def main() -> None:
        app = Recorder()
        receiver, store = make(app)
        async with serve(receiver) as http:
            body, headers = delivery("wh_same")
            assert (await post(http, body, headers))[:2] == (200, {"status": "accepted"})
            # The same bytes again (a captured delivery), and OpenAI's retry: same id, a new
            # timestamp and signature.
            assert (await post(http, body, headers))[:2] == (200, {"status": "duplicate"})
            retry = signed_headers(SECRET, "wh_same", body, timestamp=NOW + 30)
            assert (await post(http, body, retry))[:2] == (200, {"status": "duplicate"})
            other_body, other = delivery("wh_other", call_body("rtc_2", "evt_2"))
            assert (await post(http, other_body, other))[:2] == (200, {"status": "accepted"})
            await asyncio.wait_for(receiver.join(), 5)
            assert len(store) == 2
        assert [e.id for e in app.events] == ["evt_1", "evt_2"]
        assert receiver.counts["duplicate"] == 2

    run(main())


def test_a_sync_handler_and_other_event_types_are_handed_over() -> None:
    async def main() -> None:
        seen: list[WebhookEvent] = []
        receiver, _ = make(seen.append)
        body = json.dumps({"id": "evt_b", "type": "batch.completed", "data": {"id": "batch_1"}})
        async with serve(receiver) as http:
            status, _, _ = await post(http, *delivery("wh_b", body))
            assert status == 200
            await asyncio.wait_for(receiver.join(), 5)
        assert [(type(e), e.type, dict(e.data)) for e in seen] == [
            (WebhookEvent, "batch.completed", {"id": "batch_1"})
        ]

    run(main())


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_the_apps_errors_are_logged_never_a_5xx(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def sync_handler(event: WebhookEvent) -> None:
        calls.append(event.id)
        raise RuntimeError(f"the app broke on {event.id}")

    async def async_handler(event: WebhookEvent) -> None:
        sync_handler(event)

    async def main() -> None:
        receiver, _ = make(async_handler if kind == "async" else sync_handler)
        async with serve(receiver) as http:
            for n in (1, 2):
                body, headers = delivery(f"wh_{n}", call_body(event_id=f"evt_{n}"))
                assert (await post(http, body, headers))[:2] == (200, {"status": "accepted"})
                await asyncio.wait_for(receiver.join(), 5)
        assert calls == ["evt_1", "evt_2"]  # the receiver goes on after a failure
        assert receiver.counts["handler_error"] == 2

    with caplog.at_level(logging.ERROR, logger="realtime_sdk.webhooks"):
        run(main())
    failures = [r for r in caplog.records if "on_event failed" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None
    assert "the app broke on evt_1" in caplog.text


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


Request = tuple[bytes | str, dict[str, str], str | None]
"""A request to post: body, headers, Content-Type (``None``: none)."""


def refusal_cases() -> list[tuple[str, int, str, Callable[[], Request]]]:
    """``(name, status, code, make)``: every way a delivery is refused."""

    def signed(
        body: str = "",
        *,
        secret: str = SECRET,
        ts: int = NOW,
        ct: str | None = "application/json",
    ) -> Request:
        text = body or call_body()
        return text, signed_headers(secret, "wh_r", text, timestamp=ts), ct

    def without(name: str) -> Callable[[], Request]:
        def make_() -> Request:
            body, headers, ct = signed()
            return body, {k: v for k, v in headers.items() if k != name}, ct

        return make_

    def edit(**changes: str) -> Callable[[], Request]:
        def make_() -> Request:
            body, headers, ct = signed()
            return body, {**headers, **changes}, ct

        return make_

    def resigned(body: str) -> Callable[[], Request]:
        return lambda: signed(body)

    def not_utf8() -> Request:
        _, headers, ct = signed()
        return b'{"id": "\xff"}', headers, ct

    return [
        ("text/plain", 415, "unsupported_media_type", lambda: signed(ct="text/plain")),
        ("no content type", 415, "unsupported_media_type", lambda: signed(ct=None)),
        ("no webhook-id", 400, "missing_header", without("webhook-id")),
        ("no webhook-timestamp", 400, "missing_header", without("webhook-timestamp")),
        ("no webhook-signature", 400, "missing_header", without("webhook-signature")),
        ("timestamp not a number", 400, "bad_timestamp", edit(**{"webhook-timestamp": "1e9"})),
        ("stale", 401, "too_old", lambda: signed(ts=NOW - 301)),
        ("from the future", 401, "too_new", lambda: signed(ts=NOW + 301)),
        ("another secret", 401, "mismatch", lambda: signed(secret=OTHER)),
        ("empty signature", 401, "no_signature", edit(**{"webhook-signature": " "})),
        ("not UTF-8", 400, "bad_body", not_utf8),
        ("malformed JSON", 400, "malformed", resigned('{"type": "realtime.call.incoming",')),
        ("not an object", 400, "malformed", resigned("[]")),
        (
            "a call without call_id",
            400,
            "malformed",
            resigned(call_body().replace("call_id", "cid")),
        ),
    ]


CASES = refusal_cases()


@pytest.mark.parametrize(
    ("name", "status", "code", "make_request"), CASES, ids=[c[0] for c in CASES]
)
def test_every_refusal_answers_its_4xx_and_logs_no_secret(
    name: str,
    status: int,
    code: str,
    make_request: Callable[[], Request],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Recorder()
    body, headers, content_type = make_request()

    async def main() -> None:
        receiver, store = make(app)
        async with serve(receiver) as http:
            got, answer, _ = await post(http, body, headers, content_type=content_type)
            assert got == status
            assert answer["error"]["code"] == code
            assert 0 < len(answer["error"]["message"]) < 200
            assert receiver.counts["refused"] == 1
            assert len(store) == 0  # a refused delivery is not remembered: a good retry goes in
        assert app.events == []

    with caplog.at_level(logging.DEBUG, logger="realtime_sdk.webhooks"):
        run(main())
    [line] = [r.getMessage() for r in caplog.records if "webhook refused" in r.getMessage()]
    assert f"{status} {code}" in line
    secrets = [SECRET, SECRET.removeprefix("whsec_"), OTHER.removeprefix("whsec_")]
    signature = headers.get("webhook-signature", "").removeprefix("v1,").strip()
    for secret in [*secrets, *([signature] if signature else [])]:
        assert secret not in caplog.text


def test_an_oversized_body_is_refused_with_or_without_a_declared_length() -> None:
    async def main() -> None:
        app = Recorder()
        receiver, _ = make(app, max_body_bytes=1000)
        big = json.dumps({"id": "evt", "type": "x", "data": {"pad": "x" * 2000}})
        async with serve(receiver) as http:
            status, answer, _ = await post(http, *delivery(body=big))
            assert (status, answer["error"]["code"]) == (413, "too_large")

            async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length
                for start in range(0, len(big), 500):
                    yield big[start : start + 500].encode()

            _, headers = delivery(body=big)
            response = await http.post(
                DEFAULT_PATH,
                data=chunks(),
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "too_large"
            small_body, small = delivery("wh_small")
            assert (await post(http, small_body, small))[0] == 200
            await asyncio.wait_for(receiver.join(), 5)
        assert [e.id for e in app.events] == ["evt_1"]

    run(main())


def test_only_post_on_the_path_is_served() -> None:
    async def main() -> None:
        receiver, _ = make(Recorder())
        async with serve(receiver) as http:
            assert (await http.get(DEFAULT_PATH)).status == 405
            assert (await http.post("/elsewhere")).status == 404

    run(main())


# ---------------------------------------------------------------------------------------------
# 503: when the receiver cannot be sure
# ---------------------------------------------------------------------------------------------


def test_a_full_house_answers_503_and_the_retry_is_handed_over() -> None:
    async def main() -> None:
        app = Recorder()
        app.gate = asyncio.Event()
        receiver, store = make(app, max_in_flight=1)
        async with serve(receiver) as http:
            assert (await post(http, *delivery("wh_a")))[0] == 200
            await asyncio.wait_for(app.started.wait(), 5)
            body_b, headers_b = delivery("wh_b", call_body("rtc_2", "evt_2"))
            status, answer, response = await post(http, body_b, headers_b)
            assert (status, answer["error"]["code"]) == (503, "busy")
            assert response.headers["Retry-After"] == "1"
            assert len(store) == 1  # wh_b not remembered
            app.gate.set()
            await asyncio.wait_for(receiver.join(), 5)
            assert (await post(http, body_b, headers_b))[:2] == (200, {"status": "accepted"})
            await asyncio.wait_for(receiver.join(), 5)
        assert [e.id for e in app.events] == ["evt_1", "evt_2"]
        assert receiver.counts["busy"] == 1

    run(main())


class BrokenStore:
    def __init__(self) -> None:
        self.closed = False

    async def first_seen(self, key: str, ttl: float) -> bool:
        raise ReplayStoreError("the store is down")

    async def aclose(self) -> None:
        self.closed = True


def test_a_store_that_cannot_answer_gives_503_and_no_hand_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = BrokenStore()

    async def main() -> None:
        app = Recorder()
        receiver = WebhookReceiver(SECRET, on_event=app, replay=store, clock=lambda: NOW)
        async with serve(receiver) as http:
            status, answer, _ = await post(http, *delivery())
            assert (status, answer["error"]["code"]) == (503, "replay_store_unavailable")
        assert app.events == []
        assert receiver.counts["store_error"] == 1

    with caplog.at_level(logging.ERROR, logger="realtime_sdk.webhooks"):
        run(main())
    assert "the store is down" in caplog.text
    assert store.closed  # the app's cleanup closes the store


# ---------------------------------------------------------------------------------------------
# Construction, mounting, shutdown
# ---------------------------------------------------------------------------------------------


def test_the_secret_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValueError, match="OPENAI_WEBHOOK_SECRET"):
        WebhookReceiver(on_event=print)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "")
    with pytest.raises(ValueError, match="No webhook secret"):
        WebhookReceiver(on_event=print)
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    receiver = WebhookReceiver(on_event=print, clock=lambda: NOW)
    assert SECRET not in repr(receiver)
    assert SECRET.removeprefix("whsec_") not in repr(receiver)

    async def main() -> None:
        async with serve(receiver) as http:
            assert (await post(http, *delivery()))[0] == 200
            assert (await post(http, *delivery("wh_x", secret=OTHER)))[0] == 401

    run(main())


def test_bad_options_are_clear_errors_at_construction() -> None:
    with pytest.raises(ValueError, match="base64") as info:
        WebhookReceiver("whsec_a", on_event=print)
    assert "whsec_a" not in str(info.value)
    with pytest.raises(ValueError, match="twice the tolerance"):
        WebhookReceiver(SECRET, on_event=print, tolerance=300, replay_ttl=599)
    assert WebhookReceiver(SECRET, on_event=print, tolerance=300, replay_ttl=600).replay_ttl == 600
    assert WebhookReceiver(SECRET, on_event=print).replay_ttl == 3600
    assert WebhookReceiver(SECRET, on_event=print, tolerance=7200).replay_ttl == 14400
    with pytest.raises(ValueError, match="tolerance"):
        WebhookReceiver(SECRET, on_event=print, tolerance=0)
    with pytest.raises(ValueError, match="path"):
        WebhookReceiver(SECRET, on_event=print, path="hooks")
    with pytest.raises(TypeError, match="on_event"):
        WebhookReceiver(SECRET, on_event="print")  # type: ignore[arg-type]


def test_mounted_on_an_existing_app_at_its_own_path() -> None:
    async def main() -> None:
        app = Recorder()
        receiver, _ = make(app, path="/hooks/in")

        async def health(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        web_app = web.Application()
        web_app.router.add_get("/healthz", health)
        receiver.add_to(web_app)
        async with TestServer(web_app, host="127.0.0.1") as server, Http(server) as http:
            assert (await http.get("/healthz")).status == 200
            assert (await post(http, *delivery(), path="/hooks/in"))[0] == 200
            await asyncio.wait_for(receiver.join(), 5)
        assert len(app.events) == 1

    run(main())


def test_stopping_the_app_waits_for_running_handlers_then_cancels_the_slow_ones() -> None:
    async def main() -> None:
        finished: list[str] = []
        cancelled: list[str] = []
        release = asyncio.Event()  # the quick handler's work; the slow one never ends

        async def handler(event: WebhookEvent) -> None:
            try:
                await (release.wait() if event.id == "evt_quick" else asyncio.Event().wait())
                finished.append(event.id)
            except asyncio.CancelledError:
                cancelled.append(event.id)
                raise

        receiver, _ = make(handler, drain_timeout=0.3)
        close = receiver.close

        async def close_then_release() -> None:
            # The quick handler is still running when the drain starts, and ends during it.
            asyncio.get_running_loop().call_soon(release.set)
            assert receiver.in_flight == 2
            await close()

        receiver.close = close_then_release  # type: ignore[method-assign]
        async with serve(receiver) as http:
            for name in ("quick", "slow"):
                body, headers = delivery(f"wh_{name}", call_body(event_id=f"evt_{name}"))
                assert (await post(http, body, headers))[0] == 200
        # Leaving the server ran the app's cleanup: the quick handler finished, the slow one
        # was cancelled after drain_timeout, none is left running.
        assert finished == ["evt_quick"]
        assert cancelled == ["evt_slow"]
        assert receiver.in_flight == 0

    run(main())


# ---------------------------------------------------------------------------------------------
# The in-memory replay store
# ---------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_memory_store_answers_first_seen_and_forgets_after_the_ttl() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = MemoryReplayStore(clock=clock)
        assert await store.first_seen("a", 10)
        assert not await store.first_seen("a", 10)
        clock.now = 9.9
        assert not await store.first_seen("a", 10)
        clock.now = 10.0
        assert await store.first_seen("a", 10)  # expired: new again
        assert len(store) == 1

    run(main())


def test_the_memory_store_stays_flat_over_days_of_deliveries() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = MemoryReplayStore(clock=clock)
        ttl, per_second = 600.0, 2
        peak = 0
        for n in range(100_000):  # 100 000 ids at 2 per second: ~14 hours
            clock.now = n / per_second
            assert await store.first_seen(f"wh_{n}", ttl)
            peak = max(peak, len(store))
        assert peak <= ttl * per_second + 1
        assert len(store._heap) == len(store)  # no leftovers in the expiry heap
        # Every id of the last TTL is still refused; older ones are gone.
        assert not await store.first_seen("wh_99999", ttl)
        assert not await store.first_seen(f"wh_{100_000 - int(ttl * per_second) + 2}", ttl)

    run(main(), timeout=60)


def test_the_memory_store_is_bounded_even_within_the_ttl(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        store = MemoryReplayStore(max_entries=1000, clock=lambda: 0.0)
        for n in range(5000):
            assert await store.first_seen(f"wh_{n}", 3600)
        assert len(store) == 1000
        assert not await store.first_seen("wh_4999", 3600)  # the newest are kept
        assert await store.first_seen("wh_0", 3600)  # the oldest made room

    with caplog.at_level(logging.WARNING, logger="realtime_sdk.webhooks"):
        run(main())
    assert sum("replay store full" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ValueError, match="max_entries"):
        MemoryReplayStore(0)


def test_concurrent_deliveries_of_one_id_hand_over_once() -> None:
    async def main() -> None:
        app = Recorder()
        receiver, _ = make(app)
        async with serve(receiver) as http:
            body, headers = delivery("wh_race")
            results = await asyncio.gather(*(post(http, body, headers) for _ in range(8)))
            await asyncio.wait_for(receiver.join(), 5)
        answers = sorted(answer["status"] for _, answer, _ in results)
        assert answers == ["accepted"] + ["duplicate"] * 7
        assert len(app.events) == 1

    run(main())
