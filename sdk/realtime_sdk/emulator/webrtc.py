"""A WebRTC call: the emulator's aiortc answerer, its ``oai-events`` channel and its audio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

import av
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .audio import SpeechTrack, to_mono_24k
from .calls import Sideband, Sidebands
from .engine import Engine
from .loopback import rtc_configuration

log = logging.getLogger(__name__)

EVENTS_LABEL = "oai-events"

OPENAI_MAX_MESSAGE_SIZE = 1073741823
"""The ``a=max-message-size`` in OpenAI's answers (the recorded ``/v1/realtime/calls``
answers): 2**30 - 1 bytes, where aiortc's own answer says 262144."""

_MAX_MESSAGE_SIZE_LINE = re.compile(r"^a=max-message-size:\d+(?=\r?$)", re.MULTILINE)


def advertise_max_message_size(sdp: str, size: int) -> str:
    """``sdp`` with its ``a=max-message-size`` (aiortc always writes one) set to ``size``."""
    return _MAX_MESSAGE_SIZE_LINE.sub(f"a=max-message-size:{size}", sdp)


class SdpError(ValueError):
    """The offer cannot be answered; the message says why (HTTP 400)."""


def check_offer(sdp: str) -> None:
    """Cheap structural checks before aiortc sees the offer."""
    text = sdp.strip()
    if not text:
        raise SdpError("The SDP offer is empty.")
    if not text.startswith("v=0"):
        raise SdpError("Invalid SDP offer: it must start with 'v=0'.")
    lines = text.replace("\r\n", "\n").split("\n")
    media = [line for line in lines if line.startswith("m=")]
    if not media:
        raise SdpError("Invalid SDP offer: it has no media section ('m=' line).")
    if not any(line.startswith(("m=audio", "m=application")) for line in media):
        raise SdpError("Invalid SDP offer: expected an audio or a data channel media section.")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise SdpError("Invalid SDP offer: missing DTLS fingerprint ('a=fingerprint').")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise SdpError("Invalid SDP offer: missing ICE credentials ('a=ice-ufrag').")


class Answerer:
    """The answering side of one WebRTC peer connection, shared by Realtime calls and Live
    sessions: the aiortc peer, the outbound :class:`SpeechTrack`, the inbound track drained
    into :meth:`_heard`, and the tasks it runs (all cancelled by :meth:`stop_media`)."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(rtc_configuration())
        self.player = SpeechTrack()
        self.inbound_frames = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc.on("track", self._on_track)

    async def answer_offer(self, offer_sdp: str, max_message_size: int) -> str:
        """The answer SDP to ``offer_sdp`` (advertising ``max_message_size``); else
        :class:`SdpError`."""
        check_offer(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            raise SdpError(f"Invalid SDP offer: {exc}") from exc
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if audio:
            self.pc.addTrack(self.player)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        # aiortc has no setting for what it advertises; the client only sees this text.
        return advertise_max_message_size(str(self.pc.localDescription.sdp), max_message_size)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        """Always drain the inbound track (an unread track grows memory without bound)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.inbound_frames += 1
                if isinstance(frame, av.AudioFrame):
                    self._heard(to_mono_24k(frame))

    def _heard(self, pcm: bytes) -> None:
        """One inbound frame as PCM16 mono 24 kHz."""

    async def stop_media(self) -> None:
        """Stop the outbound audio, close the peer, cancel every task but the caller's."""
        self.player.stop()
        await self.pc.close()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class Call(Answerer):
    """One WebRTC call (``rtc_…``): peer connection, engine, outbound speech, inbound VAD feed,
    and the sideband WebSockets attached to it (an :class:`~.calls.AttachableCall`)."""

    def __init__(self, call_id: str, engine_factory: Callable[[SpeechTrack, Call], Engine]) -> None:
        super().__init__()
        self.id = call_id
        self.engine = engine_factory(self.player, self)
        self.sidebands = Sidebands(self.engine)
        self.channel: RTCDataChannel | None = None
        self.closed = asyncio.Event()
        self._closing = False
        self.on_closed: Callable[[Call], None] | None = None
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)

    async def answer(self, offer_sdp: str) -> str:
        size = self.engine.faults.max_message_size or OPENAI_MAX_MESSAGE_SIZE
        return await self.answer_offer(offer_sdp, size)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or self.channel is not None:
            return
        self.channel = channel

        def sink(text: str) -> None:
            if channel.readyState == "open":
                channel.send(text)

        def on_message(message: str | bytes) -> None:
            if isinstance(message, str):
                self.engine.handle_text(message)
            else:
                self.engine.handle_binary()

        self.engine.attach(sink)
        channel.on("message", on_message)
        if channel.readyState == "open":
            self.engine.start()
        else:
            channel.on("open", lambda: self.engine.start())

    def _heard(self, pcm: bytes) -> None:
        self.engine.feed_audio(pcm)

    def add_sideband(self, sideband: Sideband) -> None:
        self.sidebands.add(sideband)

    def remove_sideband(self, sideband: Sideband) -> None:
        self.sidebands.remove(sideband)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._spawn(self.close(f"call ended: the peer connection {self.pc.connectionState}"))

    def close_channel(self) -> None:
        if self.channel is not None:
            self.channel.close()

    async def close(self, reason: str = "call ended") -> None:
        """End the call: its engine, its media, then its sidebands (closed with ``reason``)."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        try:
            await self.engine.aclose()
            await self.stop_media()
        finally:
            self.sidebands.end(reason)
            self.closed.set()
            if self.on_closed is not None:
                self.on_closed(self)
