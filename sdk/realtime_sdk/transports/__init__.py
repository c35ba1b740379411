"""Transports: the wires a :class:`~realtime_sdk.RealtimeClient` can run a session over."""

from __future__ import annotations

from .base import ConnectContext, HandshakeStep, Transport, TransportEvents
from .websocket import WebSocketTransport

__all__ = [
    "ConnectContext",
    "HandshakeStep",
    "Transport",
    "TransportEvents",
    "WebSocketTransport",
]
