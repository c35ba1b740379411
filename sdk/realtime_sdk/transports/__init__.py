"""Transports: the wires a :class:`~realtime_sdk.RealtimeClient` can run a session over."""

from __future__ import annotations

from .base import ConnectContext, HandshakeStep, Transport, TransportEvents

__all__ = ["ConnectContext", "HandshakeStep", "Transport", "TransportEvents"]
