"""``realtime chat`` as a new user meets it: commands, status line, prompt, the emulator brain,
``--emulator`` / ``--base-url``, and a terminal whose typing never lands inside an answer.

Subprocesses run without ``OPENAI_API_KEY`` (or with a fake one and ``--emulator``): nothing
here reaches api.openai.com.
"""

from __future__ import annotations

import asyncio
import io
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from realtime_machines import AssistantDelta
from realtime_sdk.cli.chat_repl import (
    CHAT_GREETING,
    COMMANDS,
    VOICE_CHAT_SESSION,
    ChatBrain,
    StdinLines,
    chat_session,
)
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator, EmulatorConfig, Faults, Say, ScriptedBrain
from realtime_sdk.emulator.testing import EmulatorThread
from realtime_sdk.keys import api_key_token_provider
from realtime_sdk.voice import VoiceControls

from .test_cli_session import clean_env, cli, feed

Runner = Callable[..., Any]


def text_client(emu: Emulator, **options: Any) -> RealtimeClient:
    options.setdefault("session", {"type": "realtime", "output_modalities": ["text"]})
    return RealtimeClient(
        token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
        base_url=emu.base_url,
        ice_servers=[],
        greet_enabled=False,
        delete_chat_history_on_disconnect=False,
        **options,
    )


async def scripted(client: RealtimeClient, lines: list[str], **kwargs: Any) -> tuple[int, str, str]:
    """Run the REPL on ``lines`` then end of input: (exit status, stdout, stderr)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    for line in [*lines, None]:
        queue.put_nowait(line)
    out, err = io.StringIO(), io.StringIO()
    async with asyncio.timeout(30):
        code = await chat_session(client, feed(queue), out, err, **kwargs)
    return code, out.getvalue(), err.getvalue()


async def shows(buffer: io.StringIO, text: str) -> None:
    """Until ``text`` was written to ``buffer`` (bounded: 15 s)."""
    async with asyncio.timeout(15):
        while text not in buffer.getvalue():  # noqa: ASYNC110 - a StringIO has no event
            await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def test_an_unknown_command_is_refused_with_a_hint_and_never_sent(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = text_client(emu)
            code, out, err = await scripted(client, ["/foo bar", "//foo", "hello"])
            assert code == 0, err
            assert (
                "realtime chat: unknown command /foo (not sent); /help lists the commands, "
                "and //foo sends it as a message.\n"
            ) in err
            users = [item.text for item in client.chat if item.role == "user"]
            assert users == ["/foo", "hello"]  # '//foo' is the message '/foo'
            assert out == "assistant: You said: /foo\nassistant: You said: hello\n"

    run(scenario())


def test_help_lists_every_command_and_status_shows_state_and_mode(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = text_client(emu)
            code, out, err = await scripted(client, ["/help", "/status"])
            assert code == 0, err
            assert out == ""
            for name, what in COMMANDS.items():
                assert f"  {name:<8} {what}\n" in err
            assert set(COMMANDS) == {
                "/help",
                "/cancel",
                "/voice",
                "/text",
                "/clear",
                "/status",
                "/quit",
            }
            assert "-- connected · " in err  # /status, whatever the mode at that moment
            assert client.chat == []  # nothing was sent

    run(scenario())


def test_the_status_line_follows_the_session_and_clear_empties_the_chat(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = text_client(emu)
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            out, err = io.StringIO(), io.StringIO()
            session = asyncio.ensure_future(chat_session(client, feed(queue), out, err))
            queue.put_nowait("hello")
            await shows(out, "You said: hello\n")
            assert [item.role for item in client.chat] == ["user", "assistant"]
            queue.put_nowait("/clear")
            queue.put_nowait(None)
            async with asyncio.timeout(15):
                assert await session == 0
            assert client.chat == []
            # One status line once the session is as configured (not the server's first
            # announcement of its default voice mode), then the clear.
            assert err.getvalue().splitlines() == [
                "-- connected · text mode --",
                "-- chat cleared --",
            ]

    run(scenario())


def test_voice_and_text_switch_the_mode_and_the_status_line_says_so(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            # Audio out, no microphone (receive-only): what /text and /voice switch between.
            client = text_client(emu, session=dict(VOICE_CHAT_SESSION))
            controls = VoiceControls(client, voice_session={"audio": VOICE_CHAT_SESSION["audio"]})
            code, _out, err = await scripted(client, ["/text", "/voice"], voice=controls)
            assert code == 0, err
            status = [line for line in err.splitlines() if line.startswith("-- ")]
            assert status[-2:] == ["-- connected · text mode --", "-- connected · voice mode --"]
            assert client.model.mode.state == "voice"

    run(scenario())


def test_voice_without_audio_devices_is_refused_in_one_sentence(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = text_client(emu)
            code, out, err = await scripted(client, ["/voice"])
            assert code == 0
            assert out == ""
            assert (
                "realtime chat: /voice needs a microphone and a speaker: start with "
                "'realtime chat --voice'.\n"
            ) in err
            assert client.model.mode.state == "text"

    run(scenario())


# ---------------------------------------------------------------------------------------------
# The embedded emulator's brain, --emulator and --base-url
# ---------------------------------------------------------------------------------------------


def test_the_embedded_emulator_looks_the_weather_up_with_a_tool() -> None:
    result = cli("chat", stdin="What is the weather in Rome?\nTell me a story\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"assistant: {CHAT_GREETING}"
    assert lines[1] == "assistant: In Rome it is sunny and 21 degrees."
    assert lines[2].startswith("assistant: Once upon a time")
    assert "Traceback" not in result.stderr


def test_chat_brain_calls_the_tool_only_when_the_session_declares_it() -> None:
    from realtime_sdk.emulator import CallTool, Turn

    def turn(text: str, tools: list[dict[str, Any]]) -> Turn:
        content = [{"type": "input_text", "text": text}]
        item = {"type": "message", "role": "user", "content": content}
        return Turn([item], "", tools, "auto", ["text"])

    from realtime_sdk.cli.demo import WEATHER_TOOL

    brain = ChatBrain()
    assert brain.respond(turn("weather in New York please", [WEATHER_TOOL])) == [
        CallTool("get_weather", {"city": "New York"})
    ]
    assert brain.respond(turn("what weather?", [WEATHER_TOOL])) == [
        CallTool("get_weather", {"city": "London"})
    ]
    assert brain.respond(turn("what weather?", [])) == [Say("You said: what weather?")]


def test_emulator_flag_uses_the_embedded_emulator_even_with_an_api_key() -> None:
    env = clean_env()
    env["OPENAI_API_KEY"] = "sk-not-a-real-key-never-sent"
    result = subprocess.run(
        [sys.executable, "-m", "realtime_sdk.cli", "chat", "--emulator", "--no-greet"],
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "assistant: You said: hello\n"
    assert "realtime chat: --emulator; using the embedded emulator at http://127.0.0.1:" in (
        result.stderr
    )
    assert "sk-not-a-real-key" not in result.stderr


def test_base_url_talks_to_a_running_emulator_with_its_key() -> None:
    server = EmulatorThread(EmulatorConfig()).start()
    try:
        result = cli("chat", "--base-url", server.base_url, "--no-greet", stdin="ping\n")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "assistant: You said: ping\n"  # the running emulator's own brain
    assert f"realtime chat: talking to {server.base_url} (the emulator's API key)." in (
        result.stderr
    )


# ---------------------------------------------------------------------------------------------
# A terminal: prompt with the status, and typing that never lands inside the answer
# ---------------------------------------------------------------------------------------------


def test_interactive_prompt_shows_the_status(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = text_client(emu)
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            out, err = io.StringIO(), io.StringIO()
            session = asyncio.ensure_future(
                chat_session(client, feed(queue), out, err, interactive=True)
            )
            await shows(out, "] you> ")
            queue.put_nowait("hello")
            await shows(out, "You said: hello\n")
            queue.put_nowait(None)
            async with asyncio.timeout(15):
                assert await session == 0
            text = out.getvalue()
            assert text.startswith("[connected · ")
            # (A terminal's echo of the line ends the prompt's line.) The prompt comes back
            # once the answer is over.
            assert "] you> assistant: You said: hello\n[connected · text] you> " in text
            assert text.endswith("] you> assistant: You said: hello\n[connected · text] you> ")

    run(scenario())


def read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} within {timeout} s; saw {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 65536)


def test_a_line_typed_on_the_terminal_while_streaming_stays_out_of_the_answer(
    run: Runner,
) -> None:
    """A real pseudo-terminal: its line discipline echoes what is typed, as a user's does."""
    story = " ".join(["word"] * 200)

    async def scenario() -> None:
        main_fd, tty_fd = pty.openpty()
        try:
            brain = ScriptedBrain([[Say(story)]])
            async with Emulator(brain=brain, faults=Faults(delta_delay_s=0.02)) as emu:
                client = text_client(emu)
                streaming = asyncio.Event()
                client.on(AssistantDelta.name, lambda _n: streaming.set())
                with io.TextIOWrapper(
                    io.FileIO(tty_fd, "w", closefd=False), encoding="utf-8"
                ) as screen:
                    session = asyncio.ensure_future(
                        chat_session(
                            client,
                            StdinLines(tty_fd),
                            screen,
                            screen,
                            interactive=True,
                            terminal_fd=tty_fd,
                        )
                    )
                    seen = bytearray()
                    async with asyncio.timeout(15):
                        while client.status != "connected":  # noqa: ASYNC110 - test-side wait
                            await asyncio.sleep(0.02)
                    os.write(main_fd, b"Tell me a story\n")
                    async with asyncio.timeout(10):
                        await streaming.wait()
                    await asyncio.to_thread(read_until, main_fd, b"assistant: word", seen)
                    os.write(main_fd, b"/cancel\n")
                    await asyncio.to_thread(read_until, main_fd, b"[cancelled]", seen)
                    os.write(main_fd, b"/quit\n")
                    async with asyncio.timeout(15):
                        assert await session == 0
                    await asyncio.to_thread(read_until, main_fd, b"/quit", seen)  # its echo
            screen_text = bytes(seen).decode()
            start = screen_text.index("assistant: ")
            answer = screen_text[start : screen_text.index("[cancelled]", start)]
            assert "/cancel" not in answer
            assert set(answer.removeprefix("assistant: ").split()) == {"word"}
            # The line typed during the answer is shown after it, on its own line.
            assert "[cancelled]\r\nyou> /cancel\r\n" in screen_text
            assert client.chat[-1].status == "canceled"
        finally:
            os.close(main_fd)
            os.close(tty_fd)

    run(scenario())


def test_a_model_with_a_shutdown_date_is_named_in_one_line_on_stderr() -> None:
    """Python hides a ``DeprecationWarning`` raised outside ``__main__``: the command shows the
    model's shutdown (the user picked that model) as one line, and still answers."""
    result = cli("chat", "--emulator", "--no-greet", "--model", "gpt-realtime", stdin="hi\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "assistant: You said: hi\n"
    [line] = [line for line in result.stderr.splitlines() if "gpt-realtime'" in line]
    assert line.startswith("realtime: warning: model 'gpt-realtime' has an announced shutdown")
    assert "2027-01-20" in line
    assert "'gpt-realtime-2.1'" in line
    # A model with no shutdown date: no warning at all.
    current = cli("chat", "--emulator", "--no-greet", "--model", "gpt-realtime-2.1", stdin="hi\n")
    assert current.returncode == 0, current.stderr
    assert "warning" not in current.stderr
