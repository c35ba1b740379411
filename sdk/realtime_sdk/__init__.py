"""realtime_sdk: the shell that runs the realtime_machines model against the world.

:class:`RealtimeClient` (the seed's client over WebRTC), its configuration, errors, middleware
and keys; the ``realtime`` command (:mod:`realtime_sdk.cli`), chart diagrams
(:mod:`realtime_sdk.diagrams`) and the local Realtime emulator (:mod:`realtime_sdk.emulator`).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

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
from .turn import Answer, TurnError

if TYPE_CHECKING:
    from .client import EffectEvent, RealtimeClient, ToolCall
    from .keys import api_key_token_provider

# Imported on first use: they pull in aiortc and aiohttp, which `realtime replay` and
# `realtime diagrams` never need (importing them costs ~0.8 s and ~60 MiB).
_LAZY = {
    "EffectEvent": ".client",
    "RealtimeClient": ".client",
    "ToolCall": ".client",
    "api_key_token_provider": ".keys",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


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
    "QUIET_LOGGERS",
    "STOP",
    "Answer",
    "ConnectError",
    "EffectEvent",
    "ErrorEvent",
    "FunctionTool",
    "IncomingContext",
    "NotConnectedError",
    "RealtimeClient",
    "RealtimeError",
    "SendError",
    "TokenError",
    "ToolCall",
    "TurnError",
    "api_key_token_provider",
    "apply_defaults",
    "chart_mermaid",
    "deep_merge",
    "function_tool",
    "normalize_session",
    "prune",
    "redact",
    "stale_diagrams",
    "write_diagrams",
]
