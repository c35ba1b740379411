"""The transport-independent GPT-Live protocol engine: one :class:`LiveEngine` is one session.

Connections (:class:`LiveConnection`: the primary WebSocket, a WebRTC data channel, sidebands)
feed it client frames; the primary transport feeds it input audio (PCM16 mono 24 kHz:
decoded appends on a WebSocket, the media track on WebRTC). Everything happens on the
**session timeline**, in milliseconds of input audio received (reference ``gpt-live.md`` §10):

* user speech is found by the energy VAD; when an utterance ends it is transcribed
  (``session.input_transcript.delta`` fragments over the utterance's interval) and the brain
  answers;
* the assistant's speech is synthesised; its transcript fragments are timed from the
  synthesised audio (the utterance starts when the assistant is free, at the earliest now) and
  are *sent* when the timeline reaches them, its WebSocket audio a little ahead; speech that
  starts while the assistant talks interrupts it (what was not yet sent is dropped);
* acknowledgements of appends (``*.appended``) wait until the timeline passes the injection
  estimate; an automatic spoken acknowledgement of a delegation waits
  ``acknowledgement_delay_ms`` and is cancelled by any thinking or commentary append;
* with ``idle_timeout_s`` (WebRTC) inference pauses after that much inactivity and resumes on
  speech (``session.paused`` / ``session.resumed``).

Stop sending audio and the timeline stops: pending acknowledgements stay pending, as on
OpenAI's servers. ``session.close`` answers pending appends with errors, then
``session.closed``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import heapq
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from ...codecs import AudioDecoder
from ..audio import synthesize
from ..brain import Brain, CallTool, DeterministicBrain, Say, Turn
from ..engine import default_transcribe
from ..ids import IdFactory
from ..session import (
    JSON,
    ProtocolError,
    check_keys,
    expect_object,
    expect_type,
    invalid_value,
    missing,
    parse_json,
)
from ..vad import EnergyVad, SpeechStarted, SpeechStopped
from .config import (
    ConfigKind,
    apply_update,
    delegation_type,
    error_body,
    session_resource,
    validate_config,
)
from .media import RATE, encode_audio, fragments, ms_of

__all__ = [
    "CLIENT_EVENTS",
    "ConnectionKind",
    "LiveConnection",
    "LiveEngine",
    "LiveOptions",
    "Player",
]

log = logging.getLogger(__name__)

ConnectionKind = Literal["websocket", "datachannel", "sideband"]
CloseReason = Literal["close_requested", "expired", "content", "remote_hangup", "connection_lost"]

#: The client events and the fields each accepts (besides ``type`` and ``event_id``).
CLIENT_EVENTS: dict[str, tuple[str, ...]] = {
    "session.start": ("session",),
    "session.update": ("session",),
    "session.close": (),
    "session.input_audio.append": ("audio",),
    "session.input_audio.mute": (),
    "session.input_audio.unmute": (),
    "session.output_audio.fixture.play": ("audio",),
    "session.instructions.append": ("content", "delegation_id"),
    "session.thinking.append": ("content", "delegation_id"),
    "session.commentary.append": ("content", "delegation_id"),
    "decision.create": (),
    "decision.item.create": ("item",),
    "decision.item.delete": ("item_id",),
    "response.item.create": ("item",),
    "response.create": (),
    "transport.dtmf.send": ("event",),
}
AUDIO_LEAD_MS = 300
"""How far ahead of the timeline a WebSocket's output audio is sent (a player's buffer)."""
CHUNK_MS = 100
MAX_FIXTURE_MS = 30_000
HISTORY_MS = 60_000
AUTO_ACKNOWLEDGEMENT = "One moment."


class Player(Protocol):
    """Where WebRTC output audio goes (:class:`~realtime_sdk.emulator.audio.SpeechTrack`)."""

    def play(self, pcm_24k: np.ndarray) -> None: ...

    def clear(self) -> int: ...


class LiveConnection:
    """One connection to a session, as the engine sees it: how to send it an event (JSON
    text), how to end it, and what it may send and receive (a data channel's permissions)."""

    def __init__(
        self,
        kind: ConnectionKind,
        send: Callable[[str], None],
        end: Callable[[int, str], None],
    ) -> None:
        self.kind = kind
        self.send = send
        self.end = end
        self.allowed_client: list[str] | None = None  # None: all
        self.allowed_server: list[JSON] | None = None

    def accepts(self, event: JSON) -> bool:
        """Whether this connection receives ``event`` (its ``allowed_server_events``)."""
        if self.allowed_server is None:
            return True
        for selector in self.allowed_server:
            if selector.get("type") != event["type"]:
                continue
            nested = selector.get("response_event")
            if nested is None or nested == (event.get("event") or {}).get("type"):
                return True
        return False


@dataclass
class LiveOptions:
    """Per-session knobs (the :class:`~realtime_sdk.emulator.Emulator` sets them)."""

    session_ttl_s: float = 3600.0
    ms_per_char: float = 40.0
    transcribe: Callable[[bytes], str] = default_transcribe
    #: Silence that ends a user's utterance.
    silence_ms: int = 500
    usage_interval_s: float = 60.0
    #: What a sideband gets replayed when it attaches.
    replay_s: float = 3.0
    ids: IdFactory = field(default_factory=IdFactory)
    history_size: int = 20_000


@dataclass
class _Delegation:
    id: str
    target: str
    response_id: str | None = None
    pending_calls: set[str] = field(default_factory=set)
    outputs: list[JSON] = field(default_factory=list)


@dataclass(order=True)
class _Scheduled:
    due_ms: int
    seq: int
    action: Callable[[], None] = field(compare=False)
    tag: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)


class LiveEngine:
    """One GPT-Live session."""

    def __init__(
        self,
        *,
        transport: ConfigKind,
        brain: Brain | None = None,
        options: LiveOptions | None = None,
        config: JSON | None = None,
        player: Player | None = None,
        on_end: Callable[[str], None] | None = None,
    ) -> None:
        self.transport = transport
        self.options = options or LiveOptions()
        self.ids = self.options.ids
        self.brain: Brain = brain or DeterministicBrain()
        self.player = player
        self._on_end = on_end
        self.id = self.ids.make("live")
        self.expires_at = int(time.time() + self.options.session_ttl_s)
        self.config: JSON | None = config
        self.resource: JSON | None = None
        self.format: JSON = {"type": "audio/pcm", "rate": RATE}
        self._decoder = AudioDecoder(self.format)  # input appends: one stream, filter state kept
        self.connections: list[LiveConnection] = []
        self.samples = 0
        self.muted = False
        self.paused = False
        self.closing = False
        self.ended: str | None = None
        self._vad = EnergyVad(prefix_padding_ms=0, silence_duration_ms=self.options.silence_ms)
        self._input = bytearray()
        self._input_start_ms = 0
        self._busy_until = 0
        self._speaking_tag = ""
        self._last_activity = 0
        self._paused_ms = 0
        self._paused_at = 0
        self._queue: list[_Scheduled] = []
        self._seq = itertools.count()
        self._history: list[JSON] = []
        self._delegations: dict[str, _Delegation] = {}
        self._backend_items: list[JSON] = []
        self._decision_items: dict[str, JSON] = {}
        self._decision_event_ids: set[str] = set()
        self._pending_appends: dict[int, tuple[str, str | None]] = {}
        self._fixture_until: int | None = None
        self._context_chars = 0
        self._recent: collections.deque[tuple[float, str]] = collections.deque()
        self._expiry: asyncio.TimerHandle | None = None
        self.sent: collections.deque[JSON] = collections.deque(maxlen=self.options.history_size)
        self.received: collections.deque[JSON] = collections.deque(maxlen=self.options.history_size)

    # ------------------------------------------------------------------ connections

    @property
    def started(self) -> bool:
        return self.resource is not None

    @property
    def is_over(self) -> bool:
        """The session has ended (closed, expired or lost)."""
        return self.ended is not None

    @property
    def clock_ms(self) -> int:
        """The session timeline: milliseconds of input audio received."""
        return ms_of(self.samples)

    def connect(self, connection: LiveConnection) -> None:
        """Add a connection; a sideband first gets the last ``replay_s`` of events."""
        if self.ended is not None:
            connection.end(1000, self.ended)
            return
        if connection.kind == "sideband":
            horizon = time.monotonic() - self.options.replay_s
            for at, text in list(self._recent):
                if at >= horizon:
                    connection.send(text)
        self.connections.append(connection)

    def disconnect(self, connection: LiveConnection, *, lost: bool = False) -> None:
        """A connection went away; the primary one ends the session (``remote_hangup`` when it
        closed cleanly, else ``connection_lost``)."""
        if connection in self.connections:
            self.connections.remove(connection)
        if connection.kind != "sideband" and self.ended is None:
            if self.started:
                self.close("connection_lost" if lost else "remote_hangup")
            else:
                self._finish("session never started")

    def start_webrtc(self) -> None:
        """The data channel opened: the session created over HTTP starts."""
        if not self.started and self.config is not None:
            self._start(self.config, None)

    # ------------------------------------------------------------------ input

    def handle_text(self, connection: LiveConnection, raw: str) -> None:
        """One client text frame from ``connection``."""
        if self.ended is not None:
            return
        try:
            event = parse_json(raw)
        except ValueError as exc:
            self._error(
                connection,
                ProtocolError("invalid_json", f"Invalid event: failed to parse JSON value. {exc}"),
            )
            return
        if not isinstance(event, dict):
            self._error(
                connection,
                ProtocolError("invalid_json", "Invalid event: expected a JSON object."),
            )
            return
        self.handle_event(connection, event)

    def handle_binary(self, connection: LiveConnection) -> None:
        self._error(
            connection,
            ProtocolError(
                "invalid_event",
                "Expected a text message with a JSON event; binary frames are not supported.",
            ),
        )

    def handle_event(self, connection: LiveConnection, event: JSON) -> None:
        if self.ended is not None:
            return
        self.received.append(event)
        raw_id = event.get("event_id")
        client_event_id = raw_id if isinstance(raw_id, str) else None
        try:
            self._dispatch(connection, event, client_event_id)
        except ProtocolError as exc:
            self._error(connection, exc, client_event_id)
        except Exception:  # a bug must not take the session down: report it like OpenAI
            log.exception("live emulator failed to handle %r", event.get("type"))
            self._error(
                connection,
                ProtocolError(
                    "server_error",
                    "The server had an error while processing your request. Sorry about that!",
                    type_="server_error",
                ),
                client_event_id,
            )

    def _dispatch(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        kind = event.get("type")
        if kind is None:
            raise missing("type")
        if not isinstance(kind, str) or kind not in CLIENT_EVENTS:
            raise invalid_value(kind, tuple(CLIENT_EVENTS), "type")
        check_keys(event, ("type", "event_id", *CLIENT_EVENTS[kind]), kind)
        if "event_id" in event and event["event_id"] is not None:
            expect_type(event["event_id"], str, "a string", "event_id")
        if conn.allowed_client is not None and kind not in conn.allowed_client:
            raise ProtocolError(
                "event_not_allowed",
                f"The event '{kind}' is not allowed on this data channel "
                "(session.client.data_channel.allowed_client_events).",
                "type",
            )
        if kind == "session.start":
            if conn.kind != "websocket" or self.started:
                raise ProtocolError(
                    "session_already_started",
                    "The session has already started: send 'session.start' only as the first "
                    "message of a primary WebSocket (never on a data channel or a sideband).",
                    "type",
                )
            if "session" not in event:
                raise missing("session")
            self._start(validate_config(event["session"], "websocket"), cid)
            return
        if not self.started:
            raise ProtocolError(
                "session_not_started",
                f"Send 'session.start' first and wait for 'session.started' before '{kind}'.",
                "type",
            )
        if self.closing:
            raise ProtocolError(
                "session_closing", f"The session is closing: '{kind}' was not applied.", "type"
            )
        getattr(self, "_on_" + kind.replace(".", "_"))(conn, event, cid)

    def feed_audio(self, pcm: bytes) -> None:
        """Input audio (PCM16 mono 24 kHz) from the primary transport: the timeline moves."""
        if self.ended is not None or not self.started or not pcm:
            return
        if any(c.kind == "sideband" for c in self.connections):
            self._to_sidebands(
                {"type": "session.input_audio.append", "audio": base64.b64encode(pcm).decode()}
            )
        heard = pcm
        if self.muted or self._fixture_until is not None:
            heard = bytes(len(pcm))  # the model receives silence; fixture input is dropped
        self._input += heard
        overflow = len(self._input) - HISTORY_MS * RATE * 2 // 1000
        if overflow > 0:
            overflow -= overflow % 2
            del self._input[:overflow]
            self._input_start_ms += overflow * 1000 // (RATE * 2)
        frame = RATE * 2 // 50  # the timeline moves 20 ms at a time, as the VAD hears it
        for offset in range(0, len(heard), frame):
            chunk = heard[offset : offset + frame]
            for vad_event in self._vad.feed(chunk):
                if isinstance(vad_event, SpeechStarted):
                    self._speech_started(vad_event.audio_start_ms)
                elif isinstance(vad_event, SpeechStopped):
                    voiced_end = vad_event.audio_end_ms - self.options.silence_ms
                    self._speech_stopped(
                        vad_event.audio_start_ms, max(voiced_end, vad_event.audio_start_ms + 20)
                    )
            self.samples += len(chunk) // 2
            self._run_due()
            self._check_idle()
            if self.is_over:
                return

    # ------------------------------------------------------------------ output

    def emit(self, kind: str, *, client_event_id: str | None = None, **fields: Any) -> JSON:
        event: JSON = {"type": kind, "event_id": self.ids.event(), **fields}
        if client_event_id is not None:
            event["client_event_id"] = client_event_id
        self._broadcast(event)
        return event

    def _broadcast(self, event: JSON) -> None:
        if self.ended is not None:
            return
        self.sent.append(event)
        text = json.dumps(event)
        now = time.monotonic()
        self._recent.append((now, text))
        while self._recent and self._recent[0][0] < now - self.options.replay_s:
            self._recent.popleft()
        for conn in list(self.connections):
            if conn.accepts(event):
                self._deliver(conn, text)

    def _to_sidebands(self, event: JSON) -> None:
        text = json.dumps(event)
        for conn in list(self.connections):
            if conn.kind == "sideband":
                self._deliver(conn, text)

    def _to_primary(self, conn_kind: ConnectionKind, event: JSON) -> None:
        text = json.dumps(event)
        for conn in list(self.connections):
            if conn.kind == conn_kind:
                self._deliver(conn, text)

    @staticmethod
    def _deliver(conn: LiveConnection, text: str) -> None:
        try:
            conn.send(text)
        except Exception:  # a dead connection must not break the session
            log.exception("live emulator: a connection failed")

    def _error(self, conn: LiveConnection, exc: ProtocolError, cid: str | None = None) -> None:
        """An ``error`` for the connection whose command failed (others do not see it)."""
        event: JSON = {"type": "error", "event_id": self.ids.event(), "error": error_body(exc, cid)}
        if cid is not None:
            event["client_event_id"] = cid
        self.sent.append(event)
        self._deliver(conn, json.dumps(event))

    # ------------------------------------------------------------------ lifecycle

    def _start(self, config: JSON, cid: str | None) -> None:
        self.resource = session_resource(
            config, session_id=self.id, expires_at=self.expires_at, kind=self.transport
        )
        self.config = config
        if "format" in self.resource["audio"]:
            self.format = self.resource["audio"]["format"]
            self._decoder = AudioDecoder(self.format)
        policy = config.get("wake_policy")
        if isinstance(policy, dict):
            self._vad.configure(float(policy["vad_threshold"]), 0, self.options.silence_ms)
        for item in self.resource["input"]:
            self._history.append(
                {"type": "message", "role": item["role"], "content": item["content"]}
            )
            self._context_chars += len(item["content"][0]["text"])
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(self.options.session_ttl_s, self.close, "expired")
        # session.started always reaches a data channel: its permissions apply from then on.
        self.emit("session.started", session=self.resource, client_event_id=cid)
        channel = self._channel_permissions()
        if channel:
            self.emit(
                "info",
                code="data_channel_permissions",
                message="Data channel permissions applied: " + json.dumps(channel),
            )
        self._every_usage_interval()

    def _channel_permissions(self) -> JSON:
        client = (self.resource or {}).get("client") or {}
        channel: JSON = dict(client.get("data_channel") or {})
        for conn in self.connections:
            if conn.kind == "datachannel":
                allowed = channel.get("allowed_client_events")
                conn.allowed_client = None if allowed in (None, "all") else list(allowed)
                server = channel.get("allowed_server_events")
                conn.allowed_server = None if server in (None, "all") else list(server)
        return channel if self.transport == "webrtc" else {}

    def usage(self) -> JSON:
        seconds = self.clock_ms // 1000
        usage: JSON = {"seconds": seconds}
        if self.config is not None and "idle_timeout_s" in self.config:
            paused = self._paused_ms + (self.clock_ms - self._paused_at if self.paused else 0)
            usage["paused_seconds"] = paused // 1000
            usage["active_seconds"] = seconds - paused // 1000
        return usage

    def _every_usage_interval(self) -> None:
        interval = int(self.options.usage_interval_s * 1000)
        if self.clock_ms > 0:
            self.emit(
                "session.usage.updated",
                usage=self.usage(),
                context_window={"usage_ratio": min(1.0, self._context_chars / 4 / 128_000)},
            )
        self._schedule(self.clock_ms + interval, self._every_usage_interval, "usage")

    def close(self, reason: CloseReason = "close_requested", cid: str | None = None) -> None:
        """End the session: pending appends answered with errors, then ``session.closed``."""
        if self.ended is not None or self.closing:
            return
        self.closing = True
        if self.started:
            for kind, append_cid in list(self._pending_appends.values()):
                event: JSON = {
                    "type": "error",
                    "event_id": self.ids.event(),
                    "error": error_body(
                        ProtocolError(
                            "session_closed",
                            f"The session closed before '{kind}' was acknowledged.",
                        ),
                        append_cid,
                    ),
                }
                if append_cid is not None:
                    event["client_event_id"] = append_cid
                self._broadcast(event)
            self._pending_appends.clear()
            self.emit(
                "session.closed",
                reason=reason,
                usage=self.usage(),
                session=self.resource,
                client_event_id=cid,
            )
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        if self._expiry is not None:
            self._expiry.cancel()
        self._queue.clear()
        for conn in list(self.connections):
            try:
                conn.end(1000, reason)
            except Exception:
                log.warning("live emulator: a connection failed to end", exc_info=True)
        self.connections.clear()
        if self._on_end is not None:
            self._on_end(reason)

    # ------------------------------------------------------------------ the timeline

    def _schedule(self, due_ms: int, action: Callable[[], None], tag: str = "") -> _Scheduled:
        entry = _Scheduled(due_ms, next(self._seq), action, tag)
        heapq.heappush(self._queue, entry)
        if due_ms <= self.clock_ms and self.ended is None:
            self._run_due()
        return entry

    def _cancel(self, tag: str) -> None:
        for entry in self._queue:
            if entry.tag == tag:
                entry.cancelled = True

    def _run_due(self) -> None:
        while self._queue and self._queue[0].due_ms <= self.clock_ms and self.ended is None:
            entry = heapq.heappop(self._queue)
            if not entry.cancelled:
                entry.action()

    def _check_idle(self) -> None:
        timeout = (self.config or {}).get("idle_timeout_s")
        if self.transport != "webrtc" or timeout is None or self.paused or self.closing:
            return
        if self._vad.speaking or self._pending_appends:
            self._last_activity = self.clock_ms
            return
        quiet_since = max(self._last_activity, self._busy_until)
        if self.clock_ms - quiet_since >= int(timeout) * 1000:
            self.paused = True
            self._paused_at = self.clock_ms
            self.emit("session.paused")

    # ------------------------------------------------------------------ speech

    def _speech_started(self, start_ms: int) -> None:
        self._last_activity = self.clock_ms
        if self.paused:
            self.paused = False
            self._paused_ms += self.clock_ms - self._paused_at
            self.emit("session.resumed")
        if self.clock_ms < self._busy_until and self._speaking_tag:
            self._cancel(self._speaking_tag)  # interrupted: the rest is never said
            self._busy_until = self.clock_ms
            if self.player is not None:
                self.player.clear()

    def _speech_stopped(self, start_ms: int, end_ms: int) -> None:
        self._last_activity = self.clock_ms
        lo = max(0, (start_ms - self._input_start_ms) * RATE * 2 // 1000)
        hi = max(lo, (end_ms - self._input_start_ms) * RATE * 2 // 1000)
        text = self.options.transcribe(bytes(self._input[lo:hi]))
        if not text:
            return
        for piece, begin, end in fragments(text, start_ms, end_ms):
            event = self.emit(
                "session.input_transcript.delta", delta=piece, start_ms=begin, end_ms=end
            )
        self._trigger("session.input_transcript.delta", event)
        self._history.append(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        )
        self._context_chars += len(text)
        self._take_turn()

    def _turn(self, items: Sequence[JSON]) -> Turn:
        delegation = (self.resource or {}).get("delegation") or {}
        backend = delegation.get("responses") or {}
        return Turn(
            items=list(items),
            instructions=str((self.resource or {}).get("instructions", "")),
            tools=[t for t in backend.get("tools") or [] if t.get("type") == "function"],
            tool_choice=backend.get("tool_choice", "auto"),
            output_modalities=["audio"],
        )

    def _take_turn(self, extra: Sequence[JSON] = ()) -> None:
        """The voice model's turn: it speaks, or hands the work to its delegation."""
        outputs = self.brain.respond(self._turn([*self._history, *extra]))
        calls = [o for o in outputs if isinstance(o, CallTool)]
        for output in outputs:
            if isinstance(output, Say):
                self.speak(output.text)
        if calls:
            self._delegate(calls)

    def speak(self, text: str, *, start_ms: int | None = None) -> None:
        """The assistant says ``text``: timed from its synthesised audio, sent on the timeline."""
        pcm = synthesize(text, ms_per_char=self.options.ms_per_char)
        start = max(self.clock_ms if start_ms is None else start_ms, self._busy_until)
        duration = ms_of(pcm.size)
        self._busy_until = start + duration
        self._last_activity = self._busy_until
        tag = self.ids.make("say", 8)
        self._speaking_tag = tag
        if self.player is not None:
            self.player.play(pcm)
        step = RATE * CHUNK_MS // 1000
        for offset in range(0, pcm.size, step):
            chunk = pcm[offset : offset + step]
            at = start + ms_of(offset)
            self._schedule(at - AUDIO_LEAD_MS, self._audio_sender(chunk, at), tag)
        pieces = fragments(text, start, self._busy_until)
        for index, (piece, begin, end) in enumerate(pieces):
            last = index == len(pieces) - 1
            self._schedule(begin, self._transcript_sender(piece, begin, end, last), tag)
        self._history.append(
            {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}
        )
        self._context_chars += len(text)

    def _audio_sender(self, chunk: np.ndarray, at: int) -> Callable[[], None]:
        def send() -> None:
            if self.transport == "websocket":
                delta = base64.b64encode(encode_audio(chunk, self.format)).decode()
                self._to_primary(
                    "websocket", {"type": "session.output_audio.delta", "delta": delta}
                )
            if any(c.kind == "sideband" for c in self.connections):
                self._to_sidebands(
                    {
                        "type": "session.output_audio.delta",
                        "delta": base64.b64encode(chunk.astype("<i2").tobytes()).decode(),
                        "start_ms": at,
                        "end_ms": at + ms_of(chunk.size),
                    }
                )

        return send

    def _transcript_sender(
        self, piece: str, begin: int, end: int, last: bool
    ) -> Callable[[], None]:
        def send() -> None:
            event = self.emit(
                "session.output_transcript.delta", delta=piece, start_ms=begin, end_ms=end
            )
            if last:
                self._trigger("session.output_transcript.delta", event)

        return send

    # ------------------------------------------------------------------ delegation

    def _delegate(self, calls: Sequence[CallTool]) -> None:
        target = delegation_type(self.resource or {})
        settings = (self.resource or {}).get("delegation") or {}
        delegation = _Delegation(self.ids.item(), target)
        if target == "responses":
            delegation.response_id = self.ids.response()
        self._delegations[delegation.id] = delegation
        body: JSON = {"id": delegation.id, "type": "delegation", "target": target}
        if delegation.response_id is not None:
            body["response_id"] = delegation.response_id
        self.emit("session.delegation.created", offset_ms=self.clock_ms, delegation=body)
        delay = int(settings.get("acknowledgement_delay_ms", 400 if target == "decisions" else 0))
        self._schedule(
            self.clock_ms + delay, lambda: self.speak(AUTO_ACKNOWLEDGEMENT), "acknowledgement"
        )
        if target == "responses":
            self._backend_calls(delegation, calls)
        elif target == "decisions":
            self._decide(delegation.id, None, None, None)

    def _backend_calls(self, delegation: _Delegation, calls: Sequence[CallTool]) -> None:
        stream = _NestedStream(self, delegation.id, delegation.response_id or self.ids.response())
        stream.created()
        for index, call in enumerate(calls):
            call_id = call.call_id or self.ids.call()
            delegation.pending_calls.add(call_id)
            stream.function_call(index, call.name, call.arguments_json(), call_id)
        stream.completed()

    def _backend_answer(self, delegation_id: str | None, items: Sequence[JSON]) -> None:
        outputs = self.brain.respond(self._turn([*self._history, *items]))
        text = " ".join(o.text for o in outputs if isinstance(o, Say)) or "Done."
        stream = _NestedStream(self, delegation_id, self.ids.response())
        stream.created()
        stream.message(text)
        stream.completed()
        self.speak(text)

    def _decide(
        self,
        delegation_id: str | None,
        trigger: JSON | None,
        source: JSON | None,
        cid: str | None,
    ) -> None:
        settings = (self.resource or {}).get("delegation") or {}
        questions: list[JSON] = []
        model = "gpt-5-mini"
        if trigger is not None:
            questions = list(trigger["decisions"]["questions"])
        elif settings.get("type") == "decisions":
            questions = list(settings["decisions"].get("questions") or [])
            model = str(settings["decisions"].get("model", model))
        answers = [_answer(q) for q in questions]
        decision = {
            "model": model,
            "answers": answers,
            "usage": {
                "input_tokens": self._context_chars // 4,
                "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 0},
                "output_tokens": len(answers),
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self._context_chars // 4 + len(answers),
            },
        }
        fields: JSON = {
            "delegation_id": delegation_id,
            "event": {"type": "decision.completed", "decision": decision},
        }
        if source is not None:
            fields["trigger_id"] = str((trigger or {}).get("_id", "trigger"))
            fields["source_event_id"] = source["event_id"]
            fields["source_event_type"] = source["type"]
        # ``decision.event`` has no ``client_event_id`` (openai's DecisionEvent): a
        # ``decision.create`` is answered by the next event with neither delegation nor trigger.
        self.emit("decision.event", **fields)

    def _trigger(self, event_type: str, source: JSON) -> None:
        for index, trigger in enumerate((self.resource or {}).get("triggers") or []):
            if trigger.get("event_type") == event_type:
                self._decide(None, {**trigger, "_id": f"trigger_{index}"}, source, None)

    # ------------------------------------------------------------------ client events

    def _on_session_update(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        if "session" not in event:
            raise missing("session")
        assert self.resource is not None
        self.resource = apply_update(self.resource, event["session"])
        self.emit("session.updated", session=self.resource, client_event_id=cid)

    def _on_session_close(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        self.close("close_requested", cid)

    def _on_session_input_audio_append(
        self, conn: LiveConnection, event: JSON, cid: str | None
    ) -> None:
        if conn.kind != "websocket":
            where = "a sideband" if conn.kind == "sideband" else "a data channel"
            raise ProtocolError(
                "invalid_event",
                f"'session.input_audio.append' is not accepted on {where}: send microphone "
                "audio only through the primary connection (on WebRTC, the media track).",
                "type",
            )
        data = _base64(event.get("audio"), "audio")
        if self.format["type"] == "audio/pcm" and len(data) % 2:
            raise ProtocolError(
                "invalid_audio", "PCM16 audio must contain an even number of bytes.", "audio"
            )
        pcm = self._decoder.decode(data)
        self.feed_audio(pcm.astype("<i2").tobytes())

    def _on_session_input_audio_mute(
        self, conn: LiveConnection, event: JSON, cid: str | None
    ) -> None:
        self.muted = True
        self.emit("session.input_audio.muted", client_event_id=cid)

    def _on_session_input_audio_unmute(
        self, conn: LiveConnection, event: JSON, cid: str | None
    ) -> None:
        self.muted = False
        self.emit("session.input_audio.unmuted", client_event_id=cid)

    def _on_session_output_audio_fixture_play(
        self, conn: LiveConnection, event: JSON, cid: str | None
    ) -> None:
        if self._fixture_until is not None:
            raise ProtocolError(
                "fixture_active", "An audio fixture is already playing: one at a time.", "audio"
            )
        data = _base64(event.get("audio"), "audio")
        if len(data) % 2:
            raise ProtocolError(
                "invalid_audio", "PCM16 audio must contain an even number of bytes.", "audio"
            )
        pcm = np.frombuffer(data, dtype="<i2")
        if ms_of(pcm.size) > MAX_FIXTURE_MS:
            raise ProtocolError(
                "invalid_audio",
                f"The fixture is {ms_of(pcm.size)} ms long; at most {MAX_FIXTURE_MS} ms.",
                "audio",
            )
        if self._speaking_tag:
            self._cancel(self._speaking_tag)  # model speech is interrupted
        start = self.clock_ms
        self._busy_until = start + ms_of(pcm.size)
        self._fixture_until = self._busy_until
        self.emit("session.output_audio.fixture.playing", client_event_id=cid)
        if self.player is not None:
            self.player.clear()
            self.player.play(pcm)
        step = RATE * CHUNK_MS // 1000
        for offset in range(0, pcm.size, step):
            at = start + ms_of(offset)
            self._schedule(at - AUDIO_LEAD_MS, self._audio_sender(pcm[offset : offset + step], at))

        def played() -> None:
            self._fixture_until = None
            self.emit("session.output_audio.fixture.played", client_event_id=cid)

        self._schedule(self._busy_until, played)

    def _append(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        kind = str(event["type"])
        if "content" not in event:
            raise missing("content")
        expect_type(event["content"], str, "a string", "content")
        if "delegation_id" not in event:
            raise missing("delegation_id")
        delegation_id = event["delegation_id"]
        if delegation_id is not None:
            expect_type(delegation_id, str, "a string", "delegation_id")
            known = self._delegations.get(str(delegation_id))
            if known is None or known.target != "client":
                raise ProtocolError(
                    "invalid_delegation_id",
                    f"'{delegation_id}' is not a client delegation of this session "
                    "(appends with a delegation_id answer client delegations only).",
                    "delegation_id",
                )
        if self._fixture_until is not None:
            raise ProtocolError(
                "fixture_active",
                f"'{kind}' is rejected while an audio fixture is playing.",
                "type",
            )
        content = str(event["content"])
        if kind != "session.instructions.append":
            self._cancel("acknowledgement")
        start = self.clock_ms
        end = start + len(content) // 16  # the injection estimate: ~4 ms of timeline per token
        key = next(self._seq)
        self._pending_appends[key] = (kind, cid)
        self._context_chars += len(content)
        self._last_activity = self.clock_ms

        def acknowledged() -> None:
            if self._pending_appends.pop(key, None) is None:
                return
            self.emit(
                kind[: -len("append")] + "appended", start_ms=start, end_ms=end, client_event_id=cid
            )
            if kind == "session.commentary.append":
                self.speak(content)
            elif kind == "session.instructions.append":
                developer = {"type": "input_text", "text": content}
                self._take_turn([{"type": "message", "role": "developer", "content": [developer]}])

        self._schedule(max(end, start + 1), acknowledged)

    _on_session_instructions_append = _append
    _on_session_thinking_append = _append
    _on_session_commentary_append = _append

    def _on_decision_create(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        if cid is None:
            raise missing("event_id")
        if cid in self._decision_event_ids:
            raise ProtocolError(
                "duplicate_event_id",
                f"'decision.create' event_id '{cid}' was already used in this session.",
                "event_id",
            )
        self._decision_event_ids.add(cid)
        if delegation_type(self.resource or {}) != "decisions":
            raise ProtocolError(
                "invalid_delegation_type",
                "'decision.create' needs a session with 'decisions' delegation.",
                "type",
            )
        self._decide(None, None, None, cid)

    def _on_decision_item_create(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        if "item" not in event:
            raise missing("item")
        item = dict(expect_object(event["item"], "item"))
        if not isinstance(item.get("type"), str) and not isinstance(item.get("role"), str):
            raise missing("item.type")
        item["id"] = self.ids.item()
        self._decision_items[item["id"]] = item
        self.emit("decision.item.created", item=item, client_event_id=cid)

    def _on_decision_item_delete(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        item_id = event.get("item_id")
        if item_id is None:
            raise missing("item_id")
        expect_type(item_id, str, "a string", "item_id")
        if self._decision_items.pop(str(item_id), None) is None:
            raise ProtocolError(
                "item_not_found", f"Decision item '{item_id}' does not exist.", "item_id"
            )
        self.emit("decision.item.deleted", item_id=item_id, client_event_id=cid)

    def _require_responses(self, kind: str) -> None:
        if delegation_type(self.resource or {}) != "responses":
            raise ProtocolError(
                "invalid_delegation_type",
                f"'{kind}' needs a session with 'responses' delegation.",
                "type",
            )

    def _on_response_item_create(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        self._require_responses("response.item.create")
        if "item" not in event:
            raise missing("item")
        item = dict(expect_object(event["item"], "item"))
        if item.get("type") == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise missing("item.call_id")
            if "output" not in item:
                raise missing("item.output")
            owner = next(
                (d for d in self._delegations.values() if call_id in d.pending_calls), None
            )
            if owner is None:
                raise ProtocolError(
                    "invalid_call_id",
                    f"No pending function call with call_id '{call_id}'.",
                    "item.call_id",
                )
            owner.pending_calls.discard(call_id)
            owner.outputs.append(item)
            return
        self._backend_items.append(item)

    def _on_response_create(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        self._require_responses("response.create")
        waiting = [d for d in self._delegations.values() if d.target == "responses"]
        for delegation in waiting:
            if delegation.pending_calls:
                raise ProtocolError(
                    "missing_function_call_output",
                    f"Delegation '{delegation.id}' still waits for "
                    f"{len(delegation.pending_calls)} function_call_output item(s): submit "
                    "every result with 'response.item.create' before 'response.create'.",
                    "type",
                )
        answered = [d for d in waiting if d.outputs]
        if answered:
            delegation = answered[0]
            items, delegation.outputs = delegation.outputs, []
            self._backend_answer(delegation.id, items)
            return
        items, self._backend_items = self._backend_items, []
        self._backend_answer(None, items)

    def _on_transport_dtmf_send(self, conn: LiveConnection, event: JSON, cid: str | None) -> None:
        raise ProtocolError(
            "invalid_transport",
            "'transport.dtmf.send' is only for SIP calls, on a sideband.",
            "type",
        )


class _NestedStream:
    """One backend (Responses) response, streamed as ``response.event`` envelopes."""

    def __init__(self, engine: LiveEngine, delegation_id: str | None, response_id: str) -> None:
        self.engine = engine
        self.delegation_id = delegation_id
        self.response_id = response_id
        self.sequence = 0
        self.index = 0

    def _send(self, event: JSON) -> None:
        event["sequence_number"] = self.sequence
        self.sequence += 1
        self.engine.emit("response.event", delegation_id=self.delegation_id, event=event)

    def _snapshot(self, status: str) -> JSON:
        settings = (self.engine.resource or {}).get("delegation") or {}
        model = (settings.get("responses") or {}).get("model", "gpt-5")
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": [],
            "tools": [],
            "instructions": None,
        }

    def created(self) -> None:
        self._send({"type": "response.created", "response": self._snapshot("in_progress")})

    def completed(self) -> None:
        response = self._snapshot("completed")
        response["usage"] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        self._send({"type": "response.completed", "response": response})

    def function_call(self, index: int, name: str, arguments: str, call_id: str) -> None:
        item_id = self.engine.ids.make("fc")
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": call_id,
            "arguments": "",
        }
        at = self.index
        self.index += 1
        self._send({"type": "response.output_item.added", "output_index": at, "item": item})
        self._send(
            {
                "type": "response.function_call_arguments.delta",
                "item_id": item_id,
                "output_index": at,
                "delta": arguments,
            }
        )
        self._send(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": at,
                "name": name,
                "arguments": arguments,
            }
        )
        done = {**item, "status": "completed", "arguments": arguments}
        self._send({"type": "response.output_item.done", "output_index": at, "item": done})

    def message(self, text: str) -> None:
        item_id = self.engine.ids.make("msg")
        at = self.index
        self.index += 1
        item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress"}
        self._send(
            {
                "type": "response.output_item.added",
                "output_index": at,
                "item": {**item, "content": []},
            }
        )
        where = {"item_id": item_id, "output_index": at, "content_index": 0}
        part: JSON = {"type": "output_text", "text": "", "annotations": []}
        self._send({"type": "response.content_part.added", **where, "part": part})
        self._send({"type": "response.output_text.delta", **where, "delta": text})
        self._send({"type": "response.output_text.done", **where, "text": text})
        part = {**part, "text": text}
        self._send({"type": "response.content_part.done", **where, "part": part})
        done = {**item, "status": "completed", "content": [part]}
        self._send({"type": "response.output_item.done", "output_index": at, "item": done})


def _answer(question: JSON) -> JSON:
    """A deterministic answer to a Decision question (its first option, fully confident)."""
    name = question.get("name")
    answer: JSON
    if question["type"] == "predicate":
        answer = {"type": "predicate", "probability": 1.0}
    elif question["type"] == "choice":
        values = [c.get("value") for c in question["choices"]]
        answer = {
            "type": "choice",
            "choice": values[0],
            "confidence": 1.0,
            "probabilities": [
                {"value": v, "probability": 1.0 if i == 0 else 0.0} for i, v in enumerate(values)
            ],
        }
    else:
        labels = [str(level.get("label")) for level in question["levels"]]
        answer = {
            "type": "score",
            "score": 0,
            "confidence": 1.0,
            "probabilities": [
                {"label": label, "value": i, "probability": 1.0 if i == 0 else 0.0}
                for i, label in enumerate(labels)
            ],
        }
    if name is not None:
        answer["name"] = name
    return answer


def _base64(value: object, param: str) -> bytes:
    if value is None:
        raise missing(param)
    expect_type(value, str, "a string", param)
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(
            "invalid_audio", f"Invalid '{param}': not valid base64 ({exc}).", param
        ) from exc
