"""Turn metrics: where the time went in each turn, derived from the transition record.

Every measure is a difference of two transition times of the record
(:class:`~realtime_machines.record.Transition`), so a live session and a replay of its timed
trace give the same numbers. :class:`MetricsTracker` is fed one transition at a time (O(1) each,
bounded memory: the last ``window`` turns and a running summary), which is how a live client
uses it (``tracker.attach(model)``); :func:`turn_metrics` runs the same tracker
over a whole record.

A **turn** starts at the user's input: the end of their speech (``speech_stopped``, from
``input_audio_buffer.speech_stopped``) or a message or audio commit the client sent
(``input_sent``). A response that starts with no user input before it (a greeting, a
server-initiated answer) starts a turn of its own at its request (or at ``response.created``
when the client did not ask for it). The turn holds every response until it *settles*: all its
responses are done, no tool call of it awaits its output, no response is requested, and nothing
is audible. A new user input closes the open turn too. The measures, in seconds from the turn's
start (``None`` when the turn has no such step):

``transcript_done``   the user's input transcript completed;
``response_created``  the first ``response.created`` of the turn;
``first_text``        the first text or audio-transcript delta;
``first_audio``       the first audio: the first audio delta, or the output becoming audible
                      (``output_audio_buffer.started`` / the client's player), whichever is first;
``response_done``     the turn's last ``response.done``;
``barge_in``          (not from the turn's start) the user started speaking while the assistant
                      was audible → the output went silent;
tool latency          per tool call: its arguments done → its output sent.

Connect steps are timed apart (:class:`ConnectMetrics`): every state of the Connection chart's
connect (token, microphone, handshaking) and each step of the transport's handshake chart.

The result objects (:class:`TurnMetrics`, :class:`ResponseMetrics`, :class:`ToolMetrics`,
:class:`ConnectMetrics`, :class:`StepMetrics`) are plain slotted dataclasses, to be read, not
changed: a frozen dataclass costs about six times as much to make, and a live client makes one
per turn on its event path.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Container, Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import Any, ClassVar, Protocol

from .charts.connection import ConnectionChart
from .charts.handshake import HANDSHAKE_FRAME
from .charts.playback import PlaybackChart
from .charts.response import ResponseChart
from .charts.tool_call import ToolCallChart
from .record import Transition

__all__ = [
    "MEASURES",
    "ConnectMetrics",
    "MetricsTracker",
    "Prices",
    "ResponseMetrics",
    "SessionMetrics",
    "Stat",
    "StepMetrics",
    "ToolMetrics",
    "TurnMetrics",
    "Usage",
    "turn_metrics",
]

#: The per-turn measures the summary covers, in order (``tool_latency`` is per tool call,
#: ``connect`` per connect: the whole connect, idle → connected).
MEASURES: tuple[str, ...] = (
    "transcript_done",
    "response_created",
    "first_text",
    "first_audio",
    "response_done",
    "barge_in",
    "tool_latency",
    "connect",
)
#: Turns (and connects) a tracker keeps by default; the summary's median and p90 are over the
#: measure's values in them, its count, mean, min and max over all of them.
DEFAULT_WINDOW = 1_000

_CONNECT_STEPS = frozenset({"fetching_token", "opening_microphone", "handshaking"})
_CONNECT_ENDS = frozenset({"connected", "error", "disconnected", "idle", "ended"})
_CALL_OVER = frozenset({"disconnected", "error", "ended", "reconnecting", "disconnecting"})
_TOOL_DONE = frozenset({"answered", "abandoned"})
_LANE_IDLE = frozenset({"idle", "done"})
_LANE_ASKING = frozenset({"create_requested", "server_busy"})
#: The events of the charts the tracker follows (a handshake chart's are the same for every
#: transport: see ``charts.handshake``).
_CHART_EVENTS = frozenset(
    event
    for chart in (ResponseChart, PlaybackChart, ConnectionChart, ToolCallChart)
    for event in chart.handled_in()
) | {"start", "step_done", "step_failed", "timed_out", "cancel"}


_NO_DETAILS: Mapping[str, Any] = {}


def _details(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _NO_DETAILS


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more responses (``response.done``'s ``usage``), by modality.

    ``*_input`` counts include the cached tokens (as the API counts them); the ``cached_*``
    fields are the cached part of them.
    """

    text_input: int = 0
    audio_input: int = 0
    image_input: int = 0
    cached_text_input: int = 0
    cached_audio_input: int = 0
    cached_image_input: int = 0
    text_output: int = 0
    audio_output: int = 0

    @classmethod
    def from_response(cls, usage: object) -> Usage:
        """The usage object of ``response.done``'s ``response`` (anything else counts zero)."""
        tokens = _tokens(usage)
        return cls(*tokens) if any(tokens) else _NO_USAGE

    def __add__(self, other: Usage) -> Usage:
        if other is _NO_USAGE:
            return self
        if self is _NO_USAGE:
            return other
        return Usage(
            self.text_input + other.text_input,
            self.audio_input + other.audio_input,
            self.image_input + other.image_input,
            self.cached_text_input + other.cached_text_input,
            self.cached_audio_input + other.cached_audio_input,
            self.cached_image_input + other.cached_image_input,
            self.text_output + other.text_output,
            self.audio_output + other.audio_output,
        )

    @property
    def input_tokens(self) -> int:
        return self.text_input + self.audio_input + self.image_input

    @property
    def output_tokens(self) -> int:
        return self.text_output + self.audio_output

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "text_input": self.text_input,
            "audio_input": self.audio_input,
            "image_input": self.image_input,
            "cached_text_input": self.cached_text_input,
            "cached_audio_input": self.cached_audio_input,
            "cached_image_input": self.cached_image_input,
            "text_output": self.text_output,
            "audio_output": self.audio_output,
        }


_NO_USAGE = Usage()


def _tokens(usage: object) -> tuple[int, ...]:
    """The token counts of a ``response.done`` usage object, in :class:`Usage`'s field order;
    anything that is not a whole count ≥ 0 counts zero."""
    try:  # the usual case: every count there, an int ≥ 0 (checked in C)
        inputs = usage["input_token_details"]  # type: ignore[index]
        cached = inputs["cached_tokens_details"]
        outputs = usage["output_token_details"]  # type: ignore[index]
        values: tuple[int, ...] = (
            inputs["text_tokens"],
            inputs["audio_tokens"],
            inputs["image_tokens"],
            cached["text_tokens"],
            cached["audio_tokens"],
            cached["image_tokens"],
            outputs["text_tokens"],
            outputs["audio_tokens"],
        )
        if tuple(map(type, values)) == _EIGHT_INTS and min(values) >= 0:
            return values
    except (LookupError, TypeError):
        pass
    return _checked_tokens(usage)


def _checked_tokens(usage: object) -> tuple[int, ...]:
    """:func:`_tokens` one value at a time (a missing or wrong part counts zero)."""
    if not isinstance(usage, Mapping):
        return _NO_TOKENS
    inputs = _details(usage.get("input_token_details"))
    outputs = _details(usage.get("output_token_details"))
    cached = _details(inputs.get("cached_tokens_details"))
    values = (
        inputs.get("text_tokens"),
        inputs.get("audio_tokens"),
        inputs.get("image_tokens"),
        cached.get("text_tokens"),
        cached.get("audio_tokens"),
        cached.get("image_tokens"),
        outputs.get("text_tokens"),
        outputs.get("audio_tokens"),
    )
    return tuple(v if type(v) is int and v > 0 else 0 for v in values)


_NO_TOKENS: tuple[int, ...] = (0,) * 8
#: Turns that left the window are folded into the running summary this many at a time (or a
#: window's worth, if the window is smaller): few enough that the garbage collector does not
#: keep walking them, enough that folding runs mostly in C.
_FOLD_EVERY = 64
_EVENT = attrgetter("event")
_EIGHT_INTS = (int,) * 8


def _usage_of(responses: Iterable[ResponseMetrics]) -> Usage:
    usage = _NO_USAGE
    for response in responses:
        usage = usage + response.usage
    return usage


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's prices in US dollars per 1,000,000 tokens (no defaults: prices change; take
    them from the model's page). Image input is priced as text input unless given."""

    text_input: float
    text_cached_input: float
    text_output: float
    audio_input: float
    audio_cached_input: float
    audio_output: float
    image_input: float | None = None
    image_cached_input: float | None = None

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"Prices.{name} must be a number ≥ 0 (USD per 1M tokens)")

    def cost(self, usage: Usage) -> float:
        """What ``usage`` costs, in US dollars."""
        image = self.text_input if self.image_input is None else self.image_input
        image_cached = (
            self.text_cached_input if self.image_cached_input is None else self.image_cached_input
        )
        total = (
            (usage.text_input - usage.cached_text_input) * self.text_input
            + usage.cached_text_input * self.text_cached_input
            + (usage.audio_input - usage.cached_audio_input) * self.audio_input
            + usage.cached_audio_input * self.audio_cached_input
            + (usage.image_input - usage.cached_image_input) * image
            + usage.cached_image_input * image_cached
            + usage.text_output * self.text_output
            + usage.audio_output * self.audio_output
        )
        return total / 1_000_000


def _secs(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass(slots=True)
class ToolMetrics:
    """One tool call: ``latency`` is its arguments done → its output sent (``None`` when no
    output was sent: ``outcome`` says where it ended)."""

    call_id: str
    name: str
    latency: float | None = None
    outcome: str = "streaming"
    #: Record times: its arguments done, and its output sent (or where it ended).
    started: float | None = None
    ended: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "name": self.name,
            "latency": _secs(self.latency),
            "outcome": self.outcome,
            "started": self.started,
            "ended": self.ended,
        }


@dataclass(slots=True)
class ResponseMetrics:
    """One response of a turn, with absolute record times (``done`` is ``None`` if it never
    finished while the turn was open)."""

    response_id: str
    created: float
    first_text: float | None = None
    first_audio: float | None = None
    done: float | None = None
    status: str = "in_progress"
    #: The token counts of ``response.done``'s ``usage``, in :class:`Usage`'s field order.
    tokens: tuple[int, ...] = field(default=(0,) * 8, repr=False)

    @property
    def usage(self) -> Usage:
        tokens = self.tokens
        return Usage(*tokens) if any(tokens) else _NO_USAGE

    def to_json(self) -> dict[str, Any]:
        return {
            "response_id": self.response_id,
            "created": self.created,
            "first_text": self.first_text,
            "first_audio": self.first_audio,
            "done": self.done,
            "status": self.status,
            "usage": self.usage.to_json(),
        }


@dataclass(slots=True)
class TurnMetrics:
    """One turn (see the module docstring for the measures, in seconds)."""

    index: int
    trigger: str  # "speech" | "message" | "audio" | "request" | "server"
    started: float
    ended: float
    settled: bool
    transcript_done: float | None
    response_created: float | None
    first_text: float | None
    first_audio: float | None
    response_done: float | None
    barge_in: float | None
    tools: tuple[ToolMetrics, ...]
    responses: tuple[ResponseMetrics, ...]
    cost: float | None

    @property
    def usage(self) -> Usage:
        """The tokens of the turn's responses."""
        return _usage_of(self.responses)

    def measure(self, name: str) -> float | None:
        """A measure by its name in :data:`MEASURES` (``None`` for the per-call ones)."""
        value = getattr(self, name, None) if name in _TURN_MEASURES else None
        return value if isinstance(value, float) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "trigger": self.trigger,
            "started": self.started,
            "ended": self.ended,
            "settled": self.settled,
            **{name: _secs(getattr(self, name)) for name in _TURN_MEASURES},
            "tools": [tool.to_json() for tool in self.tools],
            "responses": [r.to_json() for r in self.responses],
            "usage": self.usage.to_json(),
            "cost": self.cost,
        }


_TURN_MEASURES = MEASURES[:6]


@dataclass(slots=True)
class StepMetrics:
    """One step of a connect: the chart (``connection`` or ``handshake``), the state it was
    in, how long, and the event that ended it."""

    chart: str
    step: str
    seconds: float
    outcome: str
    #: The record time the step started at.
    started: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "chart": self.chart,
            "step": self.step,
            "seconds": _secs(self.seconds),
            "outcome": self.outcome,
            "started": self.started,
        }


@dataclass(slots=True)
class ConnectMetrics:
    """One connect (or reconnect): from leaving ``idle``/``reconnecting`` to ``connected`` (or
    the state it ended in: ``outcome``), and its steps in order."""

    started: float
    seconds: float
    outcome: str
    steps: tuple[StepMetrics, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "seconds": _secs(self.seconds),
            "outcome": self.outcome,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Stat:
    """One measure over the session: ``count``, ``mean``, ``min``, ``max`` over every value;
    ``median`` and ``p90`` (linear interpolation) over its values in the turns (or connects)
    the tracker keeps (the last ``window``)."""

    count: int
    mean: float
    min: float
    max: float
    median: float
    p90: float

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": _secs(self.mean),
            "min": _secs(self.min),
            "max": _secs(self.max),
            "median": _secs(self.median),
            "p90": _secs(self.p90),
        }


def _stat(running: list[float] | None, recent: list[float]) -> Stat:
    """``running`` is ``[count, total, min, max]`` over the values that left the window (or
    ``None``); ``recent`` the values in it (which alone give the median and p90)."""
    if running is None:
        count, total, low, high = len(recent), sum(recent), min(recent), max(recent)
    else:
        count, total = int(running[0]) + len(recent), running[1] + sum(recent)
        low, high = min([running[2], *recent]), max([running[3], *recent])
    ordered = sorted(recent) or [total / count]
    return Stat(
        count,
        total / count,
        low,
        high,
        statistics.median(ordered),
        _quantile(ordered, 0.9),
    )


def _add(stats: dict[str, list[float]], name: str, value: float | None) -> None:
    if value is None:
        return
    running = stats.get(name)
    if running is None:
        stats[name] = [1, value, value, value]
        return
    running[0] += 1
    running[1] += value
    if value < running[2]:
        running[2] = value
    if value > running[3]:
        running[3] = value


def _add_all(stats: dict[str, list[float]], name: str, values: list[float]) -> None:
    """:func:`_add` each of ``values`` (in one go)."""
    if not values:
        return
    count, total, low, high = len(values), sum(values), min(values), max(values)
    running = stats.get(name)
    if running is None:
        stats[name] = [count, total, low, high]
        return
    running[0] += count
    running[1] += total
    if low < running[2]:
        running[2] = low
    if high > running[3]:
        running[3] = high


_Put = Callable[[dict[str, list[float]], str, "float | None"], None]


def _turn_values(put: _Put, out: dict[str, list[float]], turn: TurnMetrics) -> None:
    """``put`` each of ``turn``'s values into ``out`` by measure name (:func:`_add` keeps
    running totals, :func:`_append` lists of values)."""
    for name in _TURN_MEASURES:
        value = getattr(turn, name)
        if value is not None:
            put(out, name, value)
    for tool in turn.tools:
        if tool.latency is not None:
            put(out, "tool_latency", tool.latency)


def _connect_values(put: _Put, out: dict[str, list[float]], connect: ConnectMetrics) -> None:
    """As :func:`_turn_values`, for a connect: ``connect`` and ``connect:<step>``."""
    put(out, "connect", connect.seconds)
    for step in connect.steps:
        put(out, f"connect:{step.step}", step.seconds)


def _append(values: dict[str, list[float]], name: str, value: float | None) -> None:
    if value is not None:
        values.setdefault(name, []).append(value)


def _quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values by linear interpolation (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class SessionMetrics:
    """The turns (the last ``window`` of them), the connects, the summary per measure (only
    the measures that have values) and the session's usage and cost."""

    turns: tuple[TurnMetrics, ...]
    connects: tuple[ConnectMetrics, ...]
    summary: Mapping[str, Stat]
    usage: Usage
    cost: float | None
    turn_count: int

    def table(self) -> str:
        """The turns and the summary as a text table (times in milliseconds; ``-``: none)."""
        head: tuple[str, ...] = ("#", "trigger", "transcript", "created", "1st text")
        head += ("1st audio", "done", "barge-in", "tools", "tokens in/out", "cost")
        rows = [head]
        for turn in self.turns:
            tools = ", ".join(f"{t.name or '?'} {_ms(t.latency)}" for t in turn.tools) or "-"
            rows.append(
                (
                    str(turn.index),
                    turn.trigger,
                    *(_ms(getattr(turn, name)) for name in _TURN_MEASURES),
                    tools,
                    f"{turn.usage.input_tokens}/{turn.usage.output_tokens}",
                    "-" if turn.cost is None else f"${turn.cost:.4f}",
                )
            )
        lines = [f"Turns ({self.turn_count})", *_columns(rows)]
        stats: list[tuple[str, ...]] = [("measure", "count", "median", "p90", "mean", "max")]
        for name, stat in self.summary.items():
            stats.append(
                (
                    name,
                    str(stat.count),
                    _ms(stat.median),
                    _ms(stat.p90),
                    _ms(stat.mean),
                    _ms(stat.max),
                )
            )
        lines += ["", "Summary", *_columns(stats)]
        usage = self.usage
        total = f"Tokens: {usage.input_tokens} in, {usage.output_tokens} out"
        cost = "no prices given" if self.cost is None else f"${self.cost:.4f}"
        lines += ["", f"{total}; cost: {cost}"]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "turns": [turn.to_json() for turn in self.turns],
            "connects": [c.to_json() for c in self.connects],
            "summary": {name: stat.to_json() for name, stat in self.summary.items()},
            "usage": self.usage.to_json(),
            "cost": self.cost,
            "turn_count": self.turn_count,
        }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return out


class _Turn:
    """The open turn (a plain slotted class: one is made per turn, on the event path)."""

    __slots__ = (
        "barge_in",
        "barge_in_at",
        "calls",
        "created",
        "done",
        "first_audio",
        "first_text",
        "follow_up",
        "item_id",
        "open_calls",
        "open_responses",
        "responses",
        "started",
        "transcript_done",
        "trigger",
    )

    def __init__(self, trigger: str, started: float, item_id: str | None = None) -> None:
        self.trigger = trigger
        self.started = started
        self.item_id = item_id
        self.transcript_done: float | None = None
        self.first_text: float | None = None
        self.first_audio: float | None = None
        self.barge_in_at: float | None = None
        self.barge_in: float | None = None
        #: The earliest ``response.created`` and the latest ``response.done`` of its responses.
        self.created: float | None = None
        self.done: float | None = None
        self.responses: dict[str, ResponseMetrics] = {}
        self.calls: dict[str, ToolMetrics] = {}
        self.open_calls = 0
        self.open_responses = 0
        self.follow_up = False

    def span(self) -> None:
        """Recompute :attr:`created` and :attr:`done` from the responses (a response id that
        started again replaced its metrics)."""
        created = done = None
        for r in self.responses.values():
            if created is None or r.created < created:
                created = r.created
            if r.done is not None and (done is None or r.done > done):
                done = r.done
        self.created, self.done = created, done


class _Observable(Protocol):
    """What :meth:`MetricsTracker.attach` follows: a model's record, or its transitions."""

    record: list[Transition]
    keep_record: bool

    def subscribe(
        self, observer: Callable[[Transition], None], *, events: Container[str] | None = ...
    ) -> Callable[[], None]: ...

    def on_compact(self, reader: Callable[[], None]) -> Callable[[], None]: ...


class MetricsTracker:
    """Turn metrics computed from the transitions (:meth:`attach` it to a model, or
    :meth:`feed` it each transition).

    ``on_turn`` is called with each :class:`TurnMetrics` as its turn ends (settled, or closed by
    the next input or the end of the call), ``on_connect`` with each :class:`ConnectMetrics` as
    its connect ends. ``prices`` prices the usage (no prices: no cost).
    Memory is bounded: the last ``window`` turns and connects are kept, with a running summary
    (the turns that left the window are added to it 64 at a time, or ``window`` at a time if
    that is smaller: at most ``window`` + 64 turns, and never more than twice ``window``, are
    held).

    An attached tracker reads the model's own record: the model does nothing for it per
    transition. It processes the steps it has not read yet in a batch: when it is read
    (``result()``, ``turns``, ``summary()`` ...), when :meth:`flush` is called (a client does
    whenever its inbox is empty, so a quiet session gets its ``on_turn`` at once and a busy one
    in batches), and right before the model compacts its record. A model that keeps no record
    (``keep_record=False`` or ``record_limit=0``) is followed transition by transition instead.
    ``on_turn`` and ``on_connect`` may be called while the model compacts its record, in the
    middle of an event: they may read the tracker but must not feed the model.
    """

    NAME: ClassVar[str] = "metrics"

    __slots__ = (
        "_attached",
        "_carry",
        "_charts",
        "_connect_started",
        "_connect_steps",
        "_connects",
        "_cursor",
        "_delta",
        "_entered",
        "_flushing",
        "_handlers",
        "_lane",
        "_leaving",
        "_playback",
        "_record",
        "_stats",
        "_turn",
        "_turn_count",
        "_turns",
        "_untexted",
        "_usage_before",
        "on_connect",
        "on_turn",
        "prices",
        "window",
    )

    def __init__(
        self,
        *,
        prices: Prices | None = None,
        window: int = DEFAULT_WINDOW,
        on_turn: Callable[[TurnMetrics], object] | None = None,
        on_connect: Callable[[ConnectMetrics], object] | None = None,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a whole number ≥ 1, got {window!r}")
        if prices is not None and not isinstance(prices, Prices):
            raise TypeError(f"prices must be a Prices, got {type(prices).__name__}")
        self.prices = prices
        self.window = window
        self.on_turn = on_turn
        self.on_connect = on_connect
        self._turns: deque[TurnMetrics] = deque(maxlen=window)
        self._connects: deque[ConnectMetrics] = deque(maxlen=window)
        self._turn_count = 0
        #: The record of the model it is attached to, and the position of the first step in it
        #: not read yet.
        self._record: list[Transition] | None = None
        self._attached = False
        self._cursor = 0
        #: Steps read but not processed yet (taken from a record about to be compacted while
        #: the tracker was processing, or left by a callback that raised).
        self._carry: list[Transition] = []
        self._flushing = False
        #: The tokens of the turns that left the window (in :class:`Usage`'s field order).
        self._usage_before = [0] * 8
        #: Running ``[count, total, min, max]`` per measure, of the values that left the window.
        self._stats: dict[str, list[float]] = {}
        #: Turns that left the window and are not in the running totals yet (folded in all at
        #: once: see ``_FOLD_EVERY``, or when the totals are read).
        self._leaving: list[TurnMetrics] = []
        self._turn: _Turn | None = None
        #: The started responses whose first text delta has not come yet.
        self._untexted: set[str] = set()
        self._lane = "idle"
        self._playback = "silent"
        self._connect_started: float | None = None
        self._connect_steps: list[StepMetrics] = []
        self._entered: dict[str, tuple[str, float]] = {}
        self._delta = self._on_delta
        # One dict lookup per transition, by event name: the facts this tracker reads, and
        # the events of the charts it follows (dispatched by chart); the rest costs a miss.
        self._handlers: dict[str, Callable[[Transition], None]] = dict.fromkeys(
            _CHART_EVENTS, self._on_chart
        )
        self._handlers.update(
            {
                "speech_stopped": self._on_speech_stopped,
                "input_sent": self._on_input_sent,
                "transcription_completed": self._on_transcript,
                "response_started": self._on_response_started,
                "audio_started": self._on_audio,
                "response_finished": self._on_response_finished,
                "call_started": self._on_call_started,
                # The events of every turn, straight to their chart's handler (which passes
                # another chart's event of the same name on to _on_chart).
                "request": self._on_lane,
                "created": self._on_lane,
                "finished": self._on_lane,
                "started": self._on_playback,
                "stopped": self._on_playback,
            }
        )
        self._charts: dict[str, Callable[[Transition], None]] = {
            "response": self._on_lane,
            "playback": self._on_playback,
            "connection": self._on_connection,
            "handshake": self._on_handshake,
        }

    def __repr__(self) -> str:
        return f"<MetricsTracker turns={self._turn_count} open={self._turn is not None}>"

    # -- feeding -------------------------------------------------------------------------------
    def attach(self, model: _Observable) -> Callable[[], None]:
        """Follow ``model``'s transitions from now on (processed in batches: see the class);
        return the function that stops it (processing what it has not yet)."""
        if self._attached:
            raise RuntimeError("this tracker is attached to a model already")
        self._attached = True
        if not model.keep_record:
            unsubscribe = model.subscribe(self.feed, events=self.reading)

            def unfollow() -> None:
                if self._attached:
                    unsubscribe()
                    self._attached = False

        else:
            record = self._record = model.record
            self._cursor = len(record)
            stop_reading = model.on_compact(self._compacting)

            def unfollow() -> None:
                if self._attached:
                    stop_reading()
                    self.flush()
                    self._record = None
                    self._attached = False

        return unfollow

    @property
    def reading(self) -> KeysView[str]:
        """The events the tracker reads at this moment, as a live view: ``model.subscribe(
        tracker.feed, events=tracker.reading)`` has the model skip the others without a call
        (text deltas, say, are read only until each response's first)."""
        return self._handlers.keys()

    def _compacting(self) -> None:
        """The model is about to compact its record: take the steps not read yet, then
        read on after the snapshot that will stand for the rest."""
        record = self._record
        if record is None:
            return
        self._carry += record[self._cursor :]
        self._cursor = len(record)
        try:
            self.flush()  # (while processing already, the batch under way takes them next)
        finally:
            self._cursor = 1  # the snapshot's place: the steps after it are new

    def flush(self) -> None:
        """Process the steps of the attached model's record not read yet (``on_turn`` and
        ``on_connect`` are called from here)."""
        if self._flushing:
            return
        self._flushing = True
        try:
            while True:
                record, steps = self._record, self._carry
                if record is not None and len(record) > self._cursor:
                    new = record[self._cursor :]
                    self._cursor = len(record)
                    if steps:
                        steps += new
                    else:
                        steps = new
                elif not steps:
                    return
                self._carry = []
                self._process(steps)
        finally:
            self._flushing = False

    def _process(self, steps: list[Transition]) -> None:
        # Whether a step has a handler is asked as the loop comes to it (a handler may change
        # them: "delta" is in them only while a response awaits its text), and the steps with
        # none are left out in C: most of the record is not read.
        handlers = self._handlers
        step = None
        try:
            for step in compress(steps, map(handlers.__contains__, map(_EVENT, steps))):
                handlers[step.event](step)
        except BaseException:
            # The steps after the one that raised are processed at the next flush.
            done = next(i for i, taken in enumerate(steps) if taken is step)
            self._carry[:0] = steps[done + 1 :]
            raise

    def feed(self, step: Transition) -> None:
        """Take one transition now (any transition: those it does not read cost a lookup)."""
        if self._record is not None or self._carry:
            self.flush()
        handler = self._handlers.get(step.event)
        if handler is not None:
            handler(step)

    def _on_chart(self, step: Transition) -> None:
        chart = step.chart
        handler = self._charts.get(chart)
        if handler is not None:
            handler(step)
        elif chart.startswith("tool_call:"):
            self._on_tool(step)

    def finish(self, time: float | None = None) -> None:
        """End the open turn now (at the end of a record or a session)."""
        self.flush()
        turn = self._turn
        if turn is not None:
            self._close(turn, turn.started if time is None else time, settled=False)

    # -- the result ----------------------------------------------------------------------------
    @property
    def turns(self) -> deque[TurnMetrics]:
        """The last ``window`` ended turns, oldest first (read, do not change)."""
        self.flush()
        return self._turns

    @property
    def connects(self) -> deque[ConnectMetrics]:
        """The last ``window`` ended connects, oldest first (read, do not change)."""
        self.flush()
        return self._connects

    @property
    def turn_count(self) -> int:
        """The turns ended so far (those that left the window too)."""
        self.flush()
        return self._turn_count

    @property
    def usage(self) -> Usage:
        """The tokens of every ended turn."""
        self.flush()
        self._fold()
        usage = Usage(*self._usage_before)
        for turn in self._turns:
            usage = usage + turn.usage
        return usage

    def summary(self) -> dict[str, Stat]:
        """Per measure (those with values, in :data:`MEASURES` order, then the connect steps
        by name): its :class:`Stat` (median and p90 over the turns and connects kept)."""
        self.flush()
        self._fold()
        recent = self._window_values()
        found = recent.keys() | self._stats.keys()
        names = [n for n in MEASURES if n in found]
        names += sorted(n for n in found if n not in MEASURES)
        return {name: _stat(self._stats.get(name), recent.get(name, [])) for name in names}

    def _window_values(self) -> dict[str, list[float]]:
        """The values of each measure in the turns and connects the tracker keeps."""
        values: dict[str, list[float]] = {}
        for turn in self._turns:
            _turn_values(_append, values, turn)
        for connect in self._connects:
            _connect_values(_append, values, connect)
        return values

    def result(self) -> SessionMetrics:
        """The metrics so far (the open turn, if any, is not in them)."""
        self.flush()
        usage = self.usage
        cost = self.prices.cost(usage) if self.prices is not None else None
        return SessionMetrics(
            tuple(self._turns),
            tuple(self._connects),
            self.summary(),
            usage,
            cost,
            self._turn_count,
        )

    # -- turns ---------------------------------------------------------------------------------
    def _open(self, trigger: str, time: float, item_id: str | None = None) -> _Turn:
        turn = self._turn
        if turn is not None:
            self._close(turn, time, settled=False)
        turn = self._turn = _Turn(trigger, time, item_id)
        return turn

    def _on_speech_stopped(self, step: Transition) -> None:
        item_id = step.data.get("item_id")
        self._open("speech", step.time, item_id if isinstance(item_id, str) else None)

    def _on_input_sent(self, step: Transition) -> None:
        data = step.data
        turn = self._turn
        if data.get("kind") != "audio":
            trigger = "message"
        elif turn is not None and turn.trigger == "speech" and not turn.responses:
            return  # the commit of the speech that already started this turn
        else:
            trigger = "audio"
        item_id = data.get("item_id")
        self._open(trigger, step.time, item_id if isinstance(item_id, str) else None)

    def _on_transcript(self, step: Transition) -> None:
        turn = self._turn
        if turn is not None and turn.transcript_done is None:
            item_id = step.data.get("item_id")
            if turn.item_id is None or item_id == turn.item_id:
                turn.transcript_done = step.time - turn.started

    def _on_response_started(self, step: Transition) -> None:
        response_id = step.data.get("response_id")
        if not isinstance(response_id, str):
            return
        time = step.time
        turn = self._turn
        if turn is None:
            turn = self._turn = _Turn("server", time)
        turn.follow_up = False
        responses = turn.responses
        again = response_id in responses
        responses[response_id] = ResponseMetrics(response_id, time)
        if again:  # the same id started again: its new metrics replace the old
            turn.span()
        else:
            turn.open_responses += 1
            if turn.created is None:
                turn.created = time
        self._untexted.add(response_id)
        self._handlers["delta"] = self._delta  # until its first text delta

    def _response(self, step: Transition) -> tuple[_Turn, ResponseMetrics] | None:
        turn = self._turn
        if turn is None:
            return None
        response_id = step.data.get("response_id")
        response = turn.responses.get(response_id) if isinstance(response_id, str) else None
        return None if response is None else (turn, response)

    def _texted(self, response_id: str) -> None:
        """``response_id`` has had its first text delta (or is over): stop awaiting it, and
        stop listening to deltas once no response awaits one."""
        untexted = self._untexted
        untexted.discard(response_id)
        if not untexted:
            self._handlers.pop("delta", None)

    def _on_delta(self, step: Transition) -> None:
        # The hot path: only a response's first text delta counts. Once every started response
        # has had its first, the tracker stops listening to deltas (they cost a dict miss,
        # in C) until the next response starts.
        response_id = step.data.get("response_id")
        if response_id not in self._untexted:
            return
        self._texted(response_id)
        turn = self._turn
        if turn is None:
            return
        response = turn.responses.get(response_id)
        if response is not None and response.first_text is None:
            time = response.first_text = step.time
            if turn.first_text is None:
                turn.first_text = time - turn.started

    def _on_audio(self, step: Transition) -> None:
        found = self._response(step)
        if found is not None:
            self._audible(found[0], found[1], step.time)

    def _audible(self, turn: _Turn, response: ResponseMetrics | None, time: float) -> None:
        if response is not None and response.first_audio is None:
            response.first_audio = time
        if turn.first_audio is None:
            turn.first_audio = time - turn.started

    def _on_response_finished(self, step: Transition) -> None:
        turn = self._turn
        if turn is None:
            return
        data = step.data
        response_id = data.get("response_id")
        response = turn.responses.get(response_id) if isinstance(response_id, str) else None
        if response is None:
            return
        if response_id in self._untexted:
            self._texted(response_id)
        if response.done is None:
            turn.open_responses -= 1
        time = response.done = step.time
        if turn.done is None or time > turn.done:
            turn.done = time
        status = data.get("status")
        response.status = status if isinstance(status, str) else "failed"
        usage = data.get("usage")
        if usage is not None:
            response.tokens = _tokens(usage)

    def _on_lane(self, step: Transition) -> None:
        if step.chart != "response":  # another chart's event of the same name
            self._on_chart(step)
            return
        target = step.target
        if target is None:
            return
        self._lane = target
        turn = self._turn
        if turn is None and step.event == "request":
            self._turn = _Turn("request", step.time)
        elif target in _LANE_IDLE:
            if turn is not None and step.source in _LANE_ASKING:
                turn.follow_up = False  # the create was refused or given up: none will come
            self._settle(step.time)

    def _on_playback(self, step: Transition) -> None:
        if step.chart != "playback":  # another chart's event of the same name
            self._on_chart(step)
            return
        target = step.target
        if target is None:
            return
        self._playback = target
        turn = self._turn
        if turn is None:
            return
        if target == "playing":
            response_id = step.data.get("response_id")
            response = turn.responses.get(response_id) if isinstance(response_id, str) else None
            if response is None and turn.responses:
                response = next(reversed(turn.responses.values()))
            self._audible(turn, response, step.time)
        elif step.event == "barge_in":
            turn.barge_in_at = step.time
        elif target == "silent":
            if turn.barge_in_at is not None and turn.barge_in is None:
                turn.barge_in = step.time - turn.barge_in_at
            self._settle(step.time)

    def _on_call_started(self, step: Transition) -> None:
        turn = self._turn
        call_id, name = step.data.get("call_id"), step.data.get("name")
        if turn is not None and isinstance(call_id, str) and call_id not in turn.calls:
            turn.calls[call_id] = ToolMetrics(call_id, name if isinstance(name, str) else "")
            turn.open_calls += 1

    def _on_tool(self, step: Transition) -> None:
        turn = self._turn
        target = step.target
        if turn is None or target is None:
            return
        call = turn.calls.get(step.chart.partition(":")[2])
        if call is None or call.outcome in _TOOL_DONE:
            return
        if step.event == "arguments_done":
            call.started = step.time
        call.outcome = target
        if target in _TOOL_DONE:
            turn.open_calls -= 1
            call.ended = step.time
            if target == "answered":
                if call.started is not None:
                    call.latency = step.time - call.started
                # The model answers the output: a response follows (asked for by the model
                # right after this step, or by the app with its own response.create).
                turn.follow_up = True
            self._settle(step.time)

    def _settle(self, time: float) -> None:
        turn = self._turn
        if (
            turn is None
            or not turn.responses
            or turn.open_calls
            or turn.follow_up
            or self._lane not in _LANE_IDLE
            or self._playback != "silent"
            or turn.open_responses
        ):
            return
        self._close(turn, time, settled=True)

    def _close(self, turn: _Turn, time: float, *, settled: bool) -> None:
        self._turn = None
        if not turn.responses:
            return  # input with no response (context, a refused create): no turn to speak of
        responses = tuple(turn.responses.values())
        untexted = self._untexted
        if untexted:
            untexted.difference_update(turn.responses)
            if not untexted:
                self._handlers.pop("delta", None)
        start = turn.started
        created, done = turn.created, turn.done
        metrics = TurnMetrics(
            self._turn_count,
            turn.trigger,
            start,
            time,
            settled,
            turn.transcript_done,
            None if created is None else created - start,
            turn.first_text,
            turn.first_audio,
            None if done is None else done - start,
            turn.barge_in,
            tuple(turn.calls.values()) if turn.calls else (),
            responses,
            None if self.prices is None else self.prices.cost(_usage_of(responses)),
        )
        self._turn_count += 1
        turns = self._turns
        if len(turns) == self.window:
            # The oldest turn leaves the window: its values and tokens go to the running totals.
            leaving = self._leaving
            leaving.append(turns[0])
            if len(leaving) >= _FOLD_EVERY or len(leaving) >= self.window:
                self._fold()
        turns.append(metrics)
        if self.on_turn is not None:
            self.on_turn(metrics)

    def _fold(self) -> None:
        """Add the values and tokens of the turns that left the window to the running totals
        (a measure at a time over all of them: mostly in C)."""
        leaving = self._leaving
        if not leaving:
            return
        stats = self._stats
        for name in _TURN_MEASURES:
            _add_all(stats, name, [v for v in map(attrgetter(name), leaving) if v is not None])
        tools = [tool for turn in leaving for tool in turn.tools]
        if tools:
            latencies = [t.latency for t in tools if t.latency is not None]
            _add_all(stats, "tool_latency", latencies)
        tokens = [response.tokens for turn in leaving for response in turn.responses]
        if tokens:
            before = self._usage_before
            for i, total in enumerate(map(sum, zip(*tokens, strict=True))):
                before[i] += total
        leaving.clear()

    # -- connects ------------------------------------------------------------------------------
    def _on_connection(self, step: Transition) -> None:
        target = step.target
        if target is None:
            return
        source = step.source
        if target in _CALL_OVER and self._turn is not None:
            self._close(self._turn, step.time, settled=False)
        if self._connect_started is None:
            if target in _CONNECT_STEPS:
                self._connect_started = step.time
                self._connect_steps = []
            else:
                self._entered["connection"] = (target, step.time)
                return
        self._step(step, source in _CONNECT_STEPS)
        if target in _CONNECT_ENDS:
            started = self._connect_started
            self._connect_started = None
            connect = ConnectMetrics(
                started, step.time - started, target, tuple(self._connect_steps)
            )
            connects = self._connects
            if len(connects) == self.window:  # the oldest leaves: its values go to the totals
                _connect_values(_add, self._stats, connects[0])
            connects.append(connect)
            if self.on_connect is not None:
                self.on_connect(connect)

    def _on_handshake(self, step: Transition) -> None:
        if step.target is not None:
            # a step ended (leaving ``waiting`` is the handshake's start, not a step)
            counted = step.source not in HANDSHAKE_FRAME and self._connect_started is not None
            self._step(step, counted)

    def _step(self, step: Transition, counted: bool) -> None:
        """The chart left the state it entered last: a connect step when ``counted``."""
        chart, source, target = step.chart, step.source, step.target
        entered = self._entered.get(chart)
        if counted and entered is not None and source == entered[0] and source is not None:
            seconds = step.time - entered[1]
            self._connect_steps.append(StepMetrics(chart, source, seconds, step.event, entered[1]))
        if target is not None:
            self._entered[chart] = (target, step.time)


def turn_metrics(
    record: Iterable[Transition], *, prices: Prices | None = None, window: int | None = None
) -> SessionMetrics:
    """The metrics of a whole record (a live session's ``record``, a replay's, a saved JSONL
    record): the same tracker a live client runs, fed every transition, its last turn closed."""
    tracker = MetricsTracker(prices=prices, window=window or DEFAULT_WINDOW)
    last: float | None = None
    for step in record:
        tracker.feed(step)
        last = step.time
    tracker.finish(last)
    return tracker.result()
