"""The WebRTC transport: an aiortc peer, the SDP exchange with ``/v1/realtime/calls``, and the
``oai-events`` DataChannel.

Its handshake is five steps, each a state of its handshake chart with the seed library's error
stage: ``creating_peer`` (``init_peer_connection``), ``creating_offer`` (``create_offer``, ICE
gathered), ``posting_offer`` (``openai_api``: the SDP POST; the call id comes from the
``Location`` header), ``applying_answer`` (``set_remote_description``) and ``opening_channel``
(``data_channel``). Audio travels as media: the microphone track is sent, the remote track is
drained into the ``audio_sink``; the server owns the output buffer (``owns_playback`` is False).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from ..errors import ConnectError, SendError
from .base import ConnectContext, HandshakeStep, Transport

if TYPE_CHECKING:
    from ..peer import AudioSink, Peer

__all__ = ["WebRTCTransport"]


class WebRTCTransport(Transport):
    """One WebRTC call: the :class:`~realtime_sdk.peer.Peer` and its SDP exchange."""

    kind: ClassVar[str] = "webrtc"
    owns_playback: ClassVar[bool] = False
    steps: ClassVar[tuple[HandshakeStep, ...]] = (
        HandshakeStep("creating_peer", "init_peer_connection", 5.0, "peer_connection_created"),
        HandshakeStep("creating_offer", "create_offer", 10.0, "create_offer"),
        HandshakeStep("posting_offer", "openai_api", 15.0, "openai_api"),
        HandshakeStep("applying_answer", "set_remote_description", 5.0, "set_remote_description"),
        HandshakeStep("opening_channel", "data_channel", 15.0, "data_channel_open"),
    )
    timeout_options: ClassVar[Mapping[str, str]] = {
        "creating_peer": "peer",
        "creating_offer": "offer",
        "posting_offer": "sdp",
        "applying_answer": "answer",
        "opening_channel": "channel",
    }

    def __init__(
        self,
        *,
        ice_servers: Sequence[Mapping[str, Any]] | None = None,
        channel_label: str = "oai-events",
        sdp_timeout: float = 15.0,
    ) -> None:
        self.ice_servers = list(ice_servers) if ice_servers is not None else []
        self.channel_label = channel_label
        self.sdp_timeout = sdp_timeout
        self.peer: Peer | None = None
        self._offer: str | None = None
        self._answer: str | None = None
        self._opened = asyncio.Event()

    def __repr__(self) -> str:
        state = self.peer.pc.connectionState if self.peer is not None else "new"
        return f"<WebRTCTransport {state} call_id={self.call_id!r}>"

    def fresh(self) -> Self:
        return type(self)(
            ice_servers=self.ice_servers,
            channel_label=self.channel_label,
            sdp_timeout=self.sdp_timeout,
        )

    # -- the handshake ------------------------------------------------------------------------
    async def run_step(self, state: str, context: ConnectContext) -> None:
        if state == "creating_peer":
            from ..peer import Peer  # aiortc on first use: `realtime diagrams` reads the steps

            self.peer = Peer(
                ice_servers=self.ice_servers,
                channel_label=self.channel_label,
                microphone=context.microphone,
                on_message=context.events.on_message,
                on_channel_open=self._opened.set,
                on_lost=context.events.on_lost,
                audio_sink=context.audio_sink,
            )
        elif state == "creating_offer":
            self._offer = await self._require_peer().create_offer()
            context.step_done("ice_gathering_complete", None)
        elif state == "posting_offer":
            await self._post_offer(context)
        elif state == "applying_answer":
            if self._answer is None:
                raise RuntimeError("no answer to apply")
            await self._require_peer().apply_answer(self._answer)
        elif state == "opening_channel":
            if not self._require_peer().channel_open:
                await self._opened.wait()  # the client's step timeout bounds this wait
        else:
            raise ValueError(f"the webrtc transport has no step {state!r}")

    def _require_peer(self) -> Peer:
        if self.peer is None:
            raise RuntimeError("no peer connection (creating_peer did not run)")
        return self.peer

    async def _post_offer(self, context: ConnectContext) -> None:
        import aiohttp

        if self._offer is None:
            raise RuntimeError("no offer to post")
        url = f"{context.base_url.rstrip('/')}/v1/realtime/calls"
        headers = {"Authorization": f"Bearer {context.token}", "Content-Type": "application/sdp"}
        timeout = aiohttp.ClientTimeout(total=self.sdp_timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(url, data=self._offer, headers=headers) as response,
        ):
            body = await response.text()
            if response.status not in (200, 201):
                raise ConnectError("openai_api", _http_error(response.status, body))
            location = response.headers.get("Location", "")
        self._answer = body
        self.call_id = location.rstrip("/").rpartition("/")[2] or None

    # -- the call -----------------------------------------------------------------------------
    async def send(self, text: str) -> None:
        peer = self.peer
        if peer is None or not peer.channel_open:
            raise SendError(_event_type(text), "the events channel is not open")
        peer.send(text)

    @property
    def max_message_size(self) -> int | None:
        return self.peer.max_message_size if self.peer is not None else None

    @property
    def last_inbound(self) -> float:
        return self.peer.last_inbound if self.peer is not None else 0.0

    @property
    def audio_sink(self) -> AudioSink | None:
        """Where remote audio frames go (``None``: drained and dropped)."""
        return self.peer.audio_sink if self.peer is not None else None

    @audio_sink.setter
    def audio_sink(self, sink: AudioSink | None) -> None:
        if self.peer is not None:
            self.peer.audio_sink = sink

    def set_microphone(self, enabled: bool) -> None:
        if self.peer is not None:
            self.peer.set_microphone(enabled)

    async def close(self) -> None:
        peer, self.peer = self.peer, None
        if peer is not None:
            try:
                await peer.close()
            except Exception:  # close never raises
                return


def _event_type(text: str) -> str:
    try:
        return str(json.loads(text).get("type"))
    except (ValueError, AttributeError):
        return "event"


def _http_error(status: int, body: str, path: str = "/v1/realtime/calls") -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200]
    return f"POST {path} answered HTTP {status}: {message}"
