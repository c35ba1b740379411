"""What the inspector shows: a live session (:class:`LiveSource`) or a recorded one
(:class:`TraceSource`), of either protocol: a Realtime session or a GPT-Live one. What differs
between the two (the session's charts, the chat projection, whether turn metrics exist) is a
:class:`ModelKind`, :data:`REALTIME` or :data:`LIVE`, picked from the model or the record.

A live source hears every transition through the session model's ``subscribe`` and does O(1)
work for it on the client's path: the step goes into one bounded ring shared by every page, and
the page tasks, woken at most once per flush, read it at their own cursors. A page that falls
further behind than the ring holds is not queued for: it gets one coalesced snapshot (the
states as they are and the tail of the log) and carries on from there. So the number of pages
and their speed change nothing for the client but a wake-up per flush.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from realtime_machines._chart import ModelChart
from realtime_machines.charts import (
    ALL_CHARTS,
    ConnectionChart,
    ModeChart,
    PlaybackChart,
    ResponseChart,
    ToolCallChart,
)
from realtime_machines.chat import ChatItem, project
from realtime_machines.live import (
    LIVE_CHARTS,
    DelegationChart,
    FixtureChart,
    InputAudioChart,
    LiveSessionChart,
    LiveSessionModel,
    SipLegChart,
    project_live,
)
from realtime_machines.record import Transition
from realtime_machines.replay import LiveReplayResult, replay_any
from realtime_machines.session import SessionModel

from .layout import ChartShape, Edge, Node, chart_shape
from .metrics_panel import MetricsAdapter

__all__ = [
    "LIVE",
    "LOG_TAIL",
    "REALTIME",
    "RING_SIZE",
    "LiveSource",
    "ModelKind",
    "Source",
    "TraceSource",
    "chart_kind",
    "load_trace",
    "model_kind",
    "observed_shape",
    "step_json",
]

RING_SIZE = 2048
"""Transitions a live source keeps for its pages; a page further behind gets a snapshot."""
LOG_TAIL = 500
"""Transitions a snapshot carries for the log."""
SESSION_CHARTS = (ConnectionChart, ResponseChart, PlaybackChart, ModeChart, ToolCallChart)
"""A Realtime session's charts, in page order (the handshake goes after the connection)."""
LIVE_SESSION_CHARTS = (
    ConnectionChart,
    LiveSessionChart,
    DelegationChart,
    InputAudioChart,
    FixtureChart,
)
"""A GPT-Live session's charts, in page order (a SIP leg's is added when there is one)."""
LIVE_METRICS_NOTE = (
    "Turn metrics are not computed for GPT-Live sessions: Live has no responses to time "
    "(its turns are inferred from transcript timing)."
)

Model = SessionModel | LiveSessionModel
"""A session model the inspector can watch."""


@dataclass(frozen=True, slots=True)
class ModelKind:
    """What the inspector needs to know of one protocol's session model."""

    api: str
    """``"realtime"`` or ``"live"`` (as ``RealtimeClient(api=...)``)."""
    charts: tuple[type[ModelChart], ...]
    """The session's charts, always drawn, in page order."""
    project: Callable[[Iterable[Transition]], list[ChatItem]]
    """The chat a record describes."""
    metrics_note: str | None = None
    """Why the panel shows no turn metrics for this protocol (``None``: it may show them)."""

    def metrics_adapter(self, owner: object | None = None) -> MetricsAdapter:
        """The metrics panel's adapter for a session of this protocol (``owner``: a client)."""
        if self.metrics_note is not None:
            return MetricsAdapter(note=self.metrics_note)
        return MetricsAdapter(owner)


REALTIME = ModelKind("realtime", SESSION_CHARTS, project)
LIVE = ModelKind("live", LIVE_SESSION_CHARTS, project_live, LIVE_METRICS_NOTE)
_KINDS = {kind.api: kind for kind in (REALTIME, LIVE)}
_LIVE_ONLY_KINDS = frozenset(cls.chart_kind for cls in LIVE_CHARTS)


def model_kind(api: str | ModelKind) -> ModelKind:
    """:data:`REALTIME` or :data:`LIVE` by name (``ValueError`` for another)."""
    if isinstance(api, ModelKind):
        return api
    kind = _KINDS.get(api) if isinstance(api, str) else None
    if kind is None:
        raise ValueError(f"api must be one of {sorted(_KINDS)}, got {api!r}")
    return kind


def _record_kind(record: Iterable[Transition]) -> ModelKind:
    """:data:`LIVE` when the record names a chart only a Live session has, else Realtime."""
    for step in record:
        if chart_kind(step.chart) in _LIVE_ONLY_KINDS:
            return LIVE
    return REALTIME


def chart_kind(name: str) -> str:
    """The kind of a chart named in the record: ``"tool_call:call_1"`` → ``"tool_call"``."""
    return name.partition(":")[0]


def step_json(step: Transition) -> dict[str, Any]:
    """One transition as the page reads it (the data left out: it may be large or private)."""
    return {
        "seq": step.seq,
        "time": step.time,
        "chart": step.chart,
        "kind": chart_kind(step.chart),
        "event": step.event,
        "source": step.source,
        "target": step.target,
    }


def observed_shape(kind: str, steps: Iterable[Transition]) -> ChartShape:
    """A shape made from the transitions seen, for a chart the inspector has no class of."""
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], list[str]] = {}
    for step in steps:
        if step.is_fact or chart_kind(step.chart) != kind or step.source is None:
            continue
        for state in (step.source, step.target):
            if state is not None and state not in nodes:
                nodes[state] = Node(state, state.replace("_", " "), initial=not nodes)
        if step.target is not None and step.target != step.source:
            events = edges.setdefault((step.source, step.target), [])
            if step.event not in events:
                events.append(step.event)
    return ChartShape(
        kind,
        f"{kind} (as recorded)",
        tuple(nodes.values()),
        tuple(Edge(s, t, tuple(e)) for (s, t), e in edges.items()),
    )


def _shapes(model_shapes: list[ChartShape], record: Iterable[Transition]) -> list[ChartShape]:
    """The session's charts, then each other kind the record names: from its class when the
    model has one (a SIP call's ``call``), else from the transitions seen (a handshake)."""
    known = {shape.kind for shape in model_shapes}
    charts: tuple[type[ModelChart], ...] = (*ALL_CHARTS, *LIVE_CHARTS)
    classes = {cls.chart_kind: cls for cls in charts}
    extra: list[str] = []
    steps = list(record)
    for step in steps:
        kind = chart_kind(step.chart)
        if not step.is_fact and kind not in known and kind not in extra:
            extra.append(kind)
    return model_shapes + [
        chart_shape(classes[kind]) if kind in classes else observed_shape(kind, steps)
        for kind in extra
    ]


def _chat_json(items: Sequence[ChatItem]) -> list[dict[str, Any]]:
    return [item.to_json() for item in items]


class Source(Protocol):
    """What the server asks of a source."""

    mode: str
    title: str
    kind: ModelKind
    metrics_adapter: MetricsAdapter

    def shapes(self) -> list[ChartShape]: ...


class _HasModel(Protocol):
    @property
    def model(self) -> Model: ...


class LiveSource:
    """A running session, watched from now on: a :class:`~realtime_sdk.RealtimeClient` or its
    :class:`~realtime_machines.session.SessionModel`, or a GPT-Live client
    (``RealtimeClient(api="live")``) or its
    :class:`~realtime_machines.live.LiveSessionModel`. Which protocol it is (:attr:`kind`)
    comes from the model."""

    mode = "live"

    def __init__(
        self,
        session: _HasModel | Model,
        *,
        title: str | None = None,
        ring_size: int = RING_SIZE,
    ) -> None:
        if ring_size < 1:
            raise ValueError(f"ring_size must be at least 1, got {ring_size!r}")
        bare = isinstance(session, SessionModel | LiveSessionModel)
        model = session if bare else getattr(session, "model", None)
        if not isinstance(model, SessionModel | LiveSessionModel):
            raise TypeError(
                "LiveSource needs a RealtimeClient or a SessionModel (or a GPT-Live client or "
                f"LiveSessionModel), got {type(session).__name__}"
            )
        self.model: Model = model
        self.kind = LIVE if isinstance(model, LiveSessionModel) else REALTIME
        self.title = title or ("GPT-Live session" if self.kind is LIVE else "live session")
        self.metrics_adapter = self.kind.metrics_adapter(None if bare else session)
        self._ring: deque[Transition] = deque(maxlen=ring_size)
        self._count = 0  # transitions appended since the source was made
        self._facts = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._cache: dict[str, tuple[int, Any]] = {}
        for step in model.record:  # what the model already did (its record, maybe compacted)
            if not step.is_fact:
                self._ring.append(step)
                self._count += 1
        self._unsubscribe = model.subscribe(self._observe)

    # The client's path: O(1), no await, no I/O.
    def _observe(self, step: Transition) -> None:
        if step.source is None:
            self._facts += 1
        else:
            self._ring.append(step)
            self._count += 1
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Stop listening to the session (pages then see nothing new)."""
        self._closed = True
        self._unsubscribe()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def count(self) -> int:
        """How many transitions the source has seen: a page's cursor."""
        return self._count

    @property
    def changes(self) -> int:
        """Increases with every transition and fact (the chat may have changed)."""
        return self._count + self._facts

    async def changed(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return when something happened, or after ``timeout`` seconds."""
        if self._closed:
            await asyncio.sleep(timeout)
            return
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.wait((self._waiter,), timeout=timeout)  # never cancels the shared one

    def since(self, cursor: int, limit: int) -> tuple[list[Transition], int] | None:
        """The transitions after ``cursor`` and the new cursor; ``None`` when the page is more
        than ``limit`` (or than the ring holds) behind: it needs a :meth:`snapshot`."""
        behind = self._count - cursor
        if behind < 0 or behind > len(self._ring) or behind > limit:
            return None
        if behind == 0:
            return [], cursor
        return list(itertools.islice(self._ring, len(self._ring) - behind, None)), self._count

    def states(self) -> dict[str, str]:
        states = self.model.states()
        if self.model.handshake is not None:
            states["handshake"] = self.model.handshake.state
        return states

    def tail(self, n: int = LOG_TAIL) -> list[Transition]:
        ring = self._ring
        return list(itertools.islice(ring, max(0, len(ring) - n), None))

    def _cached(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, once per change of the session however many pages ask."""
        hit = self._cache.get(name)
        if hit is not None and hit[0] == self.changes:
            return hit[1]
        value = make()
        self._cache[name] = (self.changes, value)
        return value

    def chat(self) -> list[dict[str, Any]]:
        return list(self._cached("chat", lambda: _chat_json(self.model.chat)))

    def metrics(self) -> Any:
        return self._cached("metrics", lambda: self.metrics_adapter.metrics(self.model.record))

    def snapshot(self) -> dict[str, Any]:
        """Everything a page needs to start (or to catch up): states, cursor, log tail."""
        return {
            "cursor": self._count,
            "states": self.states(),
            "log": [step_json(step) for step in self.tail()],
        }

    def shapes(self) -> list[ChartShape]:
        shapes = [chart_shape(cls) for cls in self.kind.charts]
        shapes.insert(1, chart_shape(self.model.handshake_class, "handshake"))
        if isinstance(self.model, LiveSessionModel) and self.model.sip_leg is not None:
            shapes.append(chart_shape(SipLegChart))
        return _shapes(shapes, self._ring)


class TraceSource:
    """A recorded session: its transitions, stepped through by the page's slider. ``api``
    says its protocol (``"realtime"``, ``"live"``, or ``None``: told from the charts the
    record names)."""

    mode = "trace"

    def __init__(
        self,
        record: Sequence[Transition],
        *,
        title: str = "trace",
        api: str | ModelKind | None = None,
    ) -> None:
        self.record = list(record)
        self.title = title
        self.kind = _record_kind(self.record) if api is None else model_kind(api)
        self.metrics_adapter = self.kind.metrics_adapter()
        self.steps = [step for step in self.record if not step.is_fact]

    def shapes(self) -> list[ChartShape]:
        return _shapes([chart_shape(cls) for cls in self.kind.charts], self.steps)

    def trace(self) -> dict[str, Any]:
        """Every transition (the slider's positions) and the charts' starting states."""
        initial = {shape.kind: shape.initial for shape in self.shapes()}
        return {"steps": [step_json(step) for step in self.steps], "initial": initial}

    def at(self, position: int) -> dict[str, Any]:
        """The chat and metrics after the first ``position`` transitions (0: before any)."""
        if not 0 <= position <= len(self.steps):
            raise ValueError(f"position must be 0 to {len(self.steps)}, got {position}")
        if position == 0:  # the facts before the first transition (all, when there is none)
            bound = self.steps[0].seq - 1 if self.steps else None
        else:
            bound = self.steps[position - 1].seq
        upto = [step for step in self.record if bound is None or step.seq <= bound]
        return {
            "position": position,
            "chat": _chat_json(self.kind.project(upto)),
            "metrics": self.metrics_adapter.metrics(upto),
        }


def load_trace(path: str | Path) -> TraceSource:
    """A :class:`TraceSource` from a file: a wire trace (``realtime demo --trace``: replayed
    through a fresh model of its protocol, Realtime or GPT-Live as ``realtime replay`` tells
    them apart) or a transition record (``realtime replay --transitions``; GPT-Live when it
    names a Live chart). ``OSError`` when it cannot be read, ``ValueError`` when it is
    neither."""
    path = Path(path)
    with path.open("rb") as fp:
        raw = fp.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason})") from None
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise ValueError(f"{path} is empty: no events or transitions to show")
    try:
        head = json.loads(first)
    except ValueError:
        raise ValueError(f"{path}: line 1 is not JSON") from None
    if isinstance(head, Mapping) and "seq" in head and "chart" in head:
        record: list[Transition] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record.append(Transition.from_json(json.loads(line)))
            except ValueError as exc:
                raise ValueError(f"{path}: line {number}: {exc}") from None
        return TraceSource(record, title=path.name)
    result = replay_any(lines)
    if result.events == 0:
        reasons = "; ".join(f"line {b.number}: {b.reason}" for b in result.bad_lines[:3])
        raise ValueError(f"{path} holds no replayable events ({reasons})")
    api = LIVE if isinstance(result, LiveReplayResult) else REALTIME
    return TraceSource(result.session.record, title=path.name, api=api)
