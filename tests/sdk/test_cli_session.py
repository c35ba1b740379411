"""``realtime demo``, ``realtime chat`` and ``realtime token-server`` (127.0.0.1 only).

Subprocesses run with ``OPENAI_API_KEY`` removed from their environment: ``realtime chat``
then uses its embedded emulator, and nothing here can reach api.openai.com.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_machines import AssistantDelta
from realtime_sdk.cli import demo, main
from realtime_sdk.cli.chat_repl import CHAT_GREETING, chat_session
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import (
    DeterministicBrain,
    Emulator,
    EmulatorConfig,
    Engine,
    Faults,
    Say,
    ScriptedBrain,
    Turn,
)
from realtime_sdk.emulator.brain import Output
from realtime_sdk.emulator.testing import EmulatorThread
from realtime_sdk.keys import api_key_token_provider
from tests.sdk.test_client import make_client

Runner = Callable[..., Any]

SECRET = "sk-cli-test-DO-NOT-LEAK-8d1f0c2b9a"


def clean_env() -> dict[str, str]:
    """This process's environment without OPENAI_API_KEY (nothing may reach OpenAI)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(
    *args: str,
    stdin: str | None = None,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``realtime ARGS`` in a subprocess; ``env`` is added to :func:`clean_env`."""
    return subprocess.run(
        [sys.executable, "-m", "realtime_sdk.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**clean_env(), **(env or {})},
    )


def interruptible() -> None:
    """``preexec_fn`` for a server the test stops with SIGINT: Ctrl-C's default action in the
    child. A process started in the background by a non-interactive shell (``pytest &``, some
    CI runners) has SIGINT ignored, its children inherit that, and the server never stops."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "realtime_sdk.cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        preexec_fn=interruptible,
    )


class Lines:
    """Lines of a subprocess pipe, each read with a deadline (select + os.read, no threads)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.buffer = b""
        self.seen: list[str] = []

    def until(self, predicate: Callable[[str], bool], timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode("utf-8")
                self.seen.append(line)
                if predicate(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching line within {timeout} s; saw {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"pipe closed; saw {self.seen!r}")
                self.buffer += chunk


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# realtime demo
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["webrtc", "websocket", "memory"])
def test_demo_passes_every_check_and_its_trace_replays_to_the_same_chat(
    tmp_path: Path, transport: str
) -> None:
    trace = tmp_path / "demo.jsonl"
    started = time.monotonic()
    result = cli("demo", "--transport", transport, "--trace", str(trace), "--json")
    assert time.monotonic() - started < 20
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["transport"] == transport
    assert [(c["name"], c["ok"]) for c in summary["checks"]] == [
        (name, True) for name in demo.DEMO_STEPS
    ]
    assert summary["trace"] == str(trace)
    chat = [(c["role"], c["text"], c["status"]) for c in summary["chat"]]
    assert chat[:6] == [
        ("assistant", demo.GREETING, "done"),
        ("user", demo.QUESTION, "done"),
        ("assistant", demo.ANSWER, "done"),
        ("user", demo.WEATHER_QUESTION, "done"),
        ("assistant", "In Paris it is sunny and 21 degrees.", "done"),
        ("user", demo.STORY_REQUEST, "done"),
    ]
    role, text, status = chat[6]
    assert (role, status) == ("assistant", "canceled")
    assert text
    assert demo.STORY.startswith(text)
    assert len(text) < len(demo.STORY)
    statuses = [r["status"] for r in summary["responses"]]
    assert statuses == ["completed"] * 4 + ["cancelled"]
    assert summary["transitions"]["connection"]["states"][-1] == "disconnected"
    [tool_chart] = [name for name in summary["transitions"] if name.startswith("tool_call:")]
    assert summary["transitions"][tool_chart]["states"][-1] == "answered"

    lines = trace.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert all(set(e) == {"direction", "data", "time"} for e in entries)
    assert all(isinstance(e["time"], float) for e in entries)  # when received or sent
    assert {e["direction"] for e in entries} == {"sent", "received"}
    assert sum(e["direction"] == "sent" for e in entries) == summary["events"]["sent"]
    assert sum(e["direction"] == "received" for e in entries) == summary["events"]["received"]
    received_types = [e["data"]["type"] for e in entries if e["direction"] == "received"]
    assert received_types[0] == "session.created"
    assert received_types.count("response.done") == 5
    sent_types = [e["data"]["type"] for e in entries if e["direction"] == "sent"]
    assert sent_types[0] == "session.update"
    assert sent_types.count("response.cancel") == 1
    assert sent_types.count("response.create") == 5  # greeting, question, tool, follow-up, story

    replayed = cli("replay", str(trace), "--json")
    assert replayed.returncode == 0, replayed.stderr
    replay = json.loads(replayed.stdout)
    assert [(c["role"], c["text"], c["status"]) for c in replay["chat"]] == chat
    assert replay["responses"] == summary["responses"]
    assert replay["malformed_lines"] == 0
    assert replay["unknown_events"] == 0
    [call] = replay["tool_calls"]
    assert (call["name"], call["status"]) == ("get_weather", "answered")


def test_demo_text_report_shows_chat_transitions_and_checks() -> None:
    result = cli("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("Demo session against the embedded emulator at http://127.0.0.1:")
    assert f"  assistant: {demo.GREETING}\n" in out
    assert f"       user: {demo.QUESTION}\n" in out
    assert "  (canceled)\n" in out
    assert "Transitions (" in out
    assert "idle → fetching_token → opening_microphone" in out
    assert "streaming → ready → executing → answered" in out
    for name in demo.DEMO_STEPS:
        assert f"  ok    {name:<10} " in out
    assert "FAIL" not in out
    assert "Demo passed (6/6 checks) in " in out
    assert "Traceback" not in result.stderr


def test_the_trace_is_exactly_what_went_over_the_wire(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines: list[Engine] = []

    class Kept(list[Engine]):
        def append(self, engine: Engine) -> None:
            engines.append(engine)
            super().append(engine)

    class SpyEmulator(Emulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.engines = Kept()

    monkeypatch.setattr(demo, "Emulator", SpyEmulator)
    out = io.StringIO()
    result: demo.DemoResult = run(demo.run_demo(trace=out))
    assert result.ok, result.checks
    assert out.getvalue().splitlines() == result.trace.lines
    [engine] = engines
    roundtrip = [json.loads(json.dumps(e)) for e in engine.received]
    assert result.trace.events("sent") == roundtrip
    # The engine's own log shares item objects it updates later: compare ids and types.
    received = [(e["type"], e["event_id"]) for e in result.trace.events("received")]
    assert received == [(e["type"], e["event_id"]) for e in engine.sent]


class NoToolBrain(demo.DemoBrain):
    """Answers the weather question in words: the tool step cannot pass."""

    def respond(self, turn: Turn) -> list[Output]:
        if "weather" in (turn.last_user_text() or ""):
            return [Say("I cannot look that up.")]
        return list(super().respond(turn))


def test_demo_reports_a_failed_step_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "DemoBrain", NoToolBrain)
    monkeypatch.setattr(demo, "run_demo", functools.partial(demo.run_demo, step_timeout=1.0))
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "  ok    answer     " in out
    assert "  FAIL  tool       no tool call within 1 s" in out
    assert "  skip  cancel     not run" in out
    assert "Demo FAILED (3/6 checks)" in out


def test_demo_cannot_write_its_trace_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--trace", str(tmp_path / "missing" / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realtime demo: cannot write ")


# ---------------------------------------------------------------------------------------------
# realtime chat
# ---------------------------------------------------------------------------------------------


def test_chat_without_api_key_uses_the_emulator_and_answers_each_line_until_eof() -> None:
    result = cli("chat", stdin="hello there\n\nWhat is the capital of France?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"assistant: {CHAT_GREETING}\n"
        "assistant: You said: hello there\n"
        "assistant: You said: What is the capital of France?\n"
    )
    [notice] = [line for line in result.stderr.splitlines() if "emulator" in line]
    assert notice.startswith(
        "realtime chat: OPENAI_API_KEY is not set; using the embedded emulator at http://127.0.0.1:"
    )
    assert "Traceback" not in result.stderr


def test_chat_streams_the_answer_then_quits_on_command() -> None:
    process = popen("chat", "--no-greet")
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        out = Lines(process.stdout)
        process.stdin.write(b"ping\n")
        process.stdin.flush()
        assert out.until(lambda line: line.startswith("assistant:")) == "assistant: You said: ping"
        process.stdin.write(b"/quit\n")
        process.stdin.flush()
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read().decode()
        assert out.seen == ["assistant: You said: ping"]
    finally:
        stop(process)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


async def feed(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (line := await queue.get()) is not None:
        yield line


def test_chat_cancel_cuts_the_streamed_answer(run: Runner) -> None:
    story = " ".join(["word"] * 200)

    async def scenario() -> None:
        brain = ScriptedBrain([[Say(story)]])
        async with Emulator(brain=brain, faults=Faults(delta_delay_s=0.02)) as emu:
            client = make_client(emu, delete_chat_history_on_disconnect=False)
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            streaming = asyncio.Event()
            client.on(AssistantDelta.name, lambda _n: streaming.set())
            out, err = io.StringIO(), io.StringIO()
            session = asyncio.ensure_future(chat_session(client, feed(queue), out, err))
            queue.put_nowait("Tell me a story")
            async with asyncio.timeout(10):
                await streaming.wait()
            queue.put_nowait("/cancel")
            queue.put_nowait(None)
            async with asyncio.timeout(15):
                assert await session == 0
            text = out.getvalue()
            assert text.startswith("assistant: word")
            assert text.endswith(" [cancelled]\n")
            assert text.count("\n") == 1
            assert len(text) < len(story)
            assert list(client.model.responses.values()) == ["cancelled"]
            assert client.chat[-1].status == "canceled"
            assert client.status == "disconnected"

    run(scenario())


def test_chat_prints_a_preamble_and_the_answer_on_their_own_lines(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator(brain=DeterministicBrain(preamble="One moment.")) as emu:
            client = make_client(emu)
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            out, err = io.StringIO(), io.StringIO()
            for line in ("hello", "again", None):
                queue.put_nowait(line)
            async with asyncio.timeout(15):
                assert await chat_session(client, feed(queue), out, err) == 0
            assert out.getvalue() == (
                "assistant (commentary): One moment.\n"
                "assistant: You said: hello\n"
                "assistant (commentary): One moment.\n"
                "assistant: You said: again\n"
            )

    run(scenario())


def test_chat_connect_failure_exits_1_with_one_line(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(refuse_token=401)) as emu:
            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
                ice_servers=[],
                greet_enabled=False,
            )
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            out, err = io.StringIO(), io.StringIO()
            async with asyncio.timeout(15):
                assert await chat_session(client, feed(queue), out, err) == 1
            assert out.getvalue() == ""
            [line] = err.getvalue().splitlines()
            assert line.startswith("realtime chat: cannot connect: ")
            assert emu.api_key not in line

    run(scenario())


# ---------------------------------------------------------------------------------------------
# realtime token-server
# ---------------------------------------------------------------------------------------------


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def serve_tokens(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    process = popen("token-server", "--port", "0", *args)
    assert process.stdout is not None
    url = Lines(process.stdout).until(lambda _line: True)
    assert url.startswith("http://127.0.0.1:")
    return process, url


def finish(process: subprocess.Popen[bytes]) -> str:
    """Interrupt the server; its whole stdout + stderr."""
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert process.stdout is not None
        assert process.stderr is not None
        return process.stdout.read().decode() + process.stderr.read().decode()
    finally:
        stop(process)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_token_server_mints_ephemeral_keys_and_never_shows_the_api_key() -> None:
    upstream = EmulatorThread(EmulatorConfig(api_key=SECRET)).start()
    try:
        process, url = serve_tokens("--api-key", SECRET, "--base-url", upstream.base_url)
        try:
            status, body = get_json(url + "/realtime/session")
            assert status == 200
            assert body["value"].startswith("ek_")
            assert body["client_secret"]["value"] == body["value"]
            assert SECRET not in json.dumps(body)
            assert get_json(url + "/healthz") == (200, {"status": "ok"})
        finally:
            output = finish(process)
        assert "minted an ephemeral key" in output
        assert SECRET not in output

        wrong = SECRET[::-1]
        process, url = serve_tokens("--api-key", wrong, "--base-url", upstream.base_url)
        try:
            status, body = get_json(url + "/realtime/session")
            assert status == 502
            assert body["error"]["type"] == "upstream_error"
            assert wrong not in json.dumps(body)
        finally:
            output = finish(process)
        assert wrong not in output
        assert wrong[-8:] not in output
    finally:
        upstream.stop()


def test_token_server_without_a_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["token-server", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realtime token-server: no API key")


# ---------------------------------------------------------------------------------------------
# docs/cli.md
# ---------------------------------------------------------------------------------------------

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_subcommand_is_documented_with_an_example() -> None:
    from realtime_sdk.cli import build_parser

    [commands] = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    text = CLI_DOC.read_text(encoding="utf-8")
    examples = "\n".join(BASH_BLOCK.findall(text))
    assert {"demo", "chat", "token-server", "replay"} <= set(commands.choices)
    for name in commands.choices:
        assert f"## `realtime {name}`" in text, name
        assert re.search(rf"(^|\$ |\| )realtime {re.escape(name)}\b", examples, re.MULTILINE), name
