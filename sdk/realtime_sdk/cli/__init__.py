"""The ``realtime`` command.

``realtime replay FILE [--json] [--transitions FILE] [--metrics]`` replays recorded wire traffic
(Realtime or GPT-Live, told apart by the event names) through the model and prints the chat,
tool calls, responses and chart transitions (or one JSON object); with ``--metrics``, the turn
metrics instead (a table, or with ``--json`` an object; Realtime only).
``realtime diagrams [--out DIR]`` regenerates the chart diagrams.
``realtime emulator [--host H] [--port P] [--api-key KEY] [--sip-webhook URL]`` runs the local
Realtime emulator (with ``--sip-webhook``, simulated SIP calls post their webhook to URL),
printing its base URL on the first line, until interrupted.
``realtime demo [--transport webrtc|websocket|memory] [--trace FILE] [--json] [--metrics]`` runs
a scripted, checked session against an embedded emulator over loopback WebRTC, WebSocket or in
memory (:mod:`realtime_sdk.cli.demo`; ``--metrics`` prints its turn metrics); with ``--api
live`` a GPT-Live one over WebRTC, WebSocket or in memory (:mod:`realtime_sdk.cli.demo_live`);
``realtime demo --voice [--transport T] [--speech-device DEVICE] [--json]`` runs one spoken turn
and one barge-in through the default audio devices (:mod:`realtime_sdk.cli.demo_voice`).
``realtime chat [--model M] [--no-greet] [--voice] [--transport T]`` is a text (or, with
``--voice``, spoken) REPL: against OpenAI when ``OPENAI_API_KEY`` is set, otherwise against an
embedded emulator (:mod:`realtime_sdk.cli.chat_repl`); with ``--api live`` on a GPT-Live
session, typed or spoken (:mod:`realtime_sdk.cli.chat_live`).
``realtime token-server [--host H] [--port P] [--api-key KEY] [--base-url URL] [--tools
MODULE:ATTR] [--instructions TEXT]`` hands out ephemeral keys (:mod:`realtime_sdk.token_server`),
printing its base URL on the first line; with ``--tools`` / ``--instructions`` it also attaches
a sideband client with them to each call a browser reports (``POST /realtime/calls``).
``realtime inspect (--trace FILE | --demo) [--host H] [--port P]`` serves the inspector page
for a recorded trace or a live demo session (:mod:`realtime_sdk.cli.inspector`), printing its
URL on the first line.
``realtime call-server [--host H] [--port P] [--path PATH] [--base-url URL] [--api-key KEY]
[--webhook-secret S] [--instructions TEXT] [--tools MODULE:ATTR] [--session FILE.json]
[--max-calls N] [--redis URL] [--log-dir DIR]`` answers phone calls over SIP
(:mod:`realtime_sdk.cli.call_server`).
``realtime devices`` lists the audio input/output devices (:mod:`realtime_sdk.audio`).
``realtime chat --trace FILE`` (like ``realtime demo --trace``) writes the chat's wire events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from ..config import DEFAULTS, EMULATOR_API_KEY, EMULATOR_PORT, TOKEN_SERVER_PORT

INSPECTOR_PORT = 8790
"""``realtime inspect``'s default port (the same as ``realtime_sdk.inspector.INSPECTOR_PORT``;
kept here so that parsing the command line imports no server)."""

if TYPE_CHECKING:
    from realtime_machines.chat import ChatItem
    from realtime_machines.metrics import MetricsTracker
    from realtime_machines.record import Transition
    from realtime_machines.replay import LiveReplayResult, ReplayResult

# Every subcommand imports what it needs when it runs: `realtime replay` must not pay for
# aiortc and aiohttp (~0.8 s and ~60 MiB), which only the networked commands use.

__all__ = ["main"]


def default_diagrams_dir() -> Path:
    """The source checkout's ``diagrams/`` when running from one, else ``./diagrams`` (an
    installed package has no checkout: never write into site-packages)."""
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file() and (checkout / "machines").is_dir():
        return checkout / "diagrams"
    return Path("diagrams")


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


def _print_chat(chat: list[ChatItem], out: TextIO) -> None:
    """The report's chat rows (a row still streaming or cut shows its status)."""
    for item in chat:
        marker = "" if item.status == "done" else f"  ({item.status})"
        out.write(f"  {item.role:>9}: {item.text}{marker}\n")


def _print_text(result: ReplayResult, out: TextIO) -> None:
    session = result.session
    out.write(f"Replayed {result.events} events.\n\nChat\n")
    _print_chat(session.chat, out)
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
    _print_record(result, out)


def _print_record(result: ReplayResult | LiveReplayResult, out: TextIO) -> None:
    """The report's transitions, final states and what was not understood (either protocol)."""
    session = result.session
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
    from realtime_machines.live import LiveSessionModel
    from realtime_machines.record import write_jsonl
    from realtime_machines.replay import (
        LiveReplayResult,
        detect_api,
        replay_lines,
        replay_live_lines,
    )
    from realtime_machines.session import SessionModel

    # The input is streamed. --json keeps no record (it prints none); --transitions streams the
    # record to its file as it is made; only the text report, which prints every transition,
    # keeps them all. Nothing is pruned: the report lists every response and tool call.
    # The protocol (Realtime or GPT-Live) is told from the first events' names.
    limit = None if not (args.json or args.metrics) else 0
    tracker = None
    with contextlib.ExitStack() as stack:
        try:
            source: IO[bytes] = (
                sys.stdin.buffer if args.file == "-" else stack.enter_context(open(args.file, "rb"))
            )
            api, lines = detect_api(_stream_lines(source))
            if api == "live" and args.metrics:
                print(
                    f"realtime replay: {args.file} is a GPT-Live trace: --metrics is not "
                    "supported for Live (no turn or response lifecycle on its wire); use --json.",
                    file=sys.stderr,
                )
                return 2
            model: SessionModel | LiveSessionModel
            if api == "live":
                model = LiveSessionModel(record_limit=limit, settled_limit=None)
            else:
                model = SessionModel(record_limit=limit, settled_limit=None)
            if args.metrics:
                from realtime_machines.metrics import MetricsTracker

                tracker = MetricsTracker()
                tracker.attach(model)
            if args.transitions:
                out = stack.enter_context(open(args.transitions, "w", encoding="utf-8"))

                def write(step: Transition) -> None:
                    write_jsonl((step,), out)

                model.subscribe(write)
            if isinstance(model, LiveSessionModel):
                result: ReplayResult | LiveReplayResult = replay_live_lines(lines, session=model)
            else:
                result = replay_lines(lines, session=model)
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
    if tracker is not None and not isinstance(result, LiveReplayResult):
        return _print_metrics(args, result, tracker)
    if args.json:
        # One C-encoded string (json.dump would encode piece by piece in Python).
        sys.stdout.write(json.dumps(result.summary(), ensure_ascii=False))
        sys.stdout.write("\n")
    elif isinstance(result, LiveReplayResult):
        _print_live_text(result, sys.stdout)
    else:
        _print_text(result, sys.stdout)
    return 0


def _print_live_text(result: LiveReplayResult, out: TextIO) -> None:
    """The text report of a GPT-Live trace: chat (inferred turns), delegations, the session,
    transitions and final states."""
    session = result.session
    out.write(f"Replayed {result.events} events (GPT-Live).\n\nChat\n")
    _print_chat(session.chat, out)
    if session.delegations:
        out.write("\nDelegations\n")
        for chart in session.delegations.values():
            calls = ", ".join(f"{name} [{call_id}]" for call_id, name in chart.calls.items())
            detail = f" calls {calls}" if calls else ""
            out.write(f"  {chart.delegation_id} ({chart.target}){detail} -> {chart.state}\n")
    live = session.session
    out.write(f"\nSession\n  {live.session_id}: {live.state}")
    out.write(f" ({live.reason})\n" if live.reason else "\n")
    if session.usage is not None:
        out.write(f"  usage: {json.dumps(session.usage)}\n")
    _print_record(result, out)


def _print_metrics(args: argparse.Namespace, result: ReplayResult, tracker: MetricsTracker) -> int:
    """``realtime replay --metrics``: the turn table, or with ``--json`` the metrics object."""
    tracker.finish(result.session.now)
    metrics = tracker.result()
    if result.events and not result.timed:
        print(
            f"realtime replay: {args.file} has no event times (a trace from an older "
            "WireTrace): the metrics count lines, not seconds.",
            file=sys.stderr,
        )
    if args.json:
        sys.stdout.write(json.dumps({**metrics.to_json(), "timed": result.timed}))
        sys.stdout.write("\n")
    else:
        sys.stdout.write(f"Replayed {result.events} events.\n\n{metrics.table()}")
    return 0


def _diagrams(args: argparse.Namespace) -> int:
    from ..diagrams import write_diagrams

    try:
        written = write_diagrams(Path(args.out))
    except ImportError as exc:
        if exc.name != "pydot":
            raise
        print(
            "realtime diagrams: needs pydot, which this install lacks: "
            "pip install 'realtime-machines[diagrams]'",
            file=sys.stderr,
        )
        return 1
    for path in written:
        print(path)
    if not any(p.suffix == ".svg" for p in written):
        print("(no SVG: install Graphviz's 'dot' to draw them)", file=sys.stderr)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from ..emulator import EmulatorConfig, serve

    config = EmulatorConfig(api_key=args.api_key)
    if args.sip_webhook is not None:
        url = args.sip_webhook
        if not url.startswith(("http://", "https://")):
            print(
                f"realtime emulator: --sip-webhook must be an http:// or https:// URL, not {url!r}",
                file=sys.stderr,
            )
            return 2
        secret = args.webhook_secret or os.environ.get("OPENAI_WEBHOOK_SECRET", "")
        if not secret.strip():
            print(
                "realtime emulator: --sip-webhook needs the secret your receiver verifies "
                "with: --webhook-secret whsec_... or OPENAI_WEBHOOK_SECRET",
                file=sys.stderr,
            )
            return 2
        if not 0 < args.sip_ring_timeout < 86400:
            print("realtime emulator: --sip-ring-timeout must be > 0 seconds", file=sys.stderr)
            return 2
        config.sip_webhook_url = url
        config.webhook_secret = secret.strip()
        config.sip_ring_timeout_s = args.sip_ring_timeout

    def ready(base_url: str) -> None:
        print(base_url, flush=True)
        print(
            f"Realtime emulator listening (OpenAI base URL {base_url}/v1). Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        if config.sip_webhook_url:
            print(
                f"SIP calls: POST {base_url}/emulator/sip/calls places one; its webhook goes "
                f"to {config.sip_webhook_url}.",
                file=sys.stderr,
                flush=True,
            )

    return run_server(
        "emulator",
        args.host,
        args.port,
        serve(args.host, args.port, args.api_key, ready, config=config),
    )


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0 (any free) to 65535")
    return port


def run_server(command: str, host: str, port: int, server: Coroutine[Any, Any, None]) -> int:
    """Run a server's coroutine until it ends or Ctrl-C (exit 0); a server that cannot bind
    is one sentence on standard error (exit 1)."""
    try:
        asyncio.run(server)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(_cannot_listen(command, host, port, exc), file=sys.stderr)
        return 1
    return 0


def _cannot_listen(command: str, host: str, port: int, exc: OSError) -> str:
    """One sentence for a server that could not bind (port in use, address not available)."""
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is in use (pick another --port, or --port 0 for any free one)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason = "that address is not one of this machine's (see --host)"
    else:
        reason = exc.strerror or str(exc)
    return f"realtime {command}: cannot listen on {host}:{port}: {reason}."


def _demo(args: argparse.Namespace) -> int:
    if args.api == "live":
        if args.voice:
            print("realtime demo: --voice is not available with --api live.", file=sys.stderr)
            return 2
        from .demo_live import main as live_main

        return live_main(args)
    if args.voice:
        if args.trace or args.metrics:
            option = "--trace" if args.trace else "--metrics"
            print(f"realtime demo: {option} is not available with --voice.", file=sys.stderr)
            return 2
        from .demo_voice import main as voice_main

        return voice_main(args)
    from .demo import main as demo_main

    return demo_main(args)


def _inspect(args: argparse.Namespace) -> int:
    if (args.trace is None) == (not args.demo):
        print("realtime inspect: give --trace FILE or --demo (one of them).", file=sys.stderr)
        return 2
    if not 0 <= args.pace <= 5:
        print("realtime inspect: --pace must be 0 to 5 seconds.", file=sys.stderr)
        return 2
    from .inspector import main as inspect_main

    return inspect_main(args)


def _chat(args: argparse.Namespace) -> int:
    from .chat_repl import main as chat_main

    return chat_main(args)


def _token_server(args: argparse.Namespace) -> int:
    from ..keys import _resolve_api_key
    from ..token_server import SESSION_PATH, run_token_server

    try:
        api_key = _resolve_api_key(args.api_key)
        attach = _attach_options(args.tools, args.instructions)
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
                attach=attach,
            )
        )
        await run_announced(
            server,
            ready,
            lambda url: (
                f"Token server: GET {url}{SESSION_PATH} mints ephemeral keys at "
                f"{args.base_url}. Ctrl-C stops it."
            ),
        )

    return run_server("token-server", args.host, args.port, serve())


async def run_announced(
    server: asyncio.Future[None], ready: asyncio.Future[str], banner: Callable[[str], str]
) -> None:
    """Run a server task: once ``ready`` has its base URL, print it on the first line of
    standard output and ``banner(url)`` on standard error; the task is cancelled on the way
    out (a server that fails before it listens raises here)."""
    try:
        first: set[asyncio.Future[Any]] = {ready, server}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            url = ready.result()
            print(url, flush=True)
            print(banner(url), file=sys.stderr, flush=True)
        await server
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


def _attach_options(tools: str | None, instructions: str | None) -> dict[str, Any] | None:
    """The token server's sideband options from ``--tools MODULE:ATTR`` (a function, a
    ``FunctionTool`` or a list of them) and ``--instructions``; ``None`` when neither is given.
    A ``ValueError`` says what is wrong with them."""
    if tools is None and instructions is None:
        return None
    options: dict[str, Any] = {}
    if instructions is not None:
        options["session"] = {"type": "realtime", "instructions": instructions}
    if tools is not None:
        options["tools"] = load_tools(tools)
    return options


def load_tools(spec: str, option: str = "--tools") -> list[Any]:
    """The tools named by ``MODULE:ATTR`` (a function, a ``FunctionTool`` or a list of them);
    a ``ValueError`` saying what is wrong with ``spec``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{option} must be MODULE:ATTR (such as myapp.tools:TOOLS), not {spec!r}")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{option}: cannot import {module_name!r} ({exc})") from None
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{option}: {module_name!r} has no {attr!r}") from None
    listed = list(value) if isinstance(value, list | tuple) else [value]
    if not listed or not all(callable(tool) for tool in listed):
        raise ValueError(
            f"{option}: {spec} must be a function or a list of functions, not {value!r}"
        )
    return listed


def _call_server(args: argparse.Namespace) -> int:
    from .call_server import main as call_server_main

    return call_server_main(args)


def _devices(args: argparse.Namespace) -> int:
    if args.virtual:
        from .pulse import VirtualDevicesError, setup_virtual_devices

        try:
            steps = setup_virtual_devices()
        except VirtualDevicesError as exc:
            print(f"realtime devices --virtual: {exc}.", file=sys.stderr)
            return 1
        for step in steps:
            print(f"realtime devices --virtual: {step}", file=sys.stderr)
    from ..audio import AudioError, list_devices

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


def _docs(args: argparse.Namespace) -> int:
    from .manual import read_topic, topic_title, topics

    if args.topic is None:
        pages = topics()
        print("Topics ('realtime docs TOPIC' prints one):")
        for name, path in pages.items():
            print(f"  {name:<14} {topic_title(path)}")
        return 0
    try:
        text = read_topic(args.topic)
    except LookupError as exc:
        print(f"realtime docs: {exc.args[0]}.", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _command(commands: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` page starts with ``description``."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime",
        description="OpenAI Realtime sessions, modelled as statecharts. "
        "'realtime COMMAND --help' describes a command; 'realtime docs' lists the manual.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = _command(
        commands,
        "replay",
        "replay recorded wire events through the model",
        "Replay recorded wire events (JSONL) through the model and print the chat, tool calls, "
        "responses, chart transitions and final states (or, with --json, one JSON object).",
    )
    replay.add_argument("file", metavar="FILE", help="JSONL of events ('-' for standard input)")
    replay.add_argument("--json", action="store_true", help="print one JSON summary object")
    replay.add_argument(
        "--transitions", metavar="FILE", help="also write every transition record as JSONL"
    )
    replay.add_argument(
        "--metrics", action="store_true", help="print the turn metrics (with --json: as JSON)"
    )
    replay.set_defaults(handler=_replay)

    diagrams = _command(
        commands,
        "diagrams",
        "regenerate the chart diagrams",
        "Write each chart's diagram as Mermaid text, and as SVG when Graphviz's 'dot' is "
        "installed. Needs pydot: pip install 'realtime-machines[diagrams]'.",
    )
    diagrams.add_argument(
        "--out",
        default=str(default_diagrams_dir()),
        metavar="DIR",
        help="output folder (the checkout's diagrams/, else ./diagrams)",
    )
    diagrams.set_defaults(handler=_diagrams)

    emulator = _command(
        commands,
        "emulator",
        "run the local Realtime emulator",
        "Run the local Realtime emulator (HTTP, WebSocket and WebRTC, OpenAI-compatible) until "
        "interrupted. Its base URL is printed on the first line of standard output.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument(
        "--port", type=_port, default=EMULATOR_PORT, help="port (%(default)s; 0: any)"
    )
    emulator.add_argument("--api-key", default=EMULATOR_API_KEY, help="the API key it accepts")
    emulator.add_argument(
        "--sip-webhook",
        metavar="URL",
        help="simulate SIP calls: POST /emulator/sip/calls rings one and sends its signed "
        "realtime.call.incoming webhook to URL",
    )
    emulator.add_argument(
        "--webhook-secret",
        metavar="S",
        help="the whsec_... secret the webhooks are signed with ($OPENAI_WEBHOOK_SECRET)",
    )
    emulator.add_argument(
        "--sip-ring-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a SIP call nobody answers ends after this long (%(default)s)",
    )
    emulator.set_defaults(handler=_emulator)

    demo = _command(
        commands,
        "demo",
        "run a scripted, checked session against an embedded emulator",
        "Run a scripted session against an embedded emulator over loopback WebRTC (or "
        "--transport websocket|memory) (greeting, answer, tool call, cancel) and check each "
        "step; exit 0 only if every check passed. "
        "With --voice: one spoken turn and one barge-in through the default audio devices.",
    )
    demo.add_argument(
        "--api",
        choices=("realtime", "live"),
        default="realtime",
        help="the protocol: Realtime (default) or GPT-Live (/v1/live/sessions: started, a "
        "text and a spoken exchange, a delegated tool, mute, close; on every transport)",
    )
    demo.add_argument(
        "--transport",
        choices=("webrtc", "websocket", "memory"),
        default="webrtc",
        help="the wire: loopback WebRTC (default), loopback WebSocket, or in memory (no socket)",
    )
    demo.add_argument(
        "--trace", metavar="FILE", help="write every wire event as replay-format JSONL"
    )
    demo.add_argument("--json", action="store_true", help="print one JSON summary object")
    demo.add_argument(
        "--metrics", action="store_true", help="print the turn metrics table at the end"
    )
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

    inspect = _command(
        commands,
        "inspect",
        "a live inspector in the browser: charts, transitions, chat, metrics",
        "Serve a local web page that shows each chart's diagram with the current state "
        "highlighted, the transition log (with a filter by chart), the chat and the turn "
        "metrics: for a recorded trace (--trace FILE, with a slider to step through it) or "
        "for the demo session, live (--demo). The page's URL is printed on the first line of "
        "standard output.",
    )
    inspect.add_argument(
        "--trace",
        metavar="FILE",
        help="a wire trace (realtime demo --trace) or a transition record (realtime replay "
        "--transitions)",
    )
    inspect.add_argument(
        "--demo",
        action="store_true",
        help="run the demo session live (it starts when the page is open)",
    )
    inspect.add_argument(
        "--transport",
        choices=("webrtc", "websocket", "memory"),
        default="memory",
        help="with --demo: the demo's wire (%(default)s)",
    )
    inspect.add_argument(
        "--pace",
        type=float,
        default=0.15,
        metavar="SECONDS",
        help="with --demo: seconds between the assistant's streamed deltas (%(default)s)",
    )
    inspect.add_argument(
        "--page-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --demo: start the demo after this long if no page opens (%(default)s)",
    )
    inspect.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    inspect.add_argument(
        "--port", type=_port, default=INSPECTOR_PORT, help="port (%(default)s; 0: any)"
    )
    inspect.set_defaults(handler=_inspect)

    chat = _command(
        commands,
        "chat",
        "text chat (OpenAI if OPENAI_API_KEY is set, else an embedded emulator)",
        "A chat REPL: type a message, read the streamed answer; /help lists the commands. "
        "Talks to OpenAI when OPENAI_API_KEY is set, to the server at --base-url when given, "
        "otherwise (or with --emulator) to an embedded emulator whose assistant can call a "
        "get_weather tool.",
    )
    chat.add_argument(
        "--api",
        choices=("realtime", "live"),
        default="realtime",
        help="the protocol: Realtime (default) or GPT-Live (typed lines are instructions "
        "appends; /mute and /unmute; with --voice the microphone and speaker)",
    )
    chat.add_argument(
        "--model", default=None, help="the model (gpt-realtime-2.1; with --api live gpt-live-1.1)"
    )
    chat.add_argument(
        "--no-greet", dest="greet", action="store_false", help="no greeting on connect"
    )
    chat.add_argument(
        "--voice",
        action="store_true",
        help="talk through the default microphone and speaker",
    )
    chat.add_argument(
        "--transport",
        choices=("webrtc", "websocket", "memory"),
        default="webrtc",
        help="the wire: WebRTC (default), WebSocket, or in memory (the embedded emulator's "
        "engine in this process)",
    )
    chat.add_argument(
        "--trace", metavar="FILE", help="write every wire event as replay-format JSONL"
    )
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--emulator",
        action="store_true",
        help="use the embedded emulator even when OPENAI_API_KEY is set",
    )
    where.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="the server to talk to, e.g. a running 'realtime emulator' "
        "(key: $OPENAI_API_KEY, else the emulator's)",
    )
    chat.set_defaults(handler=_chat)

    token = _command(
        commands,
        "token-server",
        "hand out ephemeral keys; the API key stays on this server",
        "Serve GET /realtime/session, which mints an ephemeral key upstream with the API key "
        "this server holds, so browsers and apps never see it. Its base URL is printed on the "
        "first line of standard output.",
    )
    token.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    token.add_argument(
        "--port", type=_port, default=TOKEN_SERVER_PORT, help="port (%(default)s; 0: any)"
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
    token.add_argument(
        "--tools",
        metavar="MODULE:ATTR",
        default=None,
        help="attach a sideband client with these tools (a function or a list) to each call "
        "posted to /realtime/calls",
    )
    token.add_argument(
        "--instructions",
        default=None,
        help="the attached sideband client's session instructions",
    )
    token.set_defaults(handler=_token_server)

    from .call_server import add_arguments as call_server_arguments

    call_server = _command(
        commands,
        "call-server",
        "answer phone calls over SIP: webhooks, a session, tools on a sideband",
        "A phone agent: receive OpenAI's signed realtime.call.incoming webhooks, accept each "
        "call with the configured session and tools, run the tools here on a sideband, and log "
        "each call's chat and states. Its base URL is printed on the first line of standard "
        "output; SIGTERM or Ctrl-C hangs up the live calls and stops it.",
    )
    call_server_arguments(call_server, _port, DEFAULTS["base_url"])
    call_server.set_defaults(handler=_call_server)

    devices = _command(
        commands,
        "devices",
        "list audio input and output devices",
        "List the audio devices PortAudio sees (index, channels, defaults, host API, name). "
        "With --virtual: first create PulseAudio virtual devices (a speaker whose monitor is "
        "the default input), so the voice commands work without a sound card.",
    )
    devices.add_argument(
        "--virtual",
        action="store_true",
        help="set up PulseAudio virtual devices (needs pactl and a running PulseAudio)",
    )
    devices.set_defaults(handler=_devices)

    docs = _command(
        commands,
        "docs",
        "print a page of the manual",
        "Print a page of the manual that ships with the package (Markdown), or list the pages.",
    )
    docs.add_argument("topic", nargs="?", metavar="TOPIC", help="the page (default: list them)")
    docs.set_defaults(handler=_docs)
    return parser


def _warning_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    print(f"realtime: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand, with its own usage line
        [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        with warnings.catch_warnings():
            # The SDK's DeprecationWarnings (a model's shutdown date) are hidden by Python
            # outside __main__: the user chose that model, so say it, in one line.
            warnings.filterwarnings("default", category=DeprecationWarning, module="realtime_")
            warnings.showwarning = _warning_line
            code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`realtime replay FILE | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code
