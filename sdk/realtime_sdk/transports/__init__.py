"""Transports: the wires a :class:`~realtime_sdk.RealtimeClient` can run a session over.

``RealtimeClient(transport=...)`` takes a :class:`Transport` instance or a name from a small
registry: ``"webrtc"`` (the default), ``"websocket"``, ``"sideband"`` (attached to an existing
call by its id: ``transport_options={"call_id": "rtc_…"}``) and ``"memory"``, each loaded from its
module (``realtime_sdk.transports.<name>``) on first use, so that importing the SDK does not
import aiortc. :func:`register_transport` adds a name.

A GPT-Live client (``RealtimeClient(api="live")``) resolves the same names to the Live
transports (:class:`LiveWebRTCTransport`, :class:`LiveWebSocketTransport`,
:class:`LiveMemoryTransport`; a sideband through ``LiveClient.attach``); each client refuses
an instance of the other protocol's transports.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from .base import ConnectContext, HandshakeStep, Transport, TransportEvents

if TYPE_CHECKING:
    from .live import LiveSidebandTransport, LiveWebRTCTransport, LiveWebSocketTransport
    from .live_memory import LiveMemoryTransport
    from .memory import MemoryTransport
    from .sideband import SidebandTransport
    from .webrtc import WebRTCTransport
    from .websocket import WebSocketTransport

__all__ = [
    "ConnectContext",
    "HandshakeStep",
    "LiveMemoryTransport",
    "LiveSidebandTransport",
    "LiveWebRTCTransport",
    "LiveWebSocketTransport",
    "MemoryTransport",
    "SidebandTransport",
    "Transport",
    "TransportEvents",
    "WebRTCTransport",
    "WebSocketTransport",
    "register_transport",
    "transport_class",
    "transport_names",
]

#: Name → the module that defines it (its :class:`Transport` subclass with that ``kind``).
_MODULES: dict[str, str] = {
    "webrtc": f"{__name__}.webrtc",
    "websocket": f"{__name__}.websocket",
    "sideband": f"{__name__}.sideband",
    "memory": f"{__name__}.memory",
}
_CLASSES: dict[str, type[Transport]] = {}


def transport_names() -> list[str]:
    """The names ``transport=`` accepts, sorted."""
    return sorted(set(_MODULES) | set(_CLASSES))


def register_transport(cls: type[Transport]) -> type[Transport]:
    """Make ``transport=cls.kind`` mean ``cls`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Transport)):
        raise TypeError(f"register_transport needs a Transport subclass, got {cls!r}")
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{cls.__name__} has no kind (the transport= name)")
    _CLASSES[kind] = cls
    return cls


def transport_class(name: str) -> type[Transport]:
    """The :class:`Transport` subclass registered as ``name``; a ``ValueError`` naming the
    choices when there is none (an unknown name, or a module that is not installed)."""
    cls = _CLASSES.get(name)
    if cls is not None:
        return cls
    module_name = _MODULES.get(name) if isinstance(name, str) else None
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module is there; something it imports is not
                raise
        else:
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, Transport)
                    and value.__module__ == module_name
                    and getattr(value, "kind", None) == name
                ):
                    _CLASSES[name] = value
                    return value
    available = [n for n in transport_names() if _available(n)]
    raise ValueError(
        f"unknown transport {name!r}: choose one of {', '.join(map(repr, available))} "
        "or pass a Transport instance"
    )


def _available(name: str) -> bool:
    if name in _CLASSES:
        return True
    return importlib.util.find_spec(_MODULES[name]) is not None


# The transport classes, imported on first use (aiortc, aiohttp, the emulator).
_LAZY = {
    "LiveMemoryTransport": ".live_memory",
    "LiveSidebandTransport": ".live",
    "LiveWebRTCTransport": ".live",
    "LiveWebSocketTransport": ".live",
    "MemoryTransport": ".memory",
    "SidebandTransport": ".sideband",
    "WebRTCTransport": ".webrtc",
    "WebSocketTransport": ".websocket",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
