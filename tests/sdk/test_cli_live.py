"""``realtime demo --api live`` and ``realtime replay`` of a GPT-Live trace."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_machines.live import LiveChatOptions
from realtime_sdk.cli import main
from realtime_sdk.cli.chat_live import run_live_chat
from realtime_sdk.cli.demo_live import LIVE_DEMO_STEPS, run_live_demo

Runner = Callable[..., Any]


def test_the_live_demo_over_webrtc_passes_every_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "live.jsonl"
    code = main(["demo", "--api", "live", "--json", "--trace", str(trace)])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary["checks"]
    assert summary["ok"] is True
    assert summary["api"] == "live"
    assert [c["name"] for c in summary["checks"]] == list(LIVE_DEMO_STEPS)
    assert summary["transitions"]["live_session"]["states"] == [
        "idle",
        "starting",
        "started",
        "closing",
        "closed",
    ]
    assert "starting_session" in summary["transitions"]["handshake"]["states"]
    # the trace replays into the same conversation
    assert main(["replay", str(trace), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["api"] == "live"
    as_run = [(row["role"], row["text"]) for row in summary["chat"]]
    assert [(row["role"], row["text"]) for row in replayed["chat"]] == as_run
    assert [d["status"] for d in replayed["delegations"]] == ["done"]
    assert replayed["session"]["reason"] == "close_requested"


def test_the_live_demo_over_websocket_and_its_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "live.jsonl"
    with trace.open("w", encoding="utf-8") as fp:
        result = asyncio.run(run_live_demo(trace=fp, transport="websocket"))
    assert result.ok, result.checks
    roles = [row.role for row in result.chat]
    assert roles == ["assistant", "user", "assistant", "user", "assistant"]
    assert "degrees" in result.chat[-1].text
    sent = [e["type"] for e in result.trace.events("sent")]
    assert sent[0] == "session.start"
    assert main(["replay", str(trace)]) == 0
    text = capsys.readouterr().out
    assert "(GPT-Live)" in text
    assert "-> done" in text  # the delegation
    assert "closed (close_requested)" in text
    assert main(["replay", str(trace), "--metrics"]) == 2
    assert "not supported for Live" in capsys.readouterr().err


def test_the_live_demo_refuses_what_it_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--api", "live", "--transport", "memory"]) == 2
    assert "webrtc or websocket" in capsys.readouterr().err
    assert main(["demo", "--api", "live", "--voice"]) == 2
    assert "--voice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="memory"):
        asyncio.run(run_live_demo(transport="memory"))


def test_chat_api_live_sends_lines_as_instructions_and_prints_the_answers(run: Runner) -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ("Hello there", "/mute", "What is the weather in Paris?", "/unmute"):
            yield line

    out, err = io.StringIO(), io.StringIO()
    code = run(
        run_live_chat(
            lines(),
            out,
            err,
            api_key="",
            emulator=True,
            transport="websocket",
            chat_options=LiveChatOptions(silence_ms=500),
        ),
        timeout=60,
    )
    assert code == 0, err.getvalue()
    said = out.getvalue().splitlines()
    assert said[0] == "assistant: You said: Hello there"
    assert "sunny and 21 degrees" in said[1]
    log = err.getvalue()
    assert "muted\n" in log
    assert "unmuted\n" in log
    assert "session closed (close_requested)" in log
    assert run(run_live_chat(lines(), out, err, transport="memory")) == 2


def test_every_recorded_realtime_trace_is_told_from_a_live_one() -> None:
    from realtime_machines.replay import detect_api

    recorded = sorted((Path(__file__).parents[1] / "fixtures" / "recorded").glob("*.jsonl"))
    assert recorded
    for path in recorded:  # some start with session.update / session.updated, as Live can
        api, _lines = detect_api(path.read_text(encoding="utf-8").splitlines())
        assert api == "realtime", path.name
