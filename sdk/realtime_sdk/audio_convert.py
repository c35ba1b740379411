"""Audio for the WebSocket wire: aiortc/av frames in, PCM16 mono 24 kHz out (and back).

Over WebSocket the Realtime API takes and gives audio as base64 PCM16 little-endian mono at
24 kHz (``input_audio_buffer.append`` / ``response.output_audio.delta``). A microphone, such as
:class:`~realtime_sdk.audio.MicrophoneTrack`, yields 48 kHz ``av.AudioFrame`` s. This module
converts between the two with ``av.AudioResampler`` (whole frames, no per-sample Python)::

    from realtime_sdk.audio_convert import MicrophonePcm

    mic = MicrophonePcm(track)  # any aiortc audio track or async iterator of av.AudioFrame
    async for pcm in mic:  # bytes: PCM16 mono 24 kHz, one chunk per frame
        await transport.send_audio(pcm)
    mic.muted = True  # the chunks keep their pace but carry zeros (server VAD hears silence)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

import av
import numpy as np
import numpy.typing as npt

__all__ = [
    "WIRE_RATE",
    "MicrophonePcm",
    "MicrophonePump",
    "MonoResampler",
    "Pcm24kConverter",
    "append_events",
    "decode_pcm16",
    "encode_pcm16",
    "pcm16_bytes",
]

WIRE_RATE: Final = 24000
"""The WebSocket wire's sample rate (PCM16 mono little-endian)."""

Int16Array = npt.NDArray[np.int16]

log = logging.getLogger(__name__)


class MonoResampler:
    """Any ``av.AudioFrame`` (format, layout, rate) → PCM16 mono samples at ``rate``.

    One ``av.AudioResampler`` per input shape, kept across frames so its filter state carries
    over (no clicks at frame boundaries). The speaker (48 kHz) and the wire (24 kHz) use it."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resamplers: dict[tuple[str, str, int], av.AudioResampler] = {}

    def samples(self, frame: av.AudioFrame) -> Int16Array:
        key = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        resampler = self._resamplers.get(key)
        if resampler is None:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
            self._resamplers[key] = resampler
        parts = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        joined: Int16Array = np.concatenate(parts).astype(np.int16, copy=False)
        return joined

    def flush(self) -> Int16Array:
        """The samples still inside the filters (the last few ms: their look-ahead), as if
        the input ended in silence; the next frame starts a new stream."""
        parts = [
            out.to_ndarray().reshape(-1)
            for resampler in self._resamplers.values()
            for out in resampler.resample(None)
        ]
        self._resamplers.clear()
        if not parts:
            return np.zeros(0, dtype=np.int16)
        joined: Int16Array = np.concatenate(parts).astype(np.int16, copy=False)
        return joined


class Pcm24kConverter(MonoResampler):
    """Any ``av.AudioFrame`` → PCM16 mono 24 kHz bytes (the WebSocket wire's audio)."""

    def __init__(self) -> None:
        super().__init__(WIRE_RATE)

    def convert(self, frame: av.AudioFrame) -> bytes:
        return self.samples(frame).astype("<i2").tobytes()


class MicrophonePcm:
    """An audio track (anything with ``async recv() -> av.AudioFrame``, e.g.
    :class:`~realtime_sdk.audio.MicrophoneTrack`) as an async iterator of PCM16 mono 24 kHz
    chunks, with mute.

    Iteration ends when the track ends (``recv()`` raises ``MediaStreamError``). While
    :attr:`muted`, each chunk is zeros of the same length: the server's VAD keeps hearing time
    pass, so a turn in progress ends on the silence instead of hanging."""

    def __init__(self, track: Any) -> None:
        if not callable(getattr(track, "recv", None)):
            raise TypeError(
                "MicrophonePcm needs an audio track with an async recv(), "
                f"not {type(track).__name__}"
            )
        self.track = track
        self.muted = False
        """Send zeros instead of what the microphone hears (the pace goes on)."""
        self.chunks = 0
        """Chunks yielded so far."""
        self._converter = Pcm24kConverter()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return
            pcm = self._converter.convert(frame)
            if not pcm:
                continue
            if self.muted:
                pcm = bytes(len(pcm))
            self.chunks += 1
            yield pcm


class MicrophonePump:
    """A microphone track pumped into ``send_audio`` (``input_audio_buffer.append``) by one
    background task, with mute: what the WebSocket and in-memory transports do with
    ``ConnectContext.microphone``.

    :meth:`set_enabled` works before :meth:`start` too (a microphone muted before connecting
    starts muted). The pump ends when the track ends or ``send_audio`` fails (the call is
    gone: logged, not raised); :meth:`aclose` stops it."""

    def __init__(self, send_audio: Callable[[bytes], Awaitable[None]], *, name: str) -> None:
        self._send_audio = send_audio
        self._name = name
        self._enabled = True
        self._mic: MicrophonePcm | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether the microphone's audio is sent (muted: zeros of the same length)."""
        return self._enabled

    @property
    def microphone(self) -> MicrophonePcm | None:
        """The track's PCM iterator once started (its ``chunks`` counts what was sent)."""
        return self._mic

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)
        if self._mic is not None:
            self._mic.muted = not self._enabled

    def start(self, track: Any) -> None:
        """Pump ``track`` (once: a second call is ignored). Needs a running loop."""
        if self._task is not None:
            return
        self._mic = MicrophonePcm(track)
        self._mic.muted = not self._enabled
        self._task = asyncio.get_running_loop().create_task(self._pump(self._mic), name=self._name)

    async def _pump(self, mic: MicrophonePcm) -> None:
        try:
            async for pcm in mic:
                await self._send_audio(pcm)
        except Exception as exc:  # SendError: the call ended under the pump
            log.info("microphone stopped: %s", exc)

    async def aclose(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


_APPEND_OVERHEAD = len('{"type": "", "audio": ""}')


def pcm16_bytes(pcm: object) -> bytes:
    """``pcm`` as bytes if it is PCM16 (bytes-like, an even length); else ``TypeError`` /
    ``ValueError`` with a sentence: what ``send_audio`` takes."""
    if not isinstance(pcm, bytes | bytearray | memoryview):
        raise TypeError(f"send_audio() takes PCM16 bytes, not {type(pcm).__name__}")
    data = bytes(pcm)
    if len(data) % 2:
        raise ValueError(
            f"send_audio() takes PCM16 (2 bytes a sample, an even number of bytes); "
            f"got an odd {len(data)} bytes"
        )
    return data


def append_events(
    pcm: object,
    max_message_size: int,
    event_type: str = "input_audio_buffer.append",
    *,
    checked: bool = False,
) -> Iterator[str]:
    """PCM16 mono 24 kHz as serialized ``input_audio_buffer.append`` events, each at most
    ``max_message_size`` bytes, split on whole samples: what ``send_audio`` sends on the
    WebSocket and in-memory transports (GPT-Live's WebSocket: ``event_type`` is
    ``session.input_audio.append``). ``TypeError`` / ``ValueError`` with a sentence when
    ``pcm`` is not PCM16 bytes (:func:`pcm16_bytes`), unless ``checked``: bytes already in
    the wire's format (G.711 has one byte a sample), split as they are."""
    data = pcm if checked and isinstance(pcm, bytes) else pcm16_bytes(pcm)
    # base64 turns 3 bytes into 4 characters; a multiple of 6 keeps whole samples
    overhead = _APPEND_OVERHEAD + len(event_type)
    step = (max_message_size - overhead) * 3 // 4 // 6 * 6
    for start in range(0, len(data), step):
        audio = base64.b64encode(data[start : start + step]).decode("ascii")
        yield json.dumps({"type": event_type, "audio": audio})


def encode_pcm16(pcm: bytes | Int16Array) -> str:
    """PCM16 mono (bytes, little-endian, or an int16 array) as the wire's base64 text."""
    if isinstance(pcm, np.ndarray):
        pcm = pcm.astype("<i2", copy=False).tobytes()
    return base64.b64encode(pcm).decode("ascii")


def decode_pcm16(delta: str) -> Int16Array:
    """The wire's base64 PCM16 mono as an int16 array; ``ValueError`` with a sentence when it
    is not base64 or has an odd number of bytes."""
    try:
        raw = base64.b64decode(delta, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"audio delta is not valid base64: {exc}") from None
    if len(raw) % 2:
        raise ValueError(f"audio delta has {len(raw)} bytes: PCM16 needs an even number")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)
