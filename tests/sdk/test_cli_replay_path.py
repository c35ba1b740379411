"""`realtime replay` is light: no networking imports, a streamed input, no effects kept.

No timing here (the figures are bench/pipeline.py's); these hold the structure that makes the
replay path fast and flat: what is imported, what grows with the input, what is kept.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from realtime_machines.replay import replay_lines
from realtime_sdk.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
TOOL_ROUND = FIXTURES / "ws_tool_call_round.jsonl"


def test_importing_the_cli_and_replaying_imports_no_networking(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from realtime_sdk.cli import main\n"
        f"code = main(['replay', {str(TOOL_ROUND)!r}, '--json'])\n"
        "heavy = sorted(m for m in ('aiortc', 'aiohttp', 'av', 'numpy', 'sounddevice')"
        " if m in sys.modules)\n"
        "sys.stderr.write(repr((code, heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "(0, [])"
    assert json.loads(result.stdout)["tool_calls"]


def test_replay_drains_the_effects_it_does_not_run() -> None:
    lines = TOOL_ROUND.read_text(encoding="utf-8").splitlines()
    result = replay_lines(lines)
    assert result.session.tool_calls  # the round asked for effects (tool execution, sends)
    assert not result.session.outbox


def _audio_trace(path: Path, deltas: int) -> None:
    """A trace whose size is all audio deltas: nothing of it belongs in the chat."""
    audio = "A" * 20_000
    with path.open("w", encoding="utf-8") as fp:
        fp.write(json.dumps({"type": "response.created", "response": {"id": "resp_1"}}) + "\n")
        delta = {
            "type": "response.output_audio.delta",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": audio,
        }
        line = json.dumps({"direction": "received", "data": delta}) + "\n"
        fp.writelines(line for _ in range(deltas))


def _peak_replaying(path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    tracemalloc.start()
    try:
        assert main(["replay", str(path), "--json"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    summary = json.loads(capsys.readouterr().out)
    assert summary["responses"] == [{"id": "resp_1", "status": "in_progress"}]
    return peak


def test_replay_memory_does_not_grow_with_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _audio_trace(small, 50)  # ~1 MB
    _audio_trace(large, 1_000)  # ~20 MB
    growth = _peak_replaying(large, capsys) - _peak_replaying(small, capsys)
    size_difference = large.stat().st_size - small.stat().st_size
    assert growth < size_difference / 20, f"peak grew {growth:,} B for {size_difference:,} B"


def test_a_file_that_is_not_utf8_is_unreadable_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"type": "response.created", "response": {"id": "r1"}}\n\xff\xfe\n')
    assert main(["replay", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        f"realtime replay: cannot read {path}: line 2 is not UTF-8 text (invalid start byte)."
    )


def test_transitions_are_streamed_to_their_file(tmp_path: Path) -> None:
    from realtime_machines.chat import project
    from realtime_machines.record import read_jsonl

    record = tmp_path / "record.jsonl"
    out = io.StringIO()
    sys_stdout = sys.stdout
    sys.stdout = out
    try:
        assert main(["replay", str(TOOL_ROUND), "--json", "--transitions", str(record)]) == 0
    finally:
        sys.stdout = sys_stdout
    chat = json.loads(out.getvalue())["chat"]
    with record.open(encoding="utf-8") as fp:
        assert [item.to_json() for item in project(read_jsonl(fp))] == chat
