"""Server VAD computed from the real audio energy (PCM16 mono at 24 kHz).

``threshold`` (0–1) is mapped onto the frame RMS relative to full scale: a 20 ms frame is
voiced when ``rms / 32768 > threshold * 0.1`` (the default 0.5 → about −26 dBFS). Speech
starts on the first voiced frame (``audio_start_ms`` is moved back by ``prefix_padding_ms``)
and stops after ``silence_duration_ms`` of unvoiced frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 24000
FRAME = RATE // 50  # 20 ms


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_start_ms: int
    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def frame_level(frame: np.ndarray) -> float:
    """RMS of an int16 frame relative to full scale (0–1)."""
    if frame.size == 0:
        return 0.0
    samples = frame.astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)) / 32768.0)


class EnergyVad:
    """Incremental energy VAD; feed PCM16 bytes, get speech start/stop events."""

    def __init__(
        self, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_duration_ms: int = 200
    ) -> None:
        self.configure(threshold, prefix_padding_ms, silence_duration_ms)
        self._pending = b""
        self.position_ms = 0
        self.speaking = False
        self._start_ms = 0
        self._last_voiced_end_ms = 0

    def configure(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms

    def feed(self, pcm: bytes) -> list[VadEvent]:
        data = self._pending + pcm
        frame_bytes = FRAME * 2
        usable = len(data) - len(data) % frame_bytes
        self._pending = data[usable:]
        events: list[VadEvent] = []
        if usable == 0:
            return events
        frames = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, FRAME)
        limit = self.threshold * 0.1
        for frame in frames:
            voiced = frame_level(frame) > limit
            frame_start = self.position_ms
            self.position_ms += 20
            if voiced:
                self._last_voiced_end_ms = self.position_ms
                if not self.speaking:
                    self.speaking = True
                    self._start_ms = max(0, frame_start - self.prefix_padding_ms)
                    events.append(SpeechStarted(self._start_ms))
            elif (
                self.speaking
                and self.position_ms - self._last_voiced_end_ms >= self.silence_duration_ms
            ):
                self.speaking = False
                events.append(SpeechStopped(self._start_ms, self.position_ms))
        return events

    def reset_pending(self) -> None:
        self._pending = b""
