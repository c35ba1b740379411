"""A live inspector in the browser: each chart's diagram with its current state, the transition
log (filtered by chart), the chat and the turn metrics, for a running client or a recorded trace,
of a Realtime session or a GPT-Live one (``RealtimeClient(api="live")``; no turn metrics).

::

    inspector = await client.inspect()          # a running RealtimeClient, live
    print(inspector.url)
    ...
    await inspector.close()

    async with Inspector(load_trace("demo.jsonl")) as inspector:   # a trace, with a slider
        ...

``realtime inspect --trace FILE`` and ``realtime inspect --demo`` serve it from the command
line (docs/inspector.md).
"""

from __future__ import annotations

from .layout import ChartShape, builtin_svg, chart_shape, chart_svg
from .metrics_panel import MetricsAdapter
from .server import INSPECTOR_PORT, Inspector
from .sources import LiveSource, TraceSource, load_trace

__all__ = [
    "INSPECTOR_PORT",
    "ChartShape",
    "Inspector",
    "LiveSource",
    "MetricsAdapter",
    "TraceSource",
    "builtin_svg",
    "chart_shape",
    "chart_svg",
    "load_trace",
]
