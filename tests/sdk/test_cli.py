"""The ``realtime`` command's contract (issue: CLI contract)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_sdk.cli import main
from tests.sdk.test_cli_session import interruptible

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realtime_sdk.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_replay_json_summary_of_the_tool_round() -> None:
    result = run_cli("replay", str(FIXTURES / "ws_tool_call_round.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == {
        "chat",
        "tool_calls",
        "responses",
        "states",
        "unknown_events",
        "malformed_lines",
    }
    assert [(c["role"], c["text"], c["status"]) for c in summary["chat"]] == [
        ("user", "What is the weather in London?", "done"),
        ("assistant", "It is foggy and 12 degrees in London.", "done"),
    ]
    for item in summary["chat"]:
        assert set(item) >= {"id", "type", "role", "text", "ts", "time", "status"}
        assert {"response_id", "item_id"} <= set(item)
    [call] = summary["tool_calls"]
    assert call["call_id"] == "call_uMNE0Myi2tDTPu0w"
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "London"}
    assert call["status"] == "answered"
    assert summary["responses"] == [
        {"id": "resp_E6U11oof93olA0JOwdA0H", "status": "completed"},
        {"id": "resp_E6U11zrzQPfORkorcByyP", "status": "completed"},
    ]
    assert summary["states"]["response"] == "done"
    assert summary["states"]["tool_call:call_uMNE0Myi2tDTPu0w"] == "answered"
    assert summary["unknown_events"] == 0
    assert summary["malformed_lines"] == 0


def test_replay_text_output_shows_chat_and_transitions() -> None:
    result = run_cli("replay", str(FIXTURES / "webrtc_sideband_audio_turn.jsonl"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "user: Say hello." in out
    assert "assistant: Hello there." in out
    assert "playback" in out
    assert "silent --started--> playing" in out
    assert "playing --stopped--> silent" in out
    assert "response: done" in out


def test_bare_events_malformed_lines_and_unknown_types(tmp_path: Path) -> None:
    lines = [
        json.dumps({"type": "response.created", "response": {"id": "r1", "status": "in_progress"}}),
        "this is not json",
        json.dumps(["not", "an", "object"]),
        json.dumps({"direction": "sideways", "data": {}}),
        json.dumps({"type": "response.output_text.delta", "delta": 7}),
        json.dumps({"type": "brand.new.event", "x": 1}),
        "",
        json.dumps({"type": "response.done", "response": {"id": "r1", "status": "cancelled"}}),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("replay", str(path), "--json")
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert summary["responses"] == [{"id": "r1", "status": "cancelled"}]
    assert summary["unknown_events"] == 1
    assert summary["malformed_lines"] == 4
    reported = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert [line.split(":")[1] for line in reported] == ["2", "3", "4", "5"]
    assert "not JSON" in reported[0]
    assert "'direction'" in reported[2]


def test_unreadable_file_exits_non_zero_with_one_sentence(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run_cli("replay", str(missing))
    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("realtime replay: cannot read ")
    assert line.endswith(".")
    assert "No such file" in line

    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = run_cli("replay", str(binary))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1


def test_replay_from_stdin_and_transition_record(tmp_path: Path) -> None:
    text = (FIXTURES / "webrtc_sideband_text_turn.jsonl").read_text(encoding="utf-8")
    record = tmp_path / "record.jsonl"
    result = run_cli("replay", "-", "--json", "--transitions", str(record), stdin=text)
    assert result.returncode == 0, result.stderr
    from realtime_machines import final_states, project, read_jsonl

    with record.open(encoding="utf-8") as fp:
        steps = list(read_jsonl(fp))
    summary = json.loads(result.stdout)
    assert [item.to_json() for item in project(steps)] == summary["chat"]
    assert final_states(steps)["response"] == summary["states"]["response"]


def test_diagrams_command_writes_every_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagrams", "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for chart in ("connection", "response", "playback", "tool_call", "mode"):
        assert f"{chart}.mmd" in names
    assert str(tmp_path / "response.mmd") in capsys.readouterr().out


def test_usage_error_exits_2() -> None:
    result = run_cli("replay")
    assert result.returncode == 2
    assert "FILE" in result.stderr


def test_emulator_prints_its_url_first_and_stops_cleanly_on_interrupt() -> None:
    import signal
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with subprocess.Popen(
        [sys.executable, "-m", "realtime_sdk.cli", "emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            first = process.stdout.readline().strip()
            assert first == f"http://127.0.0.1:{port}"
            request = urllib.request.Request(
                f"{first}/v1/realtime/client_secrets",
                data=b"{}",
                headers={"Authorization": "Bearer wrong", "Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            info.value.close()
            assert info.value.code == 401
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def test_replay_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    lines = []
    for n in range(3000):  # ~500 KB of transitions: more than a pipe buffer holds
        response = {"id": f"resp_{n}", "status": "completed"}
        lines.append(json.dumps({"type": "response.created", "response": response}))
        lines.append(json.dumps({"type": "response.done", "response": response}))
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(lines), encoding="utf-8")
    replay = subprocess.Popen(
        [sys.executable, "-m", "realtime_sdk.cli", "replay", str(big)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with replay:
        assert replay.stdout is not None
        assert replay.stderr is not None
        replay.stdout.read(10)
        replay.stdout.close()  # the reader stops early, like `| head -c 10`
        assert replay.wait(timeout=60) == 0
        assert b"Traceback" not in replay.stderr.read()
