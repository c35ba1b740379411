"""OpenTelemetry spans of a session, derived from its transitions (the ``otel`` extra).

:class:`SessionTracer` observes a :class:`~realtime_machines.SessionModel` (``instrument(client)``
for a :class:`~realtime_sdk.RealtimeClient`) and runs the same
:class:`~realtime_machines.metrics.MetricsTracker` the client's ``metrics`` come from, so each
span starts and ends at record times and its duration is the metric's:

``realtime.session``             the first transition its tracker reads (a connect's first
                                 step, usually) → the call is over (``disconnected`` /
                                 ``ended``) or :meth:`SessionTracer.close`;
``realtime.connect``             each connect (child of the session), with a child per step
                                 (``realtime.connect.fetching_token`` ... the handshake's steps
                                 under ``realtime.connect.handshaking``);
``realtime.turn``                each turn (child of the session);
``chat {model}``                 each response of the turn (child of the turn), GenAI attributes;
``execute_tool {name}``          each tool call of the turn (child of the turn): its arguments
                                 done → its output sent.

A turn's spans are made when the turn ends (with their start times in the past), a connect's
when the connect ends. Attributes follow the OpenTelemetry GenAI semantic conventions where one
exists (``gen_ai.provider.name`` and the older ``gen_ai.system`` = ``"openai"``,
``gen_ai.request.model``, ``gen_ai.operation.name`` = ``"chat"`` / ``"execute_tool"``,
``gen_ai.response.id``, ``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` /
``output_tokens``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type``); the
measures without one are ``realtime.*`` attributes in seconds.

Nothing imports this module unless asked: the SDK costs nothing when OpenTelemetry is not
installed or not enabled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from realtime_machines import SessionModel, Transition
from realtime_machines.metrics import MEASURES, ConnectMetrics, MetricsTracker, TurnMetrics

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "realtime_sdk.otel needs OpenTelemetry: pip install 'realtime-machines[otel]'"
    ) from exc

__all__ = ["SessionTracer", "instrument"]

PROVIDER = "openai"
_SESSION_OVER = frozenset({"disconnected", "ended"})
_TURN_MEASURES = MEASURES[:6]


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class SessionTracer:
    """Spans of one session's transitions (feed it with :meth:`feed`, or :meth:`attach` it).

    ``tracer_provider``: where the spans go (default: the global one); ``model``: the
    ``gen_ai.request.model`` attribute (``None``: not set).
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, model: str | None = None
    ) -> None:
        self._tracer = trace.get_tracer("realtime_sdk", tracer_provider=tracer_provider)
        self.model = model
        self.metrics = MetricsTracker(on_turn=self._turn, on_connect=self._connect)
        self._session: Span | None = None
        self._context: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self._last = 0.0

    # -- feeding -------------------------------------------------------------------------------
    def attach(self, model: SessionModel) -> None:
        """Observe ``model`` from now on (one model at a time)."""
        self.detach()
        # Only the transitions its tracker reads (a live view: unread deltas cost no call).
        self._unsubscribe = model.subscribe(self.feed, events=self.metrics.reading)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def feed(self, step: Transition) -> None:
        """Take one transition."""
        if self._session is None:
            self._start_session(step.time)
        self.metrics.feed(step)
        if step.chart == "connection" and step.target in _SESSION_OVER:
            self._end_session(step.time)

    def close(self, time: float | None = None) -> None:
        """End the open turn and the session span (at ``time``, default: the last turn's end)."""
        self.metrics.finish(time)
        session = self._session
        if session is not None:
            self._end_session(time)
        self.detach()

    # -- spans ---------------------------------------------------------------------------------
    def _common(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {"gen_ai.provider.name": PROVIDER, "gen_ai.system": PROVIDER}
        if self.model:
            attributes["gen_ai.request.model"] = self.model
        return attributes

    def _start_session(self, time: float) -> None:
        self._session = self._tracer.start_span(
            "realtime.session",
            kind=SpanKind.CLIENT,
            attributes=self._common(),
            start_time=_ns(time),
        )
        self._context = trace.set_span_in_context(self._session)
        self._last = time

    def _end_session(self, time: float | None) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.end(end_time=_ns(time if time is not None else self._last))

    def _span(
        self, name: str, parent: Any, start: float, attributes: Mapping[str, Any]
    ) -> tuple[Span, Any]:
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=_ns(start),
        )
        self._last = max(self._last, start)
        return span, trace.set_span_in_context(span)

    def _connect(self, connect: ConnectMetrics) -> None:
        end = connect.started + connect.seconds
        span, context = self._span(
            "realtime.connect",
            self._context,
            connect.started,
            {**self._common(), "realtime.connect.outcome": connect.outcome},
        )
        handshake = [s for s in connect.steps if s.chart == "handshake"]
        for step in connect.steps:
            if step.chart != "connection":
                continue
            child, child_context = self._span(
                f"realtime.connect.{step.step}",
                context,
                step.started,
                {"realtime.step.chart": step.chart, "realtime.step.outcome": step.outcome},
            )
            if step.step == "handshaking":
                for inner in handshake:
                    grandchild, _ = self._span(
                        f"realtime.connect.{inner.step}",
                        child_context,
                        inner.started,
                        {
                            "realtime.step.chart": inner.chart,
                            "realtime.step.outcome": inner.outcome,
                        },
                    )
                    grandchild.end(end_time=_ns(inner.started + inner.seconds))
            child.end(end_time=_ns(step.started + step.seconds))
        if connect.outcome != "connected":
            span.set_status(Status(StatusCode.ERROR, f"connect ended {connect.outcome}"))
        span.end(end_time=_ns(end))
        self._last = max(self._last, end)

    def _turn(self, turn: TurnMetrics) -> None:
        attributes: dict[str, Any] = {
            "realtime.turn.index": turn.index,
            "realtime.turn.trigger": turn.trigger,
            "realtime.turn.settled": turn.settled,
            "gen_ai.usage.input_tokens": turn.usage.input_tokens,
            "gen_ai.usage.output_tokens": turn.usage.output_tokens,
        }
        for name in _TURN_MEASURES:
            value = turn.measure(name)
            if value is not None:
                attributes[f"realtime.turn.{name}"] = value
        if turn.cost is not None:
            attributes["realtime.turn.cost_usd"] = turn.cost
        span, context = self._span("realtime.turn", self._context, turn.started, attributes)
        operation = f"chat {self.model}" if self.model else "chat"
        for response in turn.responses:
            usage = response.usage
            child, _ = self._span(
                operation,
                context,
                response.created,
                {
                    **self._common(),
                    "gen_ai.operation.name": "chat",
                    "gen_ai.response.id": response.response_id,
                    "gen_ai.response.finish_reasons": [response.status],
                    "gen_ai.usage.input_tokens": usage.input_tokens,
                    "gen_ai.usage.output_tokens": usage.output_tokens,
                },
            )
            if response.status == "failed":
                child.set_status(Status(StatusCode.ERROR, "response failed"))
            child.end(end_time=_ns(response.done if response.done is not None else turn.ended))
        for tool in turn.tools:
            start = tool.started if tool.started is not None else turn.started
            child, _ = self._span(
                f"execute_tool {tool.name}" if tool.name else "execute_tool",
                context,
                start,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool.name,
                    "gen_ai.tool.call.id": tool.call_id,
                    "gen_ai.tool.type": "function",
                    "realtime.tool.outcome": tool.outcome,
                },
            )
            if tool.outcome != "answered":
                child.set_status(Status(StatusCode.ERROR, f"no output: {tool.outcome}"))
            child.end(end_time=_ns(tool.ended if tool.ended is not None else turn.ended))
        span.end(end_time=_ns(turn.ended))
        self._last = max(self._last, turn.ended)


def instrument(client: Any, *, tracer_provider: TracerProvider | None = None) -> SessionTracer:
    """Spans for ``client`` (a :class:`~realtime_sdk.RealtimeClient`) from now on; the model
    name is the client's ``model`` option. ``tracer.close()`` ends them early."""
    options = getattr(client, "options", None)
    model = options.get("model") if isinstance(options, Mapping) else None
    tracer = SessionTracer(
        tracer_provider=tracer_provider, model=model if isinstance(model, str) else None
    )
    tracer.attach(client.model)
    return tracer
