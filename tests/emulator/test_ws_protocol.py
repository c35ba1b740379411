"""The protocol engine over WebSocket: session, items, responses, errors, VAD."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from realtime_sdk.emulator import Emulator, EmulatorConfig, Faults
from realtime_sdk.emulator.audio import synthesize
from realtime_sdk.emulator.testing import WsClient, normalize_types, recorded_types
from tests.emulator.kit import user_text

Runner = Any

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


async def session(emu: Emulator) -> WsClient:
    client = await WsClient.connect(emu.base_url, emu.api_key)
    await client.wait_for("session.created")
    return client


def test_session_created_then_update_merges_config(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, await WsClient.connect(emu.base_url, emu.api_key) as c:
            created = await c.next()
            assert created["type"] == "session.created"
            assert created["event_id"].startswith("event_")
            sess = created["session"]
            assert sess["object"] == "realtime.session"
            assert sess["id"].startswith("sess_")
            assert sess["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
            await c.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "instructions": "Be brief.",
                        "output_modalities": ["text"],
                        "audio": {
                            "input": {
                                "turn_detection": {"type": "server_vad", "threshold": 0.7},
                                "transcription": {"model": "gpt-realtime-whisper"},
                            }
                        },
                    },
                }
            )
            updated = (await c.wait_for("session.updated"))["session"]
            assert updated["id"] == sess["id"]
            assert updated["instructions"] == "Be brief."
            assert updated["output_modalities"] == ["text"]
            td = updated["audio"]["input"]["turn_detection"]
            assert td["threshold"] == 0.7
            assert td["prefix_padding_ms"] == 300
            assert updated["audio"]["input"]["transcription"] == {
                "model": "gpt-realtime-whisper",
                "language": None,
                "prompt": None,
            }
            assert updated["audio"]["output"]["voice"] == "alloy"

    run(main())


def test_session_update_errors_name_param_and_event_id_and_discard_update(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "session.update",
                    "event_id": "evt_1",
                    "session": {"type": "realtime", "bogus_field": 1},
                }
            )
            err = (await c.wait_for("error"))["error"]
            assert err == {
                "type": "invalid_request_error",
                "code": "unknown_parameter",
                "message": "Unknown parameter: 'session.bogus_field'.",
                "param": "session.bogus_field",
                "event_id": "evt_1",
            }
            await c.send(
                {
                    "type": "session.update",
                    "event_id": "evt_2",
                    "session": {
                        "type": "realtime",
                        "instructions": "should not apply",
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                    },
                }
            )
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "integer_below_min_value"
            assert err["param"] == "session.audio.input.format.rate"
            assert "Expected a value >= 24000" in err["message"]
            assert err["event_id"] == "evt_2"
            await c.send({"type": "session.update", "session": {"type": "realtime"}})
            updated = (await c.wait_for("session.updated"))["session"]
            assert updated["instructions"] != "should not apply"
            await c.send({"type": "session.update", "session": {"instructions": "x"}})
            err = (await c.wait_for("error"))["error"]
            assert (err["code"], err["param"]) == ("missing_required_parameter", "session.type")
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text", "audio"]},
                }
            )
            assert (await c.wait_for("error"))["error"]["param"] == "session.output_modalities"

    run(main())


def test_text_turn_matches_recorded_order(run: Runner, recorded: Path) -> None:
    async def main() -> list[str]:
        async with Emulator() as emu, await WsClient.connect(emu.base_url, emu.api_key) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text"]},
                }
            )
            await c.send(user_text("My name is Ada."))
            await c.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "Nice to meet you."}],
                    },
                }
            )
            await c.send(user_text("What is my name?"))
            await c.send({"type": "response.create"})
            done = await c.wait_for("response.done")
            limits = await c.next()
            assert limits["type"] == "rate_limits.updated"
            assert done["response"]["status"] == "completed"
            message = done["response"]["output"][0]
            assert message["content"] == [
                {"type": "output_text", "text": "You said: What is my name?"}
            ]
            return c.stream.types()

    types = run(main())
    expected = normalize_types(recorded_types(str(recorded / "ws_message_history_seeding.jsonl")))
    assert normalize_types(types) == expected


def test_text_in_audio_out_turn_matches_recording_with_real_pcm(
    run: Runner, recorded: Path
) -> None:
    async def main() -> None:
        async with Emulator() as emu, await WsClient.connect(emu.base_url, emu.api_key) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "instructions": "Be brief."},
                }
            )
            await c.send(user_text("Say a short greeting."))
            await c.send({"type": "response.create"})
            done = await c.wait_for("response.done")
            events = c.stream.events
            pcm = b"".join(
                base64.b64decode(e["delta"])
                for e in events
                if e["type"] == "response.output_audio.delta"
            )
            samples = np.frombuffer(pcm, dtype="<i2")
            transcript = done["response"]["output"][0]["content"][0]["transcript"]
            assert transcript == "You said: Say a short greeting."
            assert samples.size / 24000 >= 0.24
            assert np.sqrt(np.mean(samples.astype(float) ** 2)) > 1000  # audible, not silence
            deltas = "".join(
                e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
            )
            assert deltas == transcript
            expected = normalize_types(
                recorded_types(str(recorded / "ws_text_in_audio_out_turn.jsonl"))
            )
            assert normalize_types(c.stream.types()) == expected

    run(main())


def test_tool_call_round_matches_recording(run: Runner, recorded: Path) -> None:
    async def main() -> None:
        async with Emulator() as emu, await WsClient.connect(emu.base_url, emu.api_key) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                    },
                }
            )
            await c.send(user_text('What is the weather? get_weather {"city": "London"}'))
            await c.send({"type": "response.create"})
            args_done = await c.wait_for("response.function_call_arguments.done")
            assert args_done["name"] == "get_weather"
            assert args_done["arguments"] == '{"city": "London"}'
            # Sent before response.done, like the recording: added after the response ends.
            await c.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": args_done["call_id"],
                        "output": "It is foggy and 12 degrees in London.",
                    },
                }
            )
            await c.wait_for("response.done")
            await c.send({"type": "response.create"})
            done = await c.wait_for("response.done")
            text = done["response"]["output"][0]["content"][0]["text"]
            assert text == "Tool result: It is foggy and 12 degrees in London."
            expected = normalize_types(recorded_types(str(recorded / "ws_tool_call_round.jsonl")))
            assert normalize_types(c.stream.types()) == expected

    run(main())


def test_tool_arguments_from_schema_required_fields(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                    },
                }
            )
            await c.send(user_text("please call get_weather now"))
            await c.send({"type": "response.create"})
            done = await c.wait_for("response.function_call_arguments.done")
            assert done["arguments"] == '{"city": "example"}'

    run(main())


def test_server_vad_voice_turn_from_audio_energy(run: Runner, recorded: Path) -> None:
    async def main() -> None:
        config = EmulatorConfig(ms_per_char=10.0)
        async with (
            Emulator(config=config) as emu,
            await WsClient.connect(emu.base_url, emu.api_key) as c,
        ):
            await c.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"transcription": {"model": "gpt-realtime-whisper"}}},
                    },
                }
            )
            await c.wait_for("session.updated")
            silence = np.zeros(24000 // 2, dtype=np.int16)  # 500 ms
            speech = synthesize("Hello, my name is Marcelo.")
            await c.append_audio(np.concatenate([silence, speech, silence]))
            started = await c.wait_for("input_audio_buffer.speech_started")
            stopped = await c.wait_for("input_audio_buffer.speech_stopped")
            committed = await c.wait_for("input_audio_buffer.committed")
            assert started["item_id"] == stopped["item_id"] == committed["item_id"]
            # speech starts at 500 ms; prefix padding 300 ms moves the start back.
            assert started["audio_start_ms"] == 200
            speech_ms = speech.size // 24
            assert 500 + speech_ms <= stopped["audio_end_ms"] <= 500 + speech_ms + 300
            completed = await c.wait_for("conversation.item.input_audio_transcription.completed")
            assert completed["item_id"] == committed["item_id"]
            assert completed["transcript"] == "Hello."
            await c.wait_for("response.done")
            expected = normalize_types(
                recorded_types(str(recorded / "ws_audio_in_server_vad_turn.jsonl"))
            )
            assert normalize_types(c.stream.types()) == expected

    run(main())


def test_manual_commit_and_clear(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                }
            )
            await c.wait_for("session.updated")
            await c.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "input_audio_buffer_commit_empty"
            assert err["event_id"] == "c1"
            await c.append_audio(synthesize("some words here"))
            await c.send({"type": "input_audio_buffer.clear"})
            await c.wait_for("input_audio_buffer.cleared")
            await c.send({"type": "input_audio_buffer.commit"})
            assert (await c.wait_for("error"))["error"]["code"] == "input_audio_buffer_commit_empty"
            await c.append_audio(synthesize("some words here"))
            await c.send({"type": "input_audio_buffer.commit"})
            committed = await c.wait_for("input_audio_buffer.committed")
            added = await c.wait_for("conversation.item.added")
            assert added["item"]["id"] == committed["item_id"]
            assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
            assert "response.created" not in c.stream.types()  # commit never creates a response

    run(main())


def test_protocol_errors_worded_like_openai(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(delta_delay_s=0.05)) as emu, await session(emu) as c:
            await c.send("not json")
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "invalid_json"
            assert err["message"].startswith("Invalid event: failed to parse JSON value.")
            await c.send({"type": "nope", "event_id": "e9"})
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "invalid_value"
            assert err["param"] == "type"
            assert err["event_id"] == "e9"
            assert err["message"].startswith(
                "Invalid value: 'nope'. Supported values are: 'session.update'"
            )
            await c.send(b"\x00\x01")
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "invalid_event"
            assert (
                err["message"]
                == "Expected a text WebSocket message; binary frames are not supported."
            )
            await c.send({"type": "response.cancel", "event_id": "x1"})
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "response_cancel_not_active"
            assert err["message"] == "Cancellation failed: no active response found"
            await c.send(user_text("a fairly long sentence so that the response takes a while"))
            await c.send({"type": "response.create"})
            created = await c.wait_for("response.created")
            await c.send({"type": "response.create", "event_id": "r2"})
            err = (await c.wait_for("error"))["error"]
            assert err["code"] == "conversation_already_has_active_response"
            assert created["response"]["id"] in err["message"]
            assert err["event_id"] == "r2"
            done = await c.wait_for("response.done")
            assert done["response"]["status"] == "completed"
            assert c.stream.types().count("response.created") == 1

    run(main())


def test_response_cancel_closes_open_parts_then_done_cancelled(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(delta_delay_s=0.05)) as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text"]},
                }
            )
            await c.send(user_text("one two three four five six seven eight nine ten"))
            await c.send({"type": "response.create"})
            await c.wait_for("response.output_text.delta")
            mark = len(c.stream.events)
            await c.send({"type": "response.cancel"})
            done = await c.wait_for("response.done")
            after = [e["type"] for e in c.stream.events[mark:]]
            after = [t for t in after if t != "response.output_text.delta"]
            assert after[: after.index("response.done") + 1] == [
                "response.output_text.done",
                "response.content_part.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
            ]
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"] == {
                "type": "cancelled",
                "reason": "client_cancelled",
            }
            assert done["response"]["output"][0]["status"] == "incomplete"
            assert (await c.next())["type"] == "rate_limits.updated"
            # No trailing deltas after response.done: the next response works normally.
            await c.send(user_text("hi"))
            await c.send({"type": "response.create"})
            assert (await c.wait_for("response.done"))["response"]["status"] == "completed"
            tail = c.stream.types()[c.stream.types().index("response.done") + 1 :]
            assert tail[0] == "rate_limits.updated"
            assert tail[1:3] == ["conversation.item.added", "conversation.item.done"]

    run(main())


def test_items_retrieve_delete_truncate_and_previous_item_id(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "id": "item_a",
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "A"}],
                    },
                }
            )
            await c.wait_for("conversation.item.done")
            await c.send(
                {
                    "type": "conversation.item.create",
                    "previous_item_id": "root",
                    "item": {
                        "id": "item_b",
                        "type": "message",
                        "role": "system",
                        "content": [{"type": "input_text", "text": "B"}],
                    },
                }
            )
            added = await c.wait_for("conversation.item.added")
            assert added["previous_item_id"] is None
            assert added["item"]["id"] == "item_b"
            await c.send({"type": "conversation.item.retrieve", "item_id": "item_a"})
            retrieved = await c.wait_for("conversation.item.retrieved")
            assert retrieved["item"]["content"][0]["text"] == "A"
            await c.send({"type": "conversation.item.delete", "item_id": "item_b"})
            assert (await c.wait_for("conversation.item.deleted"))["item_id"] == "item_b"
            await c.send(
                {"type": "conversation.item.delete", "item_id": "item_b", "event_id": "d2"}
            )
            err = (await c.wait_for("error"))["error"]
            assert err["param"] == "item_id"
            assert err["event_id"] == "d2"
            await c.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": "item_a",
                    "content_index": 0,
                    "audio_end_ms": 10,
                }
            )
            assert (await c.wait_for("error"))["error"]["code"] == "unsupported_content_type"
            await c.send({"type": "conversation.item.create", "item": {"type": "message"}})
            err = (await c.wait_for("error"))["error"]
            assert (err["code"], err["param"]) == ("missing_required_parameter", "item.role")
            # An assistant audio answer can be truncated within its length only.
            await c.send({"type": "response.create"})
            done = await c.wait_for("response.done")
            item = done["response"]["output"][0]
            await c.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item["id"],
                    "content_index": 0,
                    "audio_end_ms": 999_999,
                }
            )
            err = (await c.wait_for("error"))["error"]
            assert err["param"] == "audio_end_ms"
            assert "is already shorter than" in err["message"]
            await c.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item["id"],
                    "content_index": 0,
                    "audio_end_ms": 100,
                }
            )
            truncated = await c.wait_for("conversation.item.truncated")
            assert truncated["audio_end_ms"] == 100
            await c.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
            part = (await c.wait_for("conversation.item.retrieved"))["item"]["content"][0]
            assert len(part["transcript"]) < len(item["content"][0]["transcript"])
            assert len(base64.b64decode(part["audio"])) == 100 * 48

    run(main())


def test_out_of_band_response_runs_beside_the_active_one(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(faults=Faults(delta_delay_s=0.02)) as emu, await session(emu) as c:
            await c.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text"]},
                }
            )
            await c.send(user_text("first answer please"))
            await c.send({"type": "response.create"})
            await c.wait_for("response.created")
            await c.send(
                {
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "metadata": {"topic": "side"},
                        "input": [
                            {
                                "type": "message",
                                "role": "user",
                                "content": [{"type": "input_text", "text": "side"}],
                            }
                        ],
                    },
                }
            )
            dones = [await c.wait_for("response.done"), await c.wait_for("response.done")]
            side = next(d for d in dones if d["response"]["metadata"] == {"topic": "side"})
            assert side["response"]["conversation_id"] is None
            assert side["response"]["output"][0]["content"][0]["text"] == "You said: side"
            assert "error" not in c.stream.types()

    run(main())


def test_websocket_auth_and_model_errors_close_like_openai(run: Runner) -> None:
    async def main() -> None:
        async with Emulator() as emu:
            async with await WsClient.connect(emu.base_url, "sk-wrong-key-123456") as c:
                err = await c.wait_for("error")
                assert err["error"]["code"] == "invalid_api_key"
                await c.closed.wait()
                assert c.close_code == 3000
            async with await WsClient.connect(emu.base_url, emu.api_key, model=None) as c:
                assert (await c.wait_for("error"))["error"]["code"] == "missing_model"
                await c.closed.wait()
                assert c.close_code == 4000
            async with await WsClient.connect(emu.base_url, emu.api_key, model="gpt-nope") as c:
                err = (await c.wait_for("error"))["error"]
                assert err["code"] == "invalid_model"
                assert "gpt-nope" in err["message"]
                await c.closed.wait()
                assert c.close_code == 4000

    run(main())


def test_session_expires_after_configured_time(run: Runner) -> None:
    async def main() -> None:
        async with (
            Emulator(config=EmulatorConfig(session_ttl_s=0.3)) as emu,
            await session(emu) as c,
        ):
            err = await c.wait_for("error", timeout=5)
            assert err["error"]["code"] == "session_expired"
            await c.closed.wait()

    run(main())
