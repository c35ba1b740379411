"""A preamble and an answer in one response (``phase``), and barge-in truncating the message
that is actually playing when a response queued two on the speaker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest

from realtime_sdk.emulator import DeterministicBrain, Engine, Say, ScriptedBrain, Turn, synthesize

Runner = Callable[..., Any]
PREAMBLE = "Let me check that for you."


def test_the_preamble_option_tags_a_commentary_and_a_final_answer() -> None:
    turn = Turn(
        items=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        instructions="",
        tools=[],
        tool_choice="auto",
        output_modalities=["text"],
    )
    assert DeterministicBrain().respond(turn) == [Say("You said: hi")]
    assert DeterministicBrain(preamble=PREAMBLE).respond(turn) == [
        Say(PREAMBLE, "commentary"),
        Say("You said: hi", "final_answer"),
    ]


class FakePlayer:
    """The player interface the engine uses (``SpeechTrack``'s), on a clock the test moves."""

    def __init__(self) -> None:
        self.playing = False
        self.vanished = False
        self.on_started: Callable[[], None] | None = None
        self.on_drained: Callable[[], None] | None = None
        self._played = 0.0
        self._queued = 0.0

    @property
    def played_ms(self) -> int:
        return int(self._played)

    @property
    def queued_ms(self) -> int:
        return int(self._queued)

    def play(self, pcm_24k: np.ndarray) -> None:
        if not self.playing and self._queued == 0:
            self._played = 0.0
        self._queued += pcm_24k.size * 1000 / 24000
        if not self.playing and self.on_started is not None:
            self.playing = True
            asyncio.get_running_loop().call_soon(self.on_started)

    def advance(self, ms: float) -> None:
        step = min(ms, self._queued)
        self._played += step
        self._queued -= step

    def clear(self) -> int:
        played = self.played_ms
        self._queued = 0.0
        self.playing = False
        return played

    def vanish(self) -> None:
        self.vanished = True
        self.clear()


async def until(events: list[dict[str, Any]], kind: str, limit: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit  # an upper bound only
    while time.monotonic() < deadline:
        for event in events:
            if event["type"] == kind:
                return event
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind} within {limit} s")


async def spoken_response(player: FakePlayer, brain: Any) -> tuple[Engine, list[dict[str, Any]]]:
    """An engine (WebRTC kind) that answered one typed question with spoken messages."""
    engine = Engine(kind="webrtc", brain=brain, player=cast(Any, player))
    events: list[dict[str, Any]] = []
    engine.attach(lambda text: events.append(json.loads(text)))
    engine.start()
    engine.handle_event(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather?"}],
            },
        }
    )
    engine.handle_event({"type": "response.create"})
    await until(events, "response.done")
    return engine, events


def user_speaks(engine: Engine) -> None:
    """Loud speech into the engine's VAD (server VAD with ``interrupt_response``)."""
    pcm = synthesize("Stop, stop, please stop right there.", ms_per_char=60.0)
    engine.feed_audio(pcm.astype("<i2").tobytes())


def test_one_response_carries_a_preamble_and_an_answer_with_their_phase(run: Runner) -> None:
    async def scenario() -> None:
        player = FakePlayer()
        engine, events = await spoken_response(player, DeterministicBrain(preamble=PREAMBLE))
        try:
            added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
            in_conversation = [e["item"] for e in events if e["type"] == "conversation.item.added"][
                1:
            ]  # after the user's message
            done = next(e for e in events if e["type"] == "response.done")["response"]
            for items in (added, in_conversation, done["output"]):
                assert [(i["role"], i.get("phase")) for i in items] == [
                    ("assistant", "commentary"),
                    ("assistant", "final_answer"),
                ]
            transcripts = [i["content"][0]["transcript"] for i in done["output"]]
            assert transcripts == [PREAMBLE, "You said: Weather?"]
            assert [e["type"] for e in events].count("output_audio_buffer.started") == 1
        finally:
            await engine.aclose()

    run(scenario())


@pytest.mark.parametrize("heard", ["preamble", "answer"])
def test_barge_in_truncates_the_message_that_is_playing(run: Runner, heard: str) -> None:
    async def scenario() -> None:
        player = FakePlayer()
        engine, events = await spoken_response(player, DeterministicBrain(preamble=PREAMBLE))
        try:
            first, second = next(e for e in events if e["type"] == "response.done")["response"][
                "output"
            ]
            first_ms = engine._audio_ms[first["id"]]
            assert player.queued_ms >= first_ms + engine._audio_ms[second["id"]] - 2
            player.advance(200 if heard == "preamble" else first_ms + 300)
            seen = len(events)
            user_speaks(engine)
            after = events[seen:]
            kinds = [e["type"] for e in after]
            assert kinds[:2] == ["input_audio_buffer.speech_started", "output_audio_buffer.cleared"]
            cuts = [
                (e["item_id"], e["audio_end_ms"])
                for e in after
                if e["type"] == "conversation.item.truncated"
            ]
            if heard == "preamble":  # cut at 200 ms; the answer was never heard
                assert cuts == [(first["id"], 200), (second["id"], 0)]
            else:  # the preamble was heard whole; the answer is cut 300 ms in
                assert cuts == [(second["id"], 300)]
            kept = {i["id"]: i["content"][0]["transcript"] for i in engine.items[1:]}
            if heard == "preamble":
                assert PREAMBLE.startswith(kept[first["id"]])
                assert kept[first["id"]] != PREAMBLE
                assert kept[second["id"]] == ""
            else:
                assert kept[first["id"]] == PREAMBLE
                assert 0 < len(kept[second["id"]]) < len("You said: Weather?")
        finally:
            await engine.aclose()

    run(scenario())


def test_a_single_message_is_still_cut_where_it_was_heard(run: Runner) -> None:
    async def scenario() -> None:
        player = FakePlayer()
        engine, events = await spoken_response(player, ScriptedBrain([[Say("One long answer.")]]))
        try:
            [item] = next(e for e in events if e["type"] == "response.done")["response"]["output"]
            assert "phase" not in item
            player.advance(250)
            seen = len(events)
            user_speaks(engine)
            cuts = [
                (e["item_id"], e["audio_end_ms"])
                for e in events[seen:]
                if e["type"] == "conversation.item.truncated"
            ]
            assert cuts == [(item["id"], 250)]
        finally:
            await engine.aclose()

    run(scenario())
