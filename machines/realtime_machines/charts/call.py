"""Call chart: one phone call over SIP, as the server that answers it controls it.

OpenAI announces a call with a signed ``realtime.call.incoming`` webhook; the app then decides.
Each decision is one HTTP request to the call's control endpoints, a state that asks the shell
for one effect and waits, with a timeout, for its outcome::

    incoming --accept--> accepting --step_done--> active --hangup--> hanging up --> ended
    incoming --reject--> rejecting --step_done--> rejected
    incoming | active --refer--> referring --step_done--> referred

A request that fails or does not answer in time lands in ``failed`` with the step named in
:attr:`CallChart.error_stage` (``accept``, ``reject``, ``refer``, ``hangup``) and the server's
message, never in a hang. The other side can end the call in every state that is not over yet
(``remote_hangup``: the caller hung up, the ring timed out, the control channel closed).

Entering ``active`` asks the shell to attach the app's control channel (the sideband by
``call_id``); leaving the call asks it to detach. DTMF key presses on an active call are kept in
:attr:`CallChart.digits` (a targetless ``dtmf`` transition the shell turns into a
``call:dtmf`` notice). Every terminal state is final.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, Effect, StartTimer

__all__ = [
    "CALL_STAGES",
    "CALL_TIMER",
    "AcceptCall",
    "AttachSideband",
    "CallChart",
    "CallDtmf",
    "CallTimeouts",
    "DetachSideband",
    "HangupCall",
    "ReferCall",
    "RejectCall",
]

#: The one timer a call runs (each waiting state restarts it).
CALL_TIMER = "call"

#: Waiting state → the step reported when its request fails or times out.
CALL_STAGES: dict[str, str] = {
    "accepting": "accept",
    "rejecting": "reject",
    "referring": "refer",
    "hanging_up": "hangup",
}


class CallTimeouts:
    """Seconds each call-control request may take before it is a failure of that step."""

    __slots__ = ("by_state",)

    def __init__(self, **overrides: float) -> None:
        self.by_state: dict[str, float] = dict.fromkeys(CALL_STAGES, 10.0)
        for name, seconds in overrides.items():
            state = _STATE_OF_STEP.get(name, name)
            if state not in self.by_state:
                known = ", ".join(CALL_STAGES.values())
                raise ValueError(f"unknown call step {name!r}; the steps are: {known}")
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not 0 < seconds < math.inf
            ):
                raise ValueError(f"the {name} timeout must be a positive number, not {seconds!r}")
            self.by_state[state] = float(seconds)


_STATE_OF_STEP = {stage: state for state, stage in CALL_STAGES.items()}


# -- the Call chart's effects (executed by the shell's SipCall, not by a session) -----------


@dataclass(frozen=True, slots=True)
class AcceptCall(Effect):
    """``POST /v1/realtime/calls/{id}/accept`` with ``session`` (outcome: ``step_done``...)."""

    session: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "accept_call"


@dataclass(frozen=True, slots=True)
class RejectCall(Effect):
    """``POST /v1/realtime/calls/{id}/reject`` with a SIP ``status_code`` (603 Decline)."""

    status_code: int = 603
    kind: ClassVar[str] = "reject_call"

    def describe(self) -> str:
        return f"reject call ({self.status_code})"


@dataclass(frozen=True, slots=True)
class ReferCall(Effect):
    """``POST /v1/realtime/calls/{id}/refer``: transfer the call to ``target_uri``."""

    target_uri: str
    kind: ClassVar[str] = "refer_call"

    def describe(self) -> str:
        return f"refer call to {self.target_uri}"


@dataclass(frozen=True, slots=True)
class HangupCall(Effect):
    """``POST /v1/realtime/calls/{id}/hangup``: end the call from the server's side."""

    kind: ClassVar[str] = "hangup_call"


@dataclass(frozen=True, slots=True)
class AttachSideband(Effect):
    """Open the app's control channel to the accepted call (a sideband by ``call_id``)."""

    kind: ClassVar[str] = "attach_sideband"


@dataclass(frozen=True, slots=True)
class DetachSideband(Effect):
    """The call is over: close its control channel if one was opened (a call that never became
    active has none: the shell knows what it holds)."""

    kind: ClassVar[str] = "detach_sideband"


@dataclass(frozen=True, slots=True)
class CallDtmf:
    """``call:dtmf``: the caller pressed a telephone key (``0-9``, ``*``, ``#``, ``A-D``)."""

    digit: str
    received_at: int | None = None
    type: ClassVar[str] = "call:dtmf"


class CallChart(ModelChart):
    """One SIP call: the app's decision, each control request with a timeout, and the end."""

    chart_kind = "call"

    incoming = State("incoming", initial=True)
    accepting = State("accepting")
    active = State("active")
    rejecting = State("rejecting")
    rejected = State("rejected", final=True)
    referring = State("referring")
    referred = State("referred", final=True)
    hanging_up = State("hanging up")
    ended = State("ended", final=True)
    failed = State("failed", final=True)

    accept = incoming.to(accepting, on="send_accept")
    reject = incoming.to(rejecting, on="send_reject")
    refer = incoming.to(referring, on="send_refer") | active.to(referring, on="send_refer")
    hangup = active.to(hanging_up)

    step_done = (
        accepting.to(active)
        | rejecting.to(rejected)
        | referring.to(referred)
        | hanging_up.to(ended, on="keep_server_end")
    )
    step_failed = (
        accepting.to(failed, on="keep_error")
        | rejecting.to(failed, on="keep_error")
        | referring.to(failed, on="keep_error")
        | hanging_up.to(failed, on="keep_error")
    )
    timed_out = (
        accepting.to(failed, on="keep_timeout")
        | rejecting.to(failed, on="keep_timeout")
        | referring.to(failed, on="keep_timeout")
        | hanging_up.to(failed, on="keep_timeout")
    )
    remote_hangup = (
        incoming.to(ended, on="keep_remote_end")
        | accepting.to(ended, on="keep_remote_end")
        | active.to(ended, on="keep_remote_end")
        | rejecting.to(ended, on="keep_remote_end")
        | referring.to(ended, on="keep_remote_end")
        | hanging_up.to(ended, on="keep_server_end")
    )
    dtmf = active.to(None, on="keep_digit")

    #: The states a call ends in: the chart's final states (set below the class).
    terminal_states: ClassVar[frozenset[str]]

    def __init__(
        self,
        host: ChartHost,
        *,
        call_id: str = "",
        timeouts: CallTimeouts | None = None,
        reference_engine: bool = False,
    ) -> None:
        self.call_id = call_id
        self.timeouts = timeouts or CallTimeouts()
        #: What the app decided (the last request's body).
        self.session: Mapping[str, Any] | None = None
        self.status_code: int | None = None
        self.target_uri: str | None = None
        self.error_stage: str | None = None
        self.error_message: str | None = None
        self.error_status: int | None = None
        #: Who ended the call: ``"server"`` (our hangup) or ``"caller"`` (the other side).
        self.ended_by: str | None = None
        self.end_reason: str | None = None
        #: DTMF keys pressed on the active call, in order.
        self.digits: list[str] = []
        name = f"call:{call_id}" if call_id else None
        super().__init__(host, name=name, reference_engine=reference_engine)

    @property
    def is_over(self) -> bool:
        """True once the call is in a final state."""
        return self.current_state_value in _FINAL

    # -- actions ------------------------------------------------------------------------------
    def send_accept(self, session: Mapping[str, Any] | None = None) -> None:
        self.session = dict(session or {})
        self.host.emit(AcceptCall(self.session))

    def send_reject(self, status_code: int = 603) -> None:
        self.status_code = status_code
        self.host.emit(RejectCall(status_code))

    def send_refer(self, target_uri: str = "") -> None:
        self.target_uri = target_uri
        self.host.emit(ReferCall(target_uri))

    def keep_error(self, source: Any, error: str = "", status: int | None = None) -> None:
        self.error_stage = CALL_STAGES[source.id]
        self.error_message = error or "failed"
        self.error_status = status

    def keep_timeout(self, source: Any) -> None:
        self.error_stage = CALL_STAGES[source.id]
        seconds = self.timeouts.by_state[source.id]
        self.error_message = f"{self.error_stage} did not answer within {seconds:g} s"

    def keep_remote_end(self, reason: str = "") -> None:
        self.ended_by = "caller"
        self.end_reason = reason or "the caller hung up"

    def keep_server_end(self) -> None:
        self.ended_by = "server"
        self.end_reason = "hung up by the server"

    def keep_digit(self, digit: str = "") -> None:
        self.digits.append(digit)

    def on_enter_state(self, state: Any) -> None:
        state = state.id
        seconds = self.timeouts.by_state.get(state)
        if seconds is not None:
            self.host.emit(StartTimer(CALL_TIMER, seconds))
        if state == "hanging_up":
            self.host.emit(HangupCall())
        elif state == "active":
            self.host.emit(AttachSideband())
        elif state in _FINAL:  # whichever way it ended, a channel opened for it goes
            self.host.emit(DetachSideband())

    def on_exit_state(self, state: Any) -> None:
        if state.id in CALL_STAGES:
            self.host.emit(CancelTimer(CALL_TIMER))


_FINAL = CallChart.terminal_states = frozenset(state.id for state in CallChart.final_states)
