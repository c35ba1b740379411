"""What every session model shares as a chart host: the effect outbox, the transition record
(bounded, compacted into a chat snapshot), observers, convenience events, and the reporting of
what the wire sends that cannot be handled (malformed events, unknown types, faults).

:class:`ModelRecord` is a mixin of the Realtime :class:`~realtime_machines.session.SessionModel`
and the GPT-Live :class:`~realtime_machines.live.session.LiveSessionModel`. The model calls
:meth:`ModelRecord._init_record` in its constructor, owns ``_chat`` (its projection: ``row_count``
and ``snapshot()``) and records its own conversation facts through :meth:`ModelRecord._keep`.
"""

from __future__ import annotations

import itertools
import logging
import sys
from collections import Counter, deque
from collections.abc import Callable, Container, Mapping
from typing import Any, Protocol

from .effects import Effect
from .notices import ErrorNotice, Notice
from .record import Transition
from .wire import MalformedEvent, UnknownEvent

__all__ = [
    "DEFAULT_RECORD_LIMIT",
    "DEFAULT_SETTLED_LIMIT",
    "MAX_UNKNOWN_TYPES",
    "OTHER_UNKNOWN",
    "ModelRecord",
]

logger = logging.getLogger("realtime_machines")

Observer = Callable[[Transition], None]
#: Transitions a session keeps by default (then the record is compacted).
DEFAULT_RECORD_LIMIT = 2_000
#: Settled responses or delegations a session keeps by default for inspection.
DEFAULT_SETTLED_LIMIT = 100
#: Distinct unknown event types counted by name in ``unknown_events``; the rest count as
#: :data:`OTHER_UNKNOWN`, so a server inventing a new type per event cannot grow memory.
MAX_UNKNOWN_TYPES = 256
OTHER_UNKNOWN = "(other unknown types)"


class _Projection(Protocol):
    @property
    def row_count(self) -> int: ...

    @property
    def version(self) -> int: ...

    def snapshot(self) -> dict[str, Any]: ...


class ModelRecord:
    """The outbox, the record, observers, notices and the reports of bad input."""

    _chat: _Projection
    _now: float

    def _init_record(
        self,
        *,
        keep_record: bool,
        record_limit: int | None,
        settled_limit: int | None,
        time: float,
    ) -> None:
        for option, limit in (("record_limit", record_limit), ("settled_limit", settled_limit)):
            if limit is not None and (not isinstance(limit, int) or limit < 0):
                raise ValueError(f"{option} must be a whole number ≥ 0 or None, got {limit!r}")
        #: Whether transitions are kept in :attr:`record` (``record_limit=0`` keeps none).
        self.keep_record = keep_record and record_limit != 0
        #: At most this many steps are kept (then compacted into a snapshot); None: all.
        self.record_limit = record_limit
        #: Settled responses or delegations kept beyond the active ones; None: all.
        self.settled_limit = settled_limit
        self._record_cap = record_limit if record_limit is not None else sys.maxsize
        self.record: list[Transition] = []
        self.outbox: deque[Effect] = deque()
        self.unknown_events: Counter[str] = Counter()
        self.malformed_events = 0
        self.faults = 0
        self._now = time
        self._seq = itertools.count(1)
        self._event_ids = itertools.count(1)
        #: (observer, the events it asked for or ``None`` for all), in subscription order; a
        #: tuple replaced on (un)subscribe, so an observer may unsubscribe while it is called.
        self._observers: tuple[tuple[Observer, Container[str] | None], ...] = ()
        #: Called right before the record is compacted (see :meth:`on_compact`).
        self._compacting: tuple[Callable[[], None], ...] = ()
        self._notices: list[Notice] = []

    # -- the clock and the chat ---------------------------------------------------------------
    @property
    def now(self) -> float:
        """The model's time: the latest time it was given (its record's clock)."""
        return self._now

    def _advance(self, time: float | None) -> None:
        if time is not None and time > self._now:
            self._now = time

    @property
    def chat_version(self) -> int:
        """Increases whenever the chat may have changed."""
        return self._chat.version

    def notify(self, notice: Notice) -> None:
        """Queue a convenience event computed beside the model (by an observer such as
        :class:`~realtime_machines.metrics.MetricsTracker`): it comes out of the next
        :meth:`take_notices` (and so of :meth:`receive`) after the ones before it."""
        self._notices.append(notice)

    # -- ChartHost ----------------------------------------------------------------------------
    def emit(self, effect: Effect) -> None:
        self.outbox.append(effect)

    def record_transition(
        self,
        chart: str,
        event: str,
        source: str | None,
        target: str | None,
        data: Mapping[str, Any],
    ) -> None:
        self._keep(Transition(next(self._seq), self._now, chart, event, source, target, data))

    def _keep(self, step: Transition) -> None:
        """Add ``step`` to the record (compacting it when full) and show it to the observers."""
        if self.keep_record:
            record = self.record
            record.append(step)
            if len(record) > self._record_cap:
                self._compact()
        if self._observers:
            event = step.event
            for observer, events in self._observers:
                if events is None or event in events:
                    observer(step)

    def _compact(self) -> None:
        """Replace the record with one ``snapshot`` fact of the chat as it stands now.

        The snapshot carries the seq and time of the last step it covers; the steps after it
        follow it, so ``project(record) == chat`` holds. A snapshot costs O(chat rows), so the
        record may hold ``record_limit`` steps *plus one per chat row* before it is compacted:
        each step then pays O(1) for compaction however long the chat grows.
        """
        cap = (self.record_limit or 0) + self._chat.row_count
        self._record_cap = cap
        if len(self.record) <= cap:
            return
        for reader in self._compacting:
            reader()
        last = self.record[-1]
        snapshot = Transition(
            last.seq, last.time, "chat", "snapshot", None, None, self._chat.snapshot()
        )
        self.record[:] = [snapshot]

    def _new_event_id(self) -> str:
        return f"evt_rm_{next(self._event_ids)}"

    def _wire_fact(self, event: str, data: dict[str, Any], chart: str) -> None:
        self._keep(Transition(next(self._seq), self._now, chart, event, None, None, data))

    # -- observing ----------------------------------------------------------------------------
    def subscribe(
        self, observer: Observer, *, events: Container[str] | None = None
    ) -> Callable[[], None]:
        """Call ``observer`` with every transition and fact from now on (or only those whose
        event is ``in events``: a set, or a live view such as a dict's keys, read at each
        transition); return an unsubscribe."""
        entry = (observer, events)
        self._observers = (*self._observers, entry)

        def unsubscribe() -> None:
            self._observers = tuple(e for e in self._observers if e is not entry)

        return unsubscribe

    def on_compact(self, reader: Callable[[], None]) -> Callable[[], None]:
        """Call ``reader`` right before the record is compacted, while it still holds every step
        since the last compaction (a reader that follows :attr:`record` by its position reads
        the steps it has not read yet); after it the record holds one ``snapshot`` step, and the
        steps after it follow. Return the function that stops it."""
        self._compacting = (*self._compacting, reader)

        def stop() -> None:
            self._compacting = tuple(r for r in self._compacting if r is not reader)

        return stop

    def take_effects(self) -> list[Effect]:
        """Remove and return the effects the charts asked for, in order."""
        effects = list(self.outbox)
        self.outbox.clear()
        return effects

    def take_notices(self) -> list[Notice]:
        """Remove and return the convenience events produced since the last call."""
        notices = self._notices
        self._notices = []
        return notices

    # -- what cannot be handled ---------------------------------------------------------------
    def _malformed(self, event: MalformedEvent) -> None:
        self.malformed_events += 1
        logger.warning("malformed %s event: %s", event.type or "untyped", "; ".join(event.problems))
        self._wire_fact(
            "malformed", {"type": event.type, "problems": list(event.problems)}, chart="wire"
        )
        self._notices.append(
            ErrorNotice(
                "client",
                {
                    "type": "malformed_event",
                    "event_type": event.type,
                    "message": "; ".join(event.problems),
                },
            )
        )

    def _unknown(self, event: UnknownEvent) -> None:
        kind = event.type
        if kind not in self.unknown_events:
            if len(self.unknown_events) >= MAX_UNKNOWN_TYPES:  # a hostile server: stay flat
                kind = OTHER_UNKNOWN
            else:
                logger.info("unknown event type %r passed through (logged once per type)", kind)
        self.unknown_events[kind] += 1
        self._wire_fact("unknown", {"type": event.type}, chart="wire")

    def _fault(self, event_type: str, exc: Exception) -> None:
        self.faults += 1
        logger.error("model fault while handling %s", event_type, exc_info=exc)
        message = f"{type(exc).__name__}: {exc}"
        self._wire_fact("fault", {"type": event_type, "error": message}, chart="model")
        self._notices.append(
            ErrorNotice(
                "client", {"type": "model_fault", "event_type": event_type, "message": message}
            )
        )
