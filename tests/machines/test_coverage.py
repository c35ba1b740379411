"""Every declared transition of every chart fires: a BFS per chart, asserted within one test.

Each chart is explored over its reachable configurations by replaying event paths on fresh
instances (statemachine.md §6), with each event sent with the argument variants its guards
look at and with each constructor variant (options that guards read). The fired transitions
are collected from the transition records and compared with the declared ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from realtime_machines._chart import ModelChart
from realtime_machines.charts import (
    ALL_CHARTS,
    CallChart,
    ConnectionChart,
    ModeChart,
    PlaybackChart,
    ResponseChart,
    ToolCallChart,
)
from realtime_machines.live import (
    LIVE_CHARTS,
    DelegationChart,
    FixtureChart,
    InputAudioChart,
    LiveSessionChart,
    SipLegChart,
)
from tests.machines.kit import RecordingHost

Edge = tuple[str, str, str | None]  # source, event, target (None: stays put)


class Host(RecordingHost):
    """Adds every transition a chart takes to a shared set."""

    def __init__(self, fired: set[Edge]) -> None:
        super().__init__()
        self.fired = fired

    def record_transition(
        self,
        chart: str,
        event: str,
        source: str | None,
        target: str | None,
        data: Mapping[str, Any],
    ) -> None:
        assert source is not None
        self.fired.add((source, event, target))


Factory = Callable[[Host], ModelChart]

FACTORIES: dict[type[ModelChart], list[Factory]] = {
    ConnectionChart: [
        lambda h: ConnectionChart(h),
        lambda h: ConnectionChart(h, allow_without_microphone=False, reconnect_attempts=2),
    ],
    ResponseChart: [lambda h: ResponseChart(h, new_event_id=h.new_id)],
    PlaybackChart: [lambda h: PlaybackChart(h)],
    ToolCallChart: [
        lambda h: ToolCallChart(
            h, call_id="c", name="t", item_id=None, response_id=None, new_event_id=h.new_id
        )
    ],
    ModeChart: [lambda h: ModeChart(h, new_event_id=h.new_id)],
    CallChart: [lambda h: CallChart(h, call_id="rtc_1")],
    LiveSessionChart: [lambda h: LiveSessionChart(h)],
    DelegationChart: [lambda h: DelegationChart(h, delegation_id="item_1", target="responses")],
    InputAudioChart: [lambda h: InputAudioChart(h)],
    FixtureChart: [lambda h: FixtureChart(h)],
    SipLegChart: [lambda h: SipLegChart(h)],
}

ARGUMENTS: dict[str, list[dict[str, Any]]] = {
    "finished": [{"status": s} for s in ("completed", "cancelled", "failed", "incomplete")],
    "arguments_done": [{"arguments": '{"a": 1}'}, {"arguments": "{bad"}],
    "created": [{"response_id": "r"}, {"response_id": "r_vad", "ours": False}],
    "function_call": [{"call_id": "c1", "tool_name": "get_weather"}],
    "output_submitted": [{"call_id": "c1"}],
}


def declared(cls: type[ModelChart]) -> set[Edge]:
    edges: set[Edge] = set()
    for state in cls.states:
        for transition in state.transitions:
            if transition.initial:
                continue
            target = transition.target.id if transition.target is not None else None
            for event in transition.events:
                edges.add((state.id, str(event), target))
    return edges


def explore(cls: type[ModelChart]) -> set[Edge]:
    fired: set[Edge] = set()
    events: list[Any] = list(getattr(cls, "events"))  # noqa: B009  # a class-level list at runtime
    moves = [
        (str(event.id), kwargs) for event in events for kwargs in ARGUMENTS.get(str(event.id), [{}])
    ]
    for factory in FACTORIES[cls]:

        def run(path: tuple[int, ...], factory: Factory = factory) -> ModelChart:
            chart = factory(Host(fired))
            for index in path:
                name, kwargs = moves[index]
                if name == "dequeue" and not getattr(chart, "queue", True):
                    continue  # only sent by the chart itself, when its queue holds a request
                chart.send(name, **kwargs)
            return chart

        def key(chart: ModelChart) -> tuple[Any, ...]:
            return (
                chart.state,
                len(getattr(chart, "queue", ())),
                getattr(chart, "attempts_left", None),
                getattr(chart, "reconnecting_now", None),
                getattr(chart, "pending_event_id", None) is not None,
                len(getattr(chart, "pending", None) or ()),
            )

        seen = {key(run(()))}
        frontier: list[tuple[int, ...]] = [()]
        while frontier:
            following: list[tuple[int, ...]] = []
            for path in frontier:
                for index in range(len(moves)):
                    chart = run((*path, index))
                    k = key(chart)
                    if k not in seen and len(path) < 12:
                        seen.add(k)
                        following.append((*path, index))
            frontier = following
    return fired


@pytest.mark.parametrize("cls", [*ALL_CHARTS, *LIVE_CHARTS], ids=lambda c: c.__name__)
def test_every_declared_transition_fires(cls: type[ModelChart]) -> None:
    edges = declared(cls)
    assert edges
    fired = explore(cls)
    missing = edges - fired
    assert not missing, f"{cls.__name__}: never fired: {sorted(missing, key=str)}"
