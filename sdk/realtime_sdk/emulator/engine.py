"""The transport-independent Realtime protocol engine.

One :class:`Engine` is one Realtime session. Transports feed it client frames
(:meth:`Engine.handle_text`, :meth:`Engine.handle_binary`) and inbound audio
(:meth:`Engine.feed_audio`); it writes server events to its sinks (one per attached
transport: the WebRTC DataChannel and any sideband WebSockets, or one WebSocket). Client
events are handled synchronously and in order; a response is streamed by one task per
response, which can be cancelled at any await (``response.cancel``, VAD barge-in) — the
cancelling handler emits the closing ``*.done`` events itself, so the order is deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .audio import WS_RATE, SpeechTrack, synthesize
from .brain import Brain, CallTool, DeterministicBrain, Say, Turn, item_text
from .faults import Faults
from .ids import IdFactory
from .session import (
    CLIENT_EVENT_TYPES,
    DEFAULT_MODEL,
    JSON,
    ProtocolError,
    apply_session_update,
    check_keys,
    check_number,
    default_session,
    expect_object,
    expect_type,
    invalid_value,
    missing,
    parse_json,
    validate_max_output_tokens,
    validate_output_modalities,
    validate_tool_choice,
    validate_tools,
    validate_voice,
)
from .vad import EnergyVad, SpeechStarted, SpeechStopped

log = logging.getLogger(__name__)

TransportKind = Literal["websocket", "webrtc"]
Sink = Callable[[str], None]
BYTES_PER_MS = WS_RATE * 2 // 1000  # PCM16 mono 24 kHz
MAX_INPUT_BUFFER_MS = 120_000


def default_transcribe(pcm: bytes) -> str:
    """The default (deterministic) input transcription: the emulator cannot do ASR."""
    return "Hello."


@dataclass
class EngineOptions:
    """Per-session knobs of the engine (the :class:`~realtime_sdk.emulator.Emulator` sets them)."""

    model: str = DEFAULT_MODEL
    session_ttl_s: float = 3600.0
    transcribe: Callable[[bytes], str] = default_transcribe
    ms_per_char: float = 40.0
    ids: IdFactory = field(default_factory=IdFactory)
    history_size: int = 20_000


@dataclass
class _Stream:
    """One output item being streamed (its stage drives the closing events)."""

    item: JSON
    output_index: int
    kind: Literal["message", "function_call"]
    audio: bool = False
    text: str = ""
    part_open: bool = False
    item_open: bool = True
    call: CallTool | None = None
    audio_ms: int = 0


@dataclass(eq=False)
class _Response:
    body: JSON
    in_conversation: bool
    params: JSON
    task: asyncio.Task[None] | None = None
    stream: _Stream | None = None
    created_sent: bool = False
    finished: bool = False
    output_text: str = ""

    @property
    def id(self) -> str:
        return str(self.body["id"])


class Engine:
    """One Realtime session speaking the GA protocol."""

    def __init__(
        self,
        *,
        kind: TransportKind,
        brain: Brain | None = None,
        faults: Faults | None = None,
        options: EngineOptions | None = None,
        session: JSON | None = None,
        player: SpeechTrack | None = None,
        close_transport: Callable[[str], None] | None = None,
        session_kind: str = "realtime",
    ) -> None:
        self.kind = kind
        self.options = options or EngineOptions()
        self.ids = self.options.ids
        self.brain: Brain = brain or DeterministicBrain()
        self.faults = faults or Faults()
        self.player = player
        self._close_transport = close_transport
        expires_at = int(time.time() + self.options.session_ttl_s)
        base = default_session(
            session_id=self.ids.session(),
            model=self.options.model,
            expires_at=expires_at,
            kind=session_kind,
        )
        self.session: JSON = apply_session_update(base, session) if session is not None else base
        self.conversation_id = self.ids.conversation()
        self.items: list[JSON] = []
        self._audio: dict[str, bytes] = {}
        self._audio_ms: dict[str, int] = {}
        self._transcripts: dict[str, str] = {}
        self.active: _Response | None = None
        self._responses: set[_Response] = set()
        self._deferred: list[JSON] = []
        self._input = bytearray()
        self._input_start_ms = 0
        self._vad: EnergyVad | None = None
        self._speech_item: str | None = None
        self._playing_response: str | None = None
        #: The messages queued on the player in its current run, in order: (item id, start,
        #: length) in ms of the player's ``played_ms`` clock (one response may queue several).
        self._segments: list[tuple[str, int, int]] = []
        self._last_audio_response: str | None = None
        self._play_started = asyncio.Event()
        self.voice_locked = False
        self.silent = False
        self.closed = False
        self._sinks: list[Sink] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._expiry: asyncio.TimerHandle | None = None
        self.sent: collections.deque[JSON] = collections.deque(maxlen=self.options.history_size)
        self.received: collections.deque[JSON] = collections.deque(maxlen=self.options.history_size)
        self.listeners: list[Callable[[JSON], None]] = []
        self._handlers: dict[str, Callable[[JSON], None]] = {
            "session.update": self._on_session_update,
            "session.close": self._on_session_close,
            "input_audio_buffer.append": self._on_append,
            "session.input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.retrieve": self._on_item_retrieve,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.truncate": self._on_item_truncate,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }
        if kind == "webrtc":
            self._handlers["output_audio_buffer.clear"] = self._on_output_clear
        if player is not None:
            player.on_started = self._on_playback_started
            player.on_drained = self._on_playback_drained
        self._configure_vad()

    # ------------------------------------------------------------------ transport side

    def attach(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def detach(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    def start(self, *, announce: bool = True) -> None:
        """Begin the session: ``session.created`` (unless ``announce`` is false) and expiry."""
        if self._expiry is None:
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(self.options.session_ttl_s, self._expire)
        if announce:
            self.emit("session.created", session=self.session)
            if self.faults.nonjson_frame:
                self._send_raw("this is not JSON {")
            if self.faults.oversized_frame_bytes:
                pad = max(0, self.faults.oversized_frame_bytes - 64)
                self._send_raw(
                    json.dumps(
                        {"type": "emulator.padding", "event_id": self.ids.event(), "pad": "x" * pad}
                    )
                )

    async def aclose(self) -> None:
        """Stop everything this session runs (tasks, timers); no more events are sent."""
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._sinks.clear()

    def handle_text(self, raw: str) -> None:
        """One client text frame (any transport)."""
        if self.silent or self.closed:
            return
        try:
            event = parse_json(raw)
        except ValueError as exc:  # syntax, or nested deeper than MAX_JSON_DEPTH
            self.error(
                ProtocolError("invalid_json", f"Invalid event: failed to parse JSON value. {exc}")
            )
            return
        if not isinstance(event, dict):
            self.error(
                ProtocolError(
                    "invalid_json",
                    "Invalid event: failed to parse JSON value. Expected a JSON object.",
                )
            )
            return
        self.handle_event(event)

    def handle_binary(self) -> None:
        if self.silent or self.closed:
            return
        self.error(
            ProtocolError(
                "invalid_event",
                "Expected a text WebSocket message; binary frames are not supported.",
            )
        )

    def handle_event(self, event: JSON) -> None:
        """One parsed client event."""
        if self.silent or self.closed:
            return
        self.received.append(event)
        client_event_id = event.get("event_id")
        if not isinstance(client_event_id, str):
            client_event_id = None
        try:
            kind = event.get("type")
            if kind is None:
                raise missing("type")
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                allowed = list(CLIENT_EVENT_TYPES)
                if self.kind == "webrtc":
                    allowed.append("output_audio_buffer.clear")
                raise invalid_value(kind, allowed, "type")
            handler(event)
        except ProtocolError as exc:
            self.error(exc, client_event_id)
        except Exception:  # a bug must not take the session down: report it like OpenAI
            log.exception("emulator failed to handle %r", event.get("type"))
            self.error(
                ProtocolError(
                    None,
                    "The server had an error while processing your request. Sorry about that!",
                    type_="server_error",
                ),
                client_event_id,
            )

    def feed_audio(self, pcm: bytes) -> None:
        """Inbound audio (PCM16 mono 24 kHz) from the WebRTC track or from appends."""
        if self.silent or self.closed:
            return
        self._input += pcm
        overflow = len(self._input) - MAX_INPUT_BUFFER_MS * BYTES_PER_MS
        if overflow > 0:
            del self._input[:overflow]
            self._input_start_ms += overflow // BYTES_PER_MS
        if self._vad is None:
            return
        for vad_event in self._vad.feed(pcm):
            if isinstance(vad_event, SpeechStarted):
                self._speech_started(vad_event)
            elif isinstance(vad_event, SpeechStopped):
                self._speech_stopped(vad_event)

    # ------------------------------------------------------------------ output

    def emit(self, kind: str, *, webrtc_id: bool = False, **fields: Any) -> JSON:
        event_id = self.ids.webrtc_event() if webrtc_id else self.ids.event()
        event: JSON = {"type": kind, "event_id": event_id, **fields}
        self._send(event)
        return event

    def error(self, exc: ProtocolError, client_event_id: str | None = None) -> None:
        self.emit("error", error=exc.body(client_event_id))

    def _send(self, event: JSON) -> None:
        if self.silent or self.closed:
            return
        self.sent.append(event)
        self._send_raw(json.dumps(event))
        for listener in list(self.listeners):
            listener(event)

    def _send_raw(self, text: str) -> None:
        for sink in list(self._sinks):
            try:
                sink(text)
            except Exception:  # a dead transport must not break the session
                log.exception("emulator sink failed")

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed", exc_info=task.exception())

    def _expire(self) -> None:
        minutes = round(self.options.session_ttl_s / 60)
        self.error(
            ProtocolError(
                "session_expired",
                f"Your session hit the maximum duration of {minutes} minutes.",
            )
        )
        self._shutdown_transport("expired")

    def _shutdown_transport(self, reason: str) -> None:
        """Ask the transport to close: ``"expired"``, ``"client"`` (session.close), ``"fault"``."""
        if self._close_transport is not None:
            self._close_transport(reason)

    # ------------------------------------------------------------------ session

    def _configure_vad(self) -> None:
        audio_in = self.session["audio"]["input"]
        td = audio_in.get("turn_detection")
        if td is None:
            self._vad = None
            return
        if td["type"] == "server_vad":
            threshold = float(td.get("threshold", 0.5))
            padding = int(td.get("prefix_padding_ms", 300))
            silence = int(td.get("silence_duration_ms", 200))
        else:
            silence = {"low": 800, "medium": 500, "high": 250, "auto": 500}.get(
                str(td.get("eagerness", "auto")), 500
            )
            threshold, padding = 0.5, 300
        if self._vad is None:
            self._vad = EnergyVad(threshold, padding, silence)
        else:
            self._vad.configure(threshold, padding, silence)

    def _on_session_update(self, event: JSON) -> None:
        if self.faults.reject_session_update:
            raise ProtocolError(
                "invalid_value", "The emulator was told to reject session.update.", "session"
            )
        if "session" not in event:
            raise missing("session")
        check_keys(event, ("type", "event_id", "session"), "")
        self.session = apply_session_update(
            self.session, event["session"], voice_locked=self.voice_locked
        )
        self._configure_vad()
        self.emit("session.updated", session=self.session)

    def _on_session_close(self, event: JSON) -> None:
        self._shutdown_transport("client")

    # ------------------------------------------------------------------ input audio

    def _on_append(self, event: JSON) -> None:
        audio = event.get("audio")
        if audio is None:
            raise missing("audio")
        expect_type(audio, str, "a string", "audio")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "invalid_value", "Invalid 'audio'. Expected base64-encoded audio bytes.", "audio"
            ) from exc
        if len(pcm) > 15 * 1024 * 1024:
            raise ProtocolError(
                "invalid_value", "Invalid 'audio'. Audio chunks must be 15 MiB or smaller.", "audio"
            )
        if len(pcm) % 2:
            pcm = pcm[:-1]
        self.feed_audio(pcm)

    def _on_commit(self, event: JSON) -> None:
        ms = len(self._input) / BYTES_PER_MS
        if ms < 100:
            raise ProtocolError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
            )
        item_id = self._speech_item or self.ids.item()
        self._speech_item = None
        if self._vad is not None:
            self._vad.speaking = False
        self._commit(item_id, bytes(self._input))

    def _on_clear(self, event: JSON) -> None:
        self._input_start_ms += len(self._input) // BYTES_PER_MS
        self._input.clear()
        self._speech_item = None
        if self._vad is not None:
            self._vad.speaking = False
            self._vad.reset_pending()
        self.emit("input_audio_buffer.cleared")

    def _speech_started(self, vad_event: SpeechStarted) -> None:
        self._speech_item = self.ids.item()
        self.emit(
            "input_audio_buffer.speech_started",
            audio_start_ms=vad_event.audio_start_ms,
            item_id=self._speech_item,
        )
        td = self.session["audio"]["input"]["turn_detection"] or {}
        if td.get("interrupt_response", True):
            self._barge_in()

    def _speech_stopped(self, vad_event: SpeechStopped) -> None:
        item_id = self._speech_item or self.ids.item()
        self._speech_item = None
        self.emit(
            "input_audio_buffer.speech_stopped",
            audio_end_ms=vad_event.audio_end_ms,
            item_id=item_id,
        )
        start = max(0, (vad_event.audio_start_ms - self._input_start_ms) * BYTES_PER_MS)
        pcm = bytes(self._input[start:])
        self._commit(item_id, pcm)
        td = self.session["audio"]["input"]["turn_detection"] or {}
        if td.get("create_response", True) and self.session["type"] == "realtime":
            if self.active is not None:
                # interrupt_response false: the running response finishes first.
                return
            self._start_response({}, in_conversation=True)

    def _commit(self, item_id: str, pcm: bytes) -> None:
        self._input_start_ms += len(self._input) // BYTES_PER_MS
        self._input.clear()
        previous = self.items[-1]["id"] if self.items else None
        self.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        item: JSON = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._audio[item_id] = pcm
        self._transcripts[item_id] = self.options.transcribe(pcm)
        self._insert(item, previous)
        if self.session["audio"]["input"].get("transcription") is not None:
            self._spawn(self._transcribe(item_id))

    async def _transcribe(self, item_id: str) -> None:
        transcript = self._transcripts.get(item_id, "")
        await asyncio.sleep(0)
        for delta in re.findall(r"\s*\S+", transcript):
            self.emit(
                "conversation.item.input_audio_transcription.delta",
                item_id=item_id,
                content_index=0,
                delta=delta,
            )
            await asyncio.sleep(0)
        seconds = max(1, round(len(self._audio.get(item_id, b"")) / (WS_RATE * 2)))
        for item in self.items:
            if item["id"] == item_id:
                item["content"][0]["transcript"] = transcript
        self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage={"type": "duration", "seconds": seconds},
        )

    # ------------------------------------------------------------------ conversation items

    def _find(self, item_id: str) -> int | None:
        for index, item in enumerate(self.items):
            if item["id"] == item_id:
                return index
        return None

    def _insert(self, item: JSON, previous_item_id: str | None, *, announce: bool = True) -> None:
        if previous_item_id is None:
            self.items.append(item)
        elif previous_item_id == "root":
            self.items.insert(0, item)
        else:
            index = self._find(previous_item_id)
            assert index is not None
            self.items.insert(index + 1, item)
        index = self._find(item["id"])
        assert index is not None
        previous = self.items[index - 1]["id"] if index > 0 else None
        if announce:
            self.emit("conversation.item.added", previous_item_id=previous, item=item)
            self.emit("conversation.item.done", previous_item_id=previous, item=item)

    def _normalize_item(self, raw: object, param: str = "item") -> JSON:
        item = expect_object(raw, param)
        kind = item.get("type")
        if kind is None:
            raise missing(f"{param}.type")
        item_id = item.get("id")
        if item_id is not None:
            expect_type(item_id, str, "a string", f"{param}.id")
            if self._find(item_id) is not None:
                raise ProtocolError(
                    "item_already_exists",
                    f"Item with id '{item_id}' already exists.",
                    f"{param}.id",
                )
        item_id = item_id or self.ids.item()
        if kind == "message":
            check_keys(item, ("id", "type", "object", "status", "role", "content"), param)
            role = item.get("role")
            if role is None:
                raise missing(f"{param}.role")
            if role not in ("user", "assistant", "system"):
                raise invalid_value(role, ("user", "assistant", "system"), f"{param}.role")
            content = item.get("content")
            if content is None:
                raise missing(f"{param}.content")
            expect_type(content, list, "an array", f"{param}.content")
            allowed = {
                "user": ("input_text", "input_audio", "input_image"),
                "system": ("input_text",),
                "assistant": ("output_text", "output_audio"),
            }[role]
            parts: list[JSON] = []
            for i, raw_part in enumerate(content):
                p = f"{param}.content[{i}]"
                part = expect_object(raw_part, p)
                ptype = part.get("type")
                if ptype not in allowed:
                    raise invalid_value(ptype, allowed, f"{p}.type")
                if ptype == "output_audio":
                    raise ProtocolError(
                        "invalid_value",
                        "Assistant messages with audio content cannot be created by the client.",
                        f"{p}.type",
                    )
                if ptype in ("input_text", "output_text"):
                    text = part.get("text")
                    if text is None:
                        raise missing(f"{p}.text")
                    expect_type(text, str, "a string", f"{p}.text")
                    parts.append({"type": ptype, "text": text})
                elif ptype == "input_audio":
                    audio = part.get("audio")
                    if audio is not None:
                        expect_type(audio, str, "a string", f"{p}.audio")
                        try:
                            self._audio[item_id] = base64.b64decode(audio, validate=True)
                        except (binascii.Error, ValueError) as exc:
                            raise ProtocolError(
                                "invalid_value",
                                f"Invalid '{p}.audio'. Expected base64-encoded audio bytes.",
                                f"{p}.audio",
                            ) from exc
                    transcript = part.get("transcript")
                    if transcript is None and audio is not None:
                        self._transcripts[item_id] = self.options.transcribe(self._audio[item_id])
                    parts.append({"type": "input_audio", "transcript": transcript})
                else:
                    parts.append(dict(part))
            return {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": role,
                "content": parts,
            }
        if kind == "function_call":
            check_keys(
                item, ("id", "type", "object", "status", "call_id", "name", "arguments"), param
            )
            for key in ("call_id", "name", "arguments"):
                if key not in item:
                    raise missing(f"{param}.{key}")
                expect_type(item[key], str, "a string", f"{param}.{key}")
            return {
                "id": item_id,
                "type": "function_call",
                "status": "completed",
                "name": item["name"],
                "call_id": item["call_id"],
                "arguments": item["arguments"],
            }
        if kind == "function_call_output":
            check_keys(item, ("id", "type", "object", "status", "call_id", "output"), param)
            for key in ("call_id", "output"):
                if key not in item:
                    raise missing(f"{param}.{key}")
                expect_type(item[key], str, "a string", f"{param}.{key}")
            return {
                "id": item_id,
                "type": "function_call_output",
                "call_id": item["call_id"],
                "output": item["output"],
            }
        raise invalid_value(
            kind, ("message", "function_call", "function_call_output"), f"{param}.type"
        )

    def _on_item_create(self, event: JSON) -> None:
        if "item" not in event:
            raise missing("item")
        previous = event.get("previous_item_id")
        if previous is not None:
            expect_type(previous, str, "a string", "previous_item_id")
            if previous != "root" and self._find(previous) is None:
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid 'previous_item_id': no item with id '{previous}' exists.",
                    "previous_item_id",
                )
        item = self._normalize_item(event["item"])
        if self.active is not None:
            # Conversation writes wait for the active response (as recorded: the tool output
            # sent during a response is added after its response.done).
            self._deferred.append({**event, "item": item, "_normalized": True})
            return
        self._insert(item, previous)

    def _existing_item(self, event: JSON, action: str) -> tuple[str, int]:
        """The item an item event names, and its index; an OpenAI-worded error if it is gone."""
        item_id = self._item_id_param(event)
        index = self._find(item_id)
        if index is None:
            gerund = {"retrieve": "retrieving", "delete": "deleting", "truncate": "truncating"}
            raise ProtocolError(
                f"item_{action}_invalid_item_id",
                f"Error {gerund[action]} item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        return item_id, index

    def _on_item_retrieve(self, event: JSON) -> None:
        item_id, index = self._existing_item(event, "retrieve")
        item = json.loads(json.dumps(self.items[index]))
        pcm = self._audio.get(item_id)
        if pcm is not None:
            for part in item.get("content", []):
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(pcm).decode("ascii")
        self.emit("conversation.item.retrieved", item=item)

    def _on_item_delete(self, event: JSON) -> None:
        item_id, index = self._existing_item(event, "delete")
        del self.items[index]
        self.emit("conversation.item.deleted", item_id=item_id)

    def _on_item_truncate(self, event: JSON) -> None:
        item_id, index = self._existing_item(event, "truncate")
        content_index = event.get("content_index", 0)
        check_number(content_index, "content_index", integer=True, minimum=0, maximum=0)
        if "audio_end_ms" not in event:
            raise missing("audio_end_ms")
        end_ms = event["audio_end_ms"]
        check_number(end_ms, "audio_end_ms", integer=True, minimum=0)
        item = self.items[index]
        parts = item.get("content") or []
        if item.get("role") != "assistant" or not any(
            p.get("type") == "output_audio" for p in parts
        ):
            raise ProtocolError(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                "item_id",
            )
        self._truncate(item, int(end_ms))
        self.emit(
            "conversation.item.truncated",
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=end_ms,
        )

    def _truncate(self, item: JSON, end_ms: int) -> None:
        length = self._audio_ms.get(item["id"], 0)
        if end_ms > length:
            raise ProtocolError(
                "invalid_value",
                f"Audio content of {length}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        for part in item.get("content") or []:
            if part.get("type") == "output_audio":
                transcript = str(part.get("transcript") or "")
                keep = round(len(transcript) * end_ms / length) if length else 0
                part["transcript"] = transcript[:keep]
        self._audio_ms[item["id"]] = end_ms
        pcm = self._audio.get(item["id"])
        if pcm is not None:
            self._audio[item["id"]] = pcm[: end_ms * BYTES_PER_MS]

    @staticmethod
    def _item_id_param(event: JSON) -> str:
        item_id = event.get("item_id")
        if item_id is None:
            raise missing("item_id")
        expect_type(item_id, str, "a string", "item_id")
        assert isinstance(item_id, str)
        return item_id

    # ------------------------------------------------------------------ responses

    def _on_response_create(self, event: JSON) -> None:
        params = event.get("response") or {}
        params = expect_object(params, "response")
        check_keys(
            params,
            (
                "conversation",
                "input",
                "instructions",
                "tools",
                "tool_choice",
                "output_modalities",
                "audio",
                "max_output_tokens",
                "metadata",
                "prompt",
                "reasoning",
                "parallel_tool_calls",
            ),
            "response",
        )
        conversation = params.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise invalid_value(conversation, ("auto", "none"), "response.conversation")
        if "output_modalities" in params:
            validate_output_modalities(params["output_modalities"], "response.output_modalities")
        if "tools" in params:
            params = {**params, "tools": validate_tools(params["tools"], "response.tools")}
        if "tool_choice" in params:
            validate_tool_choice(params["tool_choice"], "response.tool_choice")
        if "max_output_tokens" in params:
            validate_max_output_tokens(params["max_output_tokens"], "response.max_output_tokens")
        if "instructions" in params:
            expect_type(params["instructions"], str, "a string", "response.instructions")
        if "metadata" in params and params["metadata"] is not None:
            expect_object(params["metadata"], "response.metadata")
        if "audio" in params:
            audio = expect_object(params["audio"], "response.audio")
            check_keys(audio, ("output",), "response.audio")
            out = expect_object(audio.get("output", {}), "response.audio.output")
            check_keys(out, ("format", "voice"), "response.audio.output")
            if "voice" in out:
                validate_voice(out["voice"], "response.audio.output.voice")
        context: list[JSON] | None = None
        if "input" in params:
            expect_type(params["input"], list, "an array", "response.input")
            context = []
            for i, raw in enumerate(params["input"]):
                if isinstance(raw, dict) and raw.get("type") == "item_reference":
                    ref = raw.get("id")
                    index = self._find(ref) if isinstance(ref, str) else None
                    if index is None:
                        raise ProtocolError(
                            "invalid_value",
                            f"Invalid 'response.input[{i}].id': no item with id '{ref}' exists.",
                            f"response.input[{i}].id",
                        )
                    context.append(self.items[index])
                else:
                    context.append(self._normalize_item(raw, f"response.input[{i}]"))
        in_conversation = conversation == "auto"
        if in_conversation and self.active is not None:
            raise ProtocolError(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: "
                f"{self.active.id}. Wait until the response is finished before creating "
                "a new one.",
            )
        self._start_response(params, in_conversation=in_conversation, context=context)

    def _start_response(
        self, params: JSON, *, in_conversation: bool, context: list[JSON] | None = None
    ) -> _Response:
        session = self.session
        modalities = params.get("output_modalities") or session["output_modalities"]
        out_cfg = session["audio"]["output"]
        override = (params.get("audio") or {}).get("output") or {}
        body: JSON = {
            "object": "realtime.response",
            "id": self.ids.response(),
            "status": "in_progress",
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id if in_conversation else None,
            "output_modalities": list(modalities),
            "max_output_tokens": params.get("max_output_tokens", session["max_output_tokens"]),
            "audio": {
                "output": {
                    "format": override.get("format", out_cfg["format"]),
                    "voice": override.get("voice", out_cfg["voice"]),
                }
            },
            "usage": None,
            "metadata": params.get("metadata"),
        }
        resp = _Response(body=body, in_conversation=in_conversation, params=params)
        if in_conversation:
            self.active = resp
        self._responses.add(resp)
        items = context if context is not None else list(self.items)
        turn = Turn(
            items=[json.loads(json.dumps(i)) for i in items],
            instructions=str(params.get("instructions", session["instructions"])),
            tools=list(params.get("tools", session["tools"]) or []),
            tool_choice=params.get("tool_choice", session["tool_choice"]),
            output_modalities=list(modalities),
            metadata=params.get("metadata"),
        )
        for item in turn.items:
            transcript = self._transcripts.get(str(item.get("id")))
            if transcript is not None and item.get("content"):
                part = item["content"][0]
                if part.get("type") == "input_audio" and not part.get("transcript"):
                    part["transcript"] = transcript
        if self.faults.response_delay_s <= 0:
            self._emit_created(resp)
        resp.task = self._spawn(self._generate(resp, turn))
        return resp

    def _emit_created(self, resp: _Response) -> None:
        resp.created_sent = True
        self.emit("response.created", response=json.loads(json.dumps(resp.body)))

    async def _generate(self, resp: _Response, turn: Turn) -> None:
        if not resp.created_sent:
            await asyncio.sleep(self.faults.response_delay_s)
            self._emit_created(resp)
        try:
            outputs = list(self.brain.respond(turn))
        except Exception as exc:
            log.exception("emulator brain failed")
            self._finish(
                resp,
                "failed",
                {
                    "type": "failed",
                    "error": {"type": "server_error", "code": "brain_error", "message": str(exc)},
                },
            )
            return
        audio = "audio" in resp.body["output_modalities"]
        for index, output in enumerate(outputs):
            if isinstance(output, Say):
                await self._stream_message(resp, index, output, audio=audio)
            else:
                await self._stream_call(resp, index, output)
        self._finish(resp, "completed", None)

    async def _pace(self, resp: _Response, first: bool) -> None:
        if first and (self.faults.close_mid_response or self.faults.vanish_mid_response):
            if self.faults.vanish_mid_response:
                self._vanish()
            else:
                self._shutdown_transport("fault")
            await asyncio.Event().wait()  # this response never goes on
        await asyncio.sleep(self.faults.delta_delay_s)

    def _vanish(self) -> None:
        self.silent = True
        if self.player is not None:
            self.player.vanish()
        if self._expiry is not None:
            self._expiry.cancel()

    def _open_item(self, resp: _Response, stream: _Stream) -> None:
        resp.stream = stream
        self.emit(
            "response.output_item.added",
            response_id=resp.id,
            output_index=stream.output_index,
            item=stream.item,
        )
        if resp.in_conversation:
            previous = self.items[-1]["id"] if self.items else None
            self.items.append(stream.item)
            self.emit("conversation.item.added", previous_item_id=previous, item=stream.item)

    async def _stream_message(self, resp: _Response, index: int, say: Say, *, audio: bool) -> None:
        text = say.text
        item: JSON = {
            "id": self.ids.item(),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        if say.phase is not None:  # a reasoning model's message: preamble or answer
            item["phase"] = say.phase
        stream = _Stream(item=item, output_index=index, kind="message", audio=audio)
        self._open_item(resp, stream)
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        self.emit(
            "response.content_part.added",
            response_id=resp.id,
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=part,
        )
        stream.part_open = True
        ids = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": index,
            "content_index": 0,
        }
        words = re.findall(r"\s*\S+", text) or [text]
        if audio:
            self.voice_locked = True
            pcm = synthesize(text, ms_per_char=self.options.ms_per_char)
            stream.audio_ms = int(pcm.size * 1000 / WS_RATE)
            self._audio_ms[item["id"]] = stream.audio_ms
            self._audio[item["id"]] = pcm.astype("<i2").tobytes()
            bounds = np.linspace(0, pcm.size, len(words) + 1).astype(int)
            for i, word in enumerate(words):
                stream.text += word
                self.emit("response.output_audio_transcript.delta", **ids, delta=word)
                if self.kind == "websocket":
                    chunk = pcm[bounds[i] : bounds[i + 1]].astype("<i2").tobytes()
                    self.emit(
                        "response.output_audio.delta",
                        **ids,
                        delta=base64.b64encode(chunk).decode("ascii"),
                    )
                await self._pace(resp, i == 0)
            if self.kind == "webrtc" and self.player is not None:
                self._play_started.clear()
                self._playing_response = resp.id
                self._last_audio_response = resp.id
                was_playing = self.player.playing
                self.player.play(pcm)
                self._queue_segment(item["id"], stream.audio_ms)
                if not was_playing:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._play_started.wait(), 1.0)
        else:
            for i, word in enumerate(words):
                stream.text += word
                self.emit("response.output_text.delta", **ids, delta=word)
                await self._pace(resp, i == 0)
        self._close_stream(resp, stream, "completed")

    async def _stream_call(self, resp: _Response, index: int, call: CallTool) -> None:
        call_id = call.call_id or self.ids.call()
        item: JSON = {
            "id": self.ids.item(),
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        stream = _Stream(item=item, output_index=index, kind="function_call", call=call)
        self._open_item(resp, stream)
        arguments = call.arguments_json()
        chunks = [arguments[i : i + 8] for i in range(0, len(arguments), 8)] or [""]
        for i, chunk in enumerate(chunks):
            stream.text += chunk
            self.emit(
                "response.function_call_arguments.delta",
                response_id=resp.id,
                item_id=item["id"],
                output_index=index,
                call_id=call_id,
                delta=chunk,
            )
            await self._pace(resp, i == 0)
        self._close_stream(resp, stream, "completed")

    def _close_stream(self, resp: _Response, stream: _Stream, status: str) -> None:
        """Emit the closing ``*.done`` events for whatever ``stream`` has opened."""
        item = stream.item
        ids = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": stream.output_index,
            "content_index": 0,
        }
        if stream.kind == "message":
            if stream.part_open:
                if stream.audio:
                    self.emit("response.output_audio.done", **ids)
                    self.emit(
                        "response.output_audio_transcript.done", **ids, transcript=stream.text
                    )
                    part = {"type": "audio", "transcript": stream.text}
                    item["content"] = [{"type": "output_audio", "transcript": stream.text}]
                else:
                    self.emit("response.output_text.done", **ids, text=stream.text)
                    part = {"type": "text", "text": stream.text}
                    item["content"] = [{"type": "output_text", "text": stream.text}]
                self.emit("response.content_part.done", **ids, part=part)
                stream.part_open = False
        else:
            call_id = item["call_id"]
            item["arguments"] = stream.text
            self.emit(
                "response.function_call_arguments.done",
                response_id=resp.id,
                item_id=item["id"],
                output_index=stream.output_index,
                call_id=call_id,
                name=item["name"],
                arguments=stream.text,
            )
        item["status"] = status
        resp.output_text += stream.text
        if resp.in_conversation:
            index = self._find(item["id"])
            previous = self.items[index - 1]["id"] if index else None
            self.emit("conversation.item.done", previous_item_id=previous, item=item)
        self.emit(
            "response.output_item.done",
            response_id=resp.id,
            output_index=stream.output_index,
            item=item,
        )
        resp.body["output"].append(item)
        stream.item_open = False
        resp.stream = None

    def _usage(self, resp: _Response, context_chars: int) -> JSON:
        audio = "audio" in resp.body["output_modalities"]
        out_text = max(1, len(resp.output_text) // 4)
        out_audio = out_text * 5 if audio else 0
        in_text = max(1, context_chars // 4)
        return {
            "total_tokens": in_text + out_text + out_audio,
            "input_tokens": in_text,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": in_text,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    def _finish(self, resp: _Response, status: str, details: JSON | None) -> None:
        if resp.finished:
            return
        resp.finished = True
        if not resp.created_sent:
            self._emit_created(resp)
        resp.body["status"] = status
        resp.body["status_details"] = details
        context_chars = sum(len(item_text(i)) for i in self.items)
        resp.body["usage"] = self._usage(resp, context_chars)
        self.emit("response.done", response=resp.body)
        self._responses.discard(resp)
        if self.active is resp:
            self.active = None
            deferred, self._deferred = self._deferred, []
            for event in deferred:
                previous = event.get("previous_item_id")
                if previous not in (None, "root") and self._find(previous) is None:
                    previous = None
                self._insert(event["item"], previous)
        self.emit(
            "rate_limits.updated",
            rate_limits=[
                {
                    "name": "tokens",
                    "limit": 15_000_000,
                    "remaining": 15_000_000 - int(resp.body["usage"]["total_tokens"]),
                    "reset_seconds": 0.002,
                }
            ],
        )

    def _cancel(self, resp: _Response, reason: str) -> None:
        if resp.finished:
            return
        if resp.task is not None and resp.task is not asyncio.current_task():
            resp.task.cancel()
        if not resp.created_sent:
            self._emit_created(resp)
        if resp.stream is not None:
            self._close_stream(resp, resp.stream, "incomplete")
        self._finish(resp, "cancelled", {"type": "cancelled", "reason": reason})

    def _on_response_cancel(self, event: JSON) -> None:
        response_id = event.get("response_id")
        target: _Response | None = None
        if response_id is None:
            target = self.active
        else:
            expect_type(response_id, str, "a string", "response_id")
            target = next((r for r in self._responses if r.id == response_id), None)
        if target is None:
            raise ProtocolError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        self._cancel(target, "client_cancelled")

    # ------------------------------------------------------------------ WebRTC playback

    def _queue_segment(self, item_id: str, length_ms: int) -> None:
        """Note where ``item_id``'s audio, just queued, sits on the player's clock."""
        assert self.player is not None
        start = self.player.played_ms + self.player.queued_ms - length_ms
        if start <= 2:  # the player was idle: a new run, its clock restarted at 0 (± rounding)
            self._segments.clear()
            start = 0
        self._segments.append((item_id, start, length_ms))

    def _barge_in(self) -> None:
        if self.active is not None:
            self._cancel(self.active, "turn_detected")
        player = self.player
        if self.kind != "webrtc" or player is None:
            return
        if not (player.playing or player.queued_ms):
            return
        played = player.clear()
        response_id = self._playing_response or ""
        self.emit("output_audio_buffer.cleared", webrtc_id=True, response_id=response_id)
        self._playing_response = None
        segments, self._segments = self._segments, []
        # The message being heard is cut where the user interrupted it; the ones queued after
        # it were not heard at all (0 ms); the ones before it were heard to their end.
        playing = next(
            (i for i, (_, start, length) in enumerate(segments) if played < start + length),
            len(segments) - 1,
        )
        for item_id, start, length in segments[max(playing, 0) :]:
            index = self._find(item_id)
            if index is None:  # an out-of-band response's message: not in the conversation
                continue
            end_ms = max(0, min(played - start, length, self._audio_ms.get(item_id, length)))
            self._truncate(self.items[index], end_ms)
            self.emit(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=0,
                audio_end_ms=end_ms,
            )

    def _on_output_clear(self, event: JSON) -> None:
        player = self.player
        if player is not None:
            player.clear()
        self._segments.clear()
        response_id = self._playing_response or self._last_audio_response or ""
        self._playing_response = None
        self.emit("output_audio_buffer.cleared", webrtc_id=True, response_id=response_id)

    def _on_playback_started(self) -> None:
        self._play_started.set()
        if self._playing_response is not None:
            self.emit(
                "output_audio_buffer.started", webrtc_id=True, response_id=self._playing_response
            )

    def _on_playback_drained(self) -> None:
        if self._playing_response is not None:
            response_id, self._playing_response = self._playing_response, None
            self.emit("output_audio_buffer.stopped", webrtc_id=True, response_id=response_id)
