"""Synthesised speech-like audio and an aiortc track that plays it in real time.

:func:`synthesize` turns text into deterministic PCM16 mono "speech": voiced syllables
(a gliding 100–200 Hz fundamental with decaying harmonics under a smooth envelope) separated by
short pauses, about ``ms_per_char`` per character. It is loud enough for the emulator's own
energy VAD to hear (peak about −10 dBFS).

:class:`SpeechTrack` is the emulator's outbound WebRTC audio: 48 kHz mono, 20 ms frames, paced in
real time, silence when idle. ``play()`` queues speech; callbacks report when the first queued
frame leaves (``output_audio_buffer.started``) and when the queue drains (``…stopped``). Tests
also use it as a microphone that says what it is given: ``muted = True`` (what the client sets
on its microphone track) keeps the pace with frames of zeros, as
:class:`~realtime_sdk.audio.MicrophoneTrack` does, and unmuting resumes at once; ``vanish()``
is a peer gone silent without closing anything (``recv()`` never returns again).
"""

from __future__ import annotations

import asyncio
import fractions
import time
import zlib
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

WS_RATE = 24000
TRACK_RATE = 48000
PTIME = 0.020


def synthesize(text: str, rate: int = WS_RATE, ms_per_char: float = 40.0) -> np.ndarray:
    """Deterministic speech-like PCM16 (mono, ``rate`` Hz) for ``text``."""
    duration_ms = min(15000.0, max(240.0, len(text) * ms_per_char))
    total = int(rate * duration_ms / 1000)
    seed = zlib.crc32(text.encode("utf-8"))
    rng = np.random.default_rng(seed)
    out = np.zeros(total, dtype=np.float64)
    syllable = int(rate * 0.16)
    gap = int(rate * 0.04)
    pos = 0
    while pos < total:
        n = min(syllable, total - pos)
        f_start, f_end = rng.uniform(110.0, 200.0, size=2)
        f0 = np.linspace(f_start, f_end, n)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        wave = np.zeros(n)
        for harmonic in range(1, 6):
            wave += np.sin(harmonic * phase) / harmonic
        envelope = np.sin(np.pi * np.arange(n) / max(1, n)) ** 0.5
        out[pos : pos + n] = wave * envelope
        pos += n + gap
    peak = float(np.max(np.abs(out))) or 1.0
    return (out / peak * 0.32 * 32767).astype(np.int16)


def upsample_2x(pcm: np.ndarray) -> np.ndarray:
    """24 kHz → 48 kHz by linear interpolation."""
    if pcm.size == 0:
        return pcm
    x = pcm.astype(np.float64)
    mid = (x + np.append(x[1:], x[-1])) / 2
    return np.stack([x, mid], axis=1).reshape(-1).astype(np.int16)


def to_mono_24k(frame: av.AudioFrame) -> bytes:
    """An inbound aiortc frame (s16, 48 kHz, mono or interleaved stereo) → PCM16 mono 24 kHz."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    samples = data.reshape(-1, channels).astype(np.int32).mean(axis=1)
    step = max(1, round(frame.sample_rate / WS_RATE))
    return bytes(samples[::step].astype("<i2").tobytes())


class SpeechTrack(MediaStreamTrack):
    """Outbound audio: queued speech, otherwise silence; 48 kHz mono, real-time paced."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.samples_per_frame = int(TRACK_RATE * PTIME)
        self._buffer = np.zeros(0, dtype=np.int16)
        self._start: float | None = None
        self._pts = 0
        self.playing = False
        self.played_samples = 0
        self.frames_sent = 0
        self.audible_frames = 0
        self.late_frames = 0
        self.on_started: Callable[[], None] | None = None
        self.on_drained: Callable[[], None] | None = None
        #: Called when :meth:`play` queues speech.
        self.on_queued: Callable[[], None] | None = None
        self.muted = False
        """Frames carry zeros, at the same pace (queued speech goes on being consumed)."""
        self.vanished = False
        """:meth:`vanish` was called: ``recv()`` never returns again."""

    @property
    def queued_ms(self) -> int:
        return int(self._buffer.size * 1000 / TRACK_RATE)

    @property
    def played_ms(self) -> int:
        return int(self.played_samples * 1000 / TRACK_RATE)

    def play(self, pcm_24k: np.ndarray) -> None:
        """Queue speech (PCM16 mono 24 kHz) after whatever is already queued."""
        if not self.playing and self._buffer.size == 0:
            self.played_samples = 0
        self._buffer = np.concatenate([self._buffer, upsample_2x(pcm_24k)])
        if self.on_queued is not None:
            self.on_queued()

    def clear(self) -> int:
        """Drop queued audio; return how many ms of the current speech were played."""
        played = self.played_ms
        self._buffer = np.zeros(0, dtype=np.int16)
        self.playing = False
        return played

    def vanish(self) -> None:
        """Stop sending without ending the track (a vanished peer sends no RTP at all, not
        even silence): what is queued is dropped and ``recv()`` waits until it is cancelled."""
        self.vanished = True
        self.clear()

    @property
    def idle(self) -> bool:
        """Nothing is queued: the next frames are silence."""
        return self._buffer.size == 0

    async def recv(self) -> av.AudioFrame:
        samples = await self.next_samples()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = TRACK_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, TRACK_RATE)
        return frame

    async def next_samples(self) -> np.ndarray:
        """The next 20 ms frame's samples (PCM16 48 kHz), at its time: what :meth:`recv`
        sends, without building an ``av.AudioFrame`` (a simulated phone only plays them)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self.vanished:
            await asyncio.Event().wait()  # until the sender stops (cancels this)
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._pts += self.samples_per_frame
            wait = self._start + self._pts / TRACK_RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -PTIME:
                self.late_frames += 1
        n = self.samples_per_frame
        if not self._buffer.size:
            self.frames_sent += 1
            return np.zeros(n, dtype=np.int16)
        samples = np.zeros(n, dtype=np.int16)
        chunk = self._buffer[:n]
        if not self.muted:
            samples[: chunk.size] = chunk
            self.audible_frames += 1
        self._buffer = self._buffer[n:]
        self.played_samples += chunk.size
        loop = asyncio.get_running_loop()
        if not self.playing:
            self.playing = True
            if self.on_started is not None:
                loop.call_soon(self.on_started)
        if self._buffer.size == 0:
            self.playing = False
            if self.on_drained is not None:
                loop.call_soon(self.on_drained)
        self.frames_sent += 1
        return samples

    def skip_silence(self) -> None:
        """Count the frames due since the last one pulled as sent (silence: a simulated phone
        waits for speech instead of pulling silent frames): the next frame is the one due next
        on the same 20 ms grid, as if every frame had been pulled."""
        if self._start is None:
            return
        n = self.samples_per_frame
        due = int((time.monotonic() - self._start) * TRACK_RATE) // n * n
        if due > self._pts:
            self.frames_sent += (due - self._pts) // n
            self._pts = due
