"""Live audio on the wire and transcript timing.

The engine works in PCM16 mono at 24 kHz; a WebSocket session's ``audio.format`` may be PCM at
16 kHz or G.711 (µ-law, A-law) at 8 kHz, converted here both ways. :func:`fragments` cuts an
utterance's text into transcript deltas (each word with its trailing space, so joining them gives
the text back exactly) and spreads them over the utterance's ``[start_ms, end_ms)`` in proportion
to their length: the interval a fragment is spoken in.
"""

from __future__ import annotations

import re

import numpy as np

from ..session import JSON

__all__ = ["RATE", "decode_audio", "encode_audio", "fragments", "ms_of"]

RATE = 24000
_WORD = re.compile(r"\S+\s*|\s+")


def ms_of(samples: int, rate: int = RATE) -> int:
    return samples * 1000 // rate


def _resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or pcm.size == 0:
        return pcm.astype(np.int16)
    n = max(1, round(pcm.size * dst / src))
    x = np.linspace(0, pcm.size - 1, n)
    return np.interp(x, np.arange(pcm.size), pcm.astype(np.float64)).astype(np.int16)


def _ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    coded: np.ndarray = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return coded


def _ulaw_decode(data: np.ndarray) -> np.ndarray:
    b = ~data.astype(np.int32) & 0xFF
    exponent = (b >> 4) & 0x07
    mag = (((b & 0x0F) << 3) + 0x84) << exponent
    return np.where(b & 0x80, 0x84 - mag, mag - 0x84).astype(np.int16)


def _alaw_encode(pcm: np.ndarray) -> np.ndarray:
    x = pcm.astype(np.int32)
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32767) >> 3
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> np.maximum(exponent, 0)) & 0x0F
    coded: np.ndarray = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)
    return coded


def _alaw_decode(data: np.ndarray) -> np.ndarray:
    b = data.astype(np.int32) ^ 0x55
    exponent = (b >> 4) & 0x07
    mantissa = b & 0x0F
    mag = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(b & 0x80, mag, -mag).astype(np.int16)


def decode_audio(data: bytes, fmt: JSON) -> np.ndarray:
    """Wire audio in ``fmt`` → PCM16 mono 24 kHz (the caller checked PCM's even length)."""
    if fmt["type"] == "audio/pcm":
        pcm = np.frombuffer(data, dtype="<i2")
        return _resample(pcm, int(fmt["rate"]), RATE)
    raw = np.frombuffer(data, dtype=np.uint8)
    pcm = _ulaw_decode(raw) if fmt["type"] == "audio/pcmu" else _alaw_decode(raw)
    return _resample(pcm, 8000, RATE)


def encode_audio(pcm: np.ndarray, fmt: JSON) -> bytes:
    """PCM16 mono 24 kHz → wire audio in ``fmt``."""
    if fmt["type"] == "audio/pcm":
        return _resample(pcm, RATE, int(fmt["rate"])).astype("<i2").tobytes()
    narrow = _resample(pcm, RATE, 8000)
    coded = _ulaw_encode(narrow) if fmt["type"] == "audio/pcmu" else _alaw_encode(narrow)
    return coded.tobytes()


def fragments(text: str, start_ms: int, end_ms: int) -> list[tuple[str, int, int]]:
    """``text`` as ``(fragment, start_ms, end_ms)`` deltas covering ``[start_ms, end_ms)``."""
    words = _WORD.findall(text)
    total = sum(len(w) for w in words) or 1
    span = max(end_ms - start_ms, len(words))
    out: list[tuple[str, int, int]] = []
    done = 0
    for word in words:
        begin = start_ms + span * done // total
        done += len(word)
        end = start_ms + span * done // total
        out.append((word, begin, max(end, begin + 1)))
    return out
