"""``bench/calls.py`` imports, parses its options and tells a tool round from a greeting.

The bench itself is not run here (it takes minutes and measures; see docs/performance.md)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bench import calls
from realtime_sdk.emulator.sip import SimulatedCall


def test_the_options_and_the_quick_mode() -> None:
    args = calls.cli([])
    assert args.ramp == [1, 50, 100, 200, 300, 400]
    assert (args.rate, args.hold, args.multi, args.profile) == (25.0, 5.0, 40, None)
    quick = calls.cli(["--quick"])
    assert quick.ramp == [1, 20]
    assert quick.multi < args.multi
    assert calls.cli(["--ramp", "1, 300,600", "--rate", "0"]).ramp == [1, 300, 600]


@pytest.mark.parametrize("ramp", ["", "1,x", "0,10", "-5"])
def test_a_bad_ramp_is_a_usage_error(ramp: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        calls.cli(["--ramp", ramp])
    assert exited.value.code == 2
    assert "--ramp" in capsys.readouterr().err


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def answer_done(response_id: str, text: str) -> dict[str, Any]:
    item = {"type": "message", "content": [{"type": "output_audio", "transcript": text}]}
    return event("response.done", response={"id": response_id, "output": [item]})


def test_a_caller_is_answered_only_by_its_own_tool_result_played_out() -> None:
    caller = calls.Caller(7, cast(SimulatedCall, object()))
    caller.listen(event("output_audio_buffer.started", response_id="resp_greet"))
    caller.listen(answer_done("resp_greet", "Hello! How can I help?"))
    assert not caller.greeted.is_set()
    caller.listen(event("output_audio_buffer.stopped", response_id="resp_greet"))
    assert caller.greeted.is_set()
    assert not caller.answer_heard_at  # the greeting is not the answer

    caller.listen(event("input_audio_buffer.speech_stopped"))
    assert caller.question_end_at is not None
    output = {"type": "function_call_output", "output": "order A7 left the warehouse"}
    caller.listen(event("conversation.item.added", item=output))
    assert caller.tool_outputs == 1
    caller.listen(event("output_audio_buffer.started", response_id="resp_answer"))
    assert caller.answer_heard_at is not None
    # Another caller's result, played out, does not answer this one.
    caller.listen(answer_done("resp_other", "Tool result: order A8 left the warehouse"))
    caller.listen(event("output_audio_buffer.stopped", response_id="resp_other"))
    assert not caller.answered.is_set()
    # Its own: done, then played out.
    caller.listen(answer_done("resp_answer", "Tool result: order A7 left the warehouse"))
    assert not caller.answered.is_set()
    caller.listen(event("output_audio_buffer.stopped", response_id="resp_answer"))
    assert caller.answered.is_set()


def test_percentiles_and_the_countdown() -> None:
    values = [float(v) for v in range(1, 101)]
    assert calls.percentile(values, 0.5) == 51.0
    assert calls.percentile(values, 0.99) == 99.0
    assert calls.median_p99([]) == "—"
    countdown = calls.Countdown(2)
    countdown.count()
    assert not countdown.done.is_set()
    countdown.count()
    assert countdown.done.is_set()
