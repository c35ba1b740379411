"""Middleware: the seed's semantics (stop, replace, pass), sync and async, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from realtime_sdk.middleware import (
    STOP,
    IncomingContext,
    IncomingMiddleware,
    OutgoingMiddleware,
    run_incoming,
    run_outgoing,
)


def run(coro: Any) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(5):
            return await coro

    return asyncio.run(bounded())


sent: list[Mapping[str, Any]] = []


async def send(event: Mapping[str, Any]) -> None:
    sent.append(event)


def ctx(event: dict[str, Any]) -> IncomingContext:
    return IncomingContext(event=event, send=send, client="the client")


def test_an_empty_chain_passes_the_event() -> None:
    event = {"type": "x"}
    assert run(run_incoming([], ctx(event))) is event
    assert run(run_outgoing([], event)) is event


def test_none_passes_and_order_is_kept_sync_and_async() -> None:
    calls: list[str] = []

    def first(c: IncomingContext) -> None:
        calls.append(f"first:{c.event['type']}:{c.client}")

    async def second(c: IncomingContext) -> None:
        await asyncio.sleep(0)
        calls.append("second")

    def third(c: IncomingContext) -> None:
        calls.append("third")

    event = {"type": "a"}
    assert run(run_incoming([first, second, third], ctx(event))) is event
    assert calls == ["first:a:the client", "second", "third"]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_stop_drops_and_short_circuits(asynchronous: bool) -> None:
    calls: list[str] = []

    def stop_sync(c: IncomingContext) -> str:
        calls.append("stop")
        return STOP

    async def stop_async(c: IncomingContext) -> str:
        calls.append("stop")
        return "stop"

    def never(c: IncomingContext) -> None:
        calls.append("never")

    chain: list[IncomingMiddleware] = [stop_async if asynchronous else stop_sync, never]
    assert run(run_incoming(chain, ctx({"type": "a"}))) is None
    assert calls == ["stop"]


def test_a_returned_mapping_replaces_the_event_for_the_rest_of_the_chain() -> None:
    seen: list[dict[str, Any]] = []

    async def upper(c: IncomingContext) -> dict[str, Any]:
        return {**c.event, "delta": c.event["delta"].upper()}

    def tag(c: IncomingContext) -> Mapping[str, Any]:
        seen.append(c.event)
        return {**c.event, "tag": 1}

    def look(c: IncomingContext) -> None:
        seen.append(c.event)

    original = {"type": "response.output_audio_transcript.delta", "delta": "hi"}
    result = run(run_incoming([upper, tag, look], ctx(original)))
    assert result == {**original, "delta": "HI", "tag": 1}
    assert original["delta"] == "hi"
    assert seen == [{**original, "delta": "HI"}, result]


def test_in_place_changes_are_kept_and_other_results_ignored() -> None:
    def mutate(c: IncomingContext) -> bool:
        c.event["seen"] = True
        return True  # neither "stop" nor a mapping: ignored, as in the seed

    def other_string(c: IncomingContext) -> str:
        return "continue"

    result = run(run_incoming([mutate, other_string], ctx({"type": "a"})))
    assert result == {"type": "a", "seen": True}


def test_middleware_can_send_through_the_context() -> None:
    sent.clear()

    async def cancel_on_speech(c: IncomingContext) -> None:
        if c.event["type"] == "input_audio_buffer.speech_started":
            await c.send({"type": "response.cancel"})

    run(run_incoming([cancel_on_speech], ctx({"type": "input_audio_buffer.speech_started"})))
    assert sent == [{"type": "response.cancel"}]


def test_an_exception_propagates_and_stops_the_chain() -> None:
    calls: list[str] = []

    async def boom(c: IncomingContext) -> None:
        raise ValueError("bad middleware")

    def after(c: IncomingContext) -> None:
        calls.append("after")

    with pytest.raises(ValueError, match="bad middleware"):
        run(run_incoming([boom, after], ctx({"type": "a"})))
    assert calls == []

    def boom_out(event: dict[str, Any]) -> None:
        raise KeyError("out")

    with pytest.raises(KeyError):
        run(run_outgoing([boom_out], {"type": "a"}))


def test_outgoing_chain_mixed() -> None:
    order: list[str] = []

    def trim(event: dict[str, Any]) -> dict[str, Any] | None:
        order.append("trim")
        if event.get("text") == "":
            return None
        return {**event, "text": event["text"].strip()}

    async def meta(event: dict[str, Any]) -> dict[str, Any]:
        order.append(f"meta:{event['text']}")
        return {**event, "metadata": {"by": "sdk"}}

    def block_cancel(event: dict[str, Any]) -> str | None:
        order.append("block")
        return STOP if event["type"] == "response.cancel" else None

    chain: list[OutgoingMiddleware] = [trim, meta, block_cancel]
    out = run(run_outgoing(chain, {"type": "x", "text": "  hi "}))
    assert out == {"type": "x", "text": "hi", "metadata": {"by": "sdk"}}
    assert order == ["trim", "meta:hi", "block"]
    order.clear()
    assert run(run_outgoing(chain, {"type": "response.cancel", "text": "c"})) is None
    assert order == ["trim", "meta:c", "block"]


def test_the_context_is_frozen() -> None:
    c = ctx({"type": "a"})
    with pytest.raises(AttributeError):
        c.event = {}  # type: ignore[misc]
