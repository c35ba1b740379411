"""The WebSocket client against real OpenAI traffic: the recorded sessions, replayed.

``tests/fixtures/recorded/ws_*.jsonl`` are real OpenAI Realtime WebSocket sessions (MIT, see
``LICENSE-pydantic-ai`` beside them). :class:`RecordedServer` is a small scripted WebSocket
server (aiohttp, 127.0.0.1) that plays the recording's server side: on connect it sends the
server events recorded before the first client event; then each client event is matched to the
recording's next ``sent`` line by type and order, and answered with the server events the
recording has after that line (up to the next ``sent`` line). A client event of another type
is kept as unmatched and answered with nothing. Ids are mapped as OpenAI would echo them: the
recorded client gave no item ids, so when this client names its item (``item.id``), the
recorded server's id for that item (its ``conversation.item.added``, found by type, role and
content or call id) is replaced by the client's in every server event sent from then on; and
the ``metadata`` of a client's ``response.create`` is echoed in the next recorded
``response.created`` and in that response's ``response.done`` (the recorded ones carry
``null``; the client tags its creates there). The call ids the client echoes come from the
recorded server events.

Each test drives a :class:`~realtime_sdk.client.RealtimeClient` (``transport="websocket"``) as
the recorded client was driven (the same session, the same message, the tool's output, the
audio chunks), then checks that it sent what the recorded client sent (the same event types
in the same order, every recorded one matched, each event valid under the official ``openai``
client event models) and that its chat, tool calls and response statuses are what
``replay_lines`` of the same recording (the model's own reading) makes of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from realtime_machines.replay import replay_lines
from realtime_sdk.client import RealtimeClient, ToolCall
from tests.sdk.test_client_fidelity import check_client_event

Runner = Callable[..., Any]
JSON = dict[str, Any]

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


@dataclass
class Recording:
    """A recorded session: the server events sent on connect, then per recorded client event
    the server events that followed it."""

    path: Path
    opening: list[JSON] = field(default_factory=list)
    sent: list[JSON] = field(default_factory=list)
    answers: list[list[JSON]] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> Recording:
        recording = cls(RECORDED / name)
        for line in recording.path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["direction"] == "sent":
                recording.sent.append(entry["data"])
                recording.answers.append([])
            elif recording.answers:
                recording.answers[-1].append(entry["data"])
            else:
                recording.opening.append(entry["data"])
        return recording

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()

    def sent_of(self, event_type: str) -> list[JSON]:
        return [event for event in self.sent if event["type"] == event_type]


class RecordedServer:
    """Plays a :class:`Recording`'s server side to one WebSocket client at a time."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.received: list[JSON] = []
        """Every client event, parsed, in order."""
        self.unmatched: list[JSON] = []
        """Client events that did not match the recording's next ``sent`` line."""
        self.matched = 0
        """How many of the recording's ``sent`` lines were matched."""
        self.requests: list[web.Request] = []
        self.item_ids: dict[str, str] = {}
        """Recorded server item id → the id the client gave that item."""
        self._metadata: list[Any] = []
        self._response_metadata: dict[str, Any] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> RecordedServer:
        app = web.Application()
        app.router.add_get("/v1/realtime", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        self.requests.append(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for event in self.recording.opening:
            await ws.send_str(json.dumps(event))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            self.received.append(event)
            for answer in self._answer(event):
                await ws.send_str(json.dumps(self._mapped(answer)))
        return ws

    def _answer(self, event: JSON) -> list[JSON]:
        index = self.matched
        if index < len(self.recording.sent) and self.recording.sent[index]["type"] == event["type"]:
            self.matched += 1
            self._note_ids(event, index)
            return self.recording.answers[index]
        self.unmatched.append(event)
        return []

    def _note_ids(self, event: JSON, index: int) -> None:
        """What the client named that the recorded client did not: its item id, its
        ``response.create`` metadata."""
        if event["type"] == "response.create":
            metadata = (event.get("response") or {}).get("metadata")
            if metadata:
                self._metadata.append(metadata)
            return
        item = event.get("item") or {}
        if event["type"] != "conversation.item.create" or "id" not in item:
            return
        for answer in self.recording.answers[index:]:
            for recorded in answer:
                if recorded["type"] != "conversation.item.added":
                    continue
                recorded_item = recorded["item"]
                if recorded_item["id"] not in self.item_ids and same_item(recorded_item, item):
                    self.item_ids[recorded_item["id"]] = item["id"]
                    return

    def _mapped(self, event: JSON) -> JSON:
        event = replace_ids(event, self.item_ids)
        if event["type"] in ("response.created", "response.done"):
            response = event["response"]
            metadata = self._response_metadata.get(response["id"])
            if metadata is None and event["type"] == "response.created" and self._metadata:
                metadata = self._response_metadata[response["id"]] = self._metadata.pop(0)
            if metadata is not None and response.get("metadata") is None:
                event = {**event, "response": {**response, "metadata": metadata}}
        return event


def same_item(recorded: JSON, sent: JSON) -> bool:
    """Whether the server's recorded item is the one the client created (ids aside)."""
    if recorded.get("type") != sent.get("type"):
        return False
    if sent.get("type") == "function_call_output":
        return bool(recorded.get("call_id") == sent.get("call_id"))
    return bool(
        recorded.get("role") == sent.get("role") and recorded.get("content") == sent.get("content")
    )


def replace_ids(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every string that is a key of ``ids`` replaced by its value."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {key: replace_ids(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_ids(item, ids) for item in value]
    return value


def recorded_pcm(event: JSON) -> bytes:
    """An append's audio (the recorder truncated it), cut to whole 16-bit samples."""
    text = event["audio"]
    try:
        pcm = base64.b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        pcm = b""
    return pcm[: len(pcm) // 2 * 2] or b"\x00\x00"


async def until(predicate: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what}: not reached within {limit} s")


async def responses_ended(client: RealtimeClient, count: int, what: str) -> None:
    """Wait until the client knows ``count`` responses and none is in progress."""

    def ended() -> bool:
        responses = client.model.responses
        return len(responses) == count and "in_progress" not in responses.values()

    await until(ended, what)


def client_for(server: RecordedServer, **options: Any) -> RealtimeClient:
    session = server.recording.sent_of("session.update")[0]["session"]
    return RealtimeClient(
        token_provider=lambda: "ek_recorded",
        base_url=server.base_url,
        transport="websocket",
        session=session,
        greet_enabled=False,
        delete_chat_history_on_disconnect=False,
        **options,
    )


def user_texts(recording: Recording) -> list[str]:
    texts = []
    for event in recording.sent_of("conversation.item.create"):
        item = event["item"]
        if item.get("type") == "message" and item.get("role") == "user":
            texts += [part["text"] for part in item["content"] if part["type"] == "input_text"]
    return texts


def chat_rows(chat: Any) -> list[tuple[str, str, str]]:
    return [(item.role, item.text, item.status) for item in chat]


def check_fidelity(server: RecordedServer, client: RealtimeClient) -> None:
    """The client sent what the recorded client sent, and reads the session as a replay does."""
    recording = server.recording
    assert server.unmatched == [], [e["type"] for e in server.unmatched]
    assert server.matched == len(recording.sent)
    assert [e["type"] for e in server.received] == [e["type"] for e in recording.sent]
    for event in server.received:
        check_client_event(event)
    # The items the client named are the chat's rows under those names.
    named = [
        e["item"]["id"]
        for e in server.received
        if e["type"] == "conversation.item.create"
        and "id" in e["item"]
        and e["item"]["type"] == "message"
    ]
    assert set(named) <= {item.item_id or item.id for item in client.chat}
    assert sorted(server.item_ids.values()) == sorted(
        e["item"]["id"]
        for e in server.received
        if e["type"] == "conversation.item.create" and "id" in e["item"]
    )
    replayed = replay_lines(recording.lines()).session
    assert chat_rows(client.chat) == chat_rows(replayed.chat)
    assert dict(client.model.responses) == dict(replayed.responses)
    assert {
        call_id: (chart.tool_name, chart.arguments, chart.state)
        for call_id, chart in client.model.tool_calls.items()
    } == {
        call_id: (chart.tool_name, chart.arguments, chart.state)
        for call_id, chart in replayed.tool_calls.items()
    }


@pytest.mark.parametrize(
    "name", ["ws_text_in_audio_out_turn.jsonl", "ws_message_history_seeding.jsonl"]
)
def test_a_recorded_text_session_replays_through_the_websocket_client(
    run: Runner, name: str
) -> None:
    recording = Recording.load(name)

    async def scenario() -> None:
        async with RecordedServer(recording) as server:
            client = client_for(server)
            async with client:
                texts = user_texts(recording)
                items = recording.sent_of("conversation.item.create")
                if len(items) == 1:
                    await client.send_text_message(texts[0])
                else:  # seeded history, then one response
                    for event in items:
                        await client.send_raw(event)
                    await client.send_response()
                await responses_ended(client, 1, "the recorded response's end")
            [request] = server.requests
            assert request.query["model"] == client.options["model"]
            assert request.headers["Authorization"] == "Bearer ek_recorded"
            check_fidelity(server, client)
            assert list(client.model.responses.values()) == ["completed"]

    run(scenario(), timeout=30)


def test_the_recorded_tool_call_round_replays_through_the_websocket_client(run: Runner) -> None:
    recording = Recording.load("ws_tool_call_round.jsonl")
    [output] = [
        e["item"]
        for e in recording.sent_of("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    calls: list[ToolCall] = []

    def on_tool_call(call: ToolCall) -> str:
        calls.append(call)
        return str(output["output"])

    async def scenario() -> None:
        async with RecordedServer(recording) as server:
            client = client_for(server, on_tool_call=on_tool_call)
            async with client:
                [text] = user_texts(recording)
                await client.send_text_message(text)
                await responses_ended(client, 2, "the answer after the tool call")
            check_fidelity(server, client)
            [call] = calls
            assert (call.name, call.call_id) == ("get_weather", output["call_id"])
            assert call.args == {"city": "London"}
            [sent_output] = [
                e["item"]
                for e in server.received
                if e["type"] == "conversation.item.create"
                and e["item"]["type"] == "function_call_output"
            ]
            assert sent_output == output
            assert list(client.model.responses.values()) == ["completed", "completed"]
            assert client.chat[-1].text == "It is foggy and 12 degrees in London."

    run(scenario(), timeout=30)


def test_the_recorded_server_vad_turn_replays_through_the_websocket_client(run: Runner) -> None:
    recording = Recording.load("ws_audio_in_server_vad_turn.jsonl")

    async def scenario() -> None:
        async with RecordedServer(recording) as server:
            client = client_for(server)
            async with client:
                for event in recording.sent_of("input_audio_buffer.append"):
                    await client.send_audio(recorded_pcm(event))
                await responses_ended(client, 1, "the answer to the spoken turn")
            check_fidelity(server, client)
            roles = [item.role for item in client.chat]
            assert roles[:2] == ["user", "assistant"]
            assert all(item.text for item in client.chat)

    run(scenario(), timeout=30)
