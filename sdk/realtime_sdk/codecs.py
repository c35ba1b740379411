"""Wire audio formats of a GPT-Live WebSocket session, to and from PCM16 mono 24 kHz.

A Live session's ``audio.format`` (one format for both directions) is PCM16 at 24 kHz (the
default) or 16 kHz, or G.711 at 8 kHz: µ-law (``audio/pcmu``) or A-law (``audio/pcma``). The
SDK works in PCM16 mono 24 kHz. Rates change through the SDK's PyAV resampler
(:class:`~realtime_sdk.audio_convert.MonoResampler`, libswresample's windowed-sinc filter):
going down to 8 kHz, what lies above 4 kHz is filtered out rather than folded back into the
band. :func:`decode_audio` and :func:`encode_audio` convert whole buffers (no delay);
:class:`AudioEncoder` (what the Live WebSocket transport does with input audio) and
:class:`AudioDecoder` convert a stream chunk by chunk, the filter's state carried over, a
fixed ~2 ms behind and without drifting; :func:`check_audio_format` says what is wrong with
a format they cannot convert. The emulator's Live sessions use the same functions.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, Final

import av
import numpy as np
import numpy.typing as npt

from .audio_convert import MonoResampler

__all__ = [
    "FORMATS",
    "RATE",
    "AudioDecoder",
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


def _frame(samples: Int16Array, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = rate
    return frame


def _convert(samples: Int16Array, src: int, resampler: MonoResampler) -> Int16Array:
    if samples.size == 0:
        return np.zeros(0, dtype=np.int16)
    return resampler.samples(_frame(samples, src))


@lru_cache(maxsize=32)
def _lookahead(src: int, dst: int) -> int:
    """How many ``dst`` samples the resampler holds back (its filter's look-ahead): one
    second in gives ``dst`` samples once flushed, this many fewer before."""
    probe = MonoResampler(dst)
    held = dst - _convert(np.zeros(src, dtype=np.int16), src, probe).size
    probe.flush()
    return held


def _unit(src: int, dst: int) -> int:
    """The fewest ``src`` samples that make a whole number of ``dst`` samples."""
    return src // math.gcd(src, dst)


def _input_span(src: int, dst: int) -> int:
    """The look-ahead in ``src`` samples, rounded up to whole :func:`_unit` s."""
    unit = _unit(src, dst)
    reach = -(-_lookahead(src, dst) * src // dst)
    return (reach // unit + 1) * unit


def _extend(samples: Int16Array, pad: int) -> Int16Array:
    """``samples`` with ``pad`` made-up samples before and after, continuing the signal
    (odd reflection: value and slope carry on; the end value held for a buffer too short
    to reflect), so the filter at a buffer's edge sees no step down to silence."""
    if samples.size <= pad:
        held: Int16Array = np.pad(samples, pad, mode="edge")
        return held
    x = samples.astype(np.int32)
    head = 2 * x[0] - x[pad:0:-1]
    tail = 2 * x[-1] - x[-2 : -pad - 2 : -1]
    joined: Int16Array = np.clip(np.concatenate([head, x, tail]), -32768, 32767).astype(np.int16)
    return joined


class _Shared:
    """One resampler per rate pair for whole-buffer conversions (setting one up costs far more
    than running it), fed buffer after buffer, each padded by :func:`_extend` with at least
    the filter's reach on both sides: an output sample inside a buffer only sees that
    buffer and its padding, never the one before. Which outputs are a buffer's follows from
    the count of samples fed (whole :func:`_unit` s), the output being aligned in time."""

    def __init__(self, src: int, dst: int) -> None:
        self.src, self.dst = src, dst
        self.unit = _unit(src, dst)
        self.pad = _input_span(src, dst)
        self._lock = threading.Lock()
        self._resampler = MonoResampler(dst)
        self._fed = 0  # input samples so far, a whole number of units
        self._out = np.zeros(0, dtype=np.int16)
        self._out_at = 0  # the index, in the output stream, of self._out[0]

    def convert(self, samples: Int16Array, n: int) -> Int16Array:
        # whole units fed, so the next buffer's first output has a whole-number index
        rest = np.zeros((-samples.size) % self.unit, dtype=np.int16)
        padded = np.concatenate([_extend(samples, self.pad), rest])
        with self._lock:
            try:
                return self._convert(padded, n)
            except BaseException:
                self._reset()  # a half-fed resampler would misplace every later buffer
                raise

    def _convert(self, padded: Int16Array, n: int) -> Int16Array:
        start = (self._fed + self.pad) * self.dst // self.src
        end = start + n
        self._feed(padded)
        for _ in range(8):  # a new resampler holds a few ms more until it fills up
            if self._out_at + self._out.size >= end:
                break
            self._feed(np.zeros(self.pad, dtype=np.int16))
        else:
            raise RuntimeError(f"the {self.src} -> {self.dst} Hz resampler gave too few samples")
        kept = self._out[start - self._out_at : end - self._out_at].copy()
        self._out = self._out[end - self._out_at :]
        self._out_at = end
        return kept

    def _reset(self) -> None:
        self._resampler = MonoResampler(self.dst)
        self._fed = self._out_at = 0
        self._out = np.zeros(0, dtype=np.int16)

    def _feed(self, samples: Int16Array) -> None:
        self._fed += samples.size
        self._out = np.concatenate([self._out, _convert(samples, self.src, self._resampler)])


@lru_cache(maxsize=16)
def _shared(src: int, dst: int) -> _Shared:
    return _Shared(src, dst)


def _check_rate(rate: object, name: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"{name} must be a positive whole number of Hz, not {rate!r}")
    return int(rate)


def resample(pcm: npt.NDArray[Any], src: int, dst: int) -> Int16Array:
    """PCM16 mono from ``src`` Hz to ``dst`` Hz, a whole buffer: ``round(len * dst / src)``
    samples (at least 1), aligned in time (no delay).

    Band-limited by the SDK's PyAV resampler (libswresample's windowed-sinc filter, as
    :class:`~realtime_sdk.audio_convert.MonoResampler`): going down, what lies above the new
    Nyquist frequency is filtered out instead of folding back into the band. The buffer's
    edges are continued by reflection, so chunks converted one by one meet without a step;
    a stream converted chunk by chunk should go through :class:`AudioEncoder` /
    :class:`AudioDecoder`, which carry the filter's state over."""
    src, dst = _check_rate(src, "src"), _check_rate(dst, "dst")
    samples = np.asarray(pcm).astype(np.int16)
    if samples.ndim != 1:
        raise ValueError(f"resample() takes mono PCM16, a 1-D array, not shape {samples.shape}")
    if src == dst or samples.size == 0:
        return samples
    return _shared(src, dst).convert(samples, max(1, round(samples.size * dst / src)))


class _Stream:
    """PCM16 mono ``src`` Hz → ``dst`` Hz chunk by chunk, the filter state carried over.

    The output is the input delayed by :attr:`delay` samples: it starts with that much
    (near) silence, so every chunk gives exactly its share of samples (a whole number of
    :func:`_unit` s of input gives ``len * dst / src``; a remainder is carried over) and the
    stream never drifts; :meth:`flush` gives the last :attr:`delay` samples."""

    def __init__(self, src: int, dst: int) -> None:
        self.src, self.dst = src, dst
        self.delay = _lookahead(src, dst)
        self._resampler = MonoResampler(dst)
        self._primed = False

    def push(self, samples: Int16Array) -> Int16Array:
        if not self._primed:
            self._primed = True
            lead = np.zeros(-(-self.delay * self.src // self.dst), dtype=np.int16)
            samples = np.concatenate([lead, samples])
        return _convert(samples, self.src, self._resampler)

    def flush(self) -> Int16Array:
        """The rest (the last :attr:`delay` samples); the next chunk starts a new stream."""
        self._primed = False
        return self._resampler.flush()


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


def _g711(pcm: npt.NDArray[Any], kind: str) -> bytes:
    coded = ulaw_encode(pcm) if kind == "audio/pcmu" else alaw_encode(pcm)
    return coded.tobytes()


def _wire(pcm: npt.NDArray[Any], kind: str) -> bytes:
    if kind == "audio/pcm":
        return pcm.astype("<i2").tobytes()
    return _g711(pcm, kind)


def _narrow(data: bytes, kind: str) -> Int16Array:
    if kind == "audio/pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.int16)
    raw = np.frombuffer(data, dtype=np.uint8)
    return ulaw_decode(raw) if kind == "audio/pcmu" else alaw_decode(raw)


def decode_audio(data: bytes, fmt: Mapping[str, Any]) -> Int16Array:
    """Wire audio in ``fmt`` → PCM16 mono 24 kHz, a whole buffer (the caller checked PCM's
    even length)."""
    return resample(_narrow(data, fmt["type"]), _rate(fmt), RATE)


def encode_audio(pcm: npt.NDArray[Any], fmt: Mapping[str, Any]) -> bytes:
    """PCM16 mono 24 kHz → wire audio in ``fmt``, a whole buffer."""
    return _wire(resample(pcm, RATE, _rate(fmt)), fmt["type"])


class _StreamCoder:
    """What :class:`AudioEncoder` and :class:`AudioDecoder` share: the checked format and
    the resampling stream between its rate and the SDK's (none for PCM16 24 kHz)."""

    _to_sdk: ClassVar[bool]

    def __init__(self, fmt: object) -> None:
        self.format = check_audio_format(fmt)
        rate = self.format["rate"]
        src, dst = (rate, RATE) if self._to_sdk else (RATE, rate)
        self._stream: _Stream | None = None if self.passthrough else _Stream(src, dst)

    @property
    def passthrough(self) -> bool:
        """Whether the format is the SDK's own (PCM16 24 kHz): the audio passes unchanged."""
        return self.format == {"type": "audio/pcm", "rate": RATE}

    @property
    def delay(self) -> int:
        """How many samples (at the output's rate: the wire's for the encoder, 24 kHz for
        the decoder) the stream lags its input by; 0 when passing through."""
        return 0 if self._stream is None else self._stream.delay


class AudioEncoder(_StreamCoder):
    """A stream of PCM16 mono 24 kHz chunks → the same audio in ``fmt``, chunk by chunk.

    The resampler's filter state carries over from chunk to chunk, so the stream is the
    whole-buffer conversion (:func:`encode_audio`) delayed by :attr:`delay` wire samples
    (its look-ahead, about 2 ms: the stream starts with that much silence), with no seam
    at chunk borders. Each chunk gives its share of wire samples (16 kHz: 2 of every 3
    samples, 8 kHz: 1 of every 3; a remainder waits for the next chunk), so the output's
    timing never drifts whatever the chunk sizes; :meth:`flush` ends the stream with the
    last :attr:`delay` samples. ``ValueError`` (from :func:`check_audio_format`) for an
    unsupported ``fmt``."""

    _to_sdk = False

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 little-endian mono 24 kHz bytes (an even number) → wire bytes in the format."""
        if self._stream is None:
            return bytes(pcm)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        return _wire(self._stream.push(samples), self.format["type"])

    def flush(self) -> bytes:
        """The end of the stream: the last :attr:`delay` samples, as wire bytes (the next
        chunk starts a new stream)."""
        if self._stream is None:
            return b""
        return _wire(self._stream.flush(), self.format["type"])


class AudioDecoder(_StreamCoder):
    """A stream of wire audio in ``fmt`` → PCM16 mono 24 kHz, chunk by chunk: what
    :class:`AudioEncoder` is to input audio, for output audio (``session.output_audio.delta``
    after delta). The stream is :func:`decode_audio` of the whole delayed by :attr:`delay`
    samples (at 24 kHz, about 2 ms), with no seam at chunk borders; :meth:`flush` gives the
    rest. ``ValueError`` for an unsupported ``fmt`` or PCM16 with an odd number of bytes."""

    _to_sdk = True

    def decode(self, data: bytes) -> Int16Array:
        """Wire bytes in the format → PCM16 mono 24 kHz samples."""
        kind = self.format["type"]
        if kind == "audio/pcm" and len(data) % 2:
            raise ValueError(f"PCM16 audio needs an even number of bytes, not {len(data)}")
        narrow = _narrow(bytes(data), kind)
        return narrow if self._stream is None else self._stream.push(narrow)

    def flush(self) -> Int16Array:
        """The end of the stream: the last :attr:`delay` samples (the next chunk starts a
        new stream)."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        return self._stream.flush()
