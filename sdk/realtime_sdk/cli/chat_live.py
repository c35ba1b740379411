"""``realtime chat --api live``: a line REPL on a GPT-Live session.

Each typed line goes in as ``session.instructions.append`` (Live has no user text messages);
the assistant's spoken answer is printed as its transcript arrives, one turn a line. Against
OpenAI when ``OPENAI_API_KEY`` is set, the server at ``--base-url`` when given, otherwise (or
with ``--emulator``) an embedded emulator whose voice model delegates the weather to a
backend that calls ``get_weather`` (run by this client). Commands: ``/mute``, ``/unmute``,
``/quit``, ``/help``. The session streams silence (Live's clock needs input audio frames).
``--transport`` is ``webrtc``, ``websocket`` or ``memory`` (the emulator's Live engine in this
process: no socket, so no ``--base-url``).

With ``--voice`` (:func:`run_live_chat` with ``voice=True``) the session talks through the
default microphone (behind an :class:`~realtime_sdk.audio.EchoGuard`) and speaker instead of
silence: standard output shows the user's turns as transcribed (``you: …``), the assistant's
transcript as it streams (``assistant: …``) and, from what the speaker plays, ``* assistant
speaking`` / ``* assistant quiet`` (Live has no speaking state on the wire; shown once the
assistant's line ends, never inside it); ``* assistant interrupted`` when the user barged in
(the server cut the assistant; over WebSocket and memory the client's player drops what it
still held: Live has no cancel or truncate to send). Typed lines are still
instructions. ``/mute`` / ``/unmute`` are Live's acknowledged mute (the model hears silence).
What Realtime's chat has and Live has not is refused with the reason (:data:`LIVE_REFUSED`):
``/cancel`` (no cancel: the model stops when spoken over), ``/voice`` / ``/text`` (a Live
session always speaks; its configuration is immutable), and push-to-talk (no commit: Live's
turn-taking belongs to the model). No audio device → one sentence on standard error, exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from realtime_machines import AssistantCompleted, AssistantDelta, ErrorNotice, UserCompleted
from realtime_machines.live import AssistantInterrupted, LiveChatOptions

from ..config import DEFAULTS
from ..emulator import EmulatorConfig
from ..errors import ConnectError
from ..live_client import DEFAULT_LIVE_MODEL, LiveClient
from ..trace import WireTrace
from .chat_repl import StdinLines
from .demo_live import LIVE_DEMO_TRANSPORTS, embedded_live

__all__ = ["LIVE_HELP", "LIVE_REFUSED", "LIVE_VOICE_HELP", "live_chat_session", "run_live_chat"]

ANSWER_WAIT_S = 20.0
LIVE_HELP = "Type to instruct the assistant; /mute, /unmute, /quit, /help."
LIVE_VOICE_HELP = "Speak, or type to instruct the assistant; /mute, /unmute, /quit, /help."
LIVE_REFUSED: dict[str, str] = {
    "/cancel": "GPT-Live has no response.cancel: speak over the assistant and the model "
    "stops (its barge-in)",
    "/voice": "a GPT-Live session always speaks and its configuration is immutable: "
    "start 'realtime chat --api live --voice' for the microphone and speaker",
    "/text": "a GPT-Live session always speaks (there is no text-only output); "
    "/mute stops the model hearing the microphone",
    "/ptt": "GPT-Live has no push-to-talk: no input commit, the model takes the turns; "
    "/mute and /unmute decide when it hears you",
}
"""Realtime chat commands a Live session has no counterpart for, each with the reason."""
WEATHER_FUNCTION = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class _Lines:
    """The conversation on ``out``: the assistant's turn streams on one line. A note
    (``you: …``) ends an open line first (the turn's next delta opens a new ``assistant:``
    line); a status (``* assistant speaking``, from the speaker, a moment behind the
    transcript) waits for the open line to end, so it never splits it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.open: str | None = None
        self.held: list[str] = []

    def status(self, text: str) -> None:
        if self.open is None:
            self.note(text)
        else:
            self.held.append(text)

    def delta(self, notice: AssistantDelta) -> None:
        if self.open != notice.response_id:  # the turn's id
            self.end()
            self.out.write("assistant: ")
            self.open = notice.response_id
        self.out.write(notice.delta)
        self.out.flush()

    def completed(self, notice: AssistantCompleted) -> None:
        if self.open == notice.response_id:  # (a turn cut by a note: the note said so)
            self.out.write("" if notice.status == "done" else f"  ({notice.status})")
            self.end()
        self.out.flush()

    def note(self, text: str) -> None:
        self.end()
        self.out.write(text + "\n")
        self.out.flush()

    def end(self) -> None:
        """End the open line, if any, then write the statuses it held."""
        if self.open is not None:
            self.out.write("\n")
            self.open = None
        for text in self.held:
            self.out.write(text + "\n")
        self.held.clear()


async def watch_speaker(client: LiveClient, note: Callable[[str], None]) -> None:
    """``* assistant speaking`` / ``* assistant quiet`` as the client's player starts and
    stops playing the assistant (:attr:`LiveClient.audible_changed`), until cancelled.
    Display only: nothing waits on it."""
    speaking = False
    while True:
        client.audible_changed.clear()
        playing = client.assistant_audible
        if playing != speaking:
            speaking = playing
            note(f"* assistant {'speaking' if playing else 'quiet'}")
        await client.audible_changed.wait()


async def live_chat_session(
    client: LiveClient,
    lines: AsyncIterator[str],
    out: TextIO,
    err: TextIO,
    *,
    speaker: Any = None,
) -> int:
    """Connect ``client``, send each line, print the conversation; 0 when it ended normally.
    After each line the REPL waits (at most ``ANSWER_WAIT_S``) for the assistant's turn to end,
    so that piped lines do not talk over the answers. ``speaker`` (a
    :class:`~realtime_sdk.audio.Speaker`, the voice chat's ``audio_sink``): the user's turns
    are printed as ``you: …`` and who speaks is shown from what it plays."""
    answered = asyncio.Event()
    answered.set()  # nothing asked yet
    shown = _Lines(out)
    help_line = LIVE_HELP if speaker is None else LIVE_VOICE_HELP

    def assistant_done(notice: AssistantCompleted) -> None:
        shown.completed(notice)
        answered.set()

    def user_done(notice: UserCompleted) -> None:
        said = notice.transcript.strip()
        if said:
            shown.note(f"you: {said}" if speaker is not None else f"(heard) {said}")

    def interrupted(_notice: AssistantInterrupted) -> None:
        shown.note("* assistant interrupted")

    def error(notice: ErrorNotice) -> None:
        err.write(f"error: {notice.error.get('message') or notice.error.get('code')}\n")
        err.flush()

    client.on("assistant:delta", shown.delta)
    client.on("assistant:completed", assistant_done)
    client.on("user:completed", user_done)
    client.on("assistant:interrupted", interrupted)
    client.on("error", error)
    try:
        await client.connect()
    except ConnectError as exc:
        err.write(f"realtime chat: {exc}\n")
        return 1
    err.write(f"realtime chat: session {client.session_id} started.\n")
    err.flush()
    watcher: asyncio.Future[None] | None = None
    if speaker is not None:
        watcher = asyncio.ensure_future(watch_speaker(client, shown.status))
    try:
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            command = line.split()[0].lower() if line.startswith("/") else ""
            if command == "/help":
                err.write(help_line + "\n")
            elif command in ("/mute", "/unmute"):
                ok = await (client.mute() if command == "/mute" else client.unmute())
                err.write(f"{command[1:]}d\n" if ok else f"{command[1:]} not acknowledged\n")
            elif command in LIVE_REFUSED:
                err.write(f"realtime chat: {command}: {LIVE_REFUSED[command]}.\n")
            elif command:
                err.write(f"unknown command {command}; {help_line}\n")
            elif client.status != "connected":
                err.write("the session is over\n")
                break
            else:
                answered.clear()
                await client.send_text_message(line)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(ANSWER_WAIT_S):
                        await answered.wait()
            err.flush()
        if client.status == "connected" and not answered.is_set():
            # the last answer is still being spoken: let its turn close before closing
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANSWER_WAIT_S):
                    await answered.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await client.disconnect()
        shown.end()
    live = client.model.session
    err.write(f"realtime chat: session {live.state} ({live.reason}).\n")
    return 0


async def run_live_chat(
    lines: AsyncIterator[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    api_key: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    emulator: bool = False,
    transport: str = "webrtc",
    trace: TextIO | None = None,
    chat_options: LiveChatOptions | None = None,
    voice: bool = False,
) -> int:
    """``realtime chat --api live``; where it talks is decided as the module doc says.
    ``chat_options``: the turn rule (a turn ends after ``silence_ms`` of quiet). ``voice``:
    through the default microphone and speaker (:class:`~realtime_sdk.audio.AudioError` when
    they cannot open)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if transport not in LIVE_DEMO_TRANSPORTS:
        err.write(
            f"realtime chat: --api live runs over {', '.join(LIVE_DEMO_TRANSPORTS)}, "
            f"not {transport}.\n"
        )
        return 2
    if transport == "memory" and base_url:
        err.write(
            "realtime chat: --transport memory talks to the emulator's Live engine in this "
            "process; it cannot reach --base-url (use --transport websocket or webrtc).\n"
        )
        return 2
    source = lines if lines is not None else StdinLines()
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "").strip()
    options: dict[str, Any] = {"chat_options": chat_options or LiveChatOptions()}
    if trace is not None:
        options.update(WireTrace(trace).client_options())
    session: dict[str, Any] = {"model": model or DEFAULT_LIVE_MODEL}
    help_line = LIVE_VOICE_HELP if voice else LIVE_HELP
    speaker: Any = None
    if voice:
        from ..audio import EchoGuard, Speaker, microphone_factory

        # Over WebSocket and memory the client's player drops the rest of a cut speech
        # itself: no hold after stop() (it is for WebRTC's frames in flight).
        speaker = Speaker() if transport == "webrtc" else Speaker(stop_hold_ms=0.0)
        options["microphone"] = microphone_factory(echo_guard=EchoGuard(speaker))
        options["audio_sink"] = speaker
    try:
        if transport != "memory" and not emulator and (key or base_url):
            url = base_url or str(DEFAULTS["base_url"])
            if not key:
                from ..emulator import DEFAULT_API_KEY

                key = DEFAULT_API_KEY
            err.write(f"realtime chat: talking to {url} (GPT-Live). {help_line}\n")
            if url.startswith(("http://127.0.0.1", "http://localhost")):
                options["ice_servers"] = []  # a local server: host candidates only
            client = LiveClient(
                api_key=key, base_url=url, session=session, transport=transport, **options
            )
            return await live_chat_session(client, source, out, err, speaker=speaker)
        session["delegation"] = {
            "type": "responses",
            "responses": {"model": "gpt-5-mini", "tools": [WEATHER_FUNCTION]},
        }
        async with embedded_live(transport, EmulatorConfig()) as (where, wire_options):
            if where == "memory":
                err.write(
                    "realtime chat: talking to the emulator's Live engine in memory "
                    f"(--transport memory). {help_line}\n"
                )
            else:
                why = "--emulator" if emulator else "OPENAI_API_KEY is not set"
                err.write(
                    f"realtime chat: {why}; using the embedded emulator at {where} "
                    f"(GPT-Live). {help_line}\n"
                )
            client = LiveClient(
                session=session,
                on_tool_call=lambda call: {
                    "city": call.args.get("city"),
                    "conditions": "sunny",
                    "temperature_c": 21,
                },
                **wire_options,
                **options,
            )
            return await live_chat_session(client, source, out, err, speaker=speaker)
    finally:
        if speaker is not None:
            speaker.close()
