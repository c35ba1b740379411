"""The charts of the session model; each module holds one chart."""

from __future__ import annotations

from .connection import ConnectionChart, ConnectionTimeouts
from .handshake import HandshakeChart, handshake_chart
from .mode import ModeChart
from .playback import PlaybackChart
from .response import ResponseChart
from .tool_call import ToolCallChart, parse_arguments

__all__ = [
    "ALL_CHARTS",
    "ConnectionChart",
    "ConnectionTimeouts",
    "HandshakeChart",
    "ModeChart",
    "PlaybackChart",
    "ResponseChart",
    "ToolCallChart",
    "handshake_chart",
    "parse_arguments",
]

#: Every chart class of the model, in the order the docs present them.
ALL_CHARTS = (ConnectionChart, ResponseChart, PlaybackChart, ToolCallChart, ModeChart)
