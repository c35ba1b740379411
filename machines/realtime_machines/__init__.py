"""realtime_machines: the formal model of an OpenAI Realtime session.

Pure Python (standard library + python-statemachine): statecharts for the connection, the
response lane, assistant playback, each tool call and the text/voice mode; typed wire events;
the chat as a projection of the transition record; convenience events with the seed library's
names. No I/O, no asyncio, no clock — the ``realtime_sdk`` shell runs it against the world.
"""

from __future__ import annotations

import logging

from . import wire
from ._chart import ChartHost, ModelChart
from .activity import SpeechActivity, SpeechSnapshot
from .charts import (
    ALL_CHARTS,
    AcceptCall,
    AttachSideband,
    CallChart,
    CallDtmf,
    CallTimeouts,
    ConnectionChart,
    ConnectionTimeouts,
    DetachSideband,
    HandshakeChart,
    HangupCall,
    ModeChart,
    PlaybackChart,
    ReferCall,
    RejectCall,
    ResponseChart,
    ToolCallChart,
    handshake_chart,
    parse_arguments,
)
from .chat import ChatItem, ChatOptions, ChatProjection, project
from .effects import (
    CancelTimer,
    CloseTransport,
    Effect,
    ExecuteTool,
    FetchToken,
    OpenMicrophone,
    ReleaseMedia,
    RunStep,
    SendEvent,
    SetMicrophone,
    StartTimer,
    StopPlayback,
)
from .metrics import (
    MetricsTracker,
    Prices,
    SessionMetrics,
    TurnMetrics,
    Usage,
    turn_metrics,
)
from .notices import (
    NOTICE_NAMES,
    AssistantCompleted,
    AssistantDelta,
    AssistantItemStarted,
    AssistantResponseStarted,
    ErrorNotice,
    MetricsTurn,
    Notice,
    ToolCallDelta,
    ToolCallDone,
    UserCompleted,
    UserDelta,
    UserFailed,
    UserItemStarted,
    UserTruncated,
)
from .record import Transition, final_states, read_jsonl, write_jsonl
from .replay import BadLine, ReplayResult, replay_lines
from .session import SessionModel
from .wire import MalformedEvent, ServerEvent, UnknownEvent, normalize

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ALL_CHARTS",
    "NOTICE_NAMES",
    "AcceptCall",
    "AssistantCompleted",
    "AssistantDelta",
    "AssistantItemStarted",
    "AssistantResponseStarted",
    "AttachSideband",
    "BadLine",
    "CallChart",
    "CallDtmf",
    "CallTimeouts",
    "CancelTimer",
    "ChartHost",
    "ChatItem",
    "ChatOptions",
    "ChatProjection",
    "CloseTransport",
    "ConnectionChart",
    "ConnectionTimeouts",
    "DetachSideband",
    "Effect",
    "ErrorNotice",
    "ExecuteTool",
    "FetchToken",
    "HandshakeChart",
    "HangupCall",
    "MalformedEvent",
    "MetricsTracker",
    "MetricsTurn",
    "ModeChart",
    "ModelChart",
    "Notice",
    "OpenMicrophone",
    "PlaybackChart",
    "Prices",
    "ReferCall",
    "RejectCall",
    "ReleaseMedia",
    "ReplayResult",
    "ResponseChart",
    "RunStep",
    "SendEvent",
    "ServerEvent",
    "SessionMetrics",
    "SessionModel",
    "SetMicrophone",
    "SpeechActivity",
    "SpeechSnapshot",
    "StartTimer",
    "StopPlayback",
    "ToolCallChart",
    "ToolCallDelta",
    "ToolCallDone",
    "Transition",
    "TurnMetrics",
    "UnknownEvent",
    "Usage",
    "UserCompleted",
    "UserDelta",
    "UserFailed",
    "UserItemStarted",
    "UserTruncated",
    "final_states",
    "handshake_chart",
    "normalize",
    "parse_arguments",
    "project",
    "read_jsonl",
    "replay_lines",
    "turn_metrics",
    "wire",
    "write_jsonl",
]
