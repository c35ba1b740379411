"""``realtime chat``: a chat REPL over a :class:`~realtime_sdk.client.RealtimeClient`.

Where it talks (:func:`run_chat`): to OpenAI when ``OPENAI_API_KEY`` is set
(``https://api.openai.com``, ephemeral keys minted with
:func:`~realtime_sdk.keys.api_key_token_provider`, the default STUN servers); to the server at
``base_url`` when one is given (e.g. a running ``realtime emulator``); otherwise, or with
``emulator=True`` (``--emulator``), to an embedded :class:`~realtime_sdk.emulator.Emulator` on
127.0.0.1 whose assistant is :class:`ChatBrain`: it greets, looks the weather up with the
``get_weather`` tool, tells a long story (something to ``/cancel``) and repeats anything else.
One line on standard error says where it talks.

Each line read is sent with ``send_text_message``, one turn at a time; the answer streams to
standard output as ``assistant: <deltas>`` and its line ends when the response does
(`` [cancelled]`` when it was cancelled). A line starting with ``/`` is a command
(:data:`COMMANDS`; ``//text`` sends ``/text``); an unknown command is refused with a hint and
never sent. A status line (``-- connected · text mode --``) goes to standard error whenever the
connection state or the mode changes, and on ``/status``.

Interactive (standard input is a terminal): a prompt showing the status (``[connected · text]
you> ``) is written when the REPL waits for a line, and the terminal's echo is off while an
answer streams, so what the user types then never lands inside the answer: the line is shown as
``you> …`` after the answer's line ends.

At end of input (Ctrl-D, or the end of a pipe) the REPL first waits for the answers still
pending, then leaves. Either way it disconnects and exits 0; a connect failure or a lost
connection exits 1.

With ``--voice`` (:func:`run_chat` with ``voice=True``) the session talks through the default
microphone (behind an :class:`~realtime_sdk.audio.EchoGuard`) and speaker, server VAD on and
input transcription on: the assistant greets aloud, and standard output shows who is speaking
(``* you speaking`` / ``* you quiet`` / ``* assistant speaking`` / ``* assistant quiet``, from
:class:`~realtime_machines.activity.SpeechActivity`, i.e. the server VAD and the Playback
chart) and the live transcript (``you: …`` when the user's speech is transcribed,
``assistant: …`` as the answer's transcript streams). Typed lines are still sent as messages;
``/text`` and ``/voice`` switch the mode (Mode chart). No audio device → one sentence on
standard error, exit 1.

``trace`` (``--trace FILE``) writes every wire event the client sends and receives as it
happens, one :class:`~realtime_sdk.trace.WireTrace` line each (the format ``realtime replay``
reads).

``transport`` (``--transport``) picks the wire: ``"webrtc"`` (the default), ``"websocket"``
(``{base_url}/v1/realtime``, for OpenAI, a server at ``base_url`` or the embedded emulator
alike) or ``"memory"`` (the embedded emulator's engine in this process, no socket: it cannot
talk to a server, so it refuses ``base_url``). ``--voice`` runs on all three: over WebSocket and
memory the client plays the answer to the speaker itself and sends the microphone as appends.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from realtime_machines import (
    AssistantCompleted,
    AssistantDelta,
    ErrorNotice,
    Transition,
    UserCompleted,
)
from realtime_machines.activity import SpeechActivity, SpeechSnapshot

from .._aio import wait_until
from ..audio import AudioError
from ..client import RealtimeClient
from ..config import DEFAULTS, NOT_GIVEN
from ..emulator import CallTool, Faults, Say, Turn
from ..emulator.brain import Output
from ..errors import ConnectError, NotConnectedError, redact_text
from ..keys import api_key_token_provider
from ..trace import WireTrace
from ..voice import ModeSwitchError, VoiceControls
from .demo import (
    DEMO_TRANSPORTS,
    STORY,
    WEATHER_TOOL,
    demo_weather,
    embedded_wire,
    weather_sentence,
)

__all__ = [
    "COMMANDS",
    "HELP",
    "VOICE_HELP",
    "ChatBrain",
    "StdinLines",
    "chat_session",
    "main",
    "run_chat",
]

COMMANDS: dict[str, str] = {
    "/help": "list the commands",
    "/cancel": "stop the answer being streamed",
    "/voice": "switch to voice mode (with --voice: microphone and speaker)",
    "/text": "switch to text mode (the microphone closes, answers are written)",
    "/clear": "clear the chat kept by the client (and the screen, in a terminal)",
    "/status": "show the connection state and the mode",
    "/quit": "disconnect and leave (Ctrl-D also leaves, after the pending answers)",
}
"""The REPL's commands and what each does (``/help`` prints them)."""

HELP = "Type a message and press Enter; /help lists the commands, /quit (or Ctrl-D) leaves."
VOICE_HELP = "Speak, or type a message and press Enter; /help lists the commands, /quit leaves."

TEXT_SESSION: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"]}
VOICE_CHAT_SESSION: dict[str, Any] = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "transcription": {"model": "gpt-realtime-whisper"},
            "turn_detection": {
                "type": "server_vad",
                "create_response": True,
                "interrupt_response": True,
            },
        }
    },
}

CHAT_GREETING = (
    "Hello! I am the local emulator. Ask me about the weather in a city (I look it up with a "
    "tool), ask for a story (and /cancel it), or say anything and I repeat it."
)
_CITY = re.compile(r"\b(?:in|at|for)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")

#: Seconds between the embedded emulator's streamed deltas: answers stream visibly, and a long
#: one can be cancelled.
EMULATOR_DELTA_DELAY_S = 0.02


class ChatBrain:
    """The embedded emulator's assistant for ``realtime chat``.

    No user text: the greeting. After a ``function_call_output``: the weather sentence. A
    question naming ``weather`` (when the session declares ``get_weather``): calls the tool for
    the city after "in"/"at"/"for" (London when none is named). ``story``: a long answer.
    Anything else: ``You said: <text>``.
    """

    def respond(self, turn: Turn) -> Sequence[Output]:
        last = turn.last_item()
        if last is not None and last.get("type") == "function_call_output":
            return [Say(weather_sentence(str(last.get("output", ""))))]
        text = (turn.last_user_text() or "").strip()
        if not text:
            return [Say(CHAT_GREETING)]
        tools = {str(tool.get("name")) for tool in turn.tools}
        if "weather" in text.lower() and WEATHER_TOOL["name"] in tools:
            found = _CITY.search(text)
            city = found.group(1) if found else "London"
            return [CallTool(WEATHER_TOOL["name"], {"city": city})]
        if "story" in text.lower():
            return [Say(STORY)]
        return [Say(f"You said: {text}")]


class StdinLines:
    """Lines of a file descriptor (standard input by default), read on a daemon thread.

    The thread uses ``os.read`` (no Python-level lock on ``sys.stdin``), so a read still
    blocked when the REPL leaves neither keeps the process alive nor deadlocks its shutdown.
    Must be created inside a running event loop.
    """

    def __init__(self, fd: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(
            target=self._read, args=(fd,), name="realtime-chat-stdin", daemon=True
        )
        self._thread.start()

    def _post(self, line: str | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            return False
        return True

    def _read(self, fd: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                if not self._post(line.rstrip("\r")):
                    return
            if not chunk:
                if pending:
                    self._post(pending)
                self._post(None)
                return

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        line = await self._queue.get()
        if line is None:
            raise StopAsyncIteration
        return line


class _Terminal:
    """Echo control for an interactive terminal (nothing when ``fd`` is ``None``)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None
        if fd is not None:
            import termios

            try:
                self._saved = termios.tcgetattr(fd)
            except termios.error:
                self.fd = None

    def echo(self, on: bool) -> None:
        if self.fd is None or self._saved is None:
            return
        import termios

        attrs = termios.tcgetattr(self.fd)
        attrs[3] = attrs[3] | termios.ECHO if on else attrs[3] & ~termios.ECHO
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def restore(self) -> None:
        if self.fd is not None and self._saved is not None:
            import termios

            with contextlib.suppress(termios.error):
                termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)


class _Printer:
    """Streams ``assistant:delta`` to ``out``; ends the line on ``assistant:completed``.

    Each message has its own line: a response with a preamble (``phase="commentary"``) prints
    ``assistant (commentary): …`` before the answer's ``assistant: …``.

    Interactive: the prompt is erased before an answer starts, the terminal's echo is off while
    it streams, and lines read meanwhile are shown (``you> …``) once the answer's line ends.
    """

    def __init__(self, out: TextIO, err: TextIO, terminal: _Terminal, interactive: bool) -> None:
        self.out = out
        self.err = err
        self.terminal = terminal
        self.interactive = interactive
        self.open_response: str | None = None
        self.open_item: str | None = None
        self.prompt_shown = False
        self.held: list[str] = []
        self.deferred: list[str] = []
        self.status = ""
        self.waiting: Callable[[], bool] = lambda: True
        """Whether the REPL waits for a line (connected, no answer pending): prompt then."""
        self.describe: Callable[[], str] = lambda: self.status

    def _erase_prompt(self) -> None:
        if self.prompt_shown:
            self.out.write("\r\x1b[K")
            self.prompt_shown = False

    def _end_line(self) -> None:
        if self.open_response is not None:
            self.out.write("\n")
            self.open_response = None
            self.terminal.echo(True)
        for line in self.held:
            self.out.write(f"you> {line}\n")
        self.held.clear()
        if self.deferred:
            self.out.flush()
            self.err.write("".join(text + "\n" for text in self.deferred))
            self.err.flush()
            self.deferred.clear()

    def delta(self, notice: AssistantDelta) -> None:
        if self.open_response != notice.response_id or self.open_item != notice.item_id:
            if self.open_response == notice.response_id:  # the response's next message
                self.out.write("\n")
            else:
                self._end_line()
                self._erase_prompt()
                self.terminal.echo(False)
            label = " (commentary)" if notice.phase == "commentary" else ""
            self.out.write(f"assistant{label}: ")
            self.open_response = notice.response_id
            self.open_item = notice.item_id
        self.out.write(notice.delta)
        self.out.flush()

    def completed(self, notice: AssistantCompleted) -> None:
        if self.open_response == notice.response_id:
            self.out.write(" [cancelled]" if notice.status == "canceled" else "")
            self._end_line()
            self.prompt()
            self.out.flush()

    def typed(self, line: str) -> None:
        """A line was read: the prompt is gone; while an answer streams it is shown later."""
        self.prompt_shown = False
        if self.interactive and self.open_response is not None:
            self.held.append(line)

    def prompt(self) -> None:
        """Interactive, waiting for a line and not shown yet: ``[connected · text] you> ``."""
        if not self.interactive or self.open_response is not None or self.prompt_shown:
            return
        if self.waiting():
            self.out.write(f"[{self.describe()}] you> ")
            self.out.flush()
            self.prompt_shown = True

    def note(self, text: str) -> None:
        """A line of its own (``* assistant speaking``, ``you: …``), between answer lines."""
        self._erase_prompt()
        self._end_line()
        self.out.write(text + "\n")
        self.out.flush()

    def tell(self, text: str) -> None:
        """A line on standard error (status, help, refusals); while an answer streams it waits
        for the answer's line to end, so it never splits the answer."""
        if self.open_response is not None:
            self.deferred.append(text)
            return
        self._erase_prompt()
        self.out.flush()
        self.err.write(text + "\n")
        self.err.flush()

    def speech(self, before: SpeechSnapshot, after: SpeechSnapshot) -> None:
        """Who started or stopped speaking."""
        if after.is_user_speaking != before.is_user_speaking:
            self.note(f"* you {'speaking' if after.is_user_speaking else 'quiet'}")
        if after.is_assistant_speaking != before.is_assistant_speaking:
            self.note(f"* assistant {'speaking' if after.is_assistant_speaking else 'quiet'}")

    def user(self, notice: UserCompleted) -> None:
        if notice.transcript.strip():
            self.note(f"you: {notice.transcript.strip()}")

    def error(self, notice: ErrorNotice) -> None:
        message = notice.error.get("message") or notice.error.get("code") or "error"
        self.tell(f"error ({notice.scope}): {redact_text(str(message))}")


def help_text() -> str:
    """What ``/help`` prints: one command a line."""
    lines = ["Commands (a message starting with '/' is sent with '//'):"]
    lines += [f"  {name:<8} {what}" for name, what in COMMANDS.items()]
    return "\n".join(lines)


def status_of(client: RealtimeClient) -> str:
    """``connected · text``: the connection state and the Mode chart's state."""
    return f"{client.status} · {client.model.mode.state}"


async def chat_session(
    client: RealtimeClient,
    lines: AsyncIterator[str],
    out: TextIO,
    err: TextIO,
    *,
    settle_timeout: float = 60.0,
    activity: SpeechActivity | None = None,
    interactive: bool = False,
    terminal_fd: int | None = None,
    voice: VoiceControls | None = None,
) -> int:
    """Run the REPL on a client that is not connected yet; return the exit status.

    Connects (the client greets if configured to), then reads ``lines``: a message is sent once
    the previous answer is over (one turn at a time, as in a conversation); a line starting
    with ``/`` is a command (:data:`COMMANDS`), ``//`` escapes a message's leading ``/``. At the
    end of ``lines`` it waits for the messages and answers still pending. Each wait for an
    answer is bounded by ``settle_timeout`` seconds. Always disconnects. 0 on a normal exit, 1
    when connecting failed or the connection was lost.

    ``interactive``: write a prompt with the status when waiting for a line; ``terminal_fd``
    (the terminal ``lines`` come from) has its echo turned off while an answer streams.
    ``voice``: what ``/voice`` and ``/text`` switch with (without it they are refused).
    With ``activity`` (fed by the client's ``speech_activity_middleware``) who starts and stops
    speaking is printed too, and so are the user's transcripts.
    """
    terminal = _Terminal(terminal_fd)
    printer = _Printer(out, err, terminal, interactive)
    printer.status = status_of(client)
    printer.describe = lambda: status_of(client)
    client.on(AssistantDelta.name, printer.delta)
    client.on(AssistantCompleted.name, printer.completed)
    client.on(ErrorNotice.name, printer.error)
    if activity is not None:
        client.on(UserCompleted.name, printer.user)
        last = [activity.snapshot]

        def speech_changed(after: SpeechSnapshot) -> None:
            printer.speech(last[0], after)
            last[0] = after

        activity.on_change(speech_changed)
    changed = asyncio.Event()
    lost = asyncio.Event()
    outbox: asyncio.Queue[str] = asyncio.Queue()

    def settled() -> bool:
        response = client.model.response
        return response.state in ("idle", "done") and not response.queue

    # The status line is shown once the session is as configured (connected, and the Mode
    # chart in the mode asked for: the server first announces its default, voice), then on
    # every change.
    expected_mode = "voice" if activity is not None else "text"
    shown = [False]

    def show_status(force: bool = False, step: Transition | None = None) -> None:
        status = status_of(client)
        if not shown[0] and not force:  # (a failed connect says so in its own sentence)
            chosen = step is not None and step.chart == "mode" and step.target == expected_mode
            if not (chosen and client.status == "connected"):
                return
        if force or not shown[0] or status != printer.status:
            shown[0] = True
            printer.status = status
            printer.tell(f"-- {status} mode --")

    def observe(step: Transition) -> None:
        if step.is_fact:  # a fact (a delta, a message sent) changes no state the prompt shows
            return
        if step.chart == "response":
            changed.set()
        elif step.chart == "connection":
            if step.target in ("error", "disconnected"):
                lost.set()
                changed.set()
            show_status()
        elif step.chart == "mode" and not client.model.mode.is_switching:
            show_status(step=step)
        printer.prompt()

    unsubscribe = client.model.subscribe(observe)
    printer.waiting = lambda: client.status == "connected" and settled() and outbox.empty()

    async def settle() -> None:
        """Wait until no answer is pending (or the connection is lost, or time is up)."""
        try:
            await wait_until(lambda: settled() or lost.is_set(), changed, settle_timeout, "end")
        except TimeoutError:
            printer.tell(f"realtime chat: no end of the answer within {settle_timeout:g} s.")

    async def send_in_turn() -> None:
        while True:
            text = await outbox.get()
            await settle()
            if voice is not None:
                await voice.handle_send_message(text)
            else:
                await client.send_text_message(text)
            outbox.task_done()

    async def finish() -> None:
        """End of input: every queued message sent and answered."""
        async with asyncio.timeout(settle_timeout * (outbox.qsize() + 1)):
            await outbox.join()
        await settle()

    async def switch(mode: str) -> None:
        if voice is None:
            printer.tell(
                f"realtime chat: /{mode} needs a microphone and a speaker: "
                "start with 'realtime chat --voice'."
            )
            return
        try:
            if mode == "voice":
                await voice.enforce_voice_session()
            else:
                await voice.close_voice_mode()
        except ModeSwitchError as exc:
            printer.tell(f"realtime chat: /{mode}: {exc}")

    async def command(text: str) -> bool:
        """Run a command line; False for ``/quit``."""
        name = text.split()[0].lower()
        if name == "/quit":
            return False
        if name == "/help":
            printer.tell(help_text())
        elif name == "/cancel":
            await client.cancel_response()
        elif name == "/status":
            show_status(force=True)
        elif name == "/clear":
            client.clear_chat_history()
            if interactive:
                out.write("\x1b[2J\x1b[H")
            printer.tell("-- chat cleared --")
        elif name in ("/voice", "/text"):
            await switch(name[1:])
        else:
            printer.tell(
                f"realtime chat: unknown command {name} (not sent); /help lists the commands, "
                f"and //{name[1:]} sends it as a message."
            )
        return True

    try:
        try:
            await client.connect()
        except ConnectError as exc:
            printer.tell(f"realtime chat: cannot connect: {redact_text(str(exc))}")
            return 1
        iterator = aiter(lines)
        sender = asyncio.ensure_future(send_in_turn())
        lost_wait = asyncio.ensure_future(lost.wait())
        printer.prompt()
        try:
            while True:
                next_line = asyncio.ensure_future(anext(iterator))
                await asyncio.wait(
                    {next_line, lost_wait, sender}, return_when=asyncio.FIRST_COMPLETED
                )
                if not next_line.done():
                    next_line.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await next_line
                    break
                try:
                    line = next_line.result()
                except StopAsyncIteration:
                    ending = asyncio.ensure_future(finish())
                    await asyncio.wait({ending, lost_wait}, return_when=asyncio.FIRST_COMPLETED)
                    ending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await ending
                    break
                text = line.strip()
                printer.typed(text)
                if not text:
                    printer.prompt()
                    continue
                if text.startswith("/") and not text.startswith("//"):
                    if not await command(text):
                        break
                    printer.prompt()
                    continue
                await outbox.put(text[1:] if text.startswith("//") else text)
        except NotConnectedError:
            lost.set()
        finally:
            for task in (sender, lost_wait):
                task.cancel()
            outcome = await asyncio.gather(sender, lost_wait, return_exceptions=True)
        if lost.is_set() and client.status != "connected":
            printer.tell(f"realtime chat: the connection ended ({client.status}).")
            return 1
        failure = outcome[0]
        if isinstance(failure, Exception):
            printer.tell(f"realtime chat: {redact_text(str(failure) or type(failure).__name__)}")
            return 1
        return 0
    finally:
        unsubscribe()
        await client.disconnect()
        printer.prompt_shown = False
        printer.interactive = False  # no prompt after the end
        if printer.open_response is not None:
            out.write("\n")
        terminal.restore()
        out.flush()


def _loopback(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def _released(release: Callable[[], None]) -> Iterator[None]:
    try:
        yield
    finally:
        release()


async def run_chat(
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    api_key: str | None = None,
    model: str | None = None,
    greet: bool = True,
    voice: bool = False,
    base_url: str | None = None,
    emulator: bool = False,
    interactive: bool | None = None,
    transport: str = "webrtc",
    trace: TextIO | None = None,
) -> int:
    """``realtime chat``: where it talks is decided as the module doc says (``api_key``
    defaults to ``$OPENAI_API_KEY``). ``lines`` defaults to standard input, and ``interactive``
    to whether standard input is a terminal (when ``lines`` is not given). ``voice``: through the
    default microphone and speaker (:class:`~realtime_sdk.audio.AudioError` when they cannot
    open). ``trace``: every wire event written there as a replay-format line, as it happens."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    refused = _refused_transport(transport, base_url=base_url)
    if refused:
        err.write(f"realtime chat: {refused}\n")
        err.flush()
        return 2
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "").strip()
    terminal_fd: int | None = None
    if lines is None and interactive is None:
        interactive = sys.stdin.isatty()
        terminal_fd = 0 if interactive else None
    session = dict(VOICE_CHAT_SESSION if voice else TEXT_SESSION)
    if model:
        session["model"] = model
    options: dict[str, Any] = {
        "session": session,
        "model": model or NOT_GIVEN,
        "greet_enabled": greet,
        "greet_modalities": ["audio"] if voice else ["text"],
        "transport": transport,
    }
    help_line = VOICE_HELP if voice else HELP
    wire = WireTrace(trace) if trace is not None else None
    incoming: list[Any] = [wire.incoming] if wire is not None else []
    options["outgoing_middleware"] = [wire.outgoing] if wire is not None else []
    activity: SpeechActivity | None = None
    release: Callable[[], None] = lambda: None  # noqa: E731
    if voice:
        from ..activity import speech_activity_middleware
        from ..audio import EchoGuard, Speaker, microphone_factory

        # Over WebSocket and memory the client's player cuts the rest of an answer itself: no
        # hold after stop() (it is for WebRTC's frames in flight).
        speaker = Speaker() if transport == "webrtc" else Speaker(stop_hold_ms=0.0)
        release = speaker.close
        activity = SpeechActivity()
        options["microphone"] = microphone_factory(echo_guard=EchoGuard(speaker))
        options["audio_sink"] = speaker
        incoming.append(speech_activity_middleware(activity))
    options["incoming_middleware"] = incoming

    async def talk(client: RealtimeClient) -> int:
        if wire is not None:
            wire.watch(client)
        controls = None
        if voice:
            voice_session = {"audio": VOICE_CHAT_SESSION["audio"]}
            controls = VoiceControls(client, voice_session=voice_session)
        source = lines if lines is not None else StdinLines()
        return await chat_session(
            client,
            source,
            out,
            err,
            activity=activity,
            interactive=bool(interactive),
            terminal_fd=terminal_fd,
            voice=controls,
        )

    over = "" if transport == "webrtc" else f" over {transport}"
    with _released(release):
        if transport != "memory" and not emulator and (key or base_url):
            url = base_url or str(DEFAULTS["base_url"])
            if key:
                where = f"{url} (OPENAI_API_KEY)"
            else:
                from ..emulator import DEFAULT_API_KEY

                key, where = DEFAULT_API_KEY, f"{url} (the emulator's API key)"
            err.write(f"realtime chat: talking to {where}{over}. {help_line}\n")
            err.flush()
            if _loopback(url):
                options["ice_servers"] = []  # a local server: host candidates only
            client = RealtimeClient(
                token_provider=api_key_token_provider(key, base_url=url, session=session),
                base_url=url,
                **options,
            )
            return await talk(client)

        faults = Faults(delta_delay_s=EMULATOR_DELTA_DELAY_S)
        session["tools"] = [WEATHER_TOOL]
        del options["transport"]  # the embedded wire's options name it
        async with embedded_wire(transport, ChatBrain(), faults) as (where, wire_options):
            if transport == "memory":
                err.write(
                    "realtime chat: talking to the embedded emulator's engine in memory "
                    f"(--transport memory). {help_line}\n"
                )
            else:
                why = "--emulator" if emulator else "OPENAI_API_KEY is not set"
                err.write(
                    f"realtime chat: {why}; using the embedded emulator at {where}{over}. "
                    f"{help_line}\n"
                )
            err.flush()
            client = RealtimeClient(
                **wire_options, ice_servers=[], on_tool_call=demo_weather, **options
            )
            return await talk(client)


def _refused_transport(transport: str, *, base_url: str | None) -> str | None:
    """Why ``transport`` cannot run this chat (one sentence), or ``None`` when it can."""
    if transport not in DEMO_TRANSPORTS:
        return f"unknown transport {transport!r}: choose one of {', '.join(DEMO_TRANSPORTS)}."
    if transport == "memory" and base_url:
        return (
            "--transport memory talks to the embedded emulator's engine in this process; "
            "it cannot reach --base-url (use --transport websocket or webrtc)."
        )
    return None


def main(args: argparse.Namespace) -> int:
    """The ``realtime chat`` subcommand (``--api live``: :mod:`realtime_sdk.cli.chat_live`)."""
    voice = bool(getattr(args, "voice", False))
    live = getattr(args, "api", "realtime") == "live"
    trace_path: str | None = getattr(args, "trace", None)
    try:
        # Line-buffered: a trace of a session that is killed still holds what happened.
        fp = open(trace_path, "w", encoding="utf-8", buffering=1) if trace_path else None  # noqa: SIM115
    except OSError as exc:
        print(f"realtime chat: cannot write {trace_path}: {exc.strerror or exc}.", file=sys.stderr)
        return 2
    try:
        if live:
            from .chat_live import run_live_chat

            return asyncio.run(
                run_live_chat(
                    model=args.model,
                    base_url=getattr(args, "base_url", None),
                    emulator=bool(getattr(args, "emulator", False)),
                    transport=getattr(args, "transport", "webrtc"),
                    trace=fp,
                    voice=voice,
                )
            )
        return asyncio.run(
            run_chat(
                model=args.model,
                greet=args.greet,
                voice=voice,
                base_url=getattr(args, "base_url", None),
                emulator=bool(getattr(args, "emulator", False)),
                transport=getattr(args, "transport", "webrtc"),
                trace=fp,
            )
        )
    except KeyboardInterrupt:
        return 130
    except AudioError as exc:  # no PortAudio, or no default microphone/speaker
        print(f"realtime chat --voice: {exc}", file=sys.stderr)
        return 1
    finally:
        if fp is not None:
            fp.close()
