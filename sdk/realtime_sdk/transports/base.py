"""The transport seam: what the client needs from a wire, in the manner of httpx's transports.

A :class:`Transport` carries one call: it runs its own handshake as a sequence of named steps
(:attr:`Transport.steps`; the client shows them as states of a handshake chart, each with its
timeout and its error stage), then sends serialized client events, delivers the server's events
in order through :class:`TransportEvents`, optionally carries audio, reports liveness and
closes. It knows nothing of the session model: no charts, no chat, no tools.

One transport object is one call. Reconnect and rollover make a new one (``fresh()``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["ConnectContext", "HandshakeStep", "Transport", "TransportEvents"]


@dataclass(frozen=True)
class HandshakeStep:
    """One step of a transport's handshake, shown as a state of its handshake chart."""

    state: str
    """The state's name in the handshake chart (``snake_case``: ``"posting_offer"``)."""
    stage: str
    """The seed ``ErrorStage`` reported when this step fails or times out (``"openai_api"``)."""
    timeout: float
    """Default seconds the step may take (overridable per client through ``timeouts``)."""
    success: str | None = None
    """The ``on_success`` stage reported when the step is done, if any."""


@dataclass(frozen=True)
class TransportEvents:
    """How a transport reports what arrives. All callbacks are called on the event loop, in
    arrival order, from one reader: the client keeps one ordered consumer."""

    on_message: Callable[[str], None]
    """One server event, as the JSON text that arrived (the client parses it once)."""
    on_lost: Callable[[str], None]
    """The call ended without the client asking (peer closed, socket dropped): the reason."""
    on_ended: Callable[[str], None] | None = None
    """The server ended the call itself (a sideband's call hung up): final, not a drop to
    recover from. ``None``: reported through ``on_lost``."""
    on_audio: Callable[[bytes], None] | None = None
    """Audio the transport decoded itself (PCM16 mono 24 kHz), for transports whose audio does
    not come as ``response.output_audio.delta`` events. ``None``: the client does not want it."""


@dataclass
class ConnectContext:
    """What one call's handshake needs from the client."""

    base_url: str
    """``https://api.openai.com`` or the emulator's base URL (no ``/v1``)."""
    token: str
    """The ephemeral key (``ek_…``) or API key, already stripped and checked."""
    model: str
    """The session's model (WebSocket puts it in the URL; WebRTC does not need it)."""
    events: TransportEvents
    session: Mapping[str, Any] = field(default_factory=dict)
    """The GA session the client will send in its first ``session.update``."""
    microphone: Any = None
    """An aiortc audio track when the client opened a microphone (WebRTC sends it as media)."""
    audio_sink: Any = None
    """Where WebRTC plays the remote track (``Speaker``); ``None``: drained."""
    step_done: Callable[[str, Any], None] = lambda stage, data: None
    """Report an ``on_success`` stage from inside a step (e.g. ``ice_gathering_complete``)."""


class Transport(abc.ABC):
    """One call over one wire. Subclasses: WebRTC, WebSocket, sideband, in-memory."""

    kind: ClassVar[str]
    """``"webrtc"``, ``"websocket"``, ``"memory"``: the ``transport=`` name."""
    steps: ClassVar[tuple[HandshakeStep, ...]]
    """The handshake, in order; :meth:`run_step` runs each one."""
    owns_playback: ClassVar[bool]
    """``True`` when the *client* plays the assistant's audio (it arrives as
    ``response.output_audio.delta``): the client then cuts playback on barge-in and sends
    ``conversation.item.truncate`` with what was actually played. ``False`` on WebRTC, where
    the server owns the output buffer (``output_audio_buffer.*`` events)."""

    carries_audio: ClassVar[bool] = True
    """``False`` for a transport with no audio of its own (a sideband: the call's media flows
    between its caller and the server): the client then refuses ``microphone``,
    ``audio_sink``, ``send_audio()`` and ``audio_chunks()`` with a clear error."""

    resumes_call: ClassVar[bool] = False
    """``True`` when a new transport of this kind rejoins the *same* server-side call (a
    sideband reattaching by id), so a reconnect does not replay the conversation into it."""

    timeout_options: ClassVar[Mapping[str, str]] = {}
    """Step state → the key of the client's ``timeouts`` option that overrides that step's
    timeout (WebRTC: ``{"posting_offer": "sdp", ...}``); steps not named keep their own."""

    call_id: str | None = None
    """The server's call id once known (WebRTC: the ``Location`` header), for sideband/hang-up."""

    @abc.abstractmethod
    async def run_step(self, state: str, context: ConnectContext) -> None:
        """Run the handshake step named ``state`` (one of :attr:`steps`) and return when it is
        done. Raise to fail it: the client fails the step with its stage at once. The client
        enforces the step's timeout by cancelling this coroutine."""

    @abc.abstractmethod
    async def send(self, text: str) -> None:
        """Send one serialized client event. Raise :class:`~realtime_sdk.errors.SendError` when
        it cannot go (closed, larger than :attr:`max_message_size`); never drop it silently."""

    @property
    def max_message_size(self) -> int | None:
        """The largest message the peer accepts, in bytes (``None``: no known limit)."""
        return None

    @property
    @abc.abstractmethod
    def last_inbound(self) -> float:
        """``time.monotonic()`` of the last thing received (event, audio frame or pong): the
        client declares the call lost when it is older than ``liveness_timeout``."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Ask the peer for a sign of life that moves :attr:`last_inbound` (a WebSocket ping's
        pong). The client pings after half of ``liveness_timeout`` without anything received,
        so an idle, healthy call is not declared lost. No-op by default (WebRTC's media keeps
        arriving; the in-memory engine answers at once)."""

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 mono 24 kHz audio from the app. WebRTC carries audio as media (use a
        microphone track); WebSocket and in-memory send ``input_audio_buffer.append``."""
        raise NotImplementedError(f"the {self.kind} transport takes audio as a media track")

    def set_microphone(self, enabled: bool) -> None:  # noqa: B027 - optional hook
        """Mute or unmute the outgoing audio without renegotiating (no-op by default)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the call and release everything it holds. Idempotent; never raises."""

    @abc.abstractmethod
    def fresh(self) -> Transport:
        """A new, unconnected transport with the same options, for the next call."""
