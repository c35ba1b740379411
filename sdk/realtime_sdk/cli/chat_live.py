"""``realtime chat --api live``: a line REPL on a GPT-Live session.

Each typed line goes in as ``session.instructions.append`` (Live has no user text messages);
the assistant's spoken answer is printed as its transcript arrives, one turn a line. Against
OpenAI when ``OPENAI_API_KEY`` is set, the server at ``--base-url`` when given, otherwise (or
with ``--emulator``) an embedded emulator whose voice model delegates the weather to a
backend that calls ``get_weather`` (run by this client). Commands: ``/mute``, ``/unmute``,
``/quit``, ``/help``. The session streams silence (Live's clock needs input audio frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

from realtime_machines import AssistantCompleted, AssistantDelta, ErrorNotice, UserCompleted
from realtime_machines.live import LiveChatOptions

from ..config import DEFAULTS
from ..errors import ConnectError
from ..live_client import DEFAULT_LIVE_MODEL, LiveClient
from ..trace import WireTrace
from .chat_repl import StdinLines
from .demo_live import LIVE_DEMO_TRANSPORTS, LiveDemoBrain

__all__ = ["LIVE_HELP", "live_chat_session", "run_live_chat"]

ANSWER_WAIT_S = 20.0
LIVE_HELP = "Type to instruct the assistant; /mute, /unmute, /quit, /help."
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


async def live_chat_session(
    client: LiveClient, lines: AsyncIterator[str], out: TextIO, err: TextIO
) -> int:
    """Connect ``client``, send each line, print the conversation; 0 when it ended normally.
    After each line the REPL waits (at most ``ANSWER_WAIT_S``) for the assistant's turn to end,
    so that piped lines do not talk over the answers."""
    answered = asyncio.Event()
    answered.set()  # nothing asked yet
    speaking: set[str] = set()

    def assistant_delta(notice: AssistantDelta) -> None:
        if notice.response_id not in speaking:  # the turn's id
            speaking.add(notice.response_id)
            out.write("assistant: ")
        out.write(notice.delta)
        out.flush()

    def assistant_done(notice: AssistantCompleted) -> None:
        out.write("\n" if notice.status == "done" else f"  ({notice.status})\n")
        out.flush()
        answered.set()

    def user_done(notice: UserCompleted) -> None:
        out.write(f"(heard) {notice.transcript}\n")
        out.flush()

    def error(notice: ErrorNotice) -> None:
        err.write(f"error: {notice.error.get('message') or notice.error.get('code')}\n")
        err.flush()

    client.on("assistant:delta", assistant_delta)
    client.on("assistant:completed", assistant_done)
    client.on("user:completed", user_done)
    client.on("error", error)
    try:
        await client.connect()
    except ConnectError as exc:
        err.write(f"realtime chat: {exc}\n")
        return 1
    err.write(f"realtime chat: session {client.session_id} started.\n")
    err.flush()
    try:
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line == "/help":
                err.write(LIVE_HELP + "\n")
            elif line in ("/mute", "/unmute"):
                ok = await (client.mute() if line == "/mute" else client.unmute())
                err.write(f"{line[1:]}d\n" if ok else f"{line[1:]} not acknowledged\n")
            elif line.startswith("/"):
                err.write(f"unknown command {line}; {LIVE_HELP}\n")
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
        await client.disconnect()
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
) -> int:
    """``realtime chat --api live``; where it talks is decided as the module doc says.
    ``chat_options``: the turn rule (a turn ends after ``silence_ms`` of quiet)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if transport not in LIVE_DEMO_TRANSPORTS:
        err.write(f"realtime chat: --api live runs over webrtc or websocket, not {transport}.\n")
        return 2
    source = lines if lines is not None else StdinLines()
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "").strip()
    options: dict[str, Any] = {
        "transport": transport,
        "chat_options": chat_options or LiveChatOptions(),
    }
    if trace is not None:
        options.update(WireTrace(trace).client_options())
    session: dict[str, Any] = {"model": model or DEFAULT_LIVE_MODEL}
    if not emulator and (key or base_url):
        url = base_url or str(DEFAULTS["base_url"])
        if not key:
            from ..emulator import DEFAULT_API_KEY

            key = DEFAULT_API_KEY
        err.write(f"realtime chat: talking to {url} (GPT-Live). {LIVE_HELP}\n")
        if url.startswith(("http://127.0.0.1", "http://localhost")):
            options["ice_servers"] = []  # a local server: host candidates only
        client = LiveClient(api_key=key, base_url=url, session=session, **options)
        return await live_chat_session(client, source, out, err)
    from ..emulator import Emulator

    async with Emulator(brain=LiveDemoBrain()) as emu:
        why = "--emulator" if emulator else "OPENAI_API_KEY is not set"
        err.write(
            f"realtime chat: {why}; using the embedded emulator at {emu.base_url} "
            f"(GPT-Live). {LIVE_HELP}\n"
        )
        session["delegation"] = {
            "type": "responses",
            "responses": {"model": "gpt-5-mini", "tools": [WEATHER_FUNCTION]},
        }
        client = LiveClient(
            api_key=emu.api_key,
            base_url=emu.base_url,
            ice_servers=[],
            session=session,
            on_tool_call=lambda call: {
                "city": call.args.get("city"),
                "conditions": "sunny",
                "temperature_c": 21,
            },
            **options,
        )
        return await live_chat_session(client, source, out, err)
