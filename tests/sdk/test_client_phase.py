"""Several assistant messages per response, end to end: the emulator answers with a
``commentary`` preamble and a ``final_answer`` in one response (text, and audio with its
transcript) on every transport; the client's chat has one row per message with its phase."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from realtime_machines import (
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    Notice,
    project,
)
from realtime_machines.replay import replay_lines
from realtime_sdk.emulator import DeterministicBrain, Emulator, EmulatorConfig
from tests.sdk.test_client import make_client, on_every_transport, wait_for

Runner = Callable[..., Any]
PREAMBLE = "One moment."


@on_every_transport
@pytest.mark.parametrize("modality", ["text", "audio"])
def test_a_preamble_and_an_answer_are_two_rows_with_their_phase(
    run: Runner, modality: str, transport: str
) -> None:
    async def scenario() -> None:
        brain = DeterministicBrain(preamble=PREAMBLE)
        async with Emulator(brain=brain, config=EmulatorConfig(ms_per_char=12.0)) as emu:
            received: list[str] = []
            client = make_client(
                emu,
                transport,
                session={"type": "realtime", "output_modalities": [modality]},
                on_event=lambda event: received.append(json.dumps(event)),
            )
            notices: list[Notice] = []
            for name in ("assistant:item_started", "assistant:delta", "assistant:completed"):
                client.on(name, notices.append)
            async with client:
                for question in ("hello", "and again"):
                    await client.send_text_message(question)
                    await wait_for(client, AssistantCompleted)
                chat = client.chat
                assert project(client.record, client.model.chat_options) == chat
        # The received trace replays into the same chat (replay stamps its own times).
        replayed = replay_lines(received).session.chat
        assert [replace(r, time=0.0) for r in replayed] == [replace(r, time=0.0) for r in chat]
        channel = "output_text" if modality == "text" else "audio_transcript"
        completed = [n for n in notices if isinstance(n, AssistantCompleted)]
        assert {n.status for n in completed} == {"done"}
        first, second = (n.response_id for n in completed)  # once per response
        rows = [(r.role, r.text, r.phase, r.response_id) for r in chat]
        assert rows == [
            ("user", "hello", None, None),
            ("assistant", PREAMBLE, "commentary", first),
            ("assistant", "You said: hello", "final_answer", first),
            ("user", "and again", None, None),
            ("assistant", PREAMBLE, "commentary", second),
            ("assistant", "You said: and again", "final_answer", second),
        ]
        started = [(n.item_id, n.phase) for n in notices if isinstance(n, AssistantItemStarted)]
        assert started == [(r.item_id, r.phase) for r in chat if r.role == "assistant"]
        deltas = [n for n in notices if isinstance(n, AssistantDelta)]
        assert {n.channel for n in deltas} == {channel}
        by_item: dict[str | None, str] = {}
        for n in deltas:
            assert n.phase == next(r.phase for r in chat if r.item_id == n.item_id)
            by_item[n.item_id] = by_item.get(n.item_id, "") + n.delta
        assert by_item == {r.item_id: r.text for r in chat if r.role == "assistant"}

    run(scenario())
