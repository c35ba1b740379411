"""The one base class every chart of the model derives from.

It pins python-statemachine's flags so that chart behaviour does not depend on library defaults:

* ``catch_errors_as_events = False``: an exception in an action reaches the caller (the
  :class:`~realtime_machines.session.SessionModel`, which reports it and goes on) instead of being
  swallowed silently, which is the library's default (reference: statemachine.md §8.2).
* ``allow_event_without_transition = True``: an event a state does not handle is a no-op.

It also gives every chart a *host* (the session) to which actions hand effect commands and
transition records, and :meth:`ModelChart.offer`, which skips events the current state would
ignore anyway.

**Two engines, one meaning.** A chart class is defined, validated and drawn by
python-statemachine, whose engine stays the reference. At run time :meth:`ModelChart.send`
executes a table compiled from the same class once: for each ``(state, event)``, the
transitions in declaration order with their guards and callbacks, called in the library's
order (guards; ``before_transition``, ``before=``, ``before_<event>``; ``on_exit_state``,
``on_exit_<source>``; ``on_transition``, ``on=``, ``on_<event>``; ``on_enter_state``,
``on_enter_<target>``; ``after=``, ``after_<event>``, the record), with events sent from a
callback run after the current transition completes (run to completion). The library's engine
costs about 100 µs per event on this machine; the table about 5 µs. A property test drives
every chart through both engines with random events and asserts the same states, effects and
records. A chart using anything the table does not model (compound or parallel states,
expression guards, listeners) fails at compile time and runs on the library's engine instead.

**Cheap instances.** A chart on the table keeps its current state in one attribute and does not
build python-statemachine's per-instance machinery (callback registry, configuration, engine:
about 650 µs and 59 KB per instance, which mattered with one tool-call chart per ``call_id``).
That machinery is built on first use only: when the chart is switched to the reference engine
(its current state carried over, no initial activation run again) or its ``configuration`` is
read.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

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


# -- the compiled table -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """One callback, with the names of the arguments it takes."""

    function: Callable[..., Any]
    params: tuple[str, ...]
    takes_all: bool

    def __call__(self, chart: Any, env: Mapping[str, Any]) -> Any:
        if self.takes_all:
            return self.function(chart, **env)
        return self.function(chart, **{name: env[name] for name in self.params if name in env})


@dataclass(frozen=True, slots=True)
class _Guard:
    call: _Call
    negate: bool


@dataclass(frozen=True, slots=True)
class _Edge:
    event: str
    source: Any  # the class-level State
    target: Any | None
    guards: tuple[_Guard, ...]
    before: tuple[_Call, ...]
    exit: tuple[_Call, ...]
    on: tuple[_Call, ...]
    enter: tuple[_Call, ...]
    after: tuple[_Call, ...]


class CompileError(Exception):
    """The chart uses something the table does not model; the library's engine runs it."""


def _call(cls: type, name: str) -> _Call | None:
    function = getattr(cls, name, None)
    if function is None or not callable(function):
        return None
    if name == "after_transition" and function is ModelChart.after_transition:
        return None  # the table records transitions itself
    if not inspect.isfunction(function):
        raise CompileError(f"{cls.__name__}.{name} is not a plain method")
    parameters = list(inspect.signature(function).parameters.values())[1:]
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    names = tuple(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise CompileError(f"{cls.__name__}.{name} takes *args")
    return _Call(function, names, takes_all)


def _calls(cls: type, names: list[str]) -> tuple[_Call, ...]:
    calls = []
    for name in names:
        call = _call(cls, name)
        if call is not None:
            calls.append(call)
    return tuple(calls)


def _explicit(specs: Any, conventions: set[str]) -> list[str]:
    return [str(spec) for spec in specs if str(spec) not in conventions]


def _compile(cls: type[ModelChart]) -> dict[tuple[str, str], tuple[_Edge, ...]]:
    if getattr(cls, "_class_listeners", None):
        raise CompileError("class-level listeners")
    table: dict[tuple[str, str], list[_Edge]] = {}
    for state in cls.states:
        if state.parent is not None or list(state.states):
            raise CompileError(f"state {state.id!r} is compound or nested")
        for transition in state.transitions:
            if transition.internal or transition.initial:
                raise CompileError("internal or initial transitions")
            target = transition.target
            for event_obj in transition.events:
                event = str(event_obj)
                conventions = {
                    "before_transition",
                    f"before_{event}",
                    "on_transition",
                    f"on_{event}",
                    "after_transition",
                    f"after_{event}",
                }
                guards = []
                for spec in transition.cond:
                    text = str(spec)
                    negate = text.startswith("!")
                    name = text[1:] if negate else text
                    if not name.isidentifier():
                        raise CompileError(f"guard expression {text!r}")
                    call = _call(cls, name)
                    if call is None:
                        raise CompileError(f"guard {name!r} is not a method")
                    guards.append(_Guard(call, negate))
                before = ["before_transition", *_explicit(transition.before, conventions)]
                on = ["on_transition", *_explicit(transition.on, conventions)]
                after = _explicit(transition.after, conventions)
                edge = _Edge(
                    event=event,
                    source=state,
                    target=target,
                    guards=tuple(guards),
                    before=_calls(cls, [*before, f"before_{event}"]),
                    exit=_calls(cls, ["on_exit_state", f"on_exit_{state.id}"]) if target else (),
                    on=_calls(cls, [*on, f"on_{event}"]),
                    enter=_calls(cls, ["on_enter_state", f"on_enter_{target.id}"])
                    if target
                    else (),
                    after=_calls(cls, [*after, f"after_{event}", "after_transition"]),
                )
                table.setdefault((state.id, event), []).append(edge)
    return {key: tuple(edges) for key, edges in table.items()}


# -- the base class ---------------------------------------------------------------------------


class _Holder:
    """Where the library keeps a chart's state once its machinery is built late."""

    __slots__ = ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state


class ModelChart(StateChart["ModelChart"]):
    """Project base for all charts: pinned flags, a host, transition records, ``offer()``."""

    catch_errors_as_events = False
    allow_event_without_transition = True

    #: The chart's name in transition records and diagrams (``connection``, ``response`` ...).
    chart_kind: ClassVar[str] = "chart"

    # event id -> ids of the states in which that event has at least one transition
    _handled_in: ClassVar[dict[str, frozenset[str]]]
    # (state id, event) -> candidate transitions, or None when the library's engine must run
    _table: ClassVar[dict[tuple[str, str], tuple[_Edge, ...]] | None]
    _initial: ClassVar[Any]

    # The library's guard against assigning a state's name costs a call on every attribute
    # set; the charts never assign one (and the class-level states are checked at definition).
    __setattr__ = object.__setattr__

    def __init__(
        self, host: ChartHost, *, name: str | None = None, reference_engine: bool = False
    ) -> None:
        self.host = host
        self.name = name or self.chart_kind
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._busy = False
        self._value: Any = type(self)._initial_value()
        self._library = False  # python-statemachine's per-instance machinery built?
        self._reference = False
        if reference_engine or type(self).compiled() is None:
            # The library's own construction, initial activation included.
            self._reference = True
            self._library = True
            self._value = None
            super().__init__()

    @classmethod
    def _initial_value(cls) -> Any:
        value = cls.__dict__.get("_initial")
        if value is None:
            value = next(state.value for state in cls.states if state.initial)
            cls._initial = value
        return value

    def _build_library(self) -> None:
        """Build the library's machinery in the current state, without activating it again."""
        if self._library:
            return
        self._library = True
        StateChart.__init__(self, model=cast(Any, _Holder(self._value)))

    @property
    def reference_engine(self) -> bool:
        """Run events through python-statemachine's own engine (the reference; ~20× slower)."""
        return self._reference

    @reference_engine.setter
    def reference_engine(self, value: bool) -> None:
        value = bool(value) or type(self).compiled() is None
        if value == self._reference:
            return
        if value:
            self._build_library()
            self._reference = True
        else:
            self._value = self._config.value
            self._reference = False

    @property
    def current_state_value(self) -> Any:
        if self._reference:
            return self._config.value
        return self._value

    @current_state_value.setter
    def current_state_value(self, value: Any) -> None:
        if self._reference:
            self._config.value = value
        else:
            self._value = value

    @property
    def configuration(self) -> Any:
        """The library's configuration (its machinery is built for this on the table engine)."""
        self._build_library()
        if not self._reference:
            cast(_Holder, self.model).state = self._value
        return StateChart.configuration.fget(self)  # type: ignore[attr-defined]

    @configuration.setter
    def configuration(self, value: Any) -> None:
        self._build_library()
        StateChart.configuration.fset(self, value)  # type: ignore[attr-defined]
        if not self._reference:
            self._value = self._config.value

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

    @classmethod
    def compiled(cls) -> dict[tuple[str, str], tuple[_Edge, ...]] | None:
        """The compiled transition table, or ``None`` if this chart needs the library's engine."""
        if "_table" not in cls.__dict__:
            try:
                cls._table = _compile(cls)
            except CompileError:
                cls._table = None
        return cls.__dict__["_table"]  # type: ignore[no-any-return]

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

    def send(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """Process ``event`` (keyword data only) to completion; events it raises run after it."""
        if self.reference_engine:
            return super().send(event, *args, **kwargs)
        if args:
            raise TypeError("chart events take keyword data only")
        self._queue.append((event, kwargs))
        if self._busy:
            return None
        self._busy = True
        try:
            while self._queue:
                name, data = self._queue.popleft()
                self._fire(name, data)
        finally:
            self._busy = False
            self._queue.clear()
        return None

    def _fire(self, event: str, data: dict[str, Any]) -> None:
        edges = self._table.get((self.current_state_value, event))  # type: ignore[union-attr]
        if not edges:
            return
        env: dict[str, Any] = dict(data)
        for edge in edges:
            env["source"] = edge.source
            env["target"] = edge.target
            env["event"] = event
            if all(bool(g.call(self, env)) is not g.negate for g in edge.guards):
                break
        else:
            return
        self._take(edge, env, data)

    def _take(self, edge: _Edge, env: dict[str, Any], data: dict[str, Any]) -> None:
        source = edge.source
        try:
            for call in edge.before:
                call(self, env)
            if edge.target is not None:
                env["state"] = source
                for call in edge.exit:
                    call(self, env)
            for call in edge.on:
                call(self, env)
            if edge.target is not None:
                self.current_state_value = edge.target.id
                env["state"] = edge.target
                for call in edge.enter:
                    call(self, env)
        except BaseException:
            self.current_state_value = source.id
            raise
        for call in edge.after:
            call(self, env)
        self.host.record_transition(
            self.name,
            edge.event,
            source.id,
            edge.target.id if edge.target is not None else None,
            data,
        )

    def after_transition(self, event_data: Any) -> None:
        # The reference engine's recorder (the table records directly). One parameter, not
        # four: the library binds callback arguments on every transition.
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
