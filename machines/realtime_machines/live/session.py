"""The GPT-Live session model: the Live charts composed, fed by Live wire events.

:class:`LiveSessionModel` is the Live counterpart of
:class:`~realtime_machines.session.SessionModel` and follows its contract: pure (no I/O, no
task, no clock: time is passed in), :meth:`receive` for each server event, :meth:`send` for
each client event (the commands :meth:`start`, :meth:`mute`, :meth:`close` … build one and send
it), :meth:`signal` / :meth:`timer_fired` for the shell's reports, effects in :attr:`outbox`,
convenience events returned by ``receive``. The Connection chart and the transport's handshake
chart are Realtime's, driven the same way (``realtime_machines._connecting.ConnectionDriver``).

Every transition is recorded; transcripts are recorded as ``transcript`` facts and folded into
the chat by :class:`~realtime_machines.live.chat.LiveChatProjection`, so
``project_live(model.record) == model.chat``. Nothing from the wire raises: malformed events
are reported (``error`` notice, ``wire/malformed`` record), unknown types counted, a fault in
the model logged, recorded and reported.

Correlation: a command's ``event_id`` is remembered until its acknowledgement (or an
``error`` naming it as ``client_event_id``) arrives; that is how a failed mute, fixture or
``session.start`` puts its chart back, and how a client delegation learns that its answer
(a commentary append naming it) was accepted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._connecting import ConnectionDriver, handshake_class
from .._recording import DEFAULT_RECORD_LIMIT, DEFAULT_SETTLED_LIMIT, ModelRecord
from ..charts.connection import ConnectionChart, ConnectionTimeouts
from ..charts.handshake import HandshakeChart
from ..charts.tool_call import parse_arguments
from ..chat import ChatItem
from ..effects import SendEvent
from ..notices import (
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    ErrorNotice,
    Notice,
    ToolCallDone,
    UserCompleted,
    UserDelta,
    UserItemStarted,
)
from ..record import Transition
from ..wire import UnknownEvent
from . import wire
from .charts import (
    CLOSE_TIMER,
    EXPIRY_TIMER,
    INPUT_AUDIO_TIMER,
    START_TIMER,
    DelegationChart,
    FixtureChart,
    InputAudioChart,
    LiveSessionChart,
    SipLegChart,
)
from .chat import LiveChatOptions, LiveChatProjection, TurnChange
from .notices import (
    AssistantInterrupted,
    DecisionMade,
    DelegationCreatedNotice,
    DelegationFinished,
    InfoNotice,
    InputMuted,
    InputUnmuted,
    SessionClosedNotice,
    SessionPausedNotice,
    SessionRestartedNotice,
    SessionResumedNotice,
    SessionStartedNotice,
    TransportDtmf,
    UsageUpdated,
)

__all__ = ["LiveSessionModel"]


_NESTED_FAILED = {
    "response.failed": "failed",
    "response.incomplete": "incomplete",
    "response.cancelled": "cancelled",
    "error": "failed",
}


def _nested_call(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(call_id, name, arguments)`` of a nested ``response.output_item.done`` function call."""
    item = event.get("item")
    if not isinstance(item, Mapping) or item.get("type") != "function_call":
        return None
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not isinstance(name, str):
        return None
    return call_id, name, arguments if isinstance(arguments, str) else ""


class LiveSessionModel(ConnectionDriver, ModelRecord):
    """All charts of one GPT-Live session, the chat they project, and the record they write."""

    _chat: LiveChatProjection

    def __init__(
        self,
        *,
        chat_options: LiveChatOptions | None = None,
        connection_timeouts: ConnectionTimeouts | None = None,
        handshake_kind: str = "transport",
        handshake_steps: Sequence[tuple[str, str]] = (),
        handshake_timeouts: Mapping[str, float] | None = None,
        allow_connect_without_microphone: bool = True,
        start_timeout: float = 15.0,
        close_timeout: float = 10.0,
        ack_timeout: float = 5.0,
        record_limit: int | None = DEFAULT_RECORD_LIMIT,
        settled_limit: int | None = DEFAULT_SETTLED_LIMIT,
        reference_engine: bool = False,
        reconnect_attempts: int = 0,
        reconnect_delay: float = 1.0,
        reconnect_backoff: float = 2.0,
        reconnect_delay_max: float = 15.0,
        time: float = 0.0,
    ) -> None:
        self._init_record(
            keep_record=True, record_limit=record_limit, settled_limit=settled_limit, time=time
        )
        #: The resolved configuration of the last ``session.started`` / ``session.updated``.
        self.session_config: Mapping[str, Any] | None = None
        #: The last ``session.usage.updated`` (a snapshot) or the final usage.
        self.usage: Mapping[str, Any] | None = None
        self.delegations: dict[str, DelegationChart] = {}
        self.sip_leg: SipLegChart | None = None
        self._chat = LiveChatProjection(chat_options)
        # event_id of a command waiting for its acknowledgement -> (command type, delegation id)
        self._pending: dict[str, tuple[str, str | None]] = {}
        self._settled: deque[str] = deque()
        self._handlers = self._build_handlers()
        self.reference_engine = reference_engine
        self.connection = ConnectionChart(
            self,
            timeouts=connection_timeouts,
            allow_without_microphone=allow_connect_without_microphone,
            reconnect_attempts=reconnect_attempts,
            reconnect_delay=reconnect_delay,
            reconnect_backoff=reconnect_backoff,
            reconnect_delay_max=reconnect_delay_max,
        )
        self.handshake_class = handshake_class(handshake_kind, tuple(handshake_steps))
        self.handshake_timeouts: dict[str, float] = dict(handshake_timeouts or {})
        self.handshake: HandshakeChart | None = None
        self.session = LiveSessionChart(
            self, start_timeout=start_timeout, close_timeout=close_timeout
        )
        self.input_audio = InputAudioChart(self, ack_timeout=ack_timeout)
        self.fixture = FixtureChart(self)
        for chart in (self.connection, self.session, self.input_audio, self.fixture):
            chart.reference_engine = chart.reference_engine or reference_engine

    def __repr__(self) -> str:
        return (
            f"<LiveSessionModel connection={self.connection.state!r} "
            f"session={self.session.state!r} input_audio={self.input_audio.state!r} "
            f"chat={len(self._chat.items)} turns>"
        )

    # ---------------------------------------------------------------------------------------
    # Conversation facts (the chart host, the record and observers: ModelRecord)
    # ---------------------------------------------------------------------------------------
    def _fact(self, event: str, data: dict[str, Any]) -> None:
        """Record a conversation fact; the chat folds it and its changes become notices."""
        step = Transition(next(self._seq), self._now, "conversation", event, None, None, data)
        changes = self._chat.apply(step)
        self._keep(step)
        if changes:
            self._turn_notices(changes)

    # ---------------------------------------------------------------------------------------
    # Reading
    # ---------------------------------------------------------------------------------------
    @property
    def chat(self) -> list[ChatItem]:
        """The chat: one row per inferred turn (see :mod:`realtime_machines.live.chat`)."""
        return self._chat.items

    @property
    def chat_options(self) -> LiveChatOptions:
        return self._chat.options

    def states(self) -> dict[str, str]:
        """The current state of every chart, by chart name."""
        states = {
            "connection": self.connection.state,
            "live_session": self.session.state,
            "input_audio": self.input_audio.state,
            "fixture": self.fixture.state,
        }
        if self.sip_leg is not None:
            states["sip_leg"] = self.sip_leg.state
        for chart in self.delegations.values():
            states[chart.name] = chart.state
        return states

    def summary(self) -> dict[str, Any]:
        """Chat, delegations, chart states and counters as plain JSON values (the keys of a
        Realtime summary; ``tool_calls`` are the delegations' function calls)."""
        calls = [
            {"call_id": call_id, "name": name, "delegation_id": chart.delegation_id}
            for chart in self.delegations.values()
            for call_id, name in chart.calls.items()
        ]
        return {
            "api": "live",
            "chat": [item.to_json() for item in self.chat],
            "tool_calls": calls,
            "responses": [],
            "delegations": [chart.summary() for chart in self.delegations.values()],
            "session": {
                "id": self.session.session_id,
                "state": self.session.state,
                "reason": self.session.reason,
                "usage": self.usage,
            },
            "states": self.states(),
            "unknown_events": sum(self.unknown_events.values()),
            "malformed_events": self.malformed_events,
        }

    # ---------------------------------------------------------------------------------------
    # Wire events in
    # ---------------------------------------------------------------------------------------
    def receive(self, raw: object, *, time: float | None = None) -> list[Notice]:
        """Process one Live server event; return its convenience events (with any produced
        by commands and reports since the last :meth:`take_notices`)."""
        self._advance(time)
        event = wire.normalize_server(raw)
        if isinstance(event, wire.LiveServerEvent):
            handler = self._handlers.get(event.type)
            if handler is not None:
                try:
                    handler(event)
                except Exception as exc:  # a fault in the model must not end the session
                    self._fault(event.type, exc)
        elif isinstance(event, UnknownEvent):
            self._unknown(event)
        else:
            self._malformed(event)
        return self.take_notices()

    def _build_handlers(self) -> dict[str, Callable[[Any], None]]:
        return {
            "session.started": self._on_started,
            "session.updated": self._on_updated,
            "session.paused": self._on_paused,
            "session.resumed": self._on_resumed,
            "session.closed": self._on_closed,
            "session.input_audio.muted": self._on_muted,
            "session.input_audio.unmuted": self._on_unmuted,
            "session.output_audio.fixture.playing": self._on_fixture_playing,
            "session.output_audio.fixture.played": self._on_fixture_played,
            "session.instructions.appended": self._on_appended,
            "session.thinking.appended": self._on_appended,
            "session.commentary.appended": self._on_appended,
            "session.input_transcript.delta": self._on_transcript,
            "session.output_transcript.delta": self._on_transcript,
            "session.delegation.created": self._on_delegation,
            "response.event": self._on_response_event,
            "decision.event": self._on_decision,
            "session.usage.updated": self._on_usage,
            "error": self._on_error,
            "info": self._on_info,
            "transport.dtmf.received": self._on_dtmf,
            "transport.ringing": self._on_sip_leg,
            "transport.answered": self._on_sip_leg,
            "transport.failed": self._on_sip_leg,
        }

    # -- session ----------------------------------------------------------------------------
    def _on_started(self, event: wire.SessionStarted) -> None:
        self.session_config = event.session
        self._acknowledged(event.client_event_id)
        previous = self.session.session_id
        expires_at = event.expires_at
        # Time in a live session is the wall clock (unix seconds), as ``expires_at``.
        expires_in = expires_at - self._now if expires_at is not None and self._now else None
        if self.session.offer(
            "session_started",
            session_id=event.session_id,
            expires_at=expires_at,
            expires_in=expires_in,
        ):
            if previous is not None and previous != event.session_id:
                # No resume on Live: a new session (its timeline from 0, no old context).
                data = {"previous_session_id": previous, "session_id": event.session_id}
                self._fact("session_restarted", data)
                self._notices.append(SessionRestartedNotice(previous, event.session_id))
            self._notices.append(SessionStartedNotice(event.session_id, expires_at))

    def _on_updated(self, event: wire.SessionUpdated) -> None:
        self.session_config = event.session
        self._acknowledged(event.client_event_id)

    def _on_paused(self, event: wire.SessionPaused) -> None:
        if self.session.offer("session_paused"):
            self._notices.append(SessionPausedNotice())

    def _on_resumed(self, event: wire.SessionResumed) -> None:
        if self.session.offer("session_resumed"):
            self._notices.append(SessionResumedNotice())

    def _on_closed(self, event: wire.SessionClosed) -> None:
        self.usage = event.usage
        self._acknowledged(event.client_event_id)
        if self.session.offer("session_closed", reason=event.reason, usage=dict(event.usage)):
            self._session_over(SessionClosedNotice(event.reason, event.usage))

    def _session_over(self, notice: SessionClosedNotice) -> None:
        """The session ended (closed, lost, or never started): settle what it held."""
        self._fact("turns_closed", {"reason": "session_closed"})
        self.input_audio.offer("reset")
        self.fixture.offer("reset")
        if self.sip_leg is not None:
            self.sip_leg.offer("end")
        for chart in list(self.delegations.values()):
            if chart.offer("abandon"):
                self._delegation_settled(chart)
        self._pending.clear()
        self._notices.append(notice)

    # -- input audio and fixtures -----------------------------------------------------------
    def _on_muted(self, event: wire.InputAudioMuted) -> None:
        self._acknowledged(event.client_event_id)
        if self.input_audio.offer("acknowledged_muted"):
            self._notices.append(InputMuted())

    def _on_unmuted(self, event: wire.InputAudioUnmuted) -> None:
        self._acknowledged(event.client_event_id)
        if self.input_audio.offer("acknowledged_unmuted"):
            self._notices.append(InputUnmuted())

    def _on_fixture_playing(self, event: wire.OutputAudioFixturePlaying) -> None:
        self._acknowledged(event.client_event_id)
        self.fixture.offer("accepted")

    def _on_fixture_played(self, event: wire.OutputAudioFixturePlayed) -> None:
        self.fixture.offer("played")

    def _on_appended(self, event: wire.InstructionsAppended) -> None:
        pending = self._acknowledged(event.client_event_id)
        if pending is None:
            return
        command, delegation_id = pending
        chart = self.delegations.get(delegation_id) if delegation_id else None
        answer = chart is not None and command == "session.commentary.append"
        if answer and chart is not None and chart.offer("answered"):
            self._delegation_settled(chart)

    def _acknowledged(self, client_event_id: str | None) -> tuple[str, str | None] | None:
        """Forget the command ``client_event_id`` names; return what it was."""
        if client_event_id is None:
            return None
        return self._pending.pop(client_event_id, None)

    # -- transcripts ------------------------------------------------------------------------
    def _on_transcript(self, event: wire.InputTranscriptDelta) -> None:
        role = "user" if event.type == "session.input_transcript.delta" else "assistant"
        data = {
            "role": role,
            "delta": event.delta,
            "start_ms": event.start_ms,
            "end_ms": event.end_ms,
        }
        self._fact("transcript", data)

    def _turn_notices(self, changes: list[TurnChange]) -> None:
        notices = self._notices
        for what, turn_id, role, text in changes:
            if role == "user":
                if what == "started":
                    notices.append(UserItemStarted(turn_id))
                elif what == "delta":
                    notices.append(UserDelta(turn_id, text))
                else:
                    notices.append(UserCompleted(turn_id, text))
            elif what == "started":
                notices.append(AssistantItemStarted(turn_id, turn_id))
            elif what == "delta":
                notices.append(AssistantDelta(turn_id, text, "audio_transcript", turn_id))
            elif what == "interrupted":
                notices.append(AssistantInterrupted(turn_id, text))
                notices.append(AssistantCompleted(turn_id, "canceled", "interrupted"))
            else:
                notices.append(AssistantCompleted(turn_id, "done", "completed"))

    def settle_turns(self, *, time: float | None = None) -> None:
        """Close the open turns now (e.g. when the shell's player drained): recorded, so a
        projection of the record agrees."""
        self._advance(time)
        if self._chat.open_turn("user") or self._chat.open_turn("assistant"):
            self._fact("turns_closed", {"reason": "settled"})

    # -- delegations ------------------------------------------------------------------------
    def _on_delegation(self, event: wire.DelegationCreated) -> None:
        delegation_id, target = event.delegation_id, event.target
        if delegation_id is None or delegation_id in self.delegations:
            return
        target = target or "client"
        self.delegations[delegation_id] = DelegationChart(
            self,
            delegation_id=delegation_id,
            target=target,
            response_id=event.response_id,
        )
        if self.reference_engine:
            self.delegations[delegation_id].reference_engine = True
        self._notices.append(DelegationCreatedNotice(delegation_id, target, event.response_id))

    def _delegation_for(self, delegation_id: str | None) -> DelegationChart | None:
        if delegation_id is None:
            return None
        return self.delegations.get(delegation_id)

    def _on_response_event(self, event: wire.ResponseEvent) -> None:
        chart = self._delegation_for(event.delegation_id)
        if chart is None:
            return
        nested = event.nested_type
        if nested == "response.output_item.done":
            call = _nested_call(event.event)
            if call is not None:
                call_id, name, arguments = call
                chart.offer("function_call", call_id=call_id, tool_name=name)
                args, error = parse_arguments(arguments)
                self._notices.append(ToolCallDone(call_id, name, args, error))
                return
        if nested in ("response.completed", "response.done"):
            status = _nested_status(event.event) or "completed"
            if status in ("completed", "in_progress"):
                sent = chart.offer("run_finished", status=status)
            else:
                sent = chart.offer("run_failed", status=status)
        elif nested in _NESTED_FAILED:
            sent = chart.offer("run_failed", status=_NESTED_FAILED[nested])
        else:
            sent = chart.offer("progress")
        if sent and chart.is_settled:
            self._delegation_settled(chart)

    def _on_decision(self, event: wire.DecisionEvent) -> None:
        decision = event.event.get("decision")
        self._notices.append(
            DecisionMade(
                event.delegation_id,
                event.trigger_id,
                decision if isinstance(decision, Mapping) else {},
            )
        )
        chart = self._delegation_for(event.delegation_id)
        if chart is not None and chart.offer("decided", status="completed"):
            self._delegation_settled(chart)

    def _delegation_settled(self, chart: DelegationChart) -> None:
        self._notices.append(DelegationFinished(chart.delegation_id, chart.state))
        self._settled.append(chart.delegation_id)
        limit = self.settled_limit
        if limit is None:
            return
        while len(self._settled) > limit:
            self.delegations.pop(self._settled.popleft(), None)

    # -- usage, errors, info, transport -----------------------------------------------------
    def _on_usage(self, event: wire.SessionUsageUpdated) -> None:
        self.usage = event.usage
        self._notices.append(UsageUpdated(event.usage, event.context_window))

    def _on_error(self, event: wire.ErrorEvent) -> None:
        self._notices.append(ErrorNotice("server", dict(event.error)))
        pending = self._acknowledged(event.failed_event_id)
        if pending is None:
            return
        command, _delegation_id = pending
        message = event.message or event.code or "error"
        if command == "session.start":
            self.session.offer("start_failed", error=message)
            if self.session.state == "failed":
                self._session_over(SessionClosedNotice("start_failed", None, confirmed=False))
        elif command in ("session.input_audio.mute", "session.input_audio.unmute"):
            self.input_audio.offer("rejected")
        elif command == "session.output_audio.fixture.play":
            self.fixture.offer("rejected")

    def _on_info(self, event: wire.InfoEvent) -> None:
        self._notices.append(InfoNotice(event.code, event.message))

    def _on_dtmf(self, event: wire.TransportDtmfReceived) -> None:
        self._notices.append(TransportDtmf(event.event))

    def _on_sip_leg(self, event: Any) -> None:
        leg = self.sip_leg
        if leg is None:
            leg = self.sip_leg = SipLegChart(self)
        if event.type == "transport.ringing":
            leg.offer("ring")
        elif event.type == "transport.answered":
            leg.offer("answer")
        else:
            leg.offer("fail", error=dict(event.error))

    # ---------------------------------------------------------------------------------------
    # Client events out
    # ---------------------------------------------------------------------------------------
    def send(self, event: Mapping[str, Any], *, time: float | None = None) -> None:
        """Send a client event: the charts that own it follow it, then it goes out as a
        ``SendEvent`` effect. A replay feeds the recorded sent events here too."""
        self._advance(time)
        out = dict(event)
        typed = wire.normalize_client(out)
        if isinstance(typed, wire.LiveClientEvent):
            try:
                self._track(typed)
            except Exception as exc:  # a fault in the model must not stop the command
                self._fault(typed.type, exc)
        self.emit(SendEvent(out))

    def _track(self, event: wire.LiveClientEvent) -> None:
        kind, event_id = event.type, event.event_id
        delegation_id = getattr(event, "delegation_id", None)
        if event_id is not None and kind not in _UNACKNOWLEDGED:
            self._pending[event_id] = (kind, delegation_id)
        if kind == "session.start":
            self.session.offer("start")
        elif kind == "session.close":
            self.session.offer("close")
        elif kind == "session.input_audio.mute":
            self.input_audio.offer("mute", event_id=event_id)
        elif kind == "session.input_audio.unmute":
            self.input_audio.offer("unmute", event_id=event_id)
        elif kind == "session.output_audio.fixture.play":
            self.fixture.offer("play", event_id=event_id)
        elif kind in ("session.thinking.append", "session.commentary.append"):
            chart = self._delegation_for(delegation_id)
            if chart is not None:
                chart.offer("progress")
        elif kind == "response.item.create":
            call_id = event.call_id if isinstance(event, wire.ResponseItemCreate) else None
            if call_id is not None:
                for chart in self.delegations.values():
                    if call_id in chart.pending:
                        chart.offer("output_submitted", call_id=call_id)
        elif kind == "response.create":
            for chart in self.delegations.values():
                chart.offer("continued")

    # -- commands ---------------------------------------------------------------------------
    def _command(self, kind: str, **fields: Any) -> str:
        event_id = self._new_event_id()
        self.send({"type": kind, "event_id": event_id, **fields})
        return event_id

    def start(self, session: Mapping[str, Any]) -> str:
        """Send ``session.start`` (primary or fork WebSocket); return its ``event_id``."""
        return self._command("session.start", session=dict(session))

    def created(self, *, time: float | None = None) -> bool:
        """The session was created out of band (a WebRTC ``POST /v1/live/sessions``): wait
        for ``session.started`` on the data channel."""
        self._advance(time)
        return self.session.offer("start")

    def attached(self, session_id: str | None = None, *, time: float | None = None) -> bool:
        """A sideband joined a running session (no ``session.started`` comes)."""
        self._advance(time)
        if not self.session.offer("attached", session_id=session_id):
            return False
        self._notices.append(SessionStartedNotice(session_id))
        return True

    def close(self) -> str | None:
        """Send ``session.close``; ``None`` (nothing sent) when the session is not running."""
        if self.session.state not in ("starting", "started", "paused", "expired"):
            return None
        return self._command("session.close")

    def mute(self) -> str | None:
        """Mute the input (the model hears silence); ``None`` if already muted or muting."""
        if self.input_audio.state in ("muted", "muting"):
            return None
        return self._command("session.input_audio.mute")

    def unmute(self) -> str | None:
        """Unmute the input; ``None`` if already unmuted or unmuting."""
        if self.input_audio.state in ("unmuted", "unmuting"):
            return None
        return self._command("session.input_audio.unmute")

    def append(self, kind: str, content: str, *, delegation_id: str | None = None) -> str:
        """Send ``session.<kind>.append`` (``instructions``, ``thinking`` or ``commentary``).

        ``ValueError`` for another kind, or while an audio fixture is active (the server
        rejects appends then)."""
        if kind not in ("instructions", "thinking", "commentary"):
            raise ValueError(
                f"append kind must be 'instructions', 'thinking' or 'commentary', got {kind!r}"
            )
        if self.fixture.is_active:
            raise ValueError("context appends are rejected while an audio fixture plays")
        return self._command(f"session.{kind}.append", content=content, delegation_id=delegation_id)

    def submit_function_output(self, call_id: str, output: str) -> str:
        """Send a delegated run's function result (``response.item.create``); the run goes on
        after :meth:`continue_response` once every pending result is in."""
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        return self._command("response.item.create", item=item)

    def continue_response(self) -> str:
        """Send ``response.create`` (continue the delegated run, or start backend work)."""
        return self._command("response.create")

    def play_fixture(self, audio: str) -> str | None:
        """Send ``session.output_audio.fixture.play`` (base64 PCM16 24 kHz); ``None`` while
        another fixture is active (one at a time)."""
        if self.fixture.is_active:
            return None
        return self._command("session.output_audio.fixture.play", audio=audio)

    # ---------------------------------------------------------------------------------------
    # Reports from the shell
    # ---------------------------------------------------------------------------------------
    def transport_lost(self, reason: str = "transport_lost", *, time: float | None = None) -> bool:
        """The transport went away without ``session.closed``: finalization unconfirmed."""
        self._advance(time)
        if not self.session.offer("transport_lost", reason=reason):
            return False
        self._session_over(SessionClosedNotice(reason, self.usage, confirmed=False))
        return True

    def timer_fired(self, name: str, *, time: float | None = None) -> bool:
        """A timer started by a ``StartTimer`` effect ran out."""
        self._advance(time)
        handled = self._connection_timer(name)
        if handled is not None:
            return handled
        session = self.session
        if name == START_TIMER:
            if not session.offer("start_timed_out"):
                return False
            self._session_over(SessionClosedNotice("start_failed", None, confirmed=False))
            return True
        if name == CLOSE_TIMER:
            if not session.offer("close_timed_out"):
                return False
            self._session_over(SessionClosedNotice(session.reason or "", self.usage, False))
            return True
        if name == EXPIRY_TIMER:
            return session.offer("expiry_passed")
        if name == INPUT_AUDIO_TIMER:
            pending = self.input_audio.pending_event_id
            if pending is not None:
                self._pending.pop(pending, None)
            return self.input_audio.offer("timed_out")
        return False

    def _reset_conversation_charts(self) -> None:
        """The call is gone: a session that did not close is lost (no ``session.closed``)."""
        if self.session.state in ("starting", "started", "paused", "closing", "expired"):
            self.transport_lost("connection_" + self.connection.state)

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


#: Commands the server never acknowledges (nothing to wait for).
_UNACKNOWLEDGED = frozenset(
    {"session.input_audio.append", "response.item.create", "response.create"}
)


def _nested_status(event: Mapping[str, Any]) -> str | None:
    response = event.get("response")
    if isinstance(response, Mapping):
        status = response.get("status")
        return status if isinstance(status, str) else None
    return None
