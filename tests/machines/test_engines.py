"""The compiled transition table means exactly what python-statemachine's engine means.

Every chart runs on a table compiled from its class (``ModelChart.send``); the library's engine
is the reference (``reference_engine=True``). Random event sequences — chart by chart, and whole
mutated recorded sessions — go through both, and after every step the states, the effects, the
transition records, the chat and every exception must be the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_machines import SessionModel
from realtime_machines._chart import ModelChart
from realtime_machines.charts import (
    ALL_CHARTS,
    CallChart,
    CallTimeouts,
    ConnectionChart,
    ModeChart,
    PlaybackChart,
    ResponseChart,
    ToolCallChart,
    handshake_chart,
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
from tests.machines.strategies import Step, mutated_sessions

#: A handshake chart as a transport's steps make one (three steps, two of them timed).
WIRE_HANDSHAKE = handshake_chart("wire", [("dialing", "a"), ("greeting", "b"), ("ready", "c")])

#: Every chart class, the handshake one included.
CHARTS: tuple[type[ModelChart], ...] = (*ALL_CHARTS, *LIVE_CHARTS, WIRE_HANDSHAKE)

FACTORIES: dict[type[ModelChart], Callable[[RecordingHost], ModelChart]] = {
    WIRE_HANDSHAKE: lambda h: WIRE_HANDSHAKE(h, timeouts={"dialing": 2.0, "ready": 1.0}),
    ConnectionChart: lambda h: ConnectionChart(
        h, allow_without_microphone=False, reconnect_attempts=2
    ),
    ResponseChart: lambda h: ResponseChart(h, new_event_id=h.new_id),
    PlaybackChart: lambda h: PlaybackChart(h),
    ToolCallChart: lambda h: ToolCallChart(
        h, call_id="c1", name="get_weather", item_id="i1", response_id="r1", new_event_id=h.new_id
    ),
    ModeChart: lambda h: ModeChart(h, new_event_id=h.new_id),
    CallChart: lambda h: CallChart(h, call_id="rtc_1", timeouts=CallTimeouts(accept=2.0)),
    LiveSessionChart: lambda h: LiveSessionChart(h, start_timeout=2.0),
    DelegationChart: lambda h: DelegationChart(h, delegation_id="item_1", target="responses"),
    InputAudioChart: lambda h: InputAudioChart(h),
    FixtureChart: lambda h: FixtureChart(h),
    SipLegChart: lambda h: SipLegChart(h),
}

PAYLOADS: list[dict[str, Any]] = [
    {},
    {"status": "completed"},
    {"status": "cancelled"},
    {"status": "incomplete"},
    {"status": "failed"},
    {"arguments": '{"city": "Paris"}'},
    {"arguments": "{not json"},
    {"arguments": "[1, 2]"},
    {"error": "boom", "stage": "openai_api"},
    {"error": "no device"},
    {"response_id": "resp_1"},
    {"sdp": "v=0"},
    {"output": '{"ok": true}', "follow_up": True},
    {"session": {"type": "realtime", "output_modalities": ["audio"]}},
    {"params": {"instructions": "hi"}},
    {"status_code": 486},
    {"target_uri": "tel:+14155550123"},
    {"digit": "5", "received_at": 1750287018},
    {"reason": "ring timeout"},
    {"call_id": "c1", "tool_name": "get_weather"},
    {"call_id": "c2", "tool_name": "lookup"},
    {"call_id": "c1"},
    {"session_id": "live_1", "expires_at": 1800000000, "expires_in": 60.0},
    {"reason": "expired", "usage": {"seconds": 3}},
    {"event_id": "evt_1"},
]


def test_every_chart_compiles_to_a_table() -> None:
    for cls in CHARTS:
        assert cls.compiled() is not None, cls.__name__
        chart = FACTORIES[cls](RecordingHost())
        assert not chart.reference_engine


def step_both(fast: ModelChart, slow: ModelChart, event: str, payload: dict[str, Any]) -> None:
    outcomes: list[type[Exception] | None] = []
    for chart in (fast, slow):
        try:
            chart.send(event, **payload)
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1], (event, payload)


@pytest.mark.parametrize("cls", CHARTS, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_each_chart_means_the_same_on_both_engines(
    cls: type[ModelChart], data: st.DataObject
) -> None:
    events = sorted(cls.handled_in())
    moves = data.draw(
        st.lists(st.tuples(st.sampled_from(events), st.sampled_from(PAYLOADS)), max_size=30)
    )
    fast_host, slow_host = RecordingHost(), RecordingHost()
    fast, slow = FACTORIES[cls](fast_host), FACTORIES[cls](slow_host)
    slow.reference_engine = True
    assert fast_host.log == slow_host.log  # construction is the library's in both
    for event, payload in moves:
        step_both(fast, slow, event, payload)
        assert fast.state == slow.state, (event, payload)
        assert fast_host.log == slow_host.log, (event, payload)


def apply(session: SessionModel, step: Step) -> list[Any]:
    kind, value = step
    if kind == "recv":
        return session.receive(value)
    if kind == "send":
        session.send(value)
    elif value == "request_response":
        session.request_response()
    elif value == "cancel_response":
        session.cancel_response()
    elif value in ("set_voice", "set_text"):
        session.set_mode("voice" if value == "set_voice" else "text")
    elif value.startswith("timer:"):
        session.timer_fired(value.partition(":")[2])
    elif value == "submit_first_open_call":
        for call_id, chart in session.tool_calls.items():
            if not chart.is_settled:
                session.submit_tool_output(call_id, "{}")
                break
    return []


@settings(max_examples=60, deadline=None)
@given(steps=mutated_sessions())
def test_whole_sessions_mean_the_same_on_both_engines(steps: list[Step]) -> None:
    fast, slow = SessionModel(), SessionModel(reference_engine=True)
    for step in steps:
        assert apply(fast, step) == apply(slow, step)
        assert fast.take_effects() == slow.take_effects()
        assert fast.states() == slow.states()
    assert [r.to_json() for r in fast.record] == [r.to_json() for r in slow.record]
    assert fast.chat == slow.chat
    assert fast.summary() == slow.summary()
    assert fast.faults == slow.faults == 0
