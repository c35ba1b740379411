"""Live audio on the wire and transcript timing.

The engine works in PCM16 mono at 24 kHz; a WebSocket session's ``audio.format`` may be PCM at
16 kHz or G.711 (µ-law, A-law) at 8 kHz, converted both ways by :mod:`realtime_sdk.codecs`
(``decode_audio`` / ``encode_audio`` re-exported here). :func:`fragments` cuts an utterance's
text into transcript deltas (each word with its trailing space, so joining them gives the text
back exactly) and spreads them over the utterance's ``[start_ms, end_ms)`` in proportion to
their length: the interval a fragment is spoken in.
"""

from __future__ import annotations

import re

from ...codecs import RATE, decode_audio, encode_audio

__all__ = ["RATE", "decode_audio", "encode_audio", "fragments", "ms_of"]

_WORD = re.compile(r"\S+\s*|\s+")


def ms_of(samples: int, rate: int = RATE) -> int:
    return samples * 1000 // rate


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
