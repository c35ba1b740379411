"""The ``realtime`` command.

``realtime replay FILE [--json] [--transitions FILE]`` replays recorded wire traffic through the
model and prints the chat, tool calls, responses and chart transitions (or one JSON object).
``realtime diagrams [--out DIR]`` regenerates the chart diagrams.
``realtime emulator [--host H] [--port P] [--api-key KEY]`` runs the local Realtime emulator,
printing its base URL on the first line, until interrupted.
``realtime demo [--trace FILE] [--json]`` runs a scripted, checked session against an embedded
emulator over loopback WebRTC (:mod:`realtime_sdk.demo`); ``realtime demo --voice
[--speech-device DEVICE] [--json]`` runs one spoken turn and one barge-in through the default
audio devices (:mod:`realtime_sdk.demo_voice`).
``realtime chat [--model M] [--no-greet] [--voice]`` is a text (or, with ``--voice``, spoken)
REPL: against OpenAI when ``OPENAI_API_KEY`` is set, otherwise against an embedded emulator
(:mod:`realtime_sdk.chat_repl`).
``realtime token-server [--host H] [--port P] [--api-key KEY] [--base-url URL]`` hands out
ephemeral keys (:mod:`realtime_sdk.token_server`), printing its base URL on the first line.
``realtime devices`` lists the audio input/output devices (:mod:`realtime_sdk.audio`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from .config import DEFAULTS, EMULATOR_API_KEY, EMULATOR_PORT, TOKEN_SERVER_PORT

if TYPE_CHECKING:
    from realtime_machines.record import Transition
    from realtime_machines.replay import ReplayResult

# Every subcommand imports what it needs when it runs: `realtime replay` must not pay for
# aiortc and aiohttp (~0.8 s and ~60 MiB), which only the networked commands use.

__all__ = ["main"]

DEFAULT_DIAGRAMS = Path(__file__).resolve().parents[2] / "diagrams"


class _NotText(ValueError):
    """The replay file is not UTF-8 text."""


def _stream_lines(fp: IO[bytes]) -> Iterator[str]:
    """The file's lines as they are read, decoded one by one; a file that is not UTF-8 text is
    unreadable as a whole (:class:`_NotText` naming the line), as when it was read at once."""
    for number, line in enumerate(fp, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _NotText(f"line {number} is not UTF-8 text ({exc.reason})") from None


def _print_text(result: ReplayResult, out: TextIO) -> None:
    session = result.session
    out.write(f"Replayed {result.events} events.\n\nChat\n")
    for item in session.chat:
        marker = "" if item.status == "done" else f"  ({item.status})"
        out.write(f"  {item.role:>9}: {item.text}{marker}\n")
    if session.tool_calls:
        out.write("\nTool calls\n")
        for chart in session.tool_calls.values():
            args = (
                json.dumps(chart.arguments, ensure_ascii=False)
                if chart.arguments is not None
                else repr(chart.arguments_text)
            )
            out.write(f"  {chart.tool_name}({args}) [{chart.call_id}] -> {chart.state}\n")
    out.write("\nResponses\n")
    for response_id, status in session.responses.items():
        out.write(f"  {response_id}: {status}\n")
    out.write("\nTransitions\n")
    for step in session.record:
        if step.is_fact:
            continue
        target = step.target if step.target is not None else "(stays)"
        out.write(f"  #{step.seq:<5} {step.chart:<28} {step.source} --{step.event}--> {target}\n")
    out.write("\nFinal states\n")
    for name, state in session.states().items():
        out.write(f"  {name}: {state}\n")
    unknown = sum(session.unknown_events.values())
    if unknown or result.bad_lines:
        out.write(f"\n{unknown} unknown events, {len(result.bad_lines)} malformed lines\n")


def _replay(args: argparse.Namespace) -> int:
    from realtime_machines.record import write_jsonl
    from realtime_machines.replay import replay_lines
    from realtime_machines.session import SessionModel

    # The input is streamed. --json keeps no record (it prints none); --transitions streams the
    # record to its file as it is made; only the text report, which prints every transition,
    # keeps them all. Nothing is pruned: the report lists every response and tool call.
    model = SessionModel(record_limit=None if not args.json else 0, settled_limit=None)
    with contextlib.ExitStack() as stack:
        try:
            source: IO[bytes] = (
                sys.stdin.buffer if args.file == "-" else stack.enter_context(open(args.file, "rb"))
            )
            if args.transitions:
                out = stack.enter_context(open(args.transitions, "w", encoding="utf-8"))

                def write(step: Transition) -> None:
                    write_jsonl((step,), out)

                model.subscribe(write)
            result = replay_lines(_stream_lines(source), session=model)
        except _NotText as exc:
            print(f"realtime replay: cannot read {args.file}: {exc}.", file=sys.stderr)
            return 2
        except OSError as exc:
            name = exc.filename if exc.filename is not None else args.file
            verb = "write" if name == args.transitions else "read"
            reason = exc.strerror or exc
            print(f"realtime replay: cannot {verb} {name}: {reason}.", file=sys.stderr)
            return 2
    for bad in result.bad_lines:
        print(f"{args.file}:{bad.number}: skipped: {bad.reason}", file=sys.stderr)
    if args.json:
        # One C-encoded string (json.dump would encode piece by piece in Python).
        sys.stdout.write(json.dumps(result.summary(), ensure_ascii=False))
        sys.stdout.write("\n")
    else:
        _print_text(result, sys.stdout)
    return 0


def _diagrams(args: argparse.Namespace) -> int:
    from .diagrams import write_diagrams

    written = write_diagrams(Path(args.out))
    for path in written:
        print(path)
    if not any(p.suffix == ".svg" for p in written):
        print("(no SVG: install Graphviz's 'dot' to draw them)", file=sys.stderr)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from .emulator import serve

    def ready(base_url: str) -> None:
        print(base_url, flush=True)
        print(
            f"Realtime emulator listening (OpenAI base URL {base_url}/v1). Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.api_key, ready))
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.voice:
        if args.trace:
            print("realtime demo: --trace is not available with --voice.", file=sys.stderr)
            return 2
        from .demo_voice import main as voice_main

        return voice_main(args)
    from .demo import main as demo_main

    return demo_main(args)


def _chat(args: argparse.Namespace) -> int:
    from .chat_repl import main as chat_main

    return chat_main(args)


def _token_server(args: argparse.Namespace) -> int:
    from .keys import _resolve_api_key
    from .token_server import SESSION_PATH, run_token_server

    try:
        api_key = _resolve_api_key(args.api_key)
    except ValueError as exc:
        print(f"realtime token-server: {exc}.", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(message)s")

    async def serve() -> None:
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        server = asyncio.ensure_future(
            run_token_server(
                args.host,
                args.port,
                api_key,
                base_url=args.base_url,
                allow_origin=args.allow_origin,
                ready=ready,
            )
        )
        try:
            first: set[asyncio.Future[Any]] = {ready, server}
            await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                url = ready.result()
                print(url, flush=True)
                print(
                    f"Token server: GET {url}{SESSION_PATH} mints ephemeral keys at "
                    f"{args.base_url}. Ctrl-C stops it.",
                    file=sys.stderr,
                    flush=True,
                )
            await server
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"realtime token-server: cannot listen: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    return 0


def _devices(args: argparse.Namespace) -> int:
    from .audio import AudioError, list_devices

    try:
        devices = list_devices()
    except AudioError as exc:
        print(f"realtime devices: {exc}", file=sys.stderr)
        return 1
    if not devices:
        print(
            "realtime devices: PortAudio found no audio devices (no sound card and no sound "
            "server such as PulseAudio running).",
            file=sys.stderr,
        )
        return 1
    print(f"{'index':>5}  {'in':>3}  {'out':>3}  {'default':<7}  {'hostapi':<10}  name")
    for d in devices:
        marks = ",".join(m for m, on in (("in", d.default_input), ("out", d.default_output)) if on)
        print(
            f"{d.index:>5}  {d.max_input_channels:>3}  {d.max_output_channels:>3}  "
            f"{marks or '-':<7}  {d.hostapi:<10}  {d.name}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime", description="OpenAI Realtime sessions, modelled as statecharts."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser("replay", help="replay recorded wire events through the model")
    replay.add_argument("file", metavar="FILE", help="JSONL of events ('-' for standard input)")
    replay.add_argument("--json", action="store_true", help="print one JSON summary object")
    replay.add_argument(
        "--transitions", metavar="FILE", help="also write every transition record as JSONL"
    )
    replay.set_defaults(handler=_replay)

    diagrams = commands.add_parser("diagrams", help="regenerate the chart diagrams")
    diagrams.add_argument(
        "--out", default=str(DEFAULT_DIAGRAMS), metavar="DIR", help="output folder"
    )
    diagrams.set_defaults(handler=_diagrams)

    emulator = commands.add_parser("emulator", help="run the local Realtime emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=EMULATOR_PORT, help="port (%(default)s)")
    emulator.add_argument("--api-key", default=EMULATOR_API_KEY, help="the API key it accepts")
    emulator.set_defaults(handler=_emulator)

    demo = commands.add_parser(
        "demo", help="run a scripted, checked session against an embedded emulator"
    )
    demo.add_argument(
        "--trace", metavar="FILE", help="write every wire event as replay-format JSONL"
    )
    demo.add_argument("--json", action="store_true", help="print one JSON summary object")
    demo.add_argument(
        "--voice",
        action="store_true",
        help="one spoken turn and one barge-in through the default audio devices",
    )
    demo.add_argument(
        "--speech-device",
        default=None,
        metavar="DEVICE",
        help="with --voice: the output (index or name) that plays the user's voice "
        "(default: the default output; the default input must hear it)",
    )
    demo.set_defaults(handler=_demo)

    chat = commands.add_parser(
        "chat", help="text chat (OpenAI if OPENAI_API_KEY is set, else an embedded emulator)"
    )
    chat.add_argument("--model", default=None, help="the Realtime model (gpt-realtime)")
    chat.add_argument(
        "--no-greet", dest="greet", action="store_false", help="no greeting on connect"
    )
    chat.add_argument(
        "--voice",
        action="store_true",
        help="talk through the default microphone and speaker",
    )
    chat.set_defaults(handler=_chat)

    token = commands.add_parser(
        "token-server", help="hand out ephemeral keys; the API key stays on this server"
    )
    token.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    token.add_argument(
        "--port", type=int, default=TOKEN_SERVER_PORT, help="port (%(default)s; 0: any)"
    )
    token.add_argument(
        "--api-key", default=None, help="the OpenAI API key (default: $OPENAI_API_KEY)"
    )
    token.add_argument(
        "--base-url", default=DEFAULTS["base_url"], help="upstream API (%(default)s)"
    )
    token.add_argument(
        "--allow-origin", default="*", help="CORS Access-Control-Allow-Origin (%(default)s)"
    )
    token.set_defaults(handler=_token_server)

    devices = commands.add_parser("devices", help="list audio input and output devices")
    devices.set_defaults(handler=_devices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`realtime replay FILE | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
