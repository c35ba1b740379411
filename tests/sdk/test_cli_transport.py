"""``realtime demo --transport`` and ``realtime chat --transport`` (127.0.0.1 or in memory).

The demo's checked session on every transport (and its trace replaying into the same chat) is
``test_demo_passes_every_check_and_its_trace_replays_to_the_same_chat`` in
``test_cli_session.py``, parametrised by transport; here: the text report, the chat REPL on
the other wires, and the combinations refused with one sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime_sdk.cli import demo
from realtime_sdk.cli.chat_repl import CHAT_GREETING
from tests.sdk.test_cli_session import cli


@pytest.mark.parametrize(
    ("transport", "header", "connected"),
    [
        (
            "websocket",
            "Demo session against the embedded emulator at http://127.0.0.1:",
            "connected over loopback WebSocket\n",
        ),
        (
            "memory",
            "Demo session against the embedded emulator's engine, in memory\n",
            "connected over memory\n",
        ),
    ],
)
def test_demo_text_report_names_the_transport(transport: str, header: str, connected: str) -> None:
    result = cli("demo", "--transport", transport)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith(header)
    assert f"  ok    connect    {connected}" in out
    # The Connection chart names the transport's handshake, not WebRTC's steps.
    assert "creating_peer" not in out
    assert "posting_offer" not in out
    for name in demo.DEMO_STEPS:
        assert f"  ok    {name:<10} " in out
    assert "FAIL" not in out
    assert "Demo passed (6/6 checks) in " in out
    assert "Traceback" not in result.stderr


def test_demo_refuses_an_unknown_transport() -> None:
    result = cli("demo", "--transport", "carrier-pigeon")
    assert result.returncode == 2
    assert "argument --transport: invalid choice: 'carrier-pigeon'" in result.stderr


@pytest.mark.parametrize("transport", ["websocket", "memory"])
def test_chat_over_the_transport_answers_each_line_and_calls_the_tool(transport: str) -> None:
    result = cli(
        "chat",
        "--transport",
        transport,
        stdin="hello there\nWhat is the weather in Paris?\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"assistant: {CHAT_GREETING}\n"
        "assistant: You said: hello there\n"
        "assistant: In Paris it is sunny and 21 degrees.\n"
    )
    [notice] = [line for line in result.stderr.splitlines() if "emulator" in line]
    if transport == "memory":
        assert notice.startswith(
            "realtime chat: talking to the embedded emulator's engine in memory"
        )
    else:
        assert notice.startswith(
            "realtime chat: OPENAI_API_KEY is not set; using the embedded emulator at "
            "http://127.0.0.1:"
        )
        assert " over websocket. " in notice
    assert "Traceback" not in result.stderr


def test_chat_trace_replays_to_the_same_chat(tmp_path: Path) -> None:
    """``realtime chat --trace FILE``: every wire event, sent and received, as replay-format
    lines; ``realtime replay`` of it gives the chat the REPL printed."""
    trace = tmp_path / "chat.jsonl"
    result = cli(
        "chat",
        *("--transport", "memory", "--trace", str(trace)),
        stdin="hello there\nWhat is the weather in Paris?\n",
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    assert all(set(e) == {"direction", "data", "time"} for e in entries)
    sent = [e["data"]["type"] for e in entries if e["direction"] == "sent"]
    received = [e["data"]["type"] for e in entries if e["direction"] == "received"]
    assert sent[0] == "session.update"
    assert sent.count("conversation.item.create") == 3  # two lines and the tool's output
    assert received[0] == "session.created"
    assert received.count("response.done") == 4  # greeting, answer, tool call, weather
    replayed = cli("replay", str(trace), "--json")
    assert replayed.returncode == 0, replayed.stderr
    replay = json.loads(replayed.stdout)
    assert [(c["role"], c["text"]) for c in replay["chat"] if c["role"] == "assistant"] == [
        ("assistant", CHAT_GREETING),
        ("assistant", "You said: hello there"),
        ("assistant", "In Paris it is sunny and 21 degrees."),
    ]
    assert replay["malformed_lines"] == 0


def test_chat_trace_to_an_unwritable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("chat", "--trace", str(tmp_path / "missing" / "chat.jsonl"), stdin="")
    assert result.returncode == 2
    assert result.stderr.startswith("realtime chat: cannot write ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["--transport", "memory", "--base-url", "http://127.0.0.1:9"],
            "realtime chat: --transport memory talks to the embedded emulator's engine in this "
            "process; it cannot reach --base-url (use --transport websocket or webrtc).",
        ),
    ],
)
def test_chat_refuses_what_the_transport_cannot_do(args: list[str], sentence: str) -> None:
    result = cli("chat", *args, stdin="")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [sentence]
    assert result.stdout == ""
