"""Proof of fidelity against the official ``openai`` package (a test-only dependency)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pydantic
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent

from realtime_sdk.emulator import Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.audio import synthesize
from realtime_sdk.emulator.testing import RtcClient, WsClient
from tests.emulator.kit import user_text

Runner = Any
SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def unknown_fields(model: object, path: str = "") -> list[str]:
    """Fields the openai models do not declare (they accept extras silently)."""
    found: list[str] = []
    if isinstance(model, pydantic.BaseModel):
        for key in model.model_extra or {}:
            found.append(f"{path}.{key}")
        for name in type(model).model_fields:
            found += unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, value in enumerate(model):
            found += unknown_fields(value, f"{path}[{i}]")
    return found


# Fields the real server sends (see the recordings) that the openai models do not declare.
RECORDED_EXTRAS = {".session.object", ".session.id", ".session.expires_at"}


def assert_valid(events: list[dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    for event in events:
        parsed = SERVER_EVENT.validate_python(event)
        assert parsed.type == event["type"]
        assert set(unknown_fields(parsed)) <= RECORDED_EXTRAS, event
        seen.add(event["type"])
    return seen


def test_every_emitted_event_validates_against_openai_models(run: Runner) -> None:
    async def main() -> set[str]:
        config = EmulatorConfig(ms_per_char=12.0)
        events: list[dict[str, Any]] = []
        async with Emulator(config=config, faults=Faults(delta_delay_s=0.03)) as emu:
            async with await WsClient.connect(emu.base_url, emu.api_key) as c:
                await c.send(
                    {
                        "type": "session.update",
                        "session": {
                            "type": "realtime",
                            "tools": [WEATHER_TOOL],
                            "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                        },
                    }
                )
                await c.send(user_text("get_weather in Paris"))
                await c.send({"type": "response.create"})
                call = await c.wait_for("response.function_call_arguments.done")
                await c.wait_for("response.done")
                await c.send(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "function_call_output",
                            "call_id": call["call_id"],
                            "output": "sunny",
                        },
                    }
                )
                await c.send({"type": "response.create"})
                done = await c.wait_for("response.done")
                item_id = done["response"]["output"][0]["id"]
                await c.send(
                    {
                        "type": "conversation.item.truncate",
                        "item_id": item_id,
                        "content_index": 0,
                        "audio_end_ms": 50,
                    }
                )
                await c.wait_for("conversation.item.truncated")
                await c.send({"type": "conversation.item.retrieve", "item_id": item_id})
                await c.wait_for("conversation.item.retrieved")
                silence = np.zeros(12000, dtype=np.int16)
                await c.append_audio(np.concatenate([silence, synthesize("Hi there"), silence]))
                await c.wait_for("response.created")
                await c.send({"type": "response.cancel"})
                cancelled = await c.wait_for("response.done")
                assert cancelled["response"]["status"] == "cancelled"
                completed = "conversation.item.input_audio_transcription.completed"
                if completed not in c.stream.types():  # it may interleave with the response
                    await c.wait_for(completed)
                await c.send({"type": "conversation.item.delete", "item_id": item_id})
                await c.wait_for("conversation.item.deleted")
                await c.send({"type": "input_audio_buffer.clear"})
                await c.wait_for("input_audio_buffer.cleared")
                await c.send({"type": "nope"})
                await c.wait_for("error")
                await c.send({"type": "session.update", "session": {"type": "realtime", "x": 1}})
                await c.wait_for("error")
                events += c.stream.events
            async with await RtcClient.connect(emu.base_url, emu.api_key) as r:
                r.send(user_text("A WebRTC answer long enough to be cut"))
                r.send({"type": "response.create"})
                await r.wait_for("output_audio_buffer.started")
                await r.wait_for("rate_limits.updated")
                r.send({"type": "output_audio_buffer.clear"})
                await r.wait_for("output_audio_buffer.cleared")
                r.send(user_text("again"))
                r.send({"type": "response.create"})
                await r.wait_for("output_audio_buffer.stopped")
                events += r.stream.events
        return assert_valid(events)

    seen = run(main())
    assert {
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.truncated",
        "conversation.item.retrieved",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.done",
        "rate_limits.updated",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "error",
    } <= seen


def test_official_openai_client_text_conversation_with_tool_call(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            client = AsyncOpenAI(api_key=emu.api_key, base_url=emu.openai_base_url)
            async with client.realtime.connect(model="gpt-realtime") as conn:
                first = await conn.recv()
                assert first.type == "session.created"
                await conn.session.update(
                    session={
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],  # type: ignore[list-item]
                    }
                )
                await conn.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": 'get_weather {"city": "Oslo"}'}],
                    }
                )
                await conn.response.create()
                answers: list[str] = []
                async for event in conn:
                    if event.type == "response.function_call_arguments.done":
                        assert json.loads(event.arguments) == {"city": "Oslo"}
                        await conn.conversation.item.create(
                            item={
                                "type": "function_call_output",
                                "call_id": event.call_id,
                                "output": "rain, 7 degrees",
                            }
                        )
                    elif event.type == "response.output_text.done":
                        answers.append(event.text)
                    elif event.type == "response.done":
                        output = event.response.output or []
                        if output and output[0].type == "function_call":
                            await conn.response.create()
                        else:
                            break
                    elif event.type == "error":
                        raise AssertionError(event.error)
                assert answers == ["Tool result: rain, 7 degrees"]
            await client.close()

    run(main())
