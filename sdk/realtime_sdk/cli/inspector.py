"""``realtime inspect``: the inspector page for a recorded trace, or for a live demo session.

``realtime inspect --trace FILE`` serves the page for a wire trace (``realtime demo --trace``)
or a transition record (``realtime replay --transitions``), with a slider to step through it.
``realtime inspect --demo`` runs the scripted demo session (:mod:`realtime_sdk.cli.demo`),
paced for a person to follow, once the first page is open, and keeps serving its final state.
Either way the page's URL is the first line of standard output; Ctrl-C stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from ..client import RealtimeClient
from ..inspector import Inspector, LiveSource, load_trace

__all__ = ["main", "serve"]

PAGE_WAIT_S = 60.0
"""How long ``--demo`` waits for a page before it runs the demo anyway."""


async def serve(
    args: argparse.Namespace,
    ready: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> int:
    """Serve what ``args`` name until ``stop`` is set (or forever); ``ready(url)`` once the
    page can be opened. The exit status: 1 when the demo failed, else 0."""
    stop = stop or asyncio.Event()
    if args.trace is not None:
        source = load_trace(args.trace)  # OSError / ValueError: the caller says it
        async with Inspector(source, host=args.host, port=args.port) as inspector:
            ready(inspector.url)
            await stop.wait()
        return 0
    from .demo import print_demo, run_demo

    inspectors: list[Inspector] = []

    async def attach(client: RealtimeClient) -> None:
        inspector = Inspector(
            LiveSource(client, title="realtime demo"), host=args.host, port=args.port
        )
        await inspector.start()
        inspectors.append(inspector)
        ready(inspector.url)
        print(
            "The demo starts when the page is open (or in "
            f"{args.page_wait:g} s); Ctrl-C stops the server.",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.page_wait):
                await inspector.page_opened.wait()

    try:
        result = await run_demo(
            transport=args.transport, delta_delay_s=args.pace, on_client=attach, step_timeout=30.0
        )
        print_demo(result, sys.stderr)
        print("The demo is over; the page keeps its final state. Ctrl-C stops it.", file=sys.stderr)
        await stop.wait()
        return 0 if result.ok else 1
    finally:
        for inspector in inspectors:
            await inspector.close()


def main(args: argparse.Namespace) -> int:
    """``realtime inspect (--trace FILE | --demo) [--host H] [--port P]``."""
    from . import _cannot_listen

    def ready(url: str) -> None:
        print(url, flush=True)
        print(f"Inspector: open {url} in a browser.", file=sys.stderr, flush=True)

    code: Any = 0
    try:
        code = asyncio.run(serve(args, ready))
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:
        print(f"realtime inspect: {exc}.", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is not None:
            print(f"realtime inspect: cannot read {exc.filename}: {exc.strerror}.", file=sys.stderr)
            return 2
        print(_cannot_listen("inspect", args.host, args.port, exc), file=sys.stderr)
        return 1
    return int(code)
