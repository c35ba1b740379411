"""The WebRTC side of a call: one aiortc peer connection, its audio and its ``oai-events`` channel.

:class:`Peer` does what the Connection chart's effects ask (create, offer, apply the answer,
close) and reports what happens through callbacks; it makes no decisions. It always drains the
remote audio track (an undrained aiortc track grows memory by about 1.2 MB/s) and hands each
frame to an optional sink, and it notes when anything last arrived from the server, for the
client's liveness check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

__all__ = ["AudioSink", "Peer", "ice_servers_configuration"]

logger = logging.getLogger("realtime_sdk.peer")

AudioSink = Callable[[Any], None]
"""Receives every remote audio frame (an ``av.AudioFrame``)."""


def ice_servers_configuration(ice_servers: Sequence[Mapping[str, Any]]) -> RTCConfiguration:
    """An ``RTCConfiguration`` with exactly these ICE servers (``[]`` means none at all)."""
    servers = []
    for server in ice_servers:
        urls = server.get("urls")
        if not urls:
            raise ValueError(f"an ICE server needs 'urls': {dict(server)!r}")
        servers.append(
            RTCIceServer(
                urls=urls, username=server.get("username"), credential=server.get("credential")
            )
        )
    return RTCConfiguration(iceServers=servers)


class Peer:
    """One RTCPeerConnection with a single audio transceiver and the events DataChannel."""

    def __init__(
        self,
        *,
        ice_servers: Sequence[Mapping[str, Any]],
        channel_label: str,
        microphone: MediaStreamTrack | None,
        on_message: Callable[[str], None],
        on_channel_open: Callable[[], None],
        on_lost: Callable[[str], None],
        audio_sink: AudioSink | None = None,
    ) -> None:
        self.pc = RTCPeerConnection(ice_servers_configuration(ice_servers))
        self.microphone = microphone
        direction = "sendrecv" if microphone is not None else "recvonly"
        self.transceiver = self.pc.addTransceiver(microphone or "audio", direction=direction)
        self.channel: RTCDataChannel = self.pc.createDataChannel(channel_label)
        self.remote_track: MediaStreamTrack | None = None
        self.audio_sink = audio_sink
        self.last_inbound = time.monotonic()
        self.frames_received = 0
        self._on_message = on_message
        self._on_channel_open = on_channel_open
        self._on_lost = on_lost
        self._drain_task: asyncio.Task[None] | None = None
        self._closing = False
        self.channel.on("open", self._channel_opened)
        self.channel.on("message", self._message)
        self.channel.on("close", self._channel_closed)
        self.pc.on("track", self._track)
        self.pc.on("connectionstatechange", self._state_changed)

    # -- effects -----------------------------------------------------------------------------
    async def create_offer(self) -> str:
        """Create the offer and gather ICE candidates; return the local SDP."""
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        description = self.pc.localDescription
        if description is None:  # pragma: no cover - aiortc always sets it
            raise RuntimeError("no local description after setLocalDescription")
        return str(description.sdp)

    async def apply_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    @property
    def channel_open(self) -> bool:
        return bool(self.channel.readyState == "open")

    @property
    def max_message_size(self) -> int | None:
        """The largest message (bytes) the remote peer accepts: its SDP's
        ``a=max-message-size`` (RFC 8841; 65536 when it gives none), as aiortc's SCTP
        transport holds it; ``None`` without a transport yet, or for a peer that takes any
        size (``0``)."""
        sctp = self.pc.sctp
        size = getattr(sctp, "_remote_max_message_size", None) if sctp is not None else None
        return size if isinstance(size, int) and size > 0 else None

    def send(self, text: str) -> None:
        """Send one message; ``ValueError`` if it is larger than :attr:`max_message_size`
        (checked here, before aiortc queues anything)."""
        limit = self.max_message_size
        if limit is not None and len(text) * 4 > limit:  # UTF-8: at most 4 bytes a character
            size = len(text.encode("utf-8"))
            if size > limit:
                raise ValueError(
                    f"the message is {size} bytes; the peer accepts at most {limit} bytes "
                    "(its a=max-message-size)"
                )
        self.channel.send(text)

    def set_microphone(self, enabled: bool) -> None:
        """Mute or unmute by switching the sender's track; never a new offer."""
        if self.microphone is not None:
            track = self.microphone if enabled else None
            self.transceiver.sender.replaceTrack(track)

    async def close(self) -> None:
        self._closing = True
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain_task
            self._drain_task = None
        await self.pc.close()

    # -- callbacks from aiortc ---------------------------------------------------------------
    def _channel_opened(self) -> None:
        self.last_inbound = time.monotonic()
        self._on_channel_open()

    def _message(self, message: str | bytes) -> None:
        self.last_inbound = time.monotonic()
        if isinstance(message, bytes):
            message = message.decode("utf-8", errors="replace")
        self._on_message(message)

    def _channel_closed(self) -> None:
        if not self._closing:
            self._on_lost("the events channel closed")

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed") and not self._closing:
            self._on_lost(f"peer connection {state}")

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or self._drain_task is not None:
            return
        self.remote_track = track
        self._drain_task = asyncio.get_running_loop().create_task(self._drain(track))

    async def _drain(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.last_inbound = time.monotonic()
            self.frames_received += 1
            sink = self.audio_sink
            if sink is not None:
                try:
                    sink(frame)
                except Exception:  # a broken sink must not stop the drain
                    logger.exception("audio sink failed; frame dropped")
