"""A local OpenAI Realtime (GA) emulator on 127.0.0.1: WebRTC + WebSocket, one protocol engine.

    async with Emulator() as emu:
        client = AsyncOpenAI(api_key=emu.api_key, base_url=emu.openai_base_url)

See ``docs/emulator.md``.
"""

from __future__ import annotations

from .audio import SpeechTrack, synthesize
from .brain import Brain, CallTool, DeterministicBrain, Say, ScriptedBrain, Turn
from .engine import Engine, EngineOptions
from .faults import FAULTS_HEADER, Faults
from .live import LiveEngine, LiveOptions
from .loopback import (
    disable_loopback_ice,
    enable_loopback_ice,
    loopback_ice,
    loopback_ice_enabled,
    rtc_configuration,
)
from .server import DEFAULT_API_KEY, DEFAULT_PORT, Emulator, EmulatorConfig, serve
from .session import ProtocolError
from .vad import EnergyVad

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_PORT",
    "FAULTS_HEADER",
    "Brain",
    "CallTool",
    "DeterministicBrain",
    "Emulator",
    "EmulatorConfig",
    "EnergyVad",
    "Engine",
    "EngineOptions",
    "Faults",
    "LiveEngine",
    "LiveOptions",
    "ProtocolError",
    "Say",
    "ScriptedBrain",
    "SpeechTrack",
    "Turn",
    "disable_loopback_ice",
    "enable_loopback_ice",
    "loopback_ice",
    "loopback_ice_enabled",
    "rtc_configuration",
    "serve",
    "synthesize",
]
