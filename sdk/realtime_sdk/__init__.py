"""realtime_sdk: the shell that runs the realtime_machines model against the world.

The package root is the public face: :class:`RealtimeClient` (the seed's client), its
configuration, errors, middleware, tools, keys, voice controls, local audio, the wire trace
(:class:`WireTrace`) and the local emulator (:class:`Emulator`) — everything in ``__all__``.
Documented submodules stay import places for their details: :mod:`realtime_sdk.config`,
:mod:`realtime_sdk.middleware`, :mod:`realtime_sdk.audio`, :mod:`realtime_sdk.emulator` (and its
``testing``). The ``realtime`` command and its apps live apart, in :mod:`realtime_sdk.cli`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._lazy import lazy_getattr
from .config import DEFAULTS, NOT_GIVEN, apply_defaults, deep_merge, normalize_session, prune
from .diagrams import chart_mermaid, stale_diagrams, write_diagrams
from .errors import (
    ConnectError,
    ErrorEvent,
    NotConnectedError,
    RealtimeError,
    SendError,
    TokenError,
    redact,
)
from .middleware import STOP, IncomingContext
from .tools import FunctionTool, function_tool
from .trace import WireTrace
from .turn import Answer, TurnError

if TYPE_CHECKING:
    from .activity import MicrophoneActivity, speech_activity_middleware
    from .audio import EchoGuard, Speaker, microphone_factory
    from .client import EffectEvent, RealtimeClient, ToolCall
    from .emulator import Emulator
    from .keys import api_key_token_provider
    from .live_client import LiveClient
    from .voice import PUSH_TO_TALK_SESSION, ModeSwitchError, PushToTalk, VoiceControls

# Imported on first use: they pull in aiortc, aiohttp, av or numpy, which `realtime replay` and
# `realtime diagrams` never need (importing them costs ~0.8 s and ~60 MiB).
_LAZY = {
    "EchoGuard": ".audio",
    "EffectEvent": ".client",
    "Emulator": ".emulator",
    "LiveClient": ".live_client",
    "MicrophoneActivity": ".activity",
    "ModeSwitchError": ".voice",
    "PUSH_TO_TALK_SESSION": ".voice",
    "PushToTalk": ".voice",
    "RealtimeClient": ".client",
    "Speaker": ".audio",
    "ToolCall": ".client",
    "VoiceControls": ".voice",
    "api_key_token_provider": ".keys",
    "microphone_factory": ".audio",
    "speech_activity_middleware": ".activity",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


logging.getLogger(__name__).addHandler(logging.NullHandler())

#: Third-party loggers the SDK brings in whose INFO lines flood ``basicConfig(level=INFO)``
#: (aioice logs every candidate-pair check). Set to WARNING unless you gave them a level.
QUIET_LOGGERS = ("aioice", "aiortc")
for _name in QUIET_LOGGERS:
    _logger = logging.getLogger(_name)
    if _logger.level == logging.NOTSET:  # not configured by the user: quiet it
        _logger.setLevel(logging.WARNING)
del _name, _logger

__all__ = [
    "DEFAULTS",
    "NOT_GIVEN",
    "PUSH_TO_TALK_SESSION",
    "QUIET_LOGGERS",
    "STOP",
    "Answer",
    "ConnectError",
    "EchoGuard",
    "EffectEvent",
    "Emulator",
    "ErrorEvent",
    "FunctionTool",
    "IncomingContext",
    "LiveClient",
    "MicrophoneActivity",
    "ModeSwitchError",
    "NotConnectedError",
    "PushToTalk",
    "RealtimeClient",
    "RealtimeError",
    "SendError",
    "Speaker",
    "TokenError",
    "ToolCall",
    "TurnError",
    "VoiceControls",
    "WireTrace",
    "api_key_token_provider",
    "apply_defaults",
    "chart_mermaid",
    "deep_merge",
    "function_tool",
    "microphone_factory",
    "normalize_session",
    "prune",
    "redact",
    "speech_activity_middleware",
    "stale_diagrams",
    "write_diagrams",
]
