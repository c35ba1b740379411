"""``bench/pipeline.py``'s side-by-side measurement of the metrics tracker: it runs, reports a
failed side instead of hanging, and refuses a stream with no turn.

No figure is checked here (the bench measures; see docs/performance.md)."""

from __future__ import annotations

import json

import pytest

from bench import pipeline

STREAM = [line for copy in pipeline.build_stream(pipeline.load_sessions(), 1_500) for line in copy]


def test_both_sides_are_timed_over_the_whole_stream() -> None:
    bare, tracked = pipeline.pass_metrics_alternating(STREAM, chunk=400)
    assert bare > 0
    assert tracked > 0
    bare, busy = pipeline.pass_metrics_alternating(STREAM, chunk=400, extra=5)
    assert bare > 0
    assert busy > 0


def test_a_side_that_fails_is_reported_not_waited_for() -> None:
    broken = [*STREAM[:600], (False, "{not json", "?"), *STREAM[600:]]
    with pytest.raises(RuntimeError, match="failed"):
        pipeline.pass_metrics_alternating(broken, chunk=400)


def test_a_stream_with_no_turn_is_refused() -> None:
    quiet = [
        (False, json.dumps({"direction": "received", "data": {"type": "session.created"}}), "?")
    ]
    with pytest.raises(SystemExit, match="no turn"):
        pipeline.pass_metrics_alternating(quiet, chunk=400)


def test_calibrate_takes_a_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        pipeline.main(["--calibrate", "0"])
    assert exited.value.code == 2
    assert "--calibrate" in capsys.readouterr().err
