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


def test_the_live_demo_in_memory_and_its_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same seven checks on the emulator's Live engine in this process: no emulator
    server, no socket (the handshake has no socket step)."""
    trace = tmp_path / "live.jsonl"
    with trace.open("w", encoding="utf-8") as fp:
        result = asyncio.run(run_live_demo(trace=fp, transport="memory"))
    assert result.ok, result.checks
    assert [c.name for c in result.checks] == list(LIVE_DEMO_STEPS)
    assert result.base_url == "memory"
    assert result.checks[0].detail.startswith("connected in memory; handshake attaching")
    handshake = [list(s.states) for s in result.transitions() if s.chart == "handshake"]
    assert handshake == [["waiting", "attaching", "starting_session", "open"]]
    roles = [row.role for row in result.chat]
    assert roles == ["assistant", "user", "assistant", "user", "assistant"]
    assert "degrees" in result.chat[-1].text
    sent = [e["type"] for e in result.trace.events("sent")]
    assert sent[0] == "session.start"
    assert sent.count("response.item.create") == 1
    assert main(["replay", str(trace)]) == 0
    text = capsys.readouterr().out
    assert "(GPT-Live)" in text
    assert "-> done" in text  # the delegation
    assert "closed (close_requested)" in text
    assert main(["replay", str(trace), "--metrics"]) == 2
    assert "not supported for Live" in capsys.readouterr().err


def test_the_live_demo_in_memory_prints_its_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--api", "live", "--transport", "memory"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("GPT-Live demo session against the emulator's Live engine, in memory")
    assert "  ok    connect    connected in memory; handshake attaching → starting_session" in out
    assert "Live demo passed (7/7 checks)" in out
    assert "skip" not in out


def test_the_live_demo_refuses_what_it_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--api", "live", "--voice"]) == 2
    assert "--voice" in capsys.readouterr().err
    assert main(["demo", "--api", "live", "--metrics", "--transport", "memory"]) == 2
    assert "--metrics" in capsys.readouterr().err
    with pytest.raises(ValueError, match="webrtc, websocket, memory"):
        asyncio.run(run_live_demo(transport="sip"))


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
            transport="memory",
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
    assert "emulator's Live engine in memory" in log


def test_chat_api_live_refuses_what_live_has_not(run: Runner) -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ("/cancel", "/text", "/voice", "/ptt", "/rewind"):
            yield line

    out, err = io.StringIO(), io.StringIO()
    code = run(run_live_chat(lines(), out, err, transport="memory"), timeout=30)
    assert code == 0, err.getvalue()
    log = err.getvalue()
    assert "/cancel: GPT-Live has no response.cancel" in log
    assert "/text: a GPT-Live session always speaks" in log
    assert "/voice: a GPT-Live session always speaks" in log
    assert "/ptt: GPT-Live has no push-to-talk" in log
    assert "unknown command /rewind" in log
    assert out.getvalue() == ""  # nothing was sent, nothing said
    for transport, base_url in (("sip", None), ("memory", "http://127.0.0.1:9")):
        err = io.StringIO()
        assert run(run_live_chat(lines(), out, err, transport=transport, base_url=base_url)) == 2
        assert err.getvalue().count("\n") == 1, err.getvalue()


def test_every_recorded_realtime_trace_is_told_from_a_live_one() -> None:
    from realtime_machines.replay import detect_api

    recorded = sorted((Path(__file__).parents[1] / "fixtures" / "recorded").glob("*.jsonl"))
    assert recorded
    for path in recorded:  # some start with session.update / session.updated, as Live can
        api, _lines = detect_api(path.read_text(encoding="utf-8").splitlines())
        assert api == "realtime", path.name
