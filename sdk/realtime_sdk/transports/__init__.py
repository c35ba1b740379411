"""Transports: the wires a :class:`~realtime_sdk.RealtimeClient` can run a session over."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import ConnectContext, HandshakeStep, Transport, TransportEvents

if TYPE_CHECKING:
    from .memory import MemoryTransport

# Imported on first use: the in-memory transport brings in the emulator (numpy, aiohttp).
_LAZY = {"MemoryTransport": ".memory"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = ["ConnectContext", "HandshakeStep", "MemoryTransport", "Transport", "TransportEvents"]
