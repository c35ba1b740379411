"""The session model: the charts composed, fed by wire events and the shell's reports.

:class:`SessionModel` is pure: it does no I/O, starts no task and reads no clock. The shell
calls :meth:`SessionModel.receive` for each server event (with the time it arrived),
:meth:`SessionModel.signal` for the outcome of each effect, and the command methods
(:meth:`request_response`, :meth:`cancel_response`, :meth:`submit_tool_output`, ...) for what the
user asks. It then executes the effects from :meth:`take_effects` and dispatches the
convenience events (:mod:`realtime_machines.notices`) that ``receive`` returns.

Lifecycle events go to the charts; high-rate deltas do not (a chart ``send()`` costs ~100 µs):
they are recorded as conversation facts and folded into the chat in O(1).
Memory stays flat in a long-lived session: the record is bounded (``record_limit``: when it
would exceed the limit it is compacted into one ``snapshot`` fact of the chat projection,
followed by the steps after it, so ``project(record) == chat`` still holds), and settled
responses, their tool-call charts and the id maps are pruned beyond ``settled_limit``. The
chat itself grows with the conversation: it is the application's data.

Nothing that arrives from the wire can raise out of the model: malformed events are reported
(``error`` notice, a ``wire/malformed`` record) and kept; unknown types are counted and logged
once per type; a fault inside the model is logged, recorded and reported, and the session goes on.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from . import wire
from ._connecting import ConnectionDriver, handshake_class
from ._recording import (
    DEFAULT_RECORD_LIMIT,
    DEFAULT_SETTLED_LIMIT,
    MAX_UNKNOWN_TYPES,
    OTHER_UNKNOWN,
    ModelRecord,
)
from .charts.connection import ConnectionChart, ConnectionTimeouts
from .charts.handshake import HandshakeChart
from .charts.mode import SWITCH_TIMER, ModeChart, text_session_patch, voice_session_patch
from .charts.playback import SETTLE_TIMER, PlaybackChart
from .charts.response import BUSY_TIMER, CANCEL_TIMER, CREATE_TIMER, ResponseChart
from .charts.response import TAG as CREATE_TAG
from .charts.tool_call import ToolCallChart
from .chat import ChatItem, ChatOptions, ChatProjection
from .effects import SendEvent, StopPlayback
from .notices import (
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    AssistantResponseStarted,
    ErrorNotice,
    Notice,
    ToolCallDelta,
    ToolCallDone,
    UserCompleted,
    UserDelta,
    UserFailed,
    UserItemStarted,
    UserTruncated,
)
from .record import Transition

__all__ = [
    "DEFAULT_RECORD_LIMIT",
    "DEFAULT_SETTLED_LIMIT",
    "MAX_UNKNOWN_TYPES",
    "OTHER_UNKNOWN",
    "SessionModel",
]

logger = logging.getLogger("realtime_machines")

TERMINAL = frozenset({"completed", "cancelled", "failed", "incomplete"})


def _content_text(item: Mapping[str, Any]) -> str | None:
    """The text of a message item's content, or ``None`` when it has none yet."""
    content = item.get("content")
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        value = part.get("text") if kind in ("input_text", "output_text", "text") else None
        if value is None and kind in ("input_audio", "output_audio", "audio"):
            value = part.get("transcript")
        if isinstance(value, str):
            texts.append(value)
    return "".join(texts) if texts else None


class SessionModel(ConnectionDriver, ModelRecord):
    """All charts of one Realtime session, the chat they project, and the record they write."""

    _chat: ChatProjection

    def __init__(
        self,
        *,
        chat_options: ChatOptions | None = None,
        transport: Literal["webrtc", "websocket"] = "webrtc",
        auto_execute_tools: bool = False,
        tool_timeout: float = 30.0,
        tool_timeouts: Mapping[str, float] | None = None,
        connection_timeouts: ConnectionTimeouts | None = None,
        handshake_kind: str = "transport",
        handshake_steps: Sequence[tuple[str, str]] = (),
        handshake_timeouts: Mapping[str, float] | None = None,
        allow_connect_without_microphone: bool = True,
        reconnect_attempts: int = 0,
        reconnect_delay: float = 1.0,
        reconnect_backoff: float = 2.0,
        reconnect_delay_max: float = 15.0,
        response_create_timeout: float = 15.0,
        mode_switch_timeout: float = 5.0,
        keep_record: bool = True,
        record_limit: int | None = DEFAULT_RECORD_LIMIT,
        settled_limit: int | None = DEFAULT_SETTLED_LIMIT,
        reference_engine: bool = False,
        time: float = 0.0,
    ) -> None:
        self.transport = transport
        self.auto_execute_tools = auto_execute_tools
        self.tool_timeout = tool_timeout
        #: Per tool name, overriding ``tool_timeout``.
        self.tool_timeouts: dict[str, float] = dict(tool_timeouts or {})
        self._init_record(
            keep_record=keep_record,
            record_limit=record_limit,
            settled_limit=settled_limit,
            time=time,
        )
        self.responses: dict[str, str] = {}
        self.tool_calls: dict[str, ToolCallChart] = {}
        self.session_config: Mapping[str, Any] | None = None
        self._ui_ids = itertools.count(1)
        self._chat = ChatProjection(chat_options)
        self._item_response: dict[str, str] = {}
        self._response_calls: dict[str, list[str]] = {}
        self._followed_up: set[str] = set()
        self._settled: deque[str] = deque()  # finished responses, oldest first
        self._awaiting_audio: dict[str, str] = {}
        self._audio_response: str | None = None
        self._server_echoes_tags = False
        self._handlers = self._build_handlers()
        self.connection = ConnectionChart(
            self,
            timeouts=connection_timeouts,
            allow_without_microphone=allow_connect_without_microphone,
            reconnect_attempts=reconnect_attempts,
            reconnect_delay=reconnect_delay,
            reconnect_backoff=reconnect_backoff,
            reconnect_delay_max=reconnect_delay_max,
        )
        #: The chart class of the transport's handshake (one instance per call: :attr:`handshake`).
        self.handshake_class = handshake_class(handshake_kind, tuple(handshake_steps))
        self.handshake_timeouts: dict[str, float] = dict(handshake_timeouts or {})
        #: The handshake chart of the current (or last) call; ``None`` before the first one.
        self.handshake: HandshakeChart | None = None
        self.response = ResponseChart(
            self, new_event_id=self._new_event_id, create_timeout=response_create_timeout
        )
        self.playback = PlaybackChart(self)
        self.mode = ModeChart(self, new_event_id=self._new_event_id, timeout=mode_switch_timeout)
        #: Run every chart on python-statemachine's own engine (the reference, ~20× slower).
        self.reference_engine = reference_engine
        for chart in (self.connection, self.response, self.playback, self.mode):
            chart.reference_engine = chart.reference_engine or reference_engine

    def __repr__(self) -> str:
        return (
            f"<SessionModel connection={self.connection.state!r} "
            f"response={self.response.state!r} playback={self.playback.state!r} "
            f"mode={self.mode.state!r} chat={len(self._chat.items)} items>"
        )

    # ---------------------------------------------------------------------------------------
    # Conversation facts (the chart host, the record and observers: ModelRecord)
    # ---------------------------------------------------------------------------------------
    def _fact(self, event: str, data: dict[str, Any], chart: str = "conversation") -> None:
        step = Transition(next(self._seq), self._now, chart, event, None, None, data)
        self._chat.fold(step)
        self._keep(step)

    @property
    def chat(self) -> list[ChatItem]:
        """The chat as it stands (conversation rows and UI messages, ordered by ``ts``)."""
        return self._chat.items

    @property
    def chat_options(self) -> ChatOptions:
        return self._chat.options

    def states(self) -> dict[str, str]:
        """The current state of every chart, by chart name."""
        states = {
            "connection": self.connection.state,
            "response": self.response.state,
            "playback": self.playback.state,
            "mode": self.mode.state,
        }
        for chart in self.tool_calls.values():
            states[chart.name] = chart.state
        return states

    def summary(self) -> dict[str, Any]:
        """Chat, tool calls, responses, chart states and counters, as plain JSON values."""
        return {
            "chat": [item.to_json() for item in self.chat],
            "tool_calls": [chart.summary() for chart in self.tool_calls.values()],
            "responses": [{"id": rid, "status": status} for rid, status in self.responses.items()],
            "states": self.states(),
            "unknown_events": sum(self.unknown_events.values()),
            "malformed_events": self.malformed_events,
        }

    # ---------------------------------------------------------------------------------------
    # Wire events in
    # ---------------------------------------------------------------------------------------
    def receive(self, raw: object, *, time: float | None = None) -> list[Notice]:
        """Process one server event (a parsed JSON object); return its convenience events
        (with any that commands and reports produced since the last :meth:`take_notices`)."""
        if time is not None and time > self._now:
            self._now = time
        event = wire.normalize(raw)
        if isinstance(event, wire.ServerEvent):
            handler = self._handlers.get(event.type)
            if handler is not None:
                try:
                    handler(event)
                except Exception as exc:  # a fault in the model must not end the session
                    self._fault(event.type, exc)
        elif isinstance(event, wire.UnknownEvent):
            self._unknown(event)
        else:
            self._malformed(event)
        return self.take_notices()

    def _build_handlers(self) -> dict[str, Callable[[Any], None]]:
        return {
            "session.created": self._on_session,
            "session.updated": self._on_session,
            "conversation.item.added": self._on_item_added,
            "conversation.item.created": self._on_item_created,
            "conversation.item.done": self._on_item_done,
            "conversation.item.truncated": self._on_item_truncated,
            "conversation.item.deleted": self._on_item_deleted,
            "conversation.item.input_audio_transcription.delta": self._on_user_delta,
            "conversation.item.input_audio_transcription.completed": self._on_user_completed,
            "conversation.item.input_audio_transcription.failed": self._on_user_failed,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "response.output_audio.delta": self._on_audio_delta,
            "error": self._on_error,
            "response.created": self._on_response_created,
            "response.done": self._on_response_done,
            "response.output_item.added": self._on_output_item_added,
            "response.output_item.done": self._on_output_item_done,
            "response.output_text.delta": self._on_text_delta,
            "response.output_text.done": self._on_text_done,
            "response.output_audio_transcript.delta": self._on_transcript_delta,
            "response.output_audio_transcript.done": self._on_transcript_done,
            "response.function_call_arguments.delta": self._on_arguments_delta,
            "response.function_call_arguments.done": self._on_arguments_done,
            "output_audio_buffer.started": self._on_audio_started,
            "output_audio_buffer.stopped": self._on_audio_stopped,
            "output_audio_buffer.cleared": self._on_audio_cleared,
        }

    # -- session ----------------------------------------------------------------------------
    def _on_session(self, event: Any) -> None:
        session = event.session
        self.session_config = session
        mode = self.mode
        if event.type == "session.updated" and mode.is_switching:
            mode.offer("updated")
            return
        modalities = session.get("output_modalities")
        if not isinstance(modalities, list):
            return
        if "audio" in modalities and mode.state == "text":
            mode.offer("server_chose_voice")
        elif modalities == ["text"] and mode.state == "voice":
            mode.offer("server_chose_text")

    # -- conversation items -----------------------------------------------------------------
    def _item_fact(self, event_name: str, item: Mapping[str, Any], extra: dict[str, Any]) -> None:
        item_id = item.get("id")
        if not isinstance(item_id, str):
            return
        data = {
            "item_id": item_id,
            "role": item.get("role"),
            "item_type": item.get("type"),
            "text": _content_text(item),
            **extra,
        }
        phase = item.get("phase")
        if isinstance(phase, str):
            data["phase"] = phase
        self._fact(event_name, data)

    def _on_item_added(self, event: Any) -> None:
        item = event.item
        item_id = item.get("id")
        response_id = self._item_response.get(item_id) if isinstance(item_id, str) else None
        self._item_fact(
            "item_added",
            item,
            {"previous_item_id": event.previous_item_id, "response_id": response_id},
        )
        if not isinstance(item_id, str):
            return
        item_type = item.get("type")
        if item_type == "message":
            role = item.get("role")
            if role == "user":
                self._notices.append(UserItemStarted(item_id))
                text = _content_text(item)
                if text is not None and _has_input_text(item):
                    self._notices.append(UserCompleted(item_id, text))
            elif role == "assistant":
                phase = self._chat.phase(item_id)
                self._notices.append(AssistantItemStarted(item_id, response_id, phase))
        elif item_type == "function_call":
            self._tool_chart_for(item, response_id)

    def _on_item_created(self, event: Any) -> None:
        # Legacy single event: "added" and, when the item is already complete, "done".
        self._on_item_added(event)
        if event.item.get("status") == "completed":
            self._on_item_done(event)

    def _on_item_done(self, event: Any) -> None:
        item = event.item
        self._item_fact(
            "item_done",
            item,
            {"status": item.get("status"), "previous_item_id": event.previous_item_id},
        )
        if item.get("type") == "function_call":
            item_id = item.get("id")
            response_id = self._item_response.get(item_id) if isinstance(item_id, str) else None
            chart = self._tool_chart_for(item, response_id)
            arguments = item.get("arguments")
            if chart is not None and isinstance(arguments, str) and chart.state == "streaming":
                self._arguments_complete(chart, arguments)

    def _on_item_truncated(self, event: Any) -> None:
        self._fact("item_truncated", {"item_id": event.item_id, "audio_end_ms": event.audio_end_ms})
        phase = self._chat.phase(event.item_id)
        self._notices.append(UserTruncated(event.item_id, event.audio_end_ms, phase))

    def _on_item_deleted(self, event: Any) -> None:
        self._fact("item_deleted", {"item_id": event.item_id})

    def _on_user_delta(self, event: Any) -> None:
        delta = event.delta
        if not delta:
            return
        self._fact(
            "delta", {"item_id": event.item_id, "channel": "input_transcript", "delta": delta}
        )
        self._notices.append(UserDelta(event.item_id, delta))

    def _on_user_completed(self, event: Any) -> None:
        self._fact(
            "transcription_completed", {"item_id": event.item_id, "transcript": event.transcript}
        )
        self._notices.append(UserCompleted(event.item_id, event.transcript))

    def _on_user_failed(self, event: Any) -> None:
        error = dict(event.error)
        self._fact("transcription_failed", {"item_id": event.item_id, "error": error})
        self._notices.append(UserFailed(event.item_id, error))

    def _on_speech_started(self, event: Any) -> None:
        self._fact("speech_started", {"item_id": event.item_id})
        if self.playback.state == "playing":
            self.playback.offer("barge_in")
        elif self.transport != "webrtc":
            self.emit(StopPlayback())  # audio the local player holds, unheard, must stay so

    def _on_speech_stopped(self, event: Any) -> None:
        self._fact("speech_stopped", {"item_id": event.item_id})

    def _on_audio_delta(self, event: Any) -> None:
        # Only the first audio of a response is a fact (when it was heard of); the audio
        # itself is the shell's (a player on WebSocket and in memory).
        response_id = event.response_id
        if response_id != self._audio_response and self.responses.get(response_id) not in TERMINAL:
            self._audio_response = response_id
            self._fact("audio_started", {"response_id": response_id, "item_id": event.item_id})

    # -- errors -----------------------------------------------------------------------------
    def _on_error(self, event: Any) -> None:
        error = dict(event.raw.get("error") or {})
        self._notices.append(ErrorNotice("server", error))
        client_event_id = event.client_event_id
        if client_event_id is None:
            return
        if client_event_id == self.response.pending_event_id:
            if self.response.state == "cancelling":
                # The create we were asked to cancel was refused: there is nothing to cancel.
                self.response.offer("cancel_timed_out")
            elif event.code == "conversation_already_has_active_response":
                self.response.offer("busy")
            else:
                self.response.offer("create_rejected", code=event.code, message=event.message)
        elif client_event_id == self.mode.pending_event_id:
            self.mode.offer("rejected", error=event.message or event.code or "")

    # -- responses --------------------------------------------------------------------------
    def _on_response_created(self, event: Any) -> None:
        response_id = event.response_id
        if not isinstance(response_id, str) or response_id in self.responses:
            return
        self.responses[response_id] = "in_progress"
        self._fact("response_started", {"response_id": response_id})
        self._notices.append(AssistantResponseStarted(response_id))
        self.response.offer("created", response_id=response_id, ours=self._is_ours(event))

    def _is_ours(self, event: Any) -> bool:
        """Whether a response answers our pending create (see ``ResponseChart``'s tagging)."""
        metadata = event.response.get("metadata")
        tag = metadata.get(CREATE_TAG) if isinstance(metadata, Mapping) else None
        if tag is not None:
            self._server_echoes_tags = True
            return bool(tag == self.response.pending_event_id)
        # A server that never echoed our tags gives no way to tell: take the response as ours.
        return not self._server_echoes_tags

    def _response_over(self, response_id: str) -> bool:
        return self.responses.get(response_id) in TERMINAL

    def _on_response_done(self, event: Any) -> None:
        response_id = event.response_id
        if not isinstance(response_id, str):
            return
        if self.responses.get(response_id) in TERMINAL:
            logger.debug("duplicate response.done for %s ignored", response_id)
            return
        status = event.status if event.status in TERMINAL else "failed"
        self.responses[response_id] = status
        finished: dict[str, Any] = {"response_id": response_id, "status": status}
        usage = event.response.get("usage")
        if isinstance(usage, Mapping):
            finished["usage"] = dict(usage)
        self._fact("response_finished", finished)
        for call_id in self._response_calls.get(response_id, ()):
            chart = self.tool_calls.get(call_id)
            if chart is not None and chart.state == "streaming":
                chart.offer("abandon")
        lane = self.response
        if lane.response_id in (None, response_id):
            lane.offer("finished", status=status)
        if self.playback.state != "silent" and (
            self.playback.response_id in (None, response_id) or _spoken(event.response)
        ):
            # Its audio is in the output buffer, behind what is playing (one buffer per call).
            self._awaiting_audio[response_id] = status
        else:
            self._complete(response_id, status, cut=False)
        self._maybe_follow_up(response_id)
        self._settled.append(response_id)
        self._prune()

    def _prune(self) -> None:
        """Forget the oldest settled responses beyond ``settled_limit``, with their calls."""
        limit = self.settled_limit
        if limit is None:
            return
        settled, calls, charts = self._settled, self._response_calls, self.tool_calls
        for _ in range(len(settled) - limit):
            response_id = settled.popleft()
            own = calls.get(response_id, ())
            if any(c in charts and not charts[c].is_settled for c in own):
                settled.append(response_id)  # a call still waits for its output: later
                continue
            self.responses.pop(response_id, None)
            self._followed_up.discard(response_id)
            for call_id in calls.pop(response_id, ()):
                charts.pop(call_id, None)
        cap = 4 * limit + 64
        items = self._item_response
        while len(items) > cap:
            del items[next(iter(items))]
        if len(charts) > cap:  # calls no known response owns (ids never seen, or pruned)
            for call_id in [c for c, chart in charts.items() if chart.is_settled]:
                chart = charts[call_id]
                if chart.response_id is None or chart.response_id not in self.responses:
                    del charts[call_id]
                    if len(charts) <= limit:
                        break

    def _complete(self, response_id: str, status: str, *, cut: bool) -> None:
        canceled = cut or status in ("cancelled", "failed")
        self._notices.append(
            AssistantCompleted(response_id, "canceled" if canceled else "done", status)
        )

    def _on_output_item_added(self, event: Any) -> None:
        item = event.item
        item_id = item.get("id")
        if isinstance(item_id, str):
            self._item_response[item_id] = event.response_id
            phase = event.phase
            if phase is not None and item.get("type") == "message":
                # Before conversation.item.added: the row takes its phase when it appears.
                fact = {"item_id": item_id, "response_id": event.response_id, "phase": phase}
                self._fact("item_phase", fact)
        if item.get("type") == "function_call":
            self._tool_chart_for(item, event.response_id)

    def _on_output_item_done(self, event: Any) -> None:
        item = event.item
        item_id = item.get("id")
        if isinstance(item_id, str):
            self._item_response.setdefault(item_id, event.response_id)
        if item.get("type") == "message":
            self._item_fact("item_done", item, {"status": item.get("status")})
        elif item.get("type") == "function_call":
            chart = self._tool_chart_for(item, event.response_id)
            arguments = item.get("arguments")
            if chart is not None and isinstance(arguments, str) and chart.state == "streaming":
                self._arguments_complete(chart, arguments)

    def _assistant_delta(
        self, event: Any, channel: Literal["output_text", "audio_transcript"]
    ) -> None:
        delta = event.delta
        self._fact(
            "delta",
            {
                "item_id": event.item_id,
                "response_id": event.response_id,
                "channel": channel,
                "delta": delta,
            },
        )
        phase = self._chat.phase(event.item_id)
        self._notices.append(
            AssistantDelta(event.response_id, delta, channel, event.item_id, phase)
        )

    def _on_text_delta(self, event: Any) -> None:
        self._assistant_delta(event, "output_text")

    def _on_transcript_delta(self, event: Any) -> None:
        self._assistant_delta(event, "audio_transcript")

    def _on_text_done(self, event: Any) -> None:
        self._fact(
            "text_done",
            {
                "item_id": event.item_id,
                "response_id": event.response_id,
                "channel": "output_text",
                "text": event.text,
            },
        )

    def _on_transcript_done(self, event: Any) -> None:
        self._fact(
            "text_done",
            {
                "item_id": event.item_id,
                "response_id": event.response_id,
                "channel": "audio_transcript",
                "text": event.transcript,
            },
        )

    # -- audio output ------------------------------------------------------------------------
    def _on_audio_started(self, event: Any) -> None:
        self._audio_output("started", event.response_id)

    def _on_audio_stopped(self, event: Any) -> None:
        self._audio_output("stopped", event.response_id)

    def _on_audio_cleared(self, event: Any) -> None:
        self._audio_output("cleared", event.response_id)

    def local_playback(
        self,
        event: Literal["started", "stopped", "cleared"],
        response_id: str | None,
        *,
        time: float | None = None,
    ) -> list[Notice]:
        """What the shell's own player heard, on transports where the client plays the audio
        (WebSocket, in-memory): the facts ``output_audio_buffer.started`` / ``stopped`` /
        ``cleared`` carry on WebRTC, fed to the Playback chart the same way (``started``: the
        response became audible; ``stopped``: all of it was played; ``cleared``: it was cut).
        Returns the convenience events it produced (``assistant:completed``...)."""
        if event not in ("started", "stopped", "cleared"):
            raise ValueError(
                f"local_playback takes 'started', 'stopped' or 'cleared', not {event!r}"
            )
        self._advance(time)
        self._audio_output(event, response_id)
        return self.take_notices()

    def _audio_output(self, event: str, response_id: str | None) -> None:
        self.playback.offer(event, response_id=response_id)
        if event != "started":
            self._flush_audio(response_id, cut=event == "cleared")

    def _flush_audio(self, response_id: str | None, *, cut: bool) -> None:
        """The one output buffer is empty: every response waiting on it has been heard.

        Responses queue their audio in the order they finish. ``stopped`` means all of it
        played; ``cleared`` cut the response it names and whatever was queued after it, while
        the ones queued before it had played out (they were ahead of it in the buffer). A
        ``cleared`` naming a response that is not waiting (one still generating, whose audio
        follows theirs) leaves the waiting ones played out.
        """
        waiting = self._awaiting_audio
        if not waiting:
            return
        cut_from = len(waiting)
        if cut and response_id in waiting:
            cut_from = list(waiting).index(response_id)
        for position, rid in enumerate(list(waiting)):
            self._complete(rid, waiting.pop(rid), cut=position >= cut_from)

    # -- tools ------------------------------------------------------------------------------
    def _tool_chart_for(
        self, item: Mapping[str, Any], response_id: str | None
    ) -> ToolCallChart | None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            return None
        chart = self.tool_calls.get(call_id)
        if chart is None:
            name = item.get("name")
            item_id = item.get("id")
            chart = self._new_tool_chart(
                call_id,
                name if isinstance(name, str) else "",
                item_id if isinstance(item_id, str) else None,
                response_id,
            )
        return chart

    def _new_tool_chart(
        self, call_id: str, name: str, item_id: str | None, response_id: str | None
    ) -> ToolCallChart:
        chart = ToolCallChart(
            self,
            call_id=call_id,
            name=name,
            item_id=item_id,
            response_id=response_id,
            new_event_id=self._new_event_id,
            timeout=self.tool_timeout,
        )
        chart.reference_engine = chart.reference_engine or self.reference_engine
        self.tool_calls[call_id] = chart
        if response_id is not None:
            self._response_calls.setdefault(response_id, []).append(call_id)
        self._fact(
            "call_started",
            {"call_id": call_id, "name": name, "item_id": item_id, "response_id": response_id},
            chart="tools",
        )
        if response_id is not None and self._response_over(response_id):
            # A late event of a response that is over: its arguments will never be done.
            chart.offer("abandon")
        return chart

    def _on_arguments_delta(self, event: Any) -> None:
        chart = self.tool_calls.get(event.call_id)
        if chart is None:
            chart = self._new_tool_chart(event.call_id, "", event.item_id, event.response_id)
        if chart.state != "streaming":
            return
        chart.parts.append(event.delta)
        self._notices.append(ToolCallDelta(event.call_id, chart.tool_name, event.delta))

    def _on_arguments_done(self, event: Any) -> None:
        chart = self.tool_calls.get(event.call_id)
        if chart is None:
            chart = self._new_tool_chart(
                event.call_id, event.name or "", event.item_id, event.response_id
            )
        if event.name and not chart.tool_name:
            chart.tool_name = event.name
        if chart.state == "streaming":
            self._arguments_complete(chart, event.arguments)

    def _arguments_complete(self, chart: ToolCallChart, arguments: str) -> None:
        chart.offer("arguments_done", arguments=arguments)
        self._notices.append(
            ToolCallDone(chart.call_id, chart.tool_name, chart.arguments, chart.error)
        )
        if not self.auto_execute_tools:
            return
        if chart.state == "ready":
            chart.timeout = self.tool_timeouts.get(chart.tool_name, self.tool_timeout)
            chart.offer("execute")
        elif chart.state == "invalid":
            chart.offer("submit", output=_error_output(chart.error), follow_up=True)
            self._maybe_follow_up(chart.response_id)

    def _maybe_follow_up(self, response_id: str | None) -> None:
        """One ``response.create`` once every call of a finished response is answered."""
        if response_id is None or response_id in self._followed_up:
            return
        if self.responses.get(response_id) not in TERMINAL:
            return
        calls = [
            self.tool_calls[c]
            for c in self._response_calls.get(response_id, ())
            if c in self.tool_calls
        ]
        if not calls or not all(c.is_settled for c in calls):
            return
        if not any(c.state == "answered" and c.follow_up for c in calls):
            return
        self._followed_up.add(response_id)
        self.request_response()

    # ---------------------------------------------------------------------------------------
    # Commands from the user (through the shell)
    # ---------------------------------------------------------------------------------------
    def send(self, event: Mapping[str, Any], *, time: float | None = None) -> None:
        """Send a client event, routing the ones the charts own through them."""
        if time is not None and time > self._now:
            self._now = time
        kind = event.get("type")
        if kind in _INPUT_EVENTS:
            self._input_sent(event)
        if kind == "response.create":
            params = event.get("response")
            self.request_response(params if isinstance(params, Mapping) else None)
        elif kind == "response.cancel":
            self.cancel_response()
        elif kind == "conversation.item.create" and self._route_tool_output(event):
            return
        else:
            self.emit(SendEvent(dict(event)))

    def _input_sent(self, event: Mapping[str, Any]) -> None:
        """The user's input went out: a user message, or the audio buffer committed (the end
        of a push-to-talk turn). A fact, so a turn's start is in the record."""
        if event.get("type") == "input_audio_buffer.commit":
            self._fact("input_sent", {"kind": "audio"})
            return
        item = event.get("item")
        if (
            isinstance(item, Mapping)
            and item.get("type") == "message"
            and item.get("role") == "user"
        ):
            item_id = item.get("id")
            self._fact(
                "input_sent",
                {"kind": "message", "item_id": item_id if isinstance(item_id, str) else None},
            )

    def _route_tool_output(self, event: Mapping[str, Any]) -> bool:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "function_call_output":
            return False
        chart = self.tool_calls.get(str(item.get("call_id")))
        if chart is None or chart.is_settled:
            return False
        output = item.get("output")
        chart.offer("submit", output=output if isinstance(output, str) else "", follow_up=False)
        return True

    def request_response(self, params: Mapping[str, Any] | None = None) -> None:
        """Ask for a response; queued while one is active. ``conversation: "none"`` bypasses."""
        if params is not None and params.get("conversation") == "none":
            event = {
                "type": "response.create",
                "event_id": self._new_event_id(),
                "response": dict(params),
            }
            self.emit(SendEvent(event))
            return
        self.response.send("request", params=dict(params) if params else None)

    def cancel_response(self) -> None:
        """Cancel the active response and cut audible output (and, where the client plays the
        audio, what its player holds unheard); sends nothing when idle."""
        self.response.queue.clear()
        self.response.send("cancel")
        if self.playback.state != "silent":  # audible: cut it (the client's own player too)
            if self.transport == "webrtc":
                self.emit(
                    SendEvent(
                        {"type": "output_audio_buffer.clear", "event_id": self._new_event_id()}
                    )
                )
            self.emit(StopPlayback())
        elif self.transport != "webrtc":
            self.emit(StopPlayback())  # audio the local player holds, unheard, must stay so

    def submit_tool_output(
        self, call_id: str, output: str, *, follow_up: bool = True, time: float | None = None
    ) -> bool:
        """Send a tool's output; with ``follow_up`` one ``response.create`` follows once all
        calls of that response are answered. Returns False if the call is unknown or settled."""
        self._advance(time)
        chart = self.tool_calls.get(call_id)
        if chart is None or chart.is_settled:
            return False
        chart.offer("submit", output=output, follow_up=follow_up)
        self._maybe_follow_up(chart.response_id)
        return True

    def tool_deferred(self, call_id: str, *, time: float | None = None) -> bool:
        """The user's handler returned nothing: the app will answer with submit_tool_output."""
        self._advance(time)
        chart = self.tool_calls.get(call_id)
        return chart is not None and chart.offer("deferred")

    def tool_failed(self, call_id: str, error: str, *, time: float | None = None) -> bool:
        """The user's handler raised: report it to the model as an error output."""
        self._advance(time)
        chart = self.tool_calls.get(call_id)
        if chart is None or not chart.offer("execution_failed", error=error):
            return False
        self._maybe_follow_up(chart.response_id)
        return True

    def set_mode(
        self, mode: Literal["voice", "text"], session: Mapping[str, Any] | None = None
    ) -> bool:
        """Switch text ⇄ voice; done when ``session.updated`` arrives. False if not possible now."""
        if mode == "voice":
            return self.mode.offer("to_voice", session=session or voice_session_patch())
        return self.mode.offer("to_text", session=session or text_session_patch())

    def add_message(self, message: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[str]:
        """Add local UI messages to the chat (nothing is sent); return their ids."""
        messages = [message] if isinstance(message, Mapping) else list(message)
        ids: list[str] = []
        for msg in messages:
            if not isinstance(msg, Mapping):
                raise TypeError(f"a chat message must be a mapping, got {type(msg).__name__}")
            entry = dict(msg)
            entry["id"] = str(entry.get("id") or f"ui-{next(self._ui_ids)}")
            self._fact("ui_added", {"message": entry}, chart="chat")
            ids.append(entry["id"])
        return ids

    def clear_added(self) -> None:
        """Remove the UI messages added with :meth:`add_message`."""
        self._fact("ui_cleared", {}, chart="chat")

    def clear_chat_history(self) -> None:
        """Remove the conversation rows (UI messages stay)."""
        self._fact("history_cleared", {}, chart="chat")

    def next_ts(self) -> float:
        return self._chat.next_ts()

    # ---------------------------------------------------------------------------------------
    # Reports from the shell
    # ---------------------------------------------------------------------------------------
    def timer_fired(self, name: str, *, time: float | None = None) -> bool:
        """A timer started by a ``StartTimer`` effect ran out."""
        self._advance(time)
        handled = self._connection_timer(name)
        if handled is not None:
            return handled
        if name == CREATE_TIMER:
            return self.response.offer("create_timed_out")
        if name == CANCEL_TIMER:
            return self.response.offer("cancel_timed_out")
        if name == BUSY_TIMER:
            return self._busy_timed_out()
        if name == SETTLE_TIMER:
            return self.playback.offer("settle_timed_out")
        if name == SWITCH_TIMER:
            return self.mode.offer("timed_out")
        if name.startswith("tool_call:"):
            chart = self.tool_calls.get(name.partition(":")[2])
            if chart is not None and chart.offer("execution_timed_out"):
                self._maybe_follow_up(chart.response_id)
                return True
        return False

    def _busy_timed_out(self) -> bool:
        lane = self.response
        dropped = lane.dropped_creates
        if not lane.offer("busy_timed_out"):
            return False
        if lane.dropped_creates != dropped:
            message = (
                "response.create given up: the server kept answering "
                "conversation_already_has_active_response and no response appeared"
            )
            logger.warning(message)
            self._notices.append(
                ErrorNotice("client", {"type": "response_create_failed", "message": message})
            )
        return True

    def _reset_conversation_charts(self) -> None:
        """The call is gone: nothing in flight on it will finish by itself."""
        self.response.offer("reset")
        self.playback.offer("reset")
        for chart in self.tool_calls.values():
            if not chart.is_settled:
                chart.offer("abandon")
        for response_id, status in list(self.responses.items()):
            if status == "in_progress":  # it will never get its response.done
                self.responses[response_id] = "failed"
                self._fact(
                    "response_finished",
                    {"response_id": response_id, "status": "failed", "reason": "connection lost"},
                )
                self._complete(response_id, "failed", cut=True)
                self._settled.append(response_id)
        for response_id in list(self._awaiting_audio):
            self._complete(response_id, self._awaiting_audio.pop(response_id), cut=True)
        self._prune()

    # ---------------------------------------------------------------------------------------
    # Replay
    # ---------------------------------------------------------------------------------------
    def replay(self, lines: Iterable[Mapping[str, Any]], *, time: float | None = None) -> None:
        """Feed recorded ``{"direction", "data"}`` lines (or bare server events) in order."""
        for line in lines:
            direction = line.get("direction") if "data" in line else "received"
            data = line.get("data", line)
            if direction == "sent" and isinstance(data, Mapping):
                self.send(data, time=time)
            else:
                self.receive(data, time=time)


_INPUT_EVENTS = frozenset({"conversation.item.create", "input_audio_buffer.commit"})


def _spoken(response: Mapping[str, Any]) -> bool:
    modalities = response.get("output_modalities")
    return isinstance(modalities, list) and "audio" in modalities


def _has_input_text(item: Mapping[str, Any]) -> bool:
    content = item.get("content")
    return isinstance(content, list) and any(
        isinstance(p, Mapping) and p.get("type") == "input_text" for p in content
    )


def _error_output(error: str | None) -> str:
    return json.dumps({"error": error or "invalid arguments"})
