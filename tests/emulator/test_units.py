"""Pure parts: brains, VAD, session validation, loopback setting, the public fixture."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aioice.ice
import numpy as np
import pytest

from realtime_sdk.emulator import (
    CallTool,
    DeterministicBrain,
    EnergyVad,
    ProtocolError,
    Say,
    ScriptedBrain,
    Turn,
    disable_loopback_ice,
    enable_loopback_ice,
    loopback_ice,
    loopback_ice_enabled,
    synthesize,
)
from realtime_sdk.emulator.session import apply_session_update, default_session
from realtime_sdk.emulator.testing import EmulatorThread, WsClient
from realtime_sdk.emulator.vad import SpeechStarted, SpeechStopped

TOOL: dict[str, Any] = {
    "type": "function",
    "name": "lookup",
    "parameters": {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "mode": {"enum": ["fast", "slow"]}},
        "required": ["n", "mode"],
    },
}


def turn(text: str, tools: list[dict[str, Any]] | None = None, choice: object = "auto") -> Turn:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return Turn(
        items=[item],
        instructions="",
        tools=tools or [],
        tool_choice=choice,
        output_modalities=["text"],
    )


def test_deterministic_brain() -> None:
    brain = DeterministicBrain()
    assert brain.respond(turn("hello")) == [Say("You said: hello")]
    assert brain.respond(turn("please lookup it", [TOOL])) == [
        CallTool("lookup", {"n": 0, "mode": "fast"})
    ]
    assert brain.respond(turn('lookup {"n": 7, "mode": "slow"}', [TOOL])) == [
        CallTool("lookup", {"n": 7, "mode": "slow"})
    ]
    assert brain.respond(turn("lookups are not lookup-less", [TOOL], "none")) == [
        Say("You said: lookups are not lookup-less")
    ]
    forced = brain.respond(turn("anything", [TOOL], {"type": "function", "name": "lookup"}))
    assert isinstance(forced[0], CallTool)
    output = {"type": "function_call_output", "call_id": "c", "output": "42"}
    assert brain.respond(Turn([output], "", [], "auto", ["text"])) == [Say("Tool result: 42")]


def test_scripted_brain_plays_steps_then_falls_back() -> None:
    brain = ScriptedBrain([[Say("one")], lambda t: [Say(f"echo {t.last_user_text()}")]])
    assert brain.respond(turn("a")) == [Say("one")]
    assert brain.respond(turn("b")) == [Say("echo b")]
    assert brain.respond(turn("c")) == [Say("You said: c")]
    assert brain.remaining == 0
    assert len(brain.turns) == 3


def test_energy_vad_finds_speech_in_real_audio() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=100, silence_duration_ms=200)
    silence = np.zeros(24000, dtype=np.int16)
    speech = synthesize("a few words of speech")
    pcm = np.concatenate([silence, speech, silence]).astype("<i2").tobytes()
    events = []
    for start in range(0, len(pcm), 960):  # arbitrary chunking
        events += vad.feed(pcm[start : start + 960])
    assert events[0] == SpeechStarted(900)
    assert isinstance(events[-1], SpeechStopped)
    assert len(events) == 2
    assert 1000 + speech.size // 24 <= events[-1].audio_end_ms <= 1000 + speech.size // 24 + 260
    quiet = EnergyVad(threshold=0.5)
    assert quiet.feed((speech // 20).astype("<i2").tobytes()) == []  # below threshold


def test_session_validation_is_atomic() -> None:
    base = default_session(session_id="sess_x", model="gpt-realtime", expires_at=0)
    with pytest.raises(ProtocolError) as info:
        apply_session_update(
            base,
            {"type": "realtime", "instructions": "x", "audio": {"output": {"speed": 9}}},
        )
    assert info.value.code == "decimal_above_max_value"
    assert info.value.param == "session.audio.output.speed"
    assert base["instructions"] != "x"
    locked = {"type": "realtime", "audio": {"output": {"voice": "marin"}}}
    with pytest.raises(ProtocolError) as info:
        apply_session_update(base, locked, voice_locked=True)
    assert info.value.code == "cannot_update_voice"
    with pytest.raises(ProtocolError) as info:
        apply_session_update(base, {"type": "transcription"})
    assert "is not allowed" in info.value.message


def test_loopback_setting_is_reference_counted_and_reversible() -> None:
    original = aioice.ice.get_host_addresses
    with loopback_ice():
        enable_loopback_ice()
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
        disable_loopback_ice()
        assert loopback_ice_enabled()
    assert aioice.ice.get_host_addresses is original
    assert not loopback_ice_enabled()


def test_public_fixture_serves_a_session(realtime_emulator: EmulatorThread) -> None:
    async def main() -> str:
        async with await WsClient.connect(
            realtime_emulator.base_url, realtime_emulator.api_key
        ) as c:
            return str((await c.wait_for("session.created"))["type"])

    assert asyncio.run(main()) == "session.created"
    assert realtime_emulator.base_url.startswith("http://127.0.0.1:")
    assert json.loads(json.dumps(realtime_emulator.openai_base_url)).endswith("/v1")
