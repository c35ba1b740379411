"""Test helpers: a pytest fixture with a running emulator, bare wire-level clients, and an
in-memory call (no socket) to the emulator's engine.

In a ``conftest.py``::

    from realtime_sdk.emulator.testing import realtime_emulator  # noqa: F401

    def test_my_app(realtime_emulator):
        app = MyApp(base_url=realtime_emulator.base_url, api_key=realtime_emulator.api_key)

The fixture runs the emulator on its own thread and event loop, so it serves sync tests and
async tests of any plugin alike. It is built on first import and needs pytest
(``pip install "realtime-machines[testing]"``); the rest of this module does not.
:class:`WsClient` and :class:`RtcClient` speak the wire protocol directly (WebSocket, and
aiortc + the ``oai-events`` DataChannel) for tests that look at events rather than at an SDK;
:func:`memory_transport` gives the same helpers over an in-memory call (no socket, no server).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..transports.base import ConnectContext, TransportEvents
from ..transports.memory import MemoryTransport
from .audio import SpeechTrack, synthesize
from .brain import Brain
from .engine import EngineOptions
from .faults import Faults
from .loopback import disable_loopback_ice, enable_loopback_ice, rtc_configuration
from .server import Emulator, EmulatorConfig
from .session import DEFAULT_MODEL
from .vad import frame_level

__all__ = [
    "EmulatorThread",
    "EventStream",
    "MemoryClient",
    "RtcClient",
    "WsClient",
    "memory_transport",
    "normalize_types",
    "realtime_emulator",  # noqa: F822 - the pytest fixture, made by __getattr__ on first use
    "recorded_types",
]

JSON = dict[str, Any]


class EventStream:
    """Events in arrival order, with a cursor for ``next()`` / ``wait_for()``."""

    def __init__(self) -> None:
        self.events: list[JSON] = []
        self._cursor = 0
        self._changed = asyncio.Event()

    def push(self, event: JSON) -> None:
        self.events.append(event)
        self._changed.set()

    def types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    async def next(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while self._cursor >= len(self.events):
                self._changed.clear()
                await self._changed.wait()
        event = self.events[self._cursor]
        self._cursor += 1
        return event

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """Consume events up to and including the next one of ``event_type``."""
        async with asyncio.timeout(timeout):
            while True:
                while self._cursor < len(self.events):
                    event = self.events[self._cursor]
                    self._cursor += 1
                    if event.get("type") == event_type:
                        return event
                self._changed.clear()
                await self._changed.wait()


class WsClient:
    """A bare WebSocket Realtime client (``GET /v1/realtime``)."""

    def __init__(self) -> None:
        self.stream = EventStream()
        self.raw: list[str] = []
        self.close_code: int | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        base_url: str,
        api_key: str,
        *,
        model: str | None = DEFAULT_MODEL,
        call_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> WsClient:
        client = cls()
        params = {"call_id": call_id} if call_id else ({"model": model} if model else {})
        client._http = aiohttp.ClientSession()
        try:
            client._ws = await client._http.ws_connect(
                base_url + "/v1/realtime",
                params=params,
                headers={"Authorization": f"Bearer {api_key}", **(headers or {})},
                max_msg_size=0,
            )
        except BaseException:
            await client._http.close()
            raise
        client._reader = asyncio.get_running_loop().create_task(client._read())
        return client

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.raw.append(msg.data)
                    with contextlib.suppress(ValueError):
                        event = json.loads(msg.data)
                        if isinstance(event, dict):
                            self.stream.push(event)
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()

    async def send(self, event: JSON | str | bytes) -> None:
        assert self._ws is not None
        if isinstance(event, bytes):
            await self._ws.send_bytes(event)
        else:
            await self._ws.send_str(event if isinstance(event, str) else json.dumps(event))

    async def next(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.next(timeout)

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.wait_for(event_type, timeout)

    async def append_audio(self, pcm: np.ndarray, chunk_ms: int = 100) -> None:
        """Send PCM16 mono 24 kHz as ``input_audio_buffer.append`` chunks."""
        step = 24 * chunk_ms
        for start in range(0, pcm.size, step):
            chunk = pcm[start : start + step].astype("<i2").tobytes()
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> WsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class MemoryClient:
    """A bare in-memory Realtime client: a connected
    :class:`~realtime_sdk.transports.MemoryTransport` (no socket, the emulator's engine in this
    process) with the same event helpers as :class:`WsClient`. Make one with
    :func:`memory_transport`."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.stream = EventStream()
        self.raw: list[str] = []
        self.lost: str | None = None
        """Why the engine ended the call (session expired, ``session.close``, a fault)."""
        self.closed = asyncio.Event()

    def _on_message(self, text: str) -> None:
        self.raw.append(text)
        with contextlib.suppress(ValueError):
            event = json.loads(text)
            if isinstance(event, dict):
                self.stream.push(event)

    def _on_lost(self, reason: str) -> None:
        self.lost = reason
        self.closed.set()

    @classmethod
    async def connect(
        cls, transport: MemoryTransport, *, model: str = DEFAULT_MODEL
    ) -> MemoryClient:
        """Run ``transport``'s handshake (``session.created`` is then the first event)."""
        client = cls(transport)
        context = ConnectContext(
            base_url="memory:",
            token="",
            model=model,
            events=TransportEvents(on_message=client._on_message, on_lost=client._on_lost),
        )
        try:
            for step in transport.steps:
                async with asyncio.timeout(step.timeout):
                    await transport.run_step(step.state, context)
        except BaseException:
            await transport.close()
            raise
        return client

    async def send(self, event: JSON | str) -> None:
        await self.transport.send(event if isinstance(event, str) else json.dumps(event))

    async def send_audio(self, pcm: bytes | np.ndarray) -> None:
        """Append PCM16 mono 24 kHz (bytes, or samples as a numpy array)."""
        data = pcm if isinstance(pcm, bytes) else np.asarray(pcm).astype("<i2").tobytes()
        await self.transport.send_audio(data)

    async def next(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.next(timeout)

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.wait_for(event_type, timeout)

    async def close(self) -> None:
        await self.transport.close()
        self.closed.set()

    async def __aenter__(self) -> MemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def memory_transport(
    *,
    brain: Brain | None = None,
    faults: Faults | None = None,
    options: EngineOptions | None = None,
    model: str = DEFAULT_MODEL,
) -> AsyncIterator[MemoryClient]:
    """A connected in-memory call for a test: ``async with memory_transport(brain=b) as call``.

    ``call.transport`` is the :class:`~realtime_sdk.transports.MemoryTransport`;
    ``call.send(event)``, ``call.send_audio(pcm)``, ``call.wait_for(type)`` as on
    :class:`WsClient`. Closed on exit."""
    transport = MemoryTransport(brain=brain, faults=faults, options=options)
    async with await MemoryClient.connect(transport, model=model) as client:
        yield client


class _Sink:
    """Drains a remote audio track, counting frames and audible frames."""

    def __init__(self, track: MediaStreamTrack, threshold: float = 0.01) -> None:
        self.frames = 0
        self.audible = 0
        self.threshold = threshold
        self.task = asyncio.get_running_loop().create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames += 1
                if not isinstance(frame, av.AudioFrame):
                    continue
                if frame_level(frame.to_ndarray().reshape(-1)) > self.threshold:
                    self.audible += 1


class RtcClient:
    """A bare aiortc Realtime client: sendrecv audio (a :class:`SpeechTrack` as the
    microphone: silence unless you :meth:`speak`), the ``oai-events`` DataChannel, and a drained
    remote track. Restricts ICE to 127.0.0.1 while it lives."""

    def __init__(self) -> None:
        enable_loopback_ice()
        self._loopback = True
        self.stream = EventStream()
        self.mic = SpeechTrack()
        self.pc = RTCPeerConnection(rtc_configuration())
        self.channel: RTCDataChannel = self.pc.createDataChannel("oai-events")
        self.opened = asyncio.Event()
        self.channel_closed = asyncio.Event()
        self.sink: _Sink | None = None
        self.call_id: str | None = None
        self.location: str | None = None
        self.channel.on("open", self.opened.set)
        self.channel.on("close", self.channel_closed.set)
        self.channel.on("message", self._on_message)
        self.disconnected = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self.pc.addTransceiver(self.mic, direction="sendrecv")

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            with contextlib.suppress(ValueError):
                event = json.loads(message)
                if isinstance(event, dict):
                    self.stream.push(event)
                    return
            self.stream.push({"type": "<non-json>", "raw": message})

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.sink = _Sink(track)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("closed", "failed"):
            self.disconnected.set()

    @classmethod
    async def connect(
        cls,
        base_url: str,
        key: str,
        *,
        session: JSON | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        wait_open: bool = True,
    ) -> RtcClient:
        """Offer → ``POST /v1/realtime/calls`` (multipart when ``session`` is given) → answer."""
        client = cls()
        try:
            await client.pc.setLocalDescription(await client.pc.createOffer())
            offer = client.pc.localDescription.sdp
            async with aiohttp.ClientSession() as http:
                hdrs = {"Authorization": f"Bearer {key}", **(headers or {})}
                if session is None:
                    hdrs["Content-Type"] = "application/sdp"
                    body: Any = offer
                else:
                    body = aiohttp.FormData()
                    body.add_field("sdp", offer, content_type="application/sdp")
                    body.add_field("session", json.dumps(session), content_type="application/json")
                async with (
                    asyncio.timeout(timeout),
                    http.post(base_url + "/v1/realtime/calls", data=body, headers=hdrs) as resp,
                ):
                    text = await resp.text()
                    if resp.status != 201:
                        raise RuntimeError(f"POST /v1/realtime/calls → {resp.status}: {text}")
                    client.location = resp.headers.get("Location")
            assert client.location is not None
            client.call_id = client.location.rsplit("/", 1)[-1]
            await client.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type="answer"))
            if wait_open:
                await asyncio.wait_for(client.opened.wait(), timeout)
        except BaseException:
            await client.close()
            raise
        return client

    def send(self, event: JSON) -> None:
        self.channel.send(json.dumps(event))

    def speak(self, text: str, ms_per_char: float = 40.0) -> int:
        """Play synthesised speech into the microphone track; returns its duration in ms."""
        pcm = synthesize(text, ms_per_char=ms_per_char)
        self.mic.play(pcm)
        return int(pcm.size / 24)

    async def next(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.next(timeout)

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        return await self.stream.wait_for(event_type, timeout)

    async def close(self) -> None:
        await self.pc.close()
        self.mic.stop()
        if self.sink is not None:
            self.sink.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sink.task
        if self._loopback:
            self._loopback = False
            disable_loopback_ice()

    async def __aenter__(self) -> RtcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class EmulatorThread:
    """An :class:`Emulator` on its own thread and event loop (for sync and async tests alike)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.emulator: Emulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="realtime-emulator", daemon=True)

    @property
    def base_url(self) -> str:
        assert self.emulator is not None
        return self.emulator.base_url

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with Emulator(config=self.config) as emu:
                    self.emulator = emu
                    self._ready.set()
                    await self._stop.wait()
            finally:
                self._ready.set()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    def start(self, timeout: float = 10.0) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(timeout) or self.emulator is None:
            raise RuntimeError(f"emulator did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("emulator thread did not stop")


def _running_emulator() -> Iterator[EmulatorThread]:
    """A running emulator (own thread) for one test; ``.base_url``, ``.api_key``."""
    emulator = EmulatorThread().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@functools.cache
def _fixture() -> Callable[[], Iterator[EmulatorThread]]:
    try:
        import pytest
    except ModuleNotFoundError as exc:
        raise ImportError(
            'the realtime_emulator fixture needs pytest: pip install "realtime-machines[testing]"'
        ) from exc
    fixture: Callable[[], Iterator[EmulatorThread]] = pytest.fixture(name="realtime_emulator")(
        _running_emulator
    )
    return fixture


def __getattr__(name: str) -> Any:
    """``realtime_emulator``, the pytest fixture, is made on first use (pytest is imported
    only then)."""
    if name == "realtime_emulator":
        return _fixture()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FOLDED = {
    "response.output_audio.delta": "<audio deltas>",
    "response.output_audio_transcript.delta": "<audio deltas>",
    "response.output_text.delta": "<text deltas>",
    "response.function_call_arguments.delta": "<arguments deltas>",
}


def normalize_types(types: list[str]) -> list[str]:
    """Event types with the unstable parts folded, for comparing against recordings.

    Drops ``rate_limits.updated`` (its position is not stable and recordings often end before
    it) and the input transcription events (asynchronous to responses); folds each run of
    streamed deltas into one token (their number depends on the text).
    """
    out: list[str] = []
    for kind in types:
        if kind == "rate_limits.updated" or kind.startswith(
            "conversation.item.input_audio_transcription."
        ):
            continue
        kind = _FOLDED.get(kind, kind)
        if out and out[-1] == kind and kind.startswith("<"):
            continue
        out.append(kind)
    return out


def recorded_types(path: str, direction: str = "received") -> list[str]:
    """The event types of one direction of a recorded ``.jsonl`` session."""
    with open(path, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    return [str(line["data"]["type"]) for line in lines if line["direction"] == direction]
