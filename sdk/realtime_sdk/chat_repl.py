"""``realtime chat``: a text REPL over a :class:`~realtime_sdk.client.RealtimeClient`.

Against OpenAI when ``OPENAI_API_KEY`` is set (``https://api.openai.com``, ephemeral keys
minted with :func:`~realtime_sdk.keys.api_key_token_provider`, the default STUN servers),
otherwise against an embedded :class:`~realtime_sdk.emulator.Emulator` on 127.0.0.1 (one line on
standard error says so).

Each line read is sent with ``send_text_message``; the answer streams to standard output as
``assistant: <deltas>`` and its line ends when the response does (`` [cancelled]`` when it was
cancelled). Commands: ``/cancel`` cancels the answer being streamed, ``/quit`` leaves at once;
at end of input (Ctrl-D, or the end of a pipe) the REPL first waits for the answers still
pending, then leaves. Either way it disconnects and exits 0; a connect failure or a lost
connection exits 1.

With ``--voice`` (:func:`run_chat` with ``voice=True``) the session talks through the default
microphone (behind an :class:`~realtime_sdk.audio.EchoGuard`) and speaker, server VAD on and
input transcription on: the assistant greets aloud, and standard output shows who is speaking
(``* you speaking`` / ``* you quiet`` / ``* assistant speaking`` / ``* assistant quiet``, from
:class:`~realtime_machines.activity.SpeechActivity`, i.e. the server VAD and the Playback
chart) and the live transcript (``you: …`` when the user's speech is transcribed,
``assistant: …`` as the answer's transcript streams). Typed lines are still sent as messages;
``/quit`` or end of input leaves. No audio device → one sentence on standard error, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from realtime_machines import (
    AssistantCompleted,
    AssistantDelta,
    ErrorNotice,
    Transition,
    UserCompleted,
)
from realtime_machines.activity import SpeechActivity, SpeechSnapshot

from .audio import AudioError
from .client import RealtimeClient
from .config import DEFAULTS, NOT_GIVEN
from .errors import ConnectError, NotConnectedError, redact_text
from .keys import api_key_token_provider

__all__ = ["HELP", "VOICE_HELP", "StdinLines", "chat_session", "main", "run_chat"]

HELP = "Type a message and press Enter. /cancel stops the answer, /quit (or Ctrl-D) leaves."
VOICE_HELP = "Speak, or type a message and press Enter. /quit (or Ctrl-D) leaves."

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


class _Printer:
    """Streams ``assistant:delta`` to ``out``; ends the line on ``assistant:completed``.

    Each message has its own line: a response with a preamble (``phase="commentary"``) prints
    ``assistant (commentary): …`` before the answer's ``assistant: …``.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.open_response: str | None = None
        self.open_item: str | None = None

    def delta(self, notice: AssistantDelta) -> None:
        new_item = self.open_item != notice.item_id
        if self.open_response != notice.response_id or new_item:
            if self.open_response is not None:
                self.out.write("\n")
            label = " (commentary)" if notice.phase == "commentary" else ""
            self.out.write(f"assistant{label}: ")
            self.open_response = notice.response_id
            self.open_item = notice.item_id
        self.out.write(notice.delta)
        self.out.flush()

    def completed(self, notice: AssistantCompleted) -> None:
        if self.open_response == notice.response_id:
            self.out.write(" [cancelled]\n" if notice.status == "canceled" else "\n")
            self.out.flush()
            self.open_response = None

    def note(self, text: str) -> None:
        """A line of its own (``* assistant speaking``, ``you: …``), between answer lines."""
        if self.open_response is not None:
            self.out.write("\n")
            self.open_response = None  # the answer goes on on a new "assistant:" line
        self.out.write(text + "\n")
        self.out.flush()

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
        self.err.write(f"error ({notice.scope}): {redact_text(str(message))}\n")
        self.err.flush()


async def chat_session(
    client: RealtimeClient,
    lines: AsyncIterator[str],
    out: TextIO,
    err: TextIO,
    *,
    settle_timeout: float = 60.0,
    activity: SpeechActivity | None = None,
) -> int:
    """Run the REPL on a client that is not connected yet; return the exit status.

    Connects (the client greets if configured to), then reads ``lines``: a message is sent once
    the previous answer is over (one turn at a time, as in a conversation), ``/cancel`` cancels
    the answer being streamed, ``/quit`` leaves at once. At the end of ``lines`` it waits for the
    messages and answers still pending. Each wait for an answer is bounded by ``settle_timeout``
    seconds. Always disconnects. 0 on a normal exit, 1 when connecting failed or the connection
    was lost. With ``activity`` (fed by the client's ``speech_activity_middleware``) who starts
    and stops speaking is printed too, and so are the user's transcripts.
    """
    printer = _Printer(out, err)
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

    def observe(step: Transition) -> None:
        if step.chart == "response":
            changed.set()
        elif step.chart == "connection" and step.target in ("error", "disconnected"):
            lost.set()
            changed.set()

    unsubscribe = client.model.subscribe(observe)

    def settled() -> bool:
        response = client.model.response
        return response.state in ("idle", "done") and not response.queue

    async def settle() -> None:
        """Wait until no answer is pending (or the connection is lost, or time is up)."""
        try:
            async with asyncio.timeout(settle_timeout):
                while not settled() and not lost.is_set():
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            err.write(f"realtime chat: no end of the answer within {settle_timeout:g} s.\n")

    outbox: asyncio.Queue[str] = asyncio.Queue()

    async def send_in_turn() -> None:
        while True:
            text = await outbox.get()
            await settle()
            await client.send_text_message(text)
            outbox.task_done()

    async def finish() -> None:
        """End of input: every queued message sent and answered."""
        async with asyncio.timeout(settle_timeout * (outbox.qsize() + 1)):
            await outbox.join()
        await settle()

    try:
        try:
            await client.connect()
        except ConnectError as exc:
            err.write(f"realtime chat: cannot connect: {redact_text(str(exc))}\n")
            return 1
        iterator = aiter(lines)
        sender = asyncio.ensure_future(send_in_turn())
        lost_wait = asyncio.ensure_future(lost.wait())
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
                if not text:
                    continue
                if text == "/quit":
                    break
                if text == "/help":
                    err.write(HELP + "\n")
                elif text == "/cancel":
                    await client.cancel_response()
                else:
                    await outbox.put(text)
        except NotConnectedError:
            lost.set()
        finally:
            for task in (sender, lost_wait):
                task.cancel()
            outcome = await asyncio.gather(sender, lost_wait, return_exceptions=True)
        if lost.is_set() and client.status != "connected":
            err.write(f"realtime chat: the connection ended ({client.status}).\n")
            return 1
        failure = outcome[0]
        if isinstance(failure, Exception):
            err.write(f"realtime chat: {redact_text(str(failure) or type(failure).__name__)}\n")
            return 1
        return 0
    finally:
        unsubscribe()
        await client.disconnect()
        if printer.open_response is not None:
            out.write("\n")
        out.flush()


async def run_chat(
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    api_key: str | None = None,
    model: str | None = None,
    greet: bool = True,
    voice: bool = False,
) -> int:
    """``realtime chat``: OpenAI with ``api_key`` (default ``$OPENAI_API_KEY``), otherwise an
    embedded emulator. ``lines`` defaults to standard input. ``voice``: through the default
    microphone and speaker (:class:`~realtime_sdk.audio.AudioError` when they cannot open)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "").strip()
    session = dict(VOICE_CHAT_SESSION if voice else TEXT_SESSION)
    if model:
        session["model"] = model
    options: dict[str, Any] = {
        "session": session,
        "model": model or NOT_GIVEN,
        "greet_enabled": greet,
        "greet_modalities": ["audio"] if voice else ["text"],
    }
    help_text = VOICE_HELP if voice else HELP
    activity: SpeechActivity | None = None
    release: Callable[[], None] = lambda: None  # noqa: E731
    if voice:
        from .activity import speech_activity_middleware
        from .audio import EchoGuard, Speaker, microphone_factory

        speaker = Speaker()
        release = speaker.close
        activity = SpeechActivity()
        options["microphone"] = microphone_factory(echo_guard=EchoGuard(speaker))
        options["audio_sink"] = speaker
        options["incoming_middleware"] = [speech_activity_middleware(activity)]
    try:
        source = lines if lines is not None else StdinLines()
        if key:
            base_url = str(DEFAULTS["base_url"])
            err.write(f"realtime chat: OpenAI at {base_url} (OPENAI_API_KEY). {help_text}\n")
            err.flush()
            client = RealtimeClient(
                token_provider=api_key_token_provider(key, base_url=base_url, session=session),
                base_url=base_url,
                **options,
            )
            return await chat_session(client, source, out, err, activity=activity)

        from .emulator import Emulator

        async with Emulator() as emu:
            err.write(
                f"realtime chat: OPENAI_API_KEY is not set; using the embedded emulator at "
                f"{emu.base_url}. {help_text}\n"
            )
            err.flush()
            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
                ice_servers=[],
                **options,
            )
            return await chat_session(client, source, out, err, activity=activity)
    finally:
        release()


def main(args: argparse.Namespace) -> int:
    """The ``realtime chat`` subcommand."""
    voice = bool(getattr(args, "voice", False))
    try:
        return asyncio.run(run_chat(model=args.model, greet=args.greet, voice=voice))
    except KeyboardInterrupt:
        return 130
    except AudioError as exc:  # no PortAudio, or no default microphone/speaker
        print(f"realtime chat --voice: {exc}", file=sys.stderr)
        return 1
