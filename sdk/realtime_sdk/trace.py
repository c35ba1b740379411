"""A wire trace: every event a client sends and receives, in the format ``realtime replay`` reads.

One ``{"direction": "sent" | "received", "data": {...}, "time": seconds}`` JSON line per event,
in the order the client saw them, so a replay of the trace
(:func:`realtime_machines.replay.replay_lines`, ``realtime replay FILE``) reproduces the
session's chat, and at the times the client's model recorded them, its turn metrics
(:mod:`realtime_machines.metrics`). ``time`` is when a received event arrived and, for a sent
one, the client model's time when it was sent (``clock=None``: no ``time`` field). It works on
any transport: it records through the client's public middleware hooks, never through the wire
itself::

    trace = WireTrace(open("session.jsonl", "w"))
    client = RealtimeClient(..., **trace.client_options())
    trace.watch(client)  # record a sent event only while the client is connected

:meth:`WireTrace.incoming` is an incoming middleware (put it first: it sees each event exactly
as parsed); :meth:`WireTrace.outgoing` an outgoing middleware (put it last: it sees each event
exactly as it is serialised).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, TextIO, TypedDict

from .middleware import IncomingContext, IncomingMiddleware, OutgoingMiddleware

__all__ = ["Direction", "TraceOptions", "WireTrace"]

Direction = Literal["sent", "received"]
"""Which way an event went: ``"sent"`` by the client, ``"received"`` from the server."""


class TraceOptions(TypedDict):
    """The client options :meth:`WireTrace.client_options` gives (``RealtimeClient(**these)``)."""

    incoming_middleware: list[IncomingMiddleware]
    outgoing_middleware: list[OutgoingMiddleware]


class _HasStatus(Protocol):
    @property
    def status(self) -> str: ...


class WireTrace:
    """Every wire event, in order, as replay-format lines (and written to ``out`` if given).

    The lines are kept in :attr:`lines` when there is no ``out`` (or with ``keep=True``); a
    trace written to a file keeps only its counts, so its memory stays flat however long the
    session runs (a voice session's audio deltas would otherwise be held twice).

    ``is_open`` says whether an outgoing event will really go out (default: always). The
    outgoing middleware runs before the client hands the event to its transport, and a client
    does not send while it is not connected, so :meth:`watch` sets it to "the client is
    connected": an event the client refuses to send is not recorded as sent.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        is_open: Callable[[], bool] | None = None,
        clock: Callable[[], float] | None = time.time,
        keep: bool | None = None,
    ):
        self.out = out
        self.keep = out is None if keep is None else keep
        self.lines: list[str] = []
        self._counts = {"sent": 0, "received": 0}
        self.is_open: Callable[[], bool] = is_open if is_open is not None else lambda: True
        #: The time written on each line (``None``: no time).
        self.clock = clock

    def watch(self, client: _HasStatus) -> None:
        """Record sent events only while ``client.status`` is ``"connected"``, and time them by
        the client's model (the time it recorded their send at)."""
        self.is_open = lambda: client.status == "connected"
        model: Any = getattr(client, "model", None)
        if self.clock is not None and isinstance(getattr(model, "now", None), float):
            self.clock = lambda: float(model.now)

    def client_options(self) -> TraceOptions:
        """The :class:`~realtime_sdk.RealtimeClient` options that record through this trace:
        ``incoming_middleware`` and ``outgoing_middleware`` (add your own middleware around
        it: the trace's incoming one first, its outgoing one last)."""
        return {"incoming_middleware": [self.incoming], "outgoing_middleware": [self.outgoing]}

    def add(
        self, direction: Direction, event: Mapping[str, Any], *, time: float | None = None
    ) -> None:
        """Record one event (and write its line to ``out``), at ``time`` (default: the clock)."""
        if direction not in ("sent", "received"):
            raise ValueError(f"direction must be 'sent' or 'received', got {direction!r}")
        entry: dict[str, Any] = {"direction": direction, "data": event}
        if time is None and self.clock is not None:
            time = self.clock()
        if time is not None:
            entry["time"] = time
        line = json.dumps(entry, ensure_ascii=False)
        self._counts[direction] += 1
        if self.keep:
            self.lines.append(line)
        if self.out is not None:
            self.out.write(line + "\n")

    def incoming(self, ctx: IncomingContext) -> None:
        """The incoming middleware: records the server event, passes it on unchanged."""
        self.add("received", ctx.event, time=ctx.time if self.clock is not None else None)

    def outgoing(self, event: dict[str, Any]) -> None:
        """The outgoing middleware: records the client event (when :attr:`is_open`), passes it
        on unchanged."""
        if self.is_open():
            self.add("sent", event)

    def events(self, direction: Direction | None = None) -> list[dict[str, Any]]:
        """The recorded events (parsed back from the lines), of one direction or both; a
        trace that keeps no lines (written to ``out``) raises ``ValueError``: read its file."""
        if not self.keep:
            raise ValueError("this trace keeps no lines (it writes to out): read what it wrote")
        out: list[dict[str, Any]] = []
        for line in self.lines:
            entry = json.loads(line)
            if direction is None or entry["direction"] == direction:
                out.append(entry["data"])
        return out

    def count(self, direction: Direction) -> int:
        """How many events of ``direction`` were recorded (kept lines or not)."""
        return self._counts[direction]
