"""The charts of the session model; each module holds one chart."""

from __future__ import annotations

from .call import (
    CALL_STAGES,
    CALL_TIMER,
    AcceptCall,
    AttachSideband,
    CallChart,
    CallDtmf,
    CallTimeouts,
    DetachSideband,
    HangupCall,
    ReferCall,
    RejectCall,
)
from .connection import ConnectionChart, ConnectionTimeouts
from .handshake import HandshakeChart, handshake_chart
from .mode import ModeChart
from .playback import PlaybackChart
from .response import ResponseChart
from .tool_call import ToolCallChart, parse_arguments

__all__ = [
    "ALL_CHARTS",
    "CALL_STAGES",
    "CALL_TIMER",
    "AcceptCall",
    "AttachSideband",
    "CallChart",
    "CallDtmf",
    "CallTimeouts",
    "ConnectionChart",
    "ConnectionTimeouts",
    "DetachSideband",
    "HandshakeChart",
    "HangupCall",
    "ModeChart",
    "PlaybackChart",
    "ReferCall",
    "RejectCall",
    "ResponseChart",
    "ToolCallChart",
    "handshake_chart",
    "parse_arguments",
]

#: Every chart class of the model, in the order the docs present them (the session's charts,
#: then the Call chart of a server-controlled SIP call).
ALL_CHARTS = (ConnectionChart, ResponseChart, PlaybackChart, ToolCallChart, ModeChart, CallChart)
