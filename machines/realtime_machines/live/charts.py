"""The charts of a GPT-Live session (the Connection chart and the transports' handshakes are
Realtime's, reused unchanged).

* :class:`LiveSessionChart` — the session's lifecycle: ``starting`` (``session.start`` sent or
  the WebRTC session created) → ``started`` ⇄ ``paused`` (WebRTC standby) → ``closing`` →
  ``closed`` with the server's reason. ``expired`` when ``expires_at`` passed without a
  ``session.closed``; ``failed`` when the session never started; ``lost`` when the transport
  went away without ``session.closed`` (finalization unconfirmed). A sideband joins a running
  session with ``attached`` (no ``session.started``).
* :class:`DelegationChart` — one per ``session.delegation.created``: the nested Responses run
  (function calls collected from ``response.output_item.done``, results submitted, continued by
  ``response.create``), the decision, or the client's appends, until ``done``.
* :class:`InputAudioChart` — input mute/unmute, each command waiting for its acknowledgement.
* :class:`FixtureChart` — an audio fixture: requested → playing → played (one at a time).
* :class:`SipLegChart` — an outbound SIP call's leg, from the sideband's ``transport.*`` events.

All are flat charts on the compiled table; their actions only emit timers (the session model
sends the wire commands itself).
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, StartTimer

__all__ = [
    "CLOSE_TIMER",
    "EXPIRY_TIMER",
    "INPUT_AUDIO_TIMER",
    "LIVE_CHARTS",
    "START_TIMER",
    "DelegationChart",
    "FixtureChart",
    "InputAudioChart",
    "LiveSessionChart",
    "SipLegChart",
]

START_TIMER = "live.start"
CLOSE_TIMER = "live.close"
EXPIRY_TIMER = "live.expiry"
INPUT_AUDIO_TIMER = "live.input_audio"


class LiveSessionChart(ModelChart):
    """A Live session from ``session.start`` to ``session.closed``."""

    chart_kind = "live_session"

    idle = State("idle", initial=True)
    starting = State("starting")
    started = State("started")
    paused = State("paused")
    closing = State("closing")
    expired = State("expired")
    closed = State("closed")
    failed = State("failed")
    lost = State("lost")

    start = idle.to(starting) | closed.to(starting) | failed.to(starting) | lost.to(starting)
    session_started = idle.to(started, on="begin") | starting.to(started, on="begin")
    attached = (
        idle.to(started, on="begin")
        | closed.to(started, on="begin")
        | failed.to(started, on="begin")
        | lost.to(started, on="begin")
    )
    session_paused = started.to(paused)
    session_resumed = paused.to(started)
    close = starting.to(closing) | started.to(closing) | paused.to(closing) | expired.to(closing)
    session_closed = (
        idle.to(closed, on="finish")
        | starting.to(closed, on="finish")
        | started.to(closed, on="finish")
        | paused.to(closed, on="finish")
        | closing.to(closed, on="finish")
        | expired.to(closed, on="finish")
    )
    start_failed = starting.to(failed, on="fail")
    start_timed_out = starting.to(failed, on="fail_timeout")
    expiry_passed = started.to(expired) | paused.to(expired)
    transport_lost = (
        starting.to(lost, on="lose")
        | started.to(lost, on="lose")
        | paused.to(lost, on="lose")
        | closing.to(lost, on="lose")
        | expired.to(lost, on="lose")
    )
    close_timed_out = closing.to(lost, on="lose_unconfirmed")

    def __init__(
        self,
        host: ChartHost,
        *,
        start_timeout: float = 15.0,
        close_timeout: float = 10.0,
        expiry_grace: float = 5.0,
    ) -> None:
        self.start_timeout = start_timeout
        self.close_timeout = close_timeout
        self.expiry_grace = expiry_grace
        self.session_id: str | None = None
        self.expires_at: int | None = None
        #: ``session.closed``'s reason (``close_requested``, ``expired``, ``content``,
        #: ``remote_hangup``, ``connection_lost``), or the local reason of ``failed`` / ``lost``.
        self.reason: str | None = None
        #: The final usage (``session.closed.usage``); ``None`` until the session closed.
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None
        super().__init__(host)

    # -- actions ------------------------------------------------------------------------------
    def begin(
        self,
        session_id: str | None = None,
        expires_at: int | None = None,
        expires_in: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.expires_at = expires_at
        self.reason = None
        self.usage = None
        self.error = None
        if expires_in is not None:
            self.host.emit(StartTimer(EXPIRY_TIMER, max(0.0, expires_in) + self.expiry_grace))

    def finish(self, reason: str = "", usage: dict[str, Any] | None = None) -> None:
        self.reason = reason
        self.usage = usage
        self.host.emit(CancelTimer(EXPIRY_TIMER))

    def fail(self, error: str = "") -> None:
        self.reason = "start_failed"
        self.error = error

    def fail_timeout(self) -> None:
        self.reason = "start_failed"
        self.error = f"no session.started within {self.start_timeout:g} s"

    def lose(self, reason: str = "transport_lost") -> None:
        self.reason = reason
        self.host.emit(CancelTimer(EXPIRY_TIMER))

    def lose_unconfirmed(self) -> None:
        self.reason = "close_unconfirmed"
        self.host.emit(CancelTimer(EXPIRY_TIMER))

    def on_enter_starting(self) -> None:
        self.host.emit(StartTimer(START_TIMER, self.start_timeout))

    def on_exit_starting(self) -> None:
        self.host.emit(CancelTimer(START_TIMER))

    def on_enter_closing(self) -> None:
        self.host.emit(StartTimer(CLOSE_TIMER, self.close_timeout))

    def on_exit_closing(self) -> None:
        self.host.emit(CancelTimer(CLOSE_TIMER))


class DelegationChart(ModelChart):
    """One delegation (``session.delegation.created``) until its work is done.

    ``target`` is ``client`` (the app answers with thinking/commentary appends naming the
    delegation; the first acknowledged commentary is the answer), ``responses`` (a hosted
    Responses run streams nested events; function calls are collected from nested
    ``response.output_item.done``; a finished run with calls still unanswered waits in
    ``awaiting_output`` until every result is submitted and ``response.create`` continues it) or
    ``decisions`` (one ``decision.event``).
    """

    chart_kind = "delegation"

    created = State("created", initial=True)
    running = State("running")
    awaiting_output = State("awaiting output")
    done = State("done", final=True)
    failed = State("failed", final=True)
    abandoned = State("abandoned", final=True)

    progress = created.to(running) | running.to(None)
    function_call = created.to(running, on="add_call") | running.to(None, on="add_call")
    run_finished = (
        created.to(done) | running.to(awaiting_output, cond="has_pending") | running.to(done)
    )
    run_failed = created.to(failed, on="note_status") | running.to(failed, on="note_status")
    output_submitted = running.to(None, on="remove_call") | awaiting_output.to(
        None, on="remove_call"
    )
    continued = awaiting_output.to(running, cond="!has_pending")
    answered = created.to(done) | running.to(done)
    decided = created.to(done) | running.to(done)
    abandon = created.to(abandoned) | running.to(abandoned) | awaiting_output.to(abandoned)

    def __init__(
        self,
        host: ChartHost,
        *,
        delegation_id: str,
        target: str,
        response_id: str | None = None,
    ) -> None:
        self.delegation_id = delegation_id
        self.target = target
        self.response_id = response_id
        #: Function calls of the nested run not answered yet: call id → name.
        self.pending: dict[str, str] = {}
        #: Every function call seen: call id → name.
        self.calls: dict[str, str] = {}
        #: The nested run's final status (``completed``, ``failed`` ...), when one arrived.
        self.status: str | None = None
        super().__init__(host, name=f"delegation:{delegation_id}")

    def has_pending(self) -> bool:
        return bool(self.pending)

    def add_call(self, call_id: str = "", tool_name: str = "") -> None:
        if call_id and call_id not in self.calls:
            self.calls[call_id] = tool_name
            self.pending[call_id] = tool_name

    def remove_call(self, call_id: str = "") -> None:
        self.pending.pop(call_id, None)

    def note_status(self, status: str = "failed") -> None:
        self.status = status

    def on_enter_done(self, status: str | None = None) -> None:
        self.status = status or self.status or "completed"

    @property
    def is_settled(self) -> bool:
        """True once nothing more is expected (done, failed or abandoned)."""
        return self.current_state_value in _SETTLED

    def summary(self) -> dict[str, Any]:
        """The delegation as the replay summary shows it."""
        return {
            "delegation_id": self.delegation_id,
            "target": self.target,
            "response_id": self.response_id,
            "calls": dict(self.calls),
            "status": self.state,
        }


_SETTLED = frozenset({"done", "failed", "abandoned"})


class InputAudioChart(ModelChart):
    """Input mute: ``session.input_audio.mute`` / ``unmute`` and their acknowledgements.

    Muting sends silence to the model; output speech and delegated work go on. An
    acknowledgement that never comes (or an error for the command) puts the chart back where it
    was. An acknowledgement nobody here asked for (another connection muted) is followed.
    """

    chart_kind = "input_audio"

    unmuted = State("unmuted", initial=True)
    muting = State("muting")
    muted = State("muted")
    unmuting = State("unmuting")

    mute = unmuted.to(muting) | unmuting.to(muting)
    unmute = muted.to(unmuting) | muting.to(unmuting)
    acknowledged_muted = muting.to(muted) | unmuted.to(muted) | unmuting.to(muted)
    acknowledged_unmuted = unmuting.to(unmuted) | muted.to(unmuted) | muting.to(unmuted)
    rejected = muting.to(unmuted) | unmuting.to(muted)
    timed_out = muting.to(unmuted) | unmuting.to(muted)
    reset = muting.to(unmuted) | muted.to(unmuted) | unmuting.to(unmuted)

    def __init__(self, host: ChartHost, *, ack_timeout: float = 5.0) -> None:
        self.ack_timeout = ack_timeout
        #: The ``event_id`` of the command waiting for its acknowledgement.
        self.pending_event_id: str | None = None
        super().__init__(host)

    def on_enter_muting(self, event_id: str | None = None) -> None:
        self.pending_event_id = event_id
        self.host.emit(StartTimer(INPUT_AUDIO_TIMER, self.ack_timeout))

    def on_enter_unmuting(self, event_id: str | None = None) -> None:
        self.pending_event_id = event_id
        self.host.emit(StartTimer(INPUT_AUDIO_TIMER, self.ack_timeout))

    def on_exit_muting(self) -> None:
        self.host.emit(CancelTimer(INPUT_AUDIO_TIMER))

    def on_exit_unmuting(self) -> None:
        self.host.emit(CancelTimer(INPUT_AUDIO_TIMER))

    @property
    def is_muted(self) -> bool:
        """What the model hears: silence once muted (``muting`` is not yet acknowledged)."""
        return self.current_state_value in ("muted", "unmuting")


class FixtureChart(ModelChart):
    """An audio fixture: one at a time; appends are rejected while one plays.

    ``played`` is not sent for cancelled or failed playback: an error for the command, or the
    session ending, brings the chart back to ``idle``.
    """

    chart_kind = "fixture"

    idle = State("idle", initial=True)
    requested = State("requested")
    playing = State("playing")

    play = idle.to(requested, on="remember")
    accepted = requested.to(playing) | idle.to(playing)
    played = playing.to(idle) | requested.to(idle)
    rejected = requested.to(idle) | playing.to(idle)
    reset = requested.to(idle) | playing.to(idle)

    def __init__(self, host: ChartHost) -> None:
        self.pending_event_id: str | None = None
        super().__init__(host)

    def remember(self, event_id: str | None = None) -> None:
        self.pending_event_id = event_id

    def on_enter_idle(self) -> None:
        self.pending_event_id = None

    @property
    def is_active(self) -> bool:
        """True while a fixture is requested or playing (context appends are then rejected)."""
        return bool(self.current_state_value != "idle")


class SipLegChart(ModelChart):
    """An outbound SIP call's provider leg, seen on the sideband: dialing → ringing → answered,
    or failed (``transport.failed``); ``ended`` with the session."""

    chart_kind = "sip_leg"

    dialing = State("dialing", initial=True)
    ringing = State("ringing")
    answered = State("answered")
    failed = State("failed", final=True)
    ended = State("ended", final=True)

    ring = dialing.to(ringing)
    answer = dialing.to(answered) | ringing.to(answered)
    fail = dialing.to(failed, on="note_error") | ringing.to(failed, on="note_error")
    end = dialing.to(ended) | ringing.to(ended) | answered.to(ended)

    def __init__(self, host: ChartHost) -> None:
        self.error: dict[str, Any] | None = None
        super().__init__(host)

    def note_error(self, error: dict[str, Any] | None = None) -> None:
        self.error = error


#: The Live charts, in the order the docs present them.
LIVE_CHARTS: tuple[type[ModelChart], ...] = (
    LiveSessionChart,
    DelegationChart,
    InputAudioChart,
    FixtureChart,
    SipLegChart,
)
