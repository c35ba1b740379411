"""Effect commands: what the charts ask the world to do.

Charts never perform I/O. Their actions append one of these frozen dataclasses to the
session's outbox; the shell (``realtime_sdk``) executes them and reports the outcome back as
an event (``token_received``, ``step_done``, ``timeout``, ...). Every effect carries a
``kind`` tag so a shell can dispatch on it with a dict, and ``describe()`` for logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "CancelTimer",
    "CloseTransport",
    "Effect",
    "ExecuteTool",
    "FetchToken",
    "OpenMicrophone",
    "ReleaseMedia",
    "RunStep",
    "SendEvent",
    "SetMicrophone",
    "StartTimer",
    "StopPlayback",
]


@dataclass(frozen=True, slots=True)
class Effect:
    """Base class of every effect command."""

    kind: ClassVar[str] = "effect"

    def describe(self) -> str:
        return self.kind


@dataclass(frozen=True, slots=True)
class SendEvent(Effect):
    """Send one client event on the wire (DataChannel or WebSocket)."""

    event: Mapping[str, Any]
    kind: ClassVar[str] = "send_event"

    def describe(self) -> str:
        return f"send {self.event.get('type')}"


@dataclass(frozen=True, slots=True)
class StartTimer(Effect):
    """Start (or restart) the named timer; when it fires, feed ``timeout(name=...)`` back."""

    name: str
    seconds: float
    kind: ClassVar[str] = "start_timer"

    def describe(self) -> str:
        return f"start timer {self.name} ({self.seconds:g}s)"


@dataclass(frozen=True, slots=True)
class CancelTimer(Effect):
    """Cancel the named timer if it is running."""

    name: str
    kind: ClassVar[str] = "cancel_timer"

    def describe(self) -> str:
        return f"cancel timer {self.name}"


@dataclass(frozen=True, slots=True)
class FetchToken(Effect):
    """Ask the token provider for an ephemeral key (``token_received`` or ``step_failed``)."""

    kind: ClassVar[str] = "fetch_token"


@dataclass(frozen=True, slots=True)
class OpenMicrophone(Effect):
    """Open the local audio input (result: ``media_ready`` / ``media_failed``)."""

    kind: ClassVar[str] = "open_microphone"


@dataclass(frozen=True, slots=True)
class RunStep(Effect):
    """Run the transport's handshake step ``state`` (result: ``step_done`` / ``step_failed``)."""

    state: str
    kind: ClassVar[str] = "run_step"

    def describe(self) -> str:
        return f"run step {self.state}"


@dataclass(frozen=True, slots=True)
class CloseTransport(Effect):
    """Close the call's transport and what it holds (result: ``transport_closed``)."""

    kind: ClassVar[str] = "close_transport"


@dataclass(frozen=True, slots=True)
class ReleaseMedia(Effect):
    """Stop and release local audio devices."""

    kind: ClassVar[str] = "release_media"


@dataclass(frozen=True, slots=True)
class SetMicrophone(Effect):
    """Enable or mute the microphone track (never renegotiates)."""

    enabled: bool
    kind: ClassVar[str] = "set_microphone"

    def describe(self) -> str:
        return f"microphone {'on' if self.enabled else 'off'}"


@dataclass(frozen=True, slots=True)
class StopPlayback(Effect):
    """Stop local playback of assistant audio now and drop what is queued."""

    kind: ClassVar[str] = "stop_playback"


@dataclass(frozen=True, slots=True)
class ExecuteTool(Effect):
    """Run the user's tool handler (result: ``tool_output`` / ``tool_failed`` / ``timeout``)."""

    call_id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "execute_tool"

    def describe(self) -> str:
        return f"execute tool {self.name} ({self.call_id})"
