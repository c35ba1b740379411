"""Turn metrics from the transition record: each measure from the wire events at the times they
came, usage and cost, the bounded incremental tracker, and batch == incremental."""

from __future__ import annotations

import gc
import re
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_machines import MetricsTracker, Prices, SessionModel, Usage, turn_metrics
from realtime_machines.metrics import MEASURES, TurnMetrics
from tests.machines.kit import (
    args_done,
    audio_buffer,
    call_added,
    created,
    message_added,
    speech_started,
    text_delta,
)
from tests.machines.strategies import Step, mutated_sessions
from tests.machines.test_engines import apply

USAGE: dict[str, Any] = {
    "total_tokens": 300,
    "input_tokens": 200,
    "output_tokens": 100,
    "input_token_details": {
        "text_tokens": 120,
        "audio_tokens": 80,
        "cached_tokens": 70,
        "cached_tokens_details": {"text_tokens": 50, "audio_tokens": 20},
    },
    "output_token_details": {"text_tokens": 30, "audio_tokens": 70},
}


def done(response_id: str, status: str = "completed", usage: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = {"id": response_id, "object": "realtime.response", "status": status}
    if usage is not None:
        response["usage"] = usage
    return {"type": "response.done", "response": response}


def speech_stopped(item_id: str) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": item_id}


def transcribed(item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": item_id,
        "content_index": 0,
        "transcript": text,
    }


def audio_delta(response_id: str, item_id: str) -> dict[str, Any]:
    return {**text_delta(response_id, item_id, "AAAA"), "type": "response.output_audio.delta"}


def transcript_delta(response_id: str, item_id: str, delta: str) -> dict[str, Any]:
    event = text_delta(response_id, item_id, delta)
    return {**event, "type": "response.output_audio_transcript.delta"}


class Timed:
    """A WebRTC session model with a live tracker, fed events at given times."""

    def __init__(self, prices: Prices | None = None, window: int = 1000) -> None:
        self.model = SessionModel(transport="webrtc", record_limit=None)
        self.turns: list[TurnMetrics] = []
        self.tracker = MetricsTracker(prices=prices, window=window, on_turn=self.turns.append)
        self.model.subscribe(self.tracker.feed)

    def at(self, time: float, *events: dict[str, Any]) -> None:
        for event in events:
            self.model.receive(event, time=time)
        self.model.take_effects()


def spoken_turn(s: Timed, n: int, t0: float, *, gaps: tuple[float, ...]) -> dict[str, float]:
    """One spoken turn starting at ``t0``; ``gaps`` are the offsets of: speech stopped,
    transcript, response.created, first audio delta, audible, first transcript delta,
    response.done, audio stopped."""
    user, rid, item = f"item_user_{n}", f"resp_{n}", f"item_bot_{n}"
    t = {name: t0 + gap for name, gap in zip(TIMES, gaps, strict=True)}
    s.at(t0, speech_started(user))
    s.at(t["stopped"], speech_stopped(user))
    s.at(t["transcript"], transcribed(user, "hello"))
    s.at(t["created"], created(rid), message_added(item, "assistant"))
    s.at(t["audio"], audio_delta(rid, item))
    s.at(t["audible"], audio_buffer("started", rid))
    s.at(t["text"], transcript_delta(rid, item, "Hi"), transcript_delta(rid, item, " there"))
    s.at(t["done"], done(rid, usage=USAGE))
    s.at(t["stopped_audio"], audio_buffer("stopped", rid))
    return t


TIMES = ("stopped", "transcript", "created", "audio", "audible", "text", "done", "stopped_audio")
GAPS = (1.0, 1.25, 1.5, 1.75, 1.8, 1.9, 2.5, 4.0)
#: Dollars per 1,000,000 tokens (an example table; the SDK ships none).
PRICES = Prices(
    text_input=4.0,
    text_cached_input=0.4,
    text_output=16.0,
    audio_input=32.0,
    audio_cached_input=0.4,
    audio_output=64.0,
)


def test_a_spoken_turn_measures_each_step_from_the_end_of_speech() -> None:
    s = Timed()
    t = spoken_turn(s, 1, 100.0, gaps=GAPS)
    [turn] = s.turns  # it ended when the audio stopped: settled
    start = t["stopped"]
    assert turn.trigger == "speech"
    assert turn.settled
    assert turn.started == start
    assert turn.transcript_done == pytest.approx(t["transcript"] - start)
    assert turn.response_created == pytest.approx(t["created"] - start)
    assert turn.first_audio == pytest.approx(t["audio"] - start)  # the delta came before audible
    assert turn.first_text == pytest.approx(t["text"] - start)
    assert turn.response_done == pytest.approx(t["done"] - start)
    assert turn.ended == t["stopped_audio"]
    assert turn.barge_in is None
    assert turn.usage == Usage.from_response(USAGE)
    assert [r.response_id for r in turn.responses] == ["resp_1"]


def test_the_turn_waits_for_the_audio_to_stop() -> None:
    s = Timed()
    s.at(1.0, speech_stopped("u"))
    s.at(2.0, created("r"), audio_buffer("started", "r"), done("r"))
    assert s.turns == []  # response done, but still audible
    s.at(3.0, audio_buffer("stopped", "r"))
    [turn] = s.turns
    assert turn.first_audio == pytest.approx(1.0)  # audible on WebRTC: output_audio_buffer
    assert turn.ended == 3.0


def test_barge_in_is_speech_started_to_silence() -> None:
    s = Timed()
    s.at(1.0, speech_stopped("u1"))
    s.at(2.0, created("r1"), audio_buffer("started", "r1"))
    s.at(5.0, speech_started("u2"))  # the user talks over the assistant
    assert s.model.playback.state == "interrupted"
    s.at(5.3, audio_buffer("cleared", "r1"), done("r1", "cancelled"))
    [turn] = s.turns
    assert turn.barge_in == pytest.approx(0.3)
    assert turn.responses[0].status == "cancelled"
    s.at(6.0, speech_stopped("u2"))  # the next turn starts at the end of that speech
    s.at(6.5, created("r2"), done("r2"))
    assert [t.started for t in s.turns] == [1.0, 6.0]
    assert s.turns[1].response_created == pytest.approx(0.5)


def test_a_tool_round_is_one_turn_with_the_tool_latency() -> None:
    s = Timed()
    s.model.send(
        {"type": "conversation.item.create", "item": _user_message("m1", "weather?")}, time=10.0
    )
    s.at(10.2, created("r1"), call_added("r1", "c1"))
    s.at(10.4, args_done("r1", "c1", '{"city": "Oslo"}'), done("r1"))
    assert s.turns == []  # the call awaits its output
    assert s.model.submit_tool_output("c1", '{"rain": true}', time=11.0)
    s.model.take_effects()
    assert s.turns == []  # the follow-up response comes
    s.at(11.2, created("r2"), message_added("i2", "assistant"))
    s.at(11.3, text_delta("r2", "i2", "Rain."))
    s.at(11.5, done("r2"))
    [turn] = s.turns
    assert turn.trigger == "message"
    assert turn.started == 10.0
    assert [(t.name, t.outcome) for t in turn.tools] == [("get_weather", "answered")]
    assert turn.tools[0].latency == pytest.approx(11.0 - 10.4)
    assert turn.response_created == pytest.approx(0.2)
    assert turn.first_text == pytest.approx(1.3)
    assert turn.response_done == pytest.approx(1.5)
    assert len(turn.responses) == 2


def _user_message(item_id: str, text: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def test_a_response_without_user_input_is_a_turn_of_its_own() -> None:
    s = Timed()
    s.model.request_response({"instructions": "greet"})  # the greeting
    s.model.take_effects()
    s.at(1.0, created("r"), done("r"))
    [turn] = s.turns
    assert turn.trigger == "request"
    assert turn.transcript_done is None
    assert turn.first_audio is None


def test_a_new_input_closes_the_open_turn_unsettled() -> None:
    s = Timed()
    s.at(1.0, speech_stopped("u1"), created("r1"))
    s.at(2.0, speech_stopped("u2"))
    [turn] = s.turns
    assert not turn.settled
    assert turn.response_done is None
    assert turn.ended == 2.0


def test_usage_and_cost_from_a_price_table() -> None:
    prices = PRICES
    usage = Usage.from_response(USAGE)
    assert (usage.input_tokens, usage.output_tokens) == (200, 100)
    expected = (
        (120 - 50) * 4.0 + 50 * 0.4 + (80 - 20) * 32.0 + 20 * 0.4 + 30 * 16.0 + 70 * 64.0
    ) / 1e6
    assert prices.cost(usage) == pytest.approx(expected)
    s = Timed(prices)
    spoken_turn(s, 1, 0.0, gaps=GAPS)
    spoken_turn(s, 2, 10.0, gaps=GAPS)
    result = s.tracker.result()
    assert result.usage == usage + usage
    assert result.cost == pytest.approx(2 * expected)
    assert s.turns[0].cost == pytest.approx(expected)


def test_prices_and_usage_refuse_or_ignore_bad_values() -> None:
    with pytest.raises(ValueError, match="audio_output"):
        Prices(1, 1, 1, 1, 1, -2)
    with pytest.raises(ValueError, match="text_input"):
        Prices("4", 1, 1, 1, 1, 1)  # type: ignore[arg-type]
    assert Usage.from_response("junk") == Usage()
    assert Usage.from_response({"input_token_details": {"text_tokens": -5}}) == Usage()
    with pytest.raises(ValueError, match="window"):
        MetricsTracker(window=0)


def test_the_tracker_keeps_the_last_turns_and_a_running_summary() -> None:
    s = Timed(window=3)
    for n in range(10):
        # turn n: response.created comes n+1 tenths of a second after the speech stopped
        s.at(n * 10.0, speech_stopped(f"u{n}"))
        s.at(n * 10.0 + (n + 1) / 10, created(f"r{n}"), done(f"r{n}"))
    result = s.tracker.result()
    assert result.turn_count == 10
    assert len(result.turns) == 3
    assert [t.index for t in result.turns] == [7, 8, 9]
    stat = result.summary["response_created"]
    values = [(n + 1) / 10 for n in range(10)]
    assert stat.count == 10
    assert stat.min == pytest.approx(min(values))
    assert stat.max == pytest.approx(max(values))
    assert stat.mean == pytest.approx(sum(values) / 10)
    assert stat.median == pytest.approx(0.9)  # over the window: 0.8, 0.9, 1.0
    assert stat.p90 == pytest.approx(0.98)
    assert list(result.summary) == [m for m in MEASURES if m in result.summary]


def test_the_batch_function_gives_the_live_numbers() -> None:
    s = Timed()
    spoken_turn(s, 1, 0.0, gaps=GAPS)
    spoken_turn(s, 2, 10.0, gaps=(1.0, 1.1, 1.2, 1.4, 1.45, 1.5, 3.0, 3.5))
    live = s.tracker.result()
    batch = turn_metrics(s.model.record)
    assert batch.to_json() == live.to_json()
    assert batch.summary["first_audio"].count == 2


def test_connect_steps_are_timed_from_the_charts() -> None:
    model = SessionModel(
        transport="websocket",
        handshake_kind="websocket",
        handshake_steps=[("opening_socket", "socket"), ("awaiting_session", "session")],
        record_limit=None,
    )
    tracker = MetricsTracker()
    model.subscribe(tracker.feed)
    model.connect(time=1.0)
    model.signal("token_received", time=1.5, token="ek_x")
    model.signal("microphone_ready", time=1.6)
    model.signal("step_done", time=2.0)
    model.signal("step_done", time=2.5)
    [connect] = tracker.result().connects
    assert connect.outcome == "connected"
    assert connect.seconds == pytest.approx(1.5)
    steps = [(s.chart, s.step, round(s.seconds, 6)) for s in connect.steps]
    assert steps == [
        ("connection", "fetching_token", 0.5),
        ("connection", "opening_microphone", 0.1),
        ("handshake", "opening_socket", 0.4),
        ("handshake", "awaiting_session", 0.5),
        ("connection", "handshaking", 0.9),
    ]
    summary = tracker.summary()
    assert summary["connect"].median == pytest.approx(1.5)
    assert summary["connect:opening_socket"].count == 1


# -- the tracker attached with its event filter, and its window, under random traffic ----------


_ID = re.compile(r"^(?:resp|item|call|event)_")


def fresh(value: Any, tag: str) -> Any:
    """``value`` with every response, item, call and event id suffixed with ``tag``."""
    if isinstance(value, str):
        return f"{value}_{tag}" if _ID.match(value) else value
    if isinstance(value, dict):
        return {key: fresh(v, tag) for key, v in value.items()}
    if isinstance(value, list):
        return [fresh(v, tag) for v in value]
    return value


def timed_traffic(model: SessionModel, steps: list[Step], copies: int, gaps: list[float]) -> float:
    """Feed ``copies`` of ``steps`` (fresh ids in each: new responses, items and calls) with
    the clock moving by ``gaps`` (taken in turn)."""
    t = 0.0
    n = 0
    for copy in range(copies):
        for kind, value in steps:
            t += gaps[n % len(gaps)]
            n += 1
            if kind == "recv":
                model.receive(fresh(value, f"c{copy}"), time=t)
            elif kind == "send" and isinstance(value, dict):
                model.send(fresh(value, f"c{copy}"), time=t)
            else:
                apply(model, (kind, value))
            model.take_effects()
    return t


#: Random traffic: a mutated recorded session, copied with fresh ids, on a random clock.
TRAFFIC = {
    "steps": mutated_sessions(max_mutations=4),
    "copies": st.integers(1, 5),
    "gaps": st.lists(st.floats(0.0, 2.0), min_size=1, max_size=20),
}


@settings(max_examples=60, deadline=None)
@given(
    **TRAFFIC,
    window=st.integers(1, 3),
    record_limit=st.sampled_from([None, 0, 1, 2, 5, 30]),
    reads=st.integers(1, 50),
)
def test_attached_fed_and_batch_trackers_agree_under_random_traffic(
    steps: list[Step],
    copies: int,
    gaps: list[float],
    window: int,
    record_limit: int | None,
    reads: int,
) -> None:
    """``attach`` reads the model's record in batches (when read, and before the model compacts
    the record; a model that keeps no record is followed step by step): it must measure
    exactly what feeding it every transition at once does, and what the batch function gives
    for the whole record, however small the record's bound and wherever it is read."""
    if not steps:
        return
    model = SessionModel(record_limit=record_limit)
    seen: list[TurnMetrics] = []
    attached = MetricsTracker(window=window, prices=PRICES, on_turn=seen.append)
    fed = MetricsTracker(window=window, prices=PRICES)
    attached.attach(model)
    model.subscribe(fed.feed)
    whole: list[Any] = []
    model.subscribe(whole.append)
    count = 0

    def read_now_and_then(step: Any) -> None:
        nonlocal count
        count += 1
        if count % reads == 0:
            attached.flush()

    model.subscribe(read_now_and_then)
    timed_traffic(model, steps, copies, gaps)
    end = whole[-1].time if whole else None  # where turn_metrics ends the last turn
    for tracker in (attached, fed):
        tracker.finish(end)
    assert attached.result().to_json() == fed.result().to_json()
    assert [t.index for t in seen] == list(range(fed.turn_count))  # each turn once, in order
    batch = turn_metrics(whole, window=window, prices=PRICES)
    assert batch.to_json() == fed.result().to_json()


@settings(max_examples=60, deadline=None)
@given(**TRAFFIC, window=st.integers(1, 4))
def test_the_summary_and_usage_cover_the_turns_that_left_the_window(
    steps: list[Step], copies: int, gaps: list[float], window: int
) -> None:
    """Counts, means, extremes, tokens and cost are over every turn; only the median and p90
    are over the window: a small window agrees with one that keeps everything."""
    if not steps:
        return
    model = SessionModel(record_limit=None)
    small = MetricsTracker(window=window, prices=PRICES)
    whole = MetricsTracker(window=100_000, prices=PRICES)
    small.attach(model)
    whole.attach(model)
    timed_traffic(model, steps, copies, gaps)
    kept, every = small.result(), whole.result()
    assert kept.turn_count == every.turn_count
    assert len(kept.turns) == min(window, every.turn_count)
    assert kept.usage == every.usage
    assert kept.cost == pytest.approx(every.cost)
    assert list(kept.summary) == list(every.summary)
    for name, stat in every.summary.items():
        got = kept.summary[name]
        assert (got.count, got.min, got.max) == (stat.count, stat.min, stat.max), name
        assert got.mean == pytest.approx(stat.mean), name


def test_unsubscribing_the_attached_tracker_stops_it() -> None:
    s = Timed()
    late = MetricsTracker()
    stop = late.attach(s.model)
    spoken_turn(s, 1, 0.0, gaps=GAPS)
    stop()
    stop()  # twice is harmless
    spoken_turn(s, 2, 10.0, gaps=GAPS)
    assert late.turn_count == 1
    assert s.tracker.turn_count == 2


def test_the_attached_tracker_reads_on_across_compactions_of_the_record() -> None:
    """A record bounded to a few steps is compacted many times in a turn: the tracker takes
    the steps before each compaction, so it measures every turn as a whole record would."""
    small = Timed()
    small.model = SessionModel(transport="webrtc", record_limit=2)
    small.tracker = MetricsTracker()
    small.tracker.attach(small.model)
    big = Timed()
    for s in (small, big):
        for n in range(4):
            spoken_turn(s, n, n * 10.0, gaps=GAPS)
    assert len(small.model.record) < 30
    assert small.tracker.result().to_json() == big.tracker.result().to_json()
    assert small.tracker.turn_count == 4


def test_a_callback_that_raises_loses_no_step() -> None:
    """``on_turn`` raising propagates out of the read that ran it; the steps after the one
    that ended the turn wait for the next read."""
    s = Timed()
    failing = [True]
    turns: list[TurnMetrics] = []

    def on_turn(turn: TurnMetrics) -> None:
        turns.append(turn)
        if failing[0]:
            raise RuntimeError("the app's callback failed")

    tracker = MetricsTracker(on_turn=on_turn)
    tracker.attach(s.model)
    spoken_turn(s, 1, 0.0, gaps=GAPS)
    s.at(9.0, speech_stopped("item_user_x"))
    with pytest.raises(RuntimeError, match="callback failed"):
        tracker.flush()
    failing[0] = False
    spoken_turn(s, 2, 10.0, gaps=GAPS)
    tracker.flush()
    assert [t.index for t in turns] == [0, 1]
    assert tracker.result().to_json() == s.tracker.result().to_json()


def test_a_callback_that_drives_the_model_through_a_compaction_loses_no_step() -> None:
    """``on_turn`` feeding the model while the tracker processes (and the model compacting its
    record meanwhile): what it fed is read after the batch under way."""
    model = SessionModel(transport="webrtc", record_limit=20)
    fed = MetricsTracker()
    model.subscribe(fed.feed)
    driven = [False]
    inside = [False]
    compacted_inside: list[bool] = []
    model.on_compact(lambda: compacted_inside.append(inside[0]))

    def on_turn(turn: TurnMetrics) -> None:
        if not driven[0]:
            driven[0] = inside[0] = True
            for n in range(2, 10):
                rid = f"resp_more_{n}"
                model.receive(speech_stopped(f"item_more_{n}"), time=20.0 + n)
                model.receive(created(rid), time=20.5 + n)
                model.receive(done(rid, usage=USAGE), time=20.8 + n)
            inside[0] = False

    tracker = MetricsTracker(on_turn=on_turn)
    tracker.attach(model)
    for t, event in (
        (1.0, speech_stopped("item_u1")),
        (1.5, created("resp_1")),
        (2.0, done("resp_1", usage=USAGE)),
        (9.0, speech_stopped("item_u2")),
    ):
        model.receive(event, time=t)
    tracker.flush()
    assert driven[0]
    assert compacted_inside[0] is True
    tracker.finish(30.0)
    fed.finish(30.0)
    # resp_1's turn, then (the second speech closed with no response) the eight fed meanwhile
    assert tracker.turn_count == fed.turn_count == 9
    assert tracker.result().to_json() == fed.result().to_json()


def test_a_tracker_follows_one_model_at_a_time() -> None:
    tracker = MetricsTracker()
    first = Timed()
    stop = tracker.attach(first.model)
    with pytest.raises(RuntimeError, match="attached to a model already"):
        tracker.attach(SessionModel())
    spoken_turn(first, 1, 0.0, gaps=GAPS)
    stop()  # processes what it had not read, then lets go of the model
    second = Timed()
    tracker.attach(second.model)
    spoken_turn(first, 2, 10.0, gaps=GAPS)  # no longer followed
    spoken_turn(second, 3, 20.0, gaps=GAPS)
    assert [t.started for t in tracker.turns] == [1.0, 21.0]


def test_a_model_that_keeps_no_record_is_followed_step_by_step() -> None:
    s = Timed()
    s.model = SessionModel(transport="webrtc", record_limit=0)
    assert not s.model.keep_record
    turns: list[TurnMetrics] = []
    tracker = MetricsTracker(on_turn=turns.append)
    stop = tracker.attach(s.model)
    spoken_turn(s, 1, 0.0, gaps=GAPS)
    assert len(turns) == 1  # at once: nothing waits for a read
    with pytest.raises(RuntimeError, match="attached to a model already"):
        tracker.attach(s.model)
    stop()
    spoken_turn(s, 2, 10.0, gaps=GAPS)
    assert tracker.turn_count == 1


def _alive_turns() -> int:
    gc.collect()
    return sum(isinstance(o, TurnMetrics) for o in gc.get_objects())


def test_a_long_session_holds_at_most_twice_the_window_of_turns() -> None:
    """Memory stays flat: the turns that leave the window are folded into the running summary
    a window at a time, so no more than twice the window are alive, however many turns."""
    model = SessionModel(transport="webrtc")
    tracker = MetricsTracker(window=3)  # no callback keeping its turns
    tracker.attach(model)
    before = _alive_turns()  # other tests' turns may still be alive
    alive = []
    for n in range(40):
        model.receive(speech_stopped(f"u{n}"), time=n * 10.0)
        model.receive(created(f"r{n}"), time=n * 10.0 + 0.5)
        model.receive(done(f"r{n}", usage=USAGE), time=n * 10.0 + 0.5)
        model.take_effects()
        tracker.flush()
        alive.append(_alive_turns() - before)
    assert max(alive) <= 2 * 3
    assert tracker.turn_count == 40
    assert tracker.usage.total_tokens == 40 * Usage.from_response(USAGE).total_tokens
    assert tracker.summary()["response_created"].count == 40


def test_a_large_window_folds_its_leavers_64_at_a_time() -> None:
    """With a window larger than 64, the turns that leave it are folded 64 at a time: the
    summary and usage still cover every turn, and no more than the window plus 64 are held."""
    model = SessionModel(transport="webrtc", record_limit=None)
    kept = MetricsTracker(window=70, prices=PRICES)
    kept.attach(model)
    before = _alive_turns()
    alive = []
    for n in range(300):
        model.receive(speech_stopped(f"u{n}"), time=n * 10.0)
        model.receive(created(f"r{n}"), time=n * 10.0 + 0.1 + (n % 37) / 100)
        model.receive(done(f"r{n}", usage=USAGE), time=n * 10.0 + 1.0 + (n % 11) / 10)
        model.take_effects()
        kept.flush()
        if n % 25 == 0:
            alive.append(_alive_turns() - before)
    assert max(alive) <= 70 + 64
    whole = turn_metrics(model.record, window=100_000, prices=PRICES)
    got = kept.result()
    assert got.turn_count == whole.turn_count == 300
    assert got.usage == whole.usage
    assert got.cost == pytest.approx(whole.cost)
    for name in ("response_created", "response_done"):
        stat, want = got.summary[name], whole.summary[name]
        assert (stat.count, stat.min, stat.max) == (want.count, want.min, want.max)
        assert stat.mean == pytest.approx(want.mean)


class _Details(dict[str, Any]):
    """A usage part that can be watched with a weak reference."""


def test_a_tracker_keeps_the_token_counts_not_the_usage_object() -> None:
    """A kept turn holds its responses' token counts; once the model is gone, nothing of the
    ``response.done`` usage object is alive, and the usage and cost are still whole."""
    model = SessionModel(transport="webrtc", record_limit=None)
    tracker = MetricsTracker(prices=PRICES)
    stop = tracker.attach(model)
    inputs = _Details(USAGE["input_token_details"])
    watched = weakref.ref(inputs)
    model.receive(speech_stopped("u1"), time=1.0)
    model.receive(created("r1"), time=1.5)
    model.receive(done("r1", usage={**USAGE, "input_token_details": inputs}), time=2.0)
    model.take_effects()
    del inputs
    stop()  # read what is left, and let go of the model's record
    del model, stop
    gc.collect()
    assert watched() is None
    (turn,) = tracker.turns
    assert turn.responses[0].tokens == (120, 80, 0, 50, 20, 0, 30, 70)
    assert turn.usage == Usage.from_response(USAGE)
    assert tracker.result().cost == pytest.approx(PRICES.cost(Usage.from_response(USAGE)))


class _Counting(MetricsTracker):
    """A tracker that notes each transition it is fed."""

    __slots__ = ("fed",)

    def __init__(self) -> None:
        super().__init__()
        self.fed: list[str] = []

    def feed(self, step: Any) -> None:
        self.fed.append(step.event)
        super().feed(step)


def test_a_model_without_a_record_calls_the_tracker_only_for_what_it_reads() -> None:
    """Followed transition by transition, the tracker is fed through ``tracker.reading``: after
    a response's first text delta, its other deltas are not handed to it at all."""
    model = SessionModel(transport="webrtc", record_limit=0)
    tracker = _Counting()
    tracker.attach(model)
    model.receive(speech_stopped("u1"), time=1.0)
    model.receive(created("r1"), time=1.5)
    model.receive(message_added("i1", "assistant"), time=1.5)
    for k in range(10):
        model.receive(text_delta("r1", "i1", "x"), time=2.0 + k / 10)
    model.receive(done("r1"), time=3.5)
    model.take_effects()
    assert tracker.fed.count("delta") == 1
    assert "item_added" not in tracker.fed
    (turn,) = tracker.turns
    assert turn.first_text == pytest.approx(1.0)
    assert turn.response_done == pytest.approx(2.5)
