"""Wire audio formats of a GPT-Live WebSocket session, to and from PCM16 mono 24 kHz.

A Live session's ``audio.format`` (one format for both directions) is PCM16 at 24 kHz (the
default) or 16 kHz, or G.711 at 8 kHz: µ-law (``audio/pcmu``) or A-law (``audio/pcma``). The
SDK works in PCM16 mono 24 kHz; :func:`decode_audio` and :func:`encode_audio` convert whole
buffers (numpy, linear interpolation), :class:`AudioEncoder` converts a stream chunk by chunk
without drifting (what the Live WebSocket transport does with input audio), and
:func:`check_audio_format` says what is wrong with a format it cannot convert. The emulator's
Live sessions use the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "FORMATS",
    "RATE",
    "AudioEncoder",
    "alaw_decode",
    "alaw_encode",
    "check_audio_format",
    "decode_audio",
    "encode_audio",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
]

RATE: Final = 24000
"""The SDK's own rate: PCM16 mono 24 kHz."""
FORMATS: Final = ("audio/pcm", "audio/pcmu", "audio/pcma")
_PCM_RATES: Final = (16000, 24000)
_G711_RATE: Final = 8000

Int16Array = npt.NDArray[np.int16]


def check_audio_format(fmt: object) -> dict[str, Any]:
    """``fmt`` as ``{"type", "rate"}`` (the rate filled in) if it is a Live audio format;
    else a ``ValueError`` saying what is wrong."""
    if not isinstance(fmt, Mapping):
        raise ValueError(
            f"an audio format is an object such as {{'type': 'audio/pcm'}}, not {fmt!r}"
        )
    kind = fmt.get("type")
    if kind not in FORMATS:
        raise ValueError(
            f"unsupported audio format type {kind!r}: choose one of {', '.join(FORMATS)}"
        )
    extra = sorted(set(fmt) - {"type", "rate"})
    if extra:
        raise ValueError(f"unknown audio format field(s) {', '.join(map(repr, extra))}")
    if kind == "audio/pcm":
        rate = fmt.get("rate", RATE)
        if rate not in _PCM_RATES:
            raise ValueError(f"audio/pcm takes rate 16000 or 24000, not {rate!r}")
    else:
        rate = fmt.get("rate", _G711_RATE)
        if rate != _G711_RATE:
            raise ValueError(f"{kind} is 8000 Hz, not {rate!r}")
    return {"type": kind, "rate": int(rate)}


def _rate(fmt: Mapping[str, Any]) -> int:
    return int(fmt.get("rate", RATE if fmt["type"] == "audio/pcm" else _G711_RATE))


def resample(pcm: npt.NDArray[Any], src: int, dst: int) -> Int16Array:
    """PCM16 from ``src`` Hz to ``dst`` Hz by linear interpolation (ends aligned)."""
    if src == dst or pcm.size == 0:
        return pcm.astype(np.int16)
    n = max(1, round(pcm.size * dst / src))
    x = np.linspace(0, pcm.size - 1, n)
    return np.interp(x, np.arange(pcm.size), pcm.astype(np.float64)).astype(np.int16)


def ulaw_encode(pcm: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """PCM16 → G.711 µ-law bytes (one per sample)."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    coded: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return coded


def ulaw_decode(data: npt.NDArray[Any]) -> Int16Array:
    """G.711 µ-law bytes → PCM16."""
    b = ~data.astype(np.int32) & 0xFF
    exponent = (b >> 4) & 0x07
    mag = (((b & 0x0F) << 3) + 0x84) << exponent
    return np.where(b & 0x80, 0x84 - mag, mag - 0x84).astype(np.int16)


def alaw_encode(pcm: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """PCM16 → G.711 A-law bytes (one per sample)."""
    x = pcm.astype(np.int32)
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32767) >> 3
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> np.maximum(exponent, 0)) & 0x0F
    coded: npt.NDArray[np.uint8] = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)
    return coded


def alaw_decode(data: npt.NDArray[Any]) -> Int16Array:
    """G.711 A-law bytes → PCM16."""
    b = data.astype(np.int32) ^ 0x55
    exponent = (b >> 4) & 0x07
    mantissa = b & 0x0F
    mag = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(b & 0x80, mag, -mag).astype(np.int16)


def decode_audio(data: bytes, fmt: Mapping[str, Any]) -> Int16Array:
    """Wire audio in ``fmt`` → PCM16 mono 24 kHz (the caller checked PCM's even length)."""
    if fmt["type"] == "audio/pcm":
        pcm = np.frombuffer(data, dtype="<i2")
        return resample(pcm, _rate(fmt), RATE)
    raw = np.frombuffer(data, dtype=np.uint8)
    narrow = ulaw_decode(raw) if fmt["type"] == "audio/pcmu" else alaw_decode(raw)
    return resample(narrow, _G711_RATE, RATE)


def _g711(pcm: npt.NDArray[Any], kind: str) -> bytes:
    coded = ulaw_encode(pcm) if kind == "audio/pcmu" else alaw_encode(pcm)
    return coded.tobytes()


def encode_audio(pcm: npt.NDArray[Any], fmt: Mapping[str, Any]) -> bytes:
    """PCM16 mono 24 kHz → wire audio in ``fmt``."""
    if fmt["type"] == "audio/pcm":
        return resample(pcm, RATE, _rate(fmt)).astype("<i2").tobytes()
    return _g711(resample(pcm, RATE, _G711_RATE), fmt["type"])


class AudioEncoder:
    """A stream of PCM16 mono 24 kHz chunks → the same audio in ``fmt``, chunk by chunk.

    Both target rates divide 24 kHz in a ratio with 3 as its denominator (16 kHz: 2 of every
    3 samples, 8 kHz: 1 of every 3), so the encoder converts whole groups of 3 samples and
    keeps the 0–2 left over for the next chunk: the output's timing never drifts whatever the
    chunk sizes. ``ValueError`` (from :func:`check_audio_format`) for an unsupported ``fmt``."""

    def __init__(self, fmt: object) -> None:
        self.format = check_audio_format(fmt)
        self._step = RATE / (self.format["rate"])
        self._held = np.zeros(0, dtype=np.int16)

    @property
    def passthrough(self) -> bool:
        """Whether the format is the SDK's own (PCM16 24 kHz): bytes go out unchanged."""
        return self.format == {"type": "audio/pcm", "rate": RATE}

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 little-endian mono 24 kHz bytes (an even number) → wire bytes in the format."""
        if self.passthrough:
            return bytes(pcm)
        samples = np.concatenate([self._held, np.frombuffer(pcm, dtype="<i2").astype(np.int16)])
        usable = samples.size - samples.size % 3
        self._held = samples[usable:]
        if usable == 0:
            return b""
        group = samples[:usable].astype(np.float64)
        x = np.arange(0, usable, self._step)
        narrow = np.interp(x, np.arange(usable), group).astype(np.int16)
        if self.format["type"] == "audio/pcm":
            return narrow.astype("<i2").tobytes()
        return _g711(narrow, self.format["type"])
