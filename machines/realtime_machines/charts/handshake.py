"""Handshake charts: a transport's own connect steps, one state each, made from a list.

A transport (WebRTC, WebSocket, in-memory...) connects through steps of its own: creating a
peer, posting an offer, opening a socket. The model does not know them by name: the shell
gives their ``(state, stage)`` pairs to :func:`handshake_chart`, which makes a linear chart

``waiting --start--> step 1 --step_done--> step 2 ... --step_done--> open``

where every step may end in ``failed`` (``step_failed`` or ``timed_out``, remembering the
step's seed error stage) or ``cancelled`` (the Connection chart left ``handshaking``). The
Connection chart's ``handshaking`` state drives one such chart per call; entering a step asks
the shell to run it (:class:`~realtime_machines.effects.RunStep`) within its timeout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, RunStep, StartTimer

__all__ = [
    "HANDSHAKE_ENDS",
    "HANDSHAKE_FRAME",
    "HANDSHAKE_TIMER",
    "HandshakeChart",
    "handshake_chart",
]

HANDSHAKE_TIMER = "handshake"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _frame() -> dict[str, State]:
    """The states every handshake chart has besides its steps (new ones for each class)."""
    return {
        "waiting": State("waiting", initial=True),
        "open": State("open", final=True),
        "failed": State("failed", final=True),
        "cancelled": State("cancelled", final=True),
    }


#: The states of a handshake chart that are not steps: where it waits and where it ends (so
#: they are not names a step may take).
HANDSHAKE_FRAME: frozenset[str] = frozenset(_frame())
#: The states that end a handshake: the final states of every handshake chart.
HANDSHAKE_ENDS: frozenset[str] = frozenset(name for name, state in _frame().items() if state.final)


class HandshakeChart(ModelChart):
    """Base class of the charts :func:`handshake_chart` makes (it has no states itself)."""

    chart_kind = "handshake"
    #: Step state → the seed error stage reported when it fails or times out.
    stages: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        host: ChartHost,
        *,
        timeouts: Mapping[str, float] | None = None,
        reference_engine: bool = False,
    ) -> None:
        #: Seconds each step may take (steps not named here have no timer).
        self.timeouts: dict[str, float] = dict(timeouts or {})
        self.error_stage: str | None = None
        self.error_message: str | None = None
        super().__init__(host, reference_engine=reference_engine)

    def keep_error(self, source: Any, error: str = "") -> None:
        self.error_stage = self.stages[source.id]
        self.error_message = error or "failed"

    def keep_timeout(self, source: Any) -> None:
        self.error_stage = self.stages[source.id]
        seconds = self.timeouts.get(source.id, 0.0)
        self.error_message = f"{source.name} did not finish within {seconds:g} s"

    def on_enter_state(self, state: Any) -> None:
        state = state.id
        if state in self.stages:
            seconds = self.timeouts.get(state)
            if seconds is not None:
                self.host.emit(StartTimer(HANDSHAKE_TIMER, seconds))
            self.host.emit(RunStep(state))
        elif state != "waiting":
            self.host.emit(CancelTimer(HANDSHAKE_TIMER))


def handshake_chart(kind: str, steps: Sequence[tuple[str, str]]) -> type[HandshakeChart]:
    """A :class:`HandshakeChart` subclass for one transport's handshake.

    ``kind`` names the transport (``"webrtc"``: the class is ``WebrtcHandshakeChart``, its
    records' chart is ``handshake``); ``steps`` are ``(state, stage)`` pairs in order: the
    state's id (``snake_case``) and the seed error stage reported when it fails or times out.
    No steps: ``start`` goes straight to ``open`` (and there is no ``failed`` or ``cancelled``).
    """
    if not _NAME.match(kind):
        raise ValueError(f"a handshake kind is snake_case, got {kind!r}")
    states = [state for state, _stage in steps]
    for state in states:
        if not isinstance(state, str) or not _NAME.match(state) or state in HANDSHAKE_FRAME:
            raise ValueError(
                f"a handshake step is a snake_case name other than {sorted(HANDSHAKE_FRAME)}, "
                f"got {state!r}"
            )
    if len(set(states)) != len(states):
        raise ValueError(f"handshake steps must be distinct, got {states}")
    frame = _frame()
    waiting, opened, failed = frame["waiting"], frame["open"], frame["failed"]
    cancelled = frame["cancelled"]
    step_states = [State(state.replace("_", " ")) for state in states]
    attrs: dict[str, Any] = {
        **frame,
        "stages": dict(steps),
        "__module__": __name__,
        "__doc__": f"The {kind} transport's handshake, one state per step.",
    }
    for state, chart_state in zip(states, step_states, strict=True):
        attrs[state] = chart_state
    if step_states:
        attrs["start"] = waiting.to(step_states[0])
        targets = [*step_states[1:], opened]
        done = step_states[0].to(targets[0])
        failure = step_states[0].to(failed, on="keep_error")
        timeout = step_states[0].to(failed, on="keep_timeout")
        cancel = step_states[0].to(cancelled)
        for source, target in zip(step_states[1:], targets[1:], strict=True):
            done |= source.to(target)
            failure |= source.to(failed, on="keep_error")
            timeout |= source.to(failed, on="keep_timeout")
            cancel |= source.to(cancelled)
        attrs.update(step_done=done, step_failed=failure, timed_out=timeout, cancel=cancel)
    else:  # nothing can fail or be cancelled
        del attrs["failed"], attrs["cancelled"]
        attrs["start"] = waiting.to(opened)
    name = "".join(part.capitalize() for part in kind.split("_")) + "HandshakeChart"
    return type(name, (HandshakeChart,), attrs)
