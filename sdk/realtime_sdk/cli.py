"""The ``realtime`` command.

``realtime replay FILE [--json] [--transitions FILE]`` replays recorded wire traffic through the
model and prints the chat, tool calls, responses and chart transitions (or one JSON object).
``realtime diagrams [--out DIR]`` regenerates the chart diagrams.
``realtime emulator [--host H] [--port P] [--api-key KEY]`` runs the local Realtime emulator,
printing its base URL on the first line, until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from realtime_machines.record import write_jsonl
from realtime_machines.replay import ReplayResult, replay_lines

__all__ = ["main"]

DEFAULT_DIAGRAMS = Path(__file__).resolve().parents[2] / "diagrams"


def _read_lines(path: str) -> list[str]:
    """The file's lines; ``OSError``/``UnicodeDecodeError`` are turned into one sentence."""
    if path == "-":
        return sys.stdin.read().splitlines()
    return Path(path).read_text(encoding="utf-8").splitlines()


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
    try:
        lines = _read_lines(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"realtime replay: cannot read {args.file}: {reason}.", file=sys.stderr)
        return 2
    result = replay_lines(lines)
    for bad in result.bad_lines:
        print(f"{args.file}:{bad.number}: skipped: {bad.reason}", file=sys.stderr)
    if args.transitions:
        with open(args.transitions, "w", encoding="utf-8") as fp:
            write_jsonl(result.session.record, fp)
    if args.json:
        json.dump(result.summary(), sys.stdout, ensure_ascii=False)
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

    from .emulator import DEFAULT_API_KEY, DEFAULT_PORT

    emulator = commands.add_parser("emulator", help="run the local Realtime emulator")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (%(default)s)")
    emulator.add_argument("--api-key", default=DEFAULT_API_KEY, help="the API key it accepts")
    emulator.set_defaults(handler=_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
