"""The one base class every chart of the model derives from.

It pins python-statemachine's flags so that chart behaviour does not depend on library defaults:

* ``catch_errors_as_events = False``: an exception in an action reaches the caller (the
  :class:`~realtime_machines.session.SessionModel`, which reports it and goes on) instead of being
  swallowed silently, which is the library's default (reference: statemachine.md §8.2).
* ``allow_event_without_transition = True``: an event a state does not handle is a no-op.

It also gives every chart a *host* (the session) to which actions hand effect commands and
transition records, and :meth:`ModelChart.offer`, a cheap pre-filter that skips ``send()`` for
events the current state would ignore anyway (a ``send()`` costs ~100 µs; the check costs
~0.2 µs). Charts must stay flat (no compound or parallel states) for that check to be exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from statemachine import StateChart

from .effects import Effect

__all__ = ["ChartHost", "ModelChart"]


class ChartHost(Protocol):
    """What a chart needs from the session that owns it."""

    def emit(self, effect: Effect) -> None:
        """Queue an effect command for the shell."""

    def record_transition(
        self,
        chart: str,
        event: str,
        source: str | None,
        target: str | None,
        data: Mapping[str, Any],
    ) -> None:
        """Record one transition taken by ``chart``."""


class ModelChart(StateChart["ModelChart"]):
    """Project base for all charts: pinned flags, a host, transition records, ``offer()``."""

    catch_errors_as_events = False
    allow_event_without_transition = True

    #: The chart's name in transition records and diagrams (``connection``, ``response`` ...).
    chart_kind: ClassVar[str] = "chart"

    # event id -> ids of the states in which that event has at least one transition
    _handled_in: ClassVar[dict[str, frozenset[str]]]

    def __init__(self, host: ChartHost, *, name: str | None = None) -> None:
        self.host = host
        self.name = name or self.chart_kind
        super().__init__()

    @classmethod
    def handled_in(cls) -> dict[str, frozenset[str]]:
        """Map each event id to the states that have a transition for it (computed once)."""
        table = cls.__dict__.get("_handled_in")
        if table is None:
            sources: dict[str, set[str]] = {}
            for state in cls.states:
                for transition in state.transitions:
                    for event in transition.events:
                        sources.setdefault(str(event), set()).add(state.id)
            table = {event: frozenset(ids) for event, ids in sources.items()}
            cls._handled_in = table
        return table

    @property
    def state(self) -> str:
        """The id of the current (atomic) state."""
        value: str = self.current_state_value
        return value

    def offer(self, event: str, **data: Any) -> bool:
        """Send ``event`` if the current state handles it; return whether it was sent.

        Unknown event names are a programming error and raise ``ValueError`` at once, so a typo
        cannot pass silently the way ``send()`` lets it.
        """
        sources = type(self).handled_in().get(event)
        if sources is None:
            known = ", ".join(sorted(type(self).handled_in()))
            raise ValueError(f"{type(self).__name__} has no event {event!r}; its events: {known}")
        if self.current_state_value not in sources:
            return False
        self.send(event, **data)
        return True

    def after_transition(self, event_data: Any) -> None:
        # One parameter, not four: the library binds callback arguments on every transition.
        target = event_data.target
        self.host.record_transition(
            self.name,
            str(event_data.event),
            event_data.source.id,
            target.id if target is not None else None,
            event_data.trigger_data.kwargs,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} state={self.state!r}>"
