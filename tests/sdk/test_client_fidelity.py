"""What the client puts on the wire is what OpenAI declares, and secrets never leak.

1. Every event the client sends in a rich session, on every transport (as the transport puts
   it on the wire, audio appends included), validates against the official ``openai``
   package's GA client event models (``openai.types.realtime.RealtimeClientEvent``), and
   carries no field those models do not declare (they allow extras, so that is checked here).
2. API keys and ephemeral keys never appear in logs (every logger at DEBUG), ``repr()`` of the
   client, the token provider and errors, the transition record, or any error context — on the
   success path and on the failure paths (a refused token, a 401 from ``/calls``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from openai.types.realtime import RealtimeClientEvent

from realtime_machines import AssistantCompleted, Notice
from realtime_sdk.client import RealtimeClient, ToolCall
from realtime_sdk.emulator import Emulator, Faults
from realtime_sdk.errors import ConnectError, ErrorEvent
from realtime_sdk.keys import api_key_token_provider
from tests.sdk.test_client import (
    WEATHER_TOOL,
    drop_call,
    make_client,
    on_every_transport,
    status,
    wait_for,
)
from tests.sdk.test_client_defects import TRANSPORT_CLASSES
from tests.sdk.test_client_playback import speech_pcm

Runner = Callable[..., Any]

CLIENT_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)


def undeclared_fields(value: Any, path: str = "$") -> Iterator[str]:
    """Paths of fields the openai models did not declare (they keep extras in model_extra)."""
    if isinstance(value, pydantic.BaseModel):
        for name in value.model_extra or {}:
            yield f"{path}.{name}"
        for name in type(value).model_fields:
            yield from undeclared_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from undeclared_fields(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from undeclared_fields(item, f"{path}.{key}")


def check_client_event(event: dict[str, Any]) -> None:
    model = CLIENT_EVENTS.validate_python(event)
    assert model.type == event["type"]
    extra = list(undeclared_fields(model))
    assert extra == [], f"{event['type']}: fields the openai models do not declare: {extra}"


def test_the_checker_rejects_what_openai_does_not_declare() -> None:
    check_client_event({"type": "response.cancel"})
    with pytest.raises(pydantic.ValidationError):
        check_client_event({"type": "response.create", "response": {"output_modalities": "text"}})
    with pytest.raises(AssertionError, match=r"\$\.response\.voicee"):
        check_client_event({"type": "response.create", "response": {"voicee": "alloy"}})
    with pytest.raises(AssertionError, match=r"\$\.session\.audio\.output\.speed_x"):
        check_client_event(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"speed_x": 1}}},
            }
        )


async def until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {limit} s")


RICH_SESSION = {
    "type": "realtime",
    "instructions": "You are terse.",
    "output_modalities": ["text"],
    "audio": {
        "input": {
            "turn_detection": None,
            "transcription": {"model": "gpt-realtime-whisper"},
            "noise_reduction": {"type": "near_field"},
        },
        "output": {"voice": "alloy", "speed": 1.1},
    },
    "tools": [WEATHER_TOOL],
    "tool_choice": "auto",
    "max_output_tokens": 500,
}

REQUIRED_TYPES = {
    "session.update",
    "conversation.item.create",
    "response.create",
    "response.cancel",
}
#: What only the transport's own playback sends: WebRTC clears the server's output buffer;
#: on WebSocket and memory the client plays the audio, sends the microphone as appends and
#: truncates the item at what was played.
PLAYBACK_TYPES = {
    "webrtc": {"output_audio_buffer.clear"},
    "websocket": {"input_audio_buffer.append", "conversation.item.truncate"},
    "memory": {"input_audio_buffer.append", "conversation.item.truncate"},
}

#: Server VAD, so that speech sent as appends barges in (the rich session has none).
SERVER_VAD = {
    "type": "realtime",
    "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}},
}


class SteadySink:
    """A :class:`~realtime_sdk.playback.PlaybackSink` that plays in real time (24 kHz) what it
    was given, with no device."""

    def __init__(self) -> None:
        self._written = 0
        self._base = 0
        self._since: float | None = None

    @property
    def position(self) -> int:
        if self._since is None:
            return self._base
        elapsed = int((time.monotonic() - self._since) * 24_000)
        return min(self._written, self._base + elapsed)

    def write(self, pcm: Any) -> None:
        played = self.position
        if played >= self._written:  # idle: playing starts again now
            self._base, self._since = played, time.monotonic()
        self._written += int(pcm.size)

    def stop(self) -> None:
        self._base = self._written = self.position
        self._since = None


def plays_a_new_response(client: RealtimeClient, previous: str | None) -> bool:
    """Whether a response other than ``previous`` (the last one before the request) is the
    current one and audible. Not just any audio playing: what arrived of a response cancelled
    before it was heard still plays, and a barge-in sent while that (short) audio plays may
    find it played out and the new response not audible yet: nothing to truncate."""
    playback, response = client.model.playback, client.model.response
    current = response.response_id
    return playback.state == "playing" and current != previous and playback.response_id == current


@on_every_transport
def test_every_event_sent_in_a_rich_session_validates_against_openai(
    run: Runner, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    async def scenario() -> None:
        sent: list[dict[str, Any]] = []
        wire_send = TRANSPORT_CLASSES[transport].send

        async def capture(self: Any, text: str) -> None:  # the wire
            sent.append(json.loads(text))
            await wire_send(self, text)

        monkeypatch.setattr(TRANSPORT_CLASSES[transport], "send", capture)
        local = transport != "webrtc"  # the client plays the audio itself

        def on_tool_call(call: ToolCall) -> dict[str, Any]:
            return {"city": call.args.get("city"), "temperature_c": 12}

        # Slow deltas, so that a response is still active while its audio plays.
        async with Emulator(faults=Faults(delta_delay_s=0.01)) as emu:
            client = make_client(
                emu,
                transport,
                session=RICH_SESSION,
                greet_enabled=True,
                greet_instructions="Greet the user.",
                greet_modalities=["text"],
                on_tool_call=on_tool_call,
                reconnect={"attempts": 1, "backoff_initial": 0.05},
                **({"audio_sink": SteadySink()} if local else {}),
            )
            async with client:
                await wait_for(client, AssistantCompleted)  # the greeting
                # A tool call answered automatically, then one follow-up.
                await client.send_text_message('get_weather {"city": "Paris"}')
                for _ in range(2):
                    await wait_for(client, AssistantCompleted)
                # Text messages with per-response options.
                await client.send_text_message(
                    "Answer out of band.", instructions="Be brief.", conversation="none"
                )
                await wait_for(client, AssistantCompleted)
                # response.create with params, the strict variant, a session patch.
                await client.send_response(
                    {
                        "instructions": "Summarise.",
                        "output_modalities": ["text"],
                        "metadata": {"purpose": "summary"},
                        "max_output_tokens": 64,
                        "tool_choice": "none",
                    }
                )
                await wait_for(client, AssistantCompleted)
                await client.send_response_strict(
                    instructions="Say goodbye.", modalities=["text"], conversation="default"
                )
                await wait_for(client, AssistantCompleted)
                await client.update_session({"type": "realtime", "instructions": "Be kind."})
                # A manual tool output and a raw item.
                await client.send_tool_output("call_manual_1", {"ok": True})
                await client.send_raw(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "raw item"}],
                        },
                    }
                )
                # Cancel while generating (response.cancel), then while the audio of a
                # finished response still plays (WebRTC: output_audio_buffer.clear; WebSocket
                # and memory: the local player cut, conversation.item.truncate).
                story = "Tell me a long story. " * 20
                await client.send_text_message(story, response_modality="audio")
                await until(lambda: client.model.response.state == "generating")
                await client.cancel_response()
                await until(lambda: client.model.response.state in ("idle", "done"))
                previous = client.model.response.response_id
                await client.send_text_message(story, response_modality="audio")
                await until(lambda: plays_a_new_response(client, previous))
                await client.cancel_response()
                await until(lambda: client.model.playback.state != "playing")
                if local:  # a barge-in: speech as appends while an answer plays
                    await client.update_session(SERVER_VAD)
                    previous = client.model.response.response_id
                    await client.send_text_message(story, response_modality="audio")
                    await until(lambda: plays_a_new_response(client, previous))
                    truncates = sum(e["type"] == "conversation.item.truncate" for e in sent)
                    await client.send_audio(speech_pcm())
                    await until(
                        lambda: (
                            sum(e["type"] == "conversation.item.truncate" for e in sent) > truncates
                        )
                    )
                    await wait_for(client, AssistantCompleted)  # the answer to the speech
                # A lost call: the new call gets the session and the history replayed.
                await drop_call(emu, client)
                await until(
                    lambda: (
                        client.model.connection.reconnects == 1 and status(client) == "connected"
                    )
                )
                await client.send_text_message("Still there?")
                await wait_for(client, AssistantCompleted)

        types = [event["type"] for event in sent]
        assert set(types) >= REQUIRED_TYPES | PLAYBACK_TYPES[transport], set(types)
        assert types.count("session.update") >= 3  # connect, update_session, reconnect
        replayed = [
            e["item"]
            for e in sent
            if e["type"] == "conversation.item.create" and e["item"].get("role") == "assistant"
        ]
        assert replayed, "the reconnect replayed no assistant message"
        outputs = [e for e in sent if e.get("item", {}).get("type") == "function_call_output"]
        assert len(outputs) == 2  # the automatic one and the manual one
        for event in sent:
            check_client_event(event)

    run(scenario(), timeout=40)


# -------------------------------------------------------------------------------------------
# Secrets never leak
# -------------------------------------------------------------------------------------------
API_KEY = "sk-proj-TESTSECRETabcdefghijklmnop0123456789"


def leaks(text: str, secrets: list[str]) -> list[str]:
    """The secrets (or any 12-character piece of one) that occur in ``text``."""
    found = []
    for secret in secrets:
        core = secret.split("_", 1)[-1].split("-")[-1]
        pieces = {core[i : i + 12] for i in range(max(1, len(core) - 11))}
        if secret in text or any(piece in text for piece in pieces):
            found.append(secret)
    return found


def everything_visible(
    client: RealtimeClient,
    provider: object,
    caplog: pytest.LogCaptureFixture,
    errors: list[ErrorEvent],
    exceptions: list[BaseException],
    notices: list[Notice],
) -> str:
    parts = [caplog.text, repr(client), repr(provider), str(client.options)]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
    parts += [json.dumps(step.to_json(), default=repr) for step in client.record]
    for error in errors:
        parts += [repr(error), error.message, json.dumps(dict(error.context), default=repr)]
    for exc in exceptions:
        parts += [str(exc), repr(exc), repr(exc.args)]
    parts += [repr(notice) for notice in notices]
    return "\n".join(parts)


@pytest.mark.parametrize("path", ["session", "refused_token", "calls_401"])
def test_keys_and_tokens_never_appear_anywhere(
    run: Runner, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger at DEBUG

    async def scenario() -> None:
        errors: list[ErrorEvent] = []
        exceptions: list[BaseException] = []
        notices: list[Notice] = []
        minted: list[str] = []
        faults = Faults(refuse_token=401) if path == "refused_token" else None
        async with Emulator(api_key=API_KEY, faults=faults) as emu:
            minting = api_key_token_provider(API_KEY, base_url=emu.base_url)
            bogus = "ek_BOGUSTOKENzyxwvutsrqponm987654321"

            async def provider() -> str:
                if path == "calls_401":
                    minted.append(bogus)
                    return bogus
                token = await minting()
                minted.append(token)
                return token

            client = RealtimeClient(
                token_provider=provider,
                base_url=emu.base_url,
                ice_servers=[],
                greet_enabled=False,
                session={"type": "realtime", "output_modalities": ["text"]},
                on_error=errors.append,
            )
            client.on("error", notices.append)
            if path == "session":
                async with client:
                    await client.send_text_message("hello")
                    await wait_for(client, AssistantCompleted)
                    # A server error and a client warning while connected.
                    await client.send_raw({"type": "conversation.item.delete", "item_id": "nope"})
                    await until(lambda: bool(notices))
                    record = list(client.record)
            else:
                with pytest.raises(ConnectError) as info:
                    await client.connect()
                exceptions.append(info.value)
                assert info.value.stage == (
                    "fetch_token" if path == "refused_token" else "openai_api"
                )
                assert status(client) == "error"
                record = list(client.record)
                visible_in_error = everything_visible(
                    client, minting, caplog, errors, exceptions, notices
                )
                await client.disconnect()
            if path == "calls_401":
                assert "401" in str(exceptions[0])
            if path != "refused_token":
                assert minted, "the provider was never asked"
            assert len(record) > 0
            visible = everything_visible(client, minting, caplog, errors, exceptions, notices)
            if path != "session":
                visible += visible_in_error
            assert errors or path == "session"
            secrets = [API_KEY, *minted]
            assert leaks(visible, secrets) == []
            # The checker itself can fail: the raw secrets are findable when present.
            assert leaks(f"x {secrets[-1]} y", secrets) == [secrets[-1]]

    run(scenario())
