"""Live wire codecs: the cost of band-limited resampling against the linear interpolation it
replaced, on the paths that run per audio chunk.

    PYTHONPATH=machines:sdk .venv/bin/python bench/wire_codecs.py [--rounds 7] [--seconds 10]

Three paths, each timed over ``--seconds`` of synthesized speech in chunks, the new code and
the baseline interleaved round by round (``--rounds``); the median over rounds of each, then:
the ratio new / baseline, and the new code's cost as a share of the audio's duration (the
fraction of one core a real-time stream of it takes).

1. Input stream (the Live WebSocket transport's ``send_audio``): ``AudioEncoder.encode`` of
   20 ms PCM16 24 kHz chunks into G.711 µ-law, against the linear interpolation of groups of
   3 samples the encoder did before.
2. Output deltas one by one (the Live client's ``decode_audio`` of each
   ``session.output_audio.delta``): 20 ms µ-law deltas to PCM16 24 kHz, whole-buffer each.
3. The emulator's output: ``encode_audio`` of 100 ms PCM16 24 kHz chunks into µ-law.

The baseline is the previous implementation's arithmetic (``np.interp`` with the ends
aligned), written out here. Exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_sdk.codecs import (
    AudioEncoder,
    decode_audio,
    encode_audio,
    ulaw_decode,
    ulaw_encode,
)
from realtime_sdk.emulator.audio import synthesize

PCMU = {"type": "audio/pcmu", "rate": 8000}


def linear(pcm: npt.NDArray[Any], src: int, dst: int) -> npt.NDArray[np.int16]:
    """The baseline: linear interpolation with the ends aligned (no filter)."""
    n = max(1, round(pcm.size * dst / src))
    x = np.linspace(0, pcm.size - 1, n)
    return np.interp(x, np.arange(pcm.size), pcm.astype(np.float64)).astype(np.int16)


class LinearEncoder:
    """The baseline stream encoder: whole groups of 3 samples, the rest held over."""

    def __init__(self) -> None:
        self._held = np.zeros(0, dtype=np.int16)

    def encode(self, pcm: bytes) -> bytes:
        samples = np.concatenate([self._held, np.frombuffer(pcm, dtype="<i2").astype(np.int16)])
        usable = samples.size - samples.size % 3
        self._held = samples[usable:]
        x = np.arange(0, usable, 3.0)
        narrow = np.interp(x, np.arange(usable), samples[:usable].astype(np.float64))
        return ulaw_encode(narrow.astype(np.int16)).tobytes()


def chunks(pcm: npt.NDArray[Any], size: int) -> list[npt.NDArray[Any]]:
    return [pcm[i : i + size] for i in range(0, pcm.size - size + 1, size)]


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    text = "a sentence spoken over and over " * 40
    speech = synthesize(text, ms_per_char=40.0)[: int(24000 * args.seconds)]
    seconds = speech.size / 24000
    in_chunks = [c.astype("<i2").tobytes() for c in chunks(speech, 480)]
    out_chunks = chunks(speech, 2400)
    deltas = [ulaw_encode(linear(c, 24000, 8000)).tobytes() for c in chunks(speech, 480)]

    def stream_new() -> None:
        encoder = AudioEncoder(PCMU)
        for c in in_chunks:
            encoder.encode(c)

    def stream_old() -> None:
        encoder = LinearEncoder()
        for c in in_chunks:
            encoder.encode(c)

    def deltas_new() -> None:
        for d in deltas:
            decode_audio(d, PCMU)

    def deltas_old() -> None:
        for d in deltas:
            linear(ulaw_decode(np.frombuffer(d, dtype=np.uint8)), 8000, 24000)

    def emulator_new() -> None:
        for c in out_chunks:
            encode_audio(c, PCMU)

    def emulator_old() -> None:
        for c in out_chunks:
            ulaw_encode(linear(c, 24000, 8000)).tobytes()

    paths = {
        "input stream, 20 ms chunks (AudioEncoder)": (stream_new, stream_old),
        "output deltas, 20 ms each (decode_audio)": (deltas_new, deltas_old),
        "emulator output, 100 ms chunks (encode_audio)": (emulator_new, emulator_old),
    }
    stream_new()  # warm up: the resamplers' first setup is not the steady cost
    deltas_new()
    emulator_new()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in paths}
    for round_ in range(args.rounds):
        for name, (new, old) in paths.items():
            pair = (new, old) if round_ % 2 == 0 else (old, new)
            measured = {id(work): timed(work) for work in pair}
            times[name][0].append(measured[id(new)])
            times[name][1].append(measured[id(old)])
    print(f"{seconds:.1f} s of speech, {args.rounds} rounds, medians")
    print(f"   {'path':48} {'new / linear':>12} {'share of real time':>19}")
    for name, (new_t, old_t) in times.items():
        new_s, old_s = statistics.median(new_t), statistics.median(old_t)
        print(f"   {name:48} {new_s / old_s:11.2f}x {new_s / seconds:18.4%}")


if __name__ == "__main__":
    main()
