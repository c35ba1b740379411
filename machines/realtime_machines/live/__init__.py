"""GPT-Live, OpenAI's full-duplex voice API, as a second protocol of the formal model.

Pure like the rest of :mod:`realtime_machines` (standard library and python-statemachine):
typed wire events (:mod:`.wire`), the Live charts (:mod:`.charts`), the chat with turns
inferred from transcript timing (:mod:`.chat`), Live's own convenience events (:mod:`.notices`)
and :class:`LiveSessionModel` composing them (:mod:`.session`). See ``docs/live.md``.
"""

from __future__ import annotations

from .charts import (
    LIVE_CHARTS,
    DelegationChart,
    FixtureChart,
    InputAudioChart,
    LiveSessionChart,
    SipLegChart,
)
from .chat import LiveChatOptions, LiveChatProjection, project_live
from .notices import (
    LIVE_NOTICE_NAMES,
    AssistantInterrupted,
    DecisionMade,
    DelegationCreatedNotice,
    DelegationFinished,
    InfoNotice,
    InputMuted,
    InputUnmuted,
    SessionClosedNotice,
    SessionPausedNotice,
    SessionRestartedNotice,
    SessionResumedNotice,
    SessionStartedNotice,
    TransportDtmf,
    UsageUpdated,
)
from .session import LiveSessionModel
from .wire import (
    CLIENT_EVENT_CLASSES,
    LIVE_ONLY_EVENT_TYPES,
    SERVER_EVENT_CLASSES,
    LiveClientEvent,
    LiveEvent,
    LiveServerEvent,
    normalize_client,
    normalize_server,
)

__all__ = [
    "CLIENT_EVENT_CLASSES",
    "LIVE_CHARTS",
    "LIVE_NOTICE_NAMES",
    "LIVE_ONLY_EVENT_TYPES",
    "SERVER_EVENT_CLASSES",
    "AssistantInterrupted",
    "DecisionMade",
    "DelegationChart",
    "DelegationCreatedNotice",
    "DelegationFinished",
    "FixtureChart",
    "InfoNotice",
    "InputAudioChart",
    "InputMuted",
    "InputUnmuted",
    "LiveChatOptions",
    "LiveChatProjection",
    "LiveClientEvent",
    "LiveEvent",
    "LiveServerEvent",
    "LiveSessionChart",
    "LiveSessionModel",
    "SessionClosedNotice",
    "SessionPausedNotice",
    "SessionRestartedNotice",
    "SessionResumedNotice",
    "SessionStartedNotice",
    "SipLegChart",
    "TransportDtmf",
    "UsageUpdated",
    "normalize_client",
    "normalize_server",
    "project_live",
]
