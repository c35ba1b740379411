"""``realtime call-server``: a runnable phone agent (:class:`~realtime_sdk.call_server.CallServer`).

Receives OpenAI's signed ``realtime.call.incoming`` webhooks on ``--path``, accepts each call
with the configured session (``--session FILE.json``, ``--instructions``, ``--tools
MODULE:ATTR``), attaches a sideband client that runs the tools here, and logs each call's chat
and states (``--log-dir`` also writes one JSONL file per call). Prints its base URL on the
first line of standard output; SIGTERM or Ctrl-C stops it gracefully (live calls hung up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

PROG = "realtime call-server"
#: ``realtime_sdk.webhooks.DEFAULT_PATH``, spelt out: building the ``realtime`` parser must not
#: import aiohttp (``realtime replay`` never needs it).
DEFAULT_WEBHOOK_PATH = "/webhooks/openai"


class OptionError(ValueError):
    """A bad option: one line, said to the user."""


def _session_file(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OptionError(f"--session: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise OptionError(f"--session: {path} is not UTF-8 text") from None
    try:
        session = json.loads(text)
    except ValueError as exc:
        raise OptionError(f"--session: {path} is not JSON ({exc})") from None
    if not isinstance(session, dict):
        raise OptionError(
            f"--session: {path} must hold a JSON object (a Realtime session), "
            f"not {type(session).__name__}"
        )
    return session


def build(args: argparse.Namespace) -> Any:
    """The :class:`CallServer` the options describe; :class:`OptionError` saying what is wrong."""
    from ..call_server import CallServer
    from ..keys import _resolve_api_key
    from ..webhooks import RedisReplayStore
    from . import load_tools

    if not args.base_url.startswith(("http://", "https://")):
        raise OptionError(f"--base-url must be an http:// or https:// URL, not {args.base_url!r}")
    if not args.path.startswith("/"):
        raise OptionError(f"--path must start with '/', not {args.path!r}")
    if args.max_calls < 1:
        raise OptionError(f"--max-calls must be at least 1, not {args.max_calls}")
    try:
        api_key = _resolve_api_key(args.api_key)
    except ValueError as exc:
        raise OptionError(str(exc).rstrip(".")) from None
    secret = args.webhook_secret or os.environ.get("OPENAI_WEBHOOK_SECRET") or None
    if secret is None:
        raise OptionError(
            "no webhook secret: --webhook-secret whsec_... or OPENAI_WEBHOOK_SECRET "
            "(the endpoint's signing secret)"
        )
    session = _session_file(args.session) if args.session else None
    try:
        tools = load_tools(args.tools) if args.tools else []
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    replay = None
    if args.redis:
        if not args.redis.startswith(("redis://", "rediss://", "unix://")):
            raise OptionError(
                "--redis must be a redis://, rediss:// or unix:// URL such as "
                "redis://127.0.0.1:6379/0"
            )
        try:
            replay = RedisReplayStore(args.redis)
        except (ImportError, ValueError) as exc:
            raise OptionError(f"--redis: {exc}") from None
    if args.log_dir:
        try:
            Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionError(
                f"--log-dir: cannot create {args.log_dir}: {exc.strerror or exc}"
            ) from None
    try:
        return CallServer(
            api_key,
            webhook_secret=secret,
            base_url=args.base_url,
            session=session,
            instructions=args.instructions,
            tools=tools,
            greeting=args.greeting,
            replay=replay,
            max_calls=args.max_calls,
            path=args.path,
            log_dir=args.log_dir,
        )
    except (TypeError, ValueError) as exc:
        raise OptionError(str(exc).rstrip(".")) from None


def main(args: argparse.Namespace) -> int:
    from ..call_server import run_call_server

    try:
        server = build(args)
    except OptionError as exc:
        print(f"{PROG}: {exc}.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        ready: asyncio.Future[str] = loop.create_future()
        task = asyncio.ensure_future(
            run_call_server(server, args.host, args.port, ready=ready, stop=stop)
        )
        await run_announced(
            task,
            ready,
            lambda url: (
                f"Call server: webhooks at {url}{server.path}, GET {url}/calls lists "
                f"the live calls. Calls are controlled at {args.base_url}. Ctrl-C stops it."
            ),
        )

    from . import run_announced, run_server

    return run_server("call-server", args.host, args.port, serve())


def add_arguments(parser: argparse.ArgumentParser, port_type: Any, default_base_url: str) -> None:
    """The command's options (on ``realtime call-server``'s parser)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=port_type, default=8000, help="port (%(default)s; 0: any)")
    parser.add_argument(
        "--path", default=DEFAULT_WEBHOOK_PATH, help="the webhook endpoint's path (%(default)s)"
    )
    parser.add_argument(
        "--base-url", default=default_base_url, help="the API calls are controlled at (%(default)s)"
    )
    parser.add_argument(
        "--api-key", default=None, help="the OpenAI API key (default: $OPENAI_API_KEY)"
    )
    parser.add_argument(
        "--webhook-secret",
        default=None,
        metavar="S",
        help="the endpoint's whsec_... signing secret (default: $OPENAI_WEBHOOK_SECRET)",
    )
    parser.add_argument("--instructions", default=None, help="the calls' instructions")
    parser.add_argument(
        "--tools",
        metavar="MODULE:ATTR",
        default=None,
        help="the tools the calls may use (a function or a list), run on this server",
    )
    parser.add_argument(
        "--session",
        metavar="FILE.json",
        default=None,
        help="the session calls are accepted with (a JSON object: model, voice, audio...)",
    )
    parser.add_argument(
        "--greeting",
        default=None,
        metavar="TEXT",
        help="greet each caller once attached, with these instructions",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=100,
        metavar="N",
        help="live calls at most; beyond, a call is rejected busy (486) (%(default)s)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="share webhook replay protection with other processes in Redis (redis://host:6379/0)",
    )
    parser.add_argument(
        "--log-dir", metavar="DIR", default=None, help="also write one JSONL log per call here"
    )
