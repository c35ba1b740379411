"""GPT-Live on the emulator: ``/v1/live/sessions`` over WebSocket and WebRTC, sidebands, hang-up.

A second protocol on the same server (reference ``gpt-live.md``): the session configuration
(:mod:`.config`), the protocol engine on the session timeline (:mod:`.engine`), wire audio and
transcript timing (:mod:`.media`) and the routes with the WebRTC session (:mod:`.server`).
``emu.live`` is the running emulator's :class:`LiveSessions`. See ``docs/emulator.md``.
"""

from __future__ import annotations

from .engine import LiveConnection, LiveEngine, LiveOptions
from .server import LiveCall, LiveSessions

__all__ = ["LiveCall", "LiveConnection", "LiveEngine", "LiveOptions", "LiveSessions"]
