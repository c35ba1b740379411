"""Connection chart: from nothing to a live call over any transport, and back.

Each step of a connect is a state that asks the shell for one effect and waits, with a timeout,
for its result: token → microphone → the transport's handshake → connected. The handshake's own
steps (WebRTC: peer, offer, SDP exchange, answer, channel) are the states of a handshake chart
(:func:`~realtime_machines.charts.handshake.handshake_chart`) that the session runs while this
chart is in ``handshaking``; it reports ``handshake_done``, or ``step_failed`` with the failed
step's stage. A failure or a stall in any step lands in ``error`` with the step named in
:attr:`ConnectionChart.error_stage` (the seed library's stage names), never in a hang.

``call_ended`` is the server ending the call itself (a sideband's call hung up, the caller
gone): final, never retried; the chart lands in ``ended`` with the reason in
:attr:`ConnectionChart.end_reason`, holding nothing. A later ``connect`` starts afresh. During a
reconnect the handshake may find the call gone (a sideband reattaching to a call that has
ended): ``call_ended`` from ``handshaking`` then ends it too, instead of a failed step.

``rollover`` replaces a call that is about to hit the server's session cap with a new one, the
way a lost connection is replaced. Entering ``error`` releases the transport and the microphone.

``connect`` is only accepted from ``idle``, ``disconnected`` and ``error``: a second connect
while one is running is ignored by the chart (the session logs a warning), so there is never a
second call. ``disconnect`` is accepted from every state that holds something.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import (
    CancelTimer,
    CloseTransport,
    FetchToken,
    OpenMicrophone,
    ReleaseMedia,
    StartTimer,
)

__all__ = ["STAGES", "ConnectionChart", "ConnectionTimeouts"]

CONNECT_TIMER = "connection"

#: The error stage reported when a waiting state fails or times out (seed ``ErrorStage`` names).
STAGES: dict[str, str] = {
    "fetching_token": "fetch_token",
    "opening_microphone": "get_user_media",
    "handshaking": "peer_connection",
    "connected": "peer_connection",
    "disconnecting": "hangup",
    "reconnecting": "peer_connection",
}


class ConnectionTimeouts:
    """Seconds each connect step may take before it is a failure of that step."""

    __slots__ = ("by_state",)

    def __init__(self, **overrides: float) -> None:
        self.by_state: dict[str, float] = {
            "fetching_token": 10.0,
            "opening_microphone": 10.0,
            "disconnecting": 5.0,
        }
        unknown = set(overrides) - set(self.by_state)
        if unknown:
            raise ValueError(f"unknown connection steps: {', '.join(sorted(unknown))}")
        self.by_state.update(overrides)


class ConnectionChart(ModelChart):
    """The connection's status, one state per connect step."""

    chart_kind = "connection"

    idle = State("idle", initial=True)
    fetching_token = State("fetching token")
    opening_microphone = State("opening microphone")
    handshaking = State("handshaking")
    connected = State("connected")
    disconnecting = State("disconnecting")
    disconnected = State("disconnected")
    error = State("error")
    reconnecting = State("reconnecting")
    ended = State("ended")

    connect = (
        idle.to(fetching_token)
        | disconnected.to(fetching_token)
        | error.to(fetching_token)
        | ended.to(fetching_token)
    )
    token_received = fetching_token.to(opening_microphone)
    microphone_ready = opening_microphone.to(handshaking)
    microphone_unavailable = opening_microphone.to(
        handshaking, cond="allow_without_microphone"
    ) | opening_microphone.to(error, on="keep_error")
    handshake_done = handshaking.to(connected)

    step_failed = (
        fetching_token.to(error, on="keep_error")
        | opening_microphone.to(error, on="keep_error")
        | handshaking.to(error, on="keep_error")
    )
    timed_out = (
        fetching_token.to(error, on="keep_timeout")
        | opening_microphone.to(error, on="keep_timeout")
        | disconnecting.to(disconnected, on="keep_timeout")
        | reconnecting.to(fetching_token)
    )
    connection_lost = connected.to(reconnecting, cond="may_reconnect") | connected.to(
        error, on="keep_error"
    )
    call_ended = (
        connected.to(ended, on="keep_end")
        | reconnecting.to(ended, on="keep_end")
        | handshaking.to(ended, cond="rejoining", on="keep_end")
    )
    give_up = reconnecting.to(error, on="keep_error")
    rollover = connected.to(reconnecting)
    retry = error.to(reconnecting, cond="may_retry")

    disconnect = (
        fetching_token.to(disconnecting)
        | opening_microphone.to(disconnecting)
        | handshaking.to(disconnecting)
        | connected.to(disconnecting)
        | reconnecting.to(disconnecting)
        | error.to(disconnecting)
        | ended.to(disconnecting)
    )
    transport_closed = disconnecting.to(disconnected)

    def __init__(
        self,
        host: ChartHost,
        *,
        timeouts: ConnectionTimeouts | None = None,
        allow_without_microphone: bool = True,
        reconnect_attempts: int = 0,
        reconnect_delay: float = 1.0,
        reconnect_backoff: float = 2.0,
        reconnect_delay_max: float = 15.0,
    ) -> None:
        self.timeouts = timeouts or ConnectionTimeouts()
        self.allow_without_mic = allow_without_microphone
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.reconnect_backoff = reconnect_backoff
        self.reconnect_delay_max = reconnect_delay_max
        self.attempts_left = reconnect_attempts
        #: True from a lost connection until the next ``connected`` (or a fresh ``connect``).
        self.reconnecting_now = False
        #: How many times a lost connection has been re-established.
        self.reconnects = 0
        self.error_stage: str | None = None
        self.error_message: str | None = None
        #: Why the server ended the call (``call_ended``), until the next connect.
        self.end_reason: str | None = None
        self.has_microphone = False
        super().__init__(host)

    @property
    def status(self) -> str:
        """The seed's status: ``idle | connecting | connected | disconnected | error``."""
        return _STATUS[self.current_state_value]

    # -- guards -------------------------------------------------------------------------------
    def allow_without_microphone(self) -> bool:
        return self.allow_without_mic

    def may_reconnect(self) -> bool:
        return self.attempts_left > 0

    def may_retry(self) -> bool:
        return self.reconnecting_now and self.attempts_left > 0

    def rejoining(self) -> bool:
        """A reconnect is under way: a handshake that finds the call gone ends it."""
        return self.reconnecting_now

    @property
    def next_delay(self) -> float:
        """Seconds before the next reconnect attempt (exponential backoff, capped)."""
        attempt = self.reconnect_attempts - self.attempts_left
        delay = self.reconnect_delay * self.reconnect_backoff**attempt
        return float(min(delay, self.reconnect_delay_max))

    # -- actions ------------------------------------------------------------------------------
    def keep_error(self, source: Any, error: str = "", stage: str | None = None) -> None:
        self.error_stage = stage or STAGES.get(source.id, source.id)
        self.error_message = error or "failed"

    def keep_end(self, error: str = "") -> None:
        self.end_reason = error or "the server ended the call"

    def keep_timeout(self, source: Any) -> None:
        seconds = self.timeouts.by_state.get(source.id, 0.0)
        self.error_stage = STAGES.get(source.id, source.id)
        self.error_message = f"{source.name} did not finish within {seconds:g} s"

    def on_enter_state(self, state: Any) -> None:
        state = state.id
        seconds = self.timeouts.by_state.get(state)
        if seconds is not None:
            self.host.emit(StartTimer(CONNECT_TIMER, seconds))
        elif state == "reconnecting":
            self.host.emit(StartTimer(CONNECT_TIMER, self.next_delay))
        elif state != "idle":
            self.host.emit(CancelTimer(CONNECT_TIMER))
        effect = _ENTRY_EFFECTS.get(state)
        if effect is not None:
            self.host.emit(effect())

    def on_enter_fetching_token(self, source: Any) -> None:
        if source.id != "reconnecting":
            self.attempts_left = self.reconnect_attempts
            self.reconnecting_now = False
        self.error_stage = None
        self.error_message = None
        self.end_reason = None

    def on_enter_reconnecting(self) -> None:
        self.reconnecting_now = True
        self.host.emit(CloseTransport())

    def on_exit_reconnecting(self) -> None:
        self.attempts_left -= 1

    def on_enter_connected(self) -> None:
        if self.reconnecting_now:
            self.reconnects += 1
        self.reconnecting_now = False
        self.attempts_left = self.reconnect_attempts  # attempts are counted per outage

    def on_microphone_ready(self) -> None:
        self.has_microphone = True

    def on_microphone_unavailable(self) -> None:
        self.has_microphone = False

    def on_enter_error(self) -> None:
        # Nothing is held while in error: a later connect() starts from scratch.
        self.host.emit(CloseTransport())
        self.host.emit(ReleaseMedia())

    def on_enter_ended(self) -> None:
        self.host.emit(CloseTransport())
        self.host.emit(ReleaseMedia())

    def on_enter_disconnecting(self) -> None:
        self.host.emit(CloseTransport())
        self.host.emit(ReleaseMedia())


_ENTRY_EFFECTS: dict[str, Any] = {
    "fetching_token": FetchToken,
    "opening_microphone": OpenMicrophone,
}

_STATUS: dict[str, str] = {
    "idle": "idle",
    "fetching_token": "connecting",
    "opening_microphone": "connecting",
    "handshaking": "connecting",
    "connected": "connected",
    "disconnecting": "disconnected",
    "disconnected": "disconnected",
    "error": "error",
    "reconnecting": "connecting",
    "ended": "disconnected",
}
