"""The Live wire codecs' resampling (realtime_sdk.codecs): band-limited through the SDK's PyAV
resampler (no aliasing going down to 8 kHz, no images coming up), in-band audio kept, a
stream converted chunk by chunk equal to the whole conversion (a fixed delay, no seams, no
drift), and the lengths the transport, the Live client and the emulator rely on."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from realtime_sdk.audio_convert import MonoResampler
from realtime_sdk.codecs import (
    AudioDecoder,
    AudioEncoder,
    decode_audio,
    encode_audio,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from realtime_sdk.emulator.audio import synthesize

PCM16K = {"type": "audio/pcm", "rate": 16000}
PCMU = {"type": "audio/pcmu", "rate": 8000}
PCMA = {"type": "audio/pcma", "rate": 8000}
# odd chunk sizes (in samples), so chunk borders fall anywhere in the filter's phases
SIZES = (1, 2, 479, 480, 1001, 7, 160, 3, 2400, 11)


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 8000.0) -> Any:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def level_db(pcm: npt.NDArray[Any], rate: int, low: float, high: float) -> float:
    """The energy of ``pcm`` between ``low`` and ``high`` Hz, in dB (Hann-windowed FFT,
    scaled so a sine's level does not depend on the rate or the length)."""
    x = pcm.astype(np.float64)
    window = np.hanning(x.size)
    spectrum = np.abs(np.fft.rfft(x * window)) ** 2 / window.sum() ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    band = spectrum[(freqs >= low) & (freqs <= high)]
    return float(10 * np.log10(band.sum() + 1e-12))


def around(freq: float) -> tuple[float, float]:
    return freq - 20, freq + 20


def chunked(samples: npt.NDArray[Any], sizes: tuple[int, ...] = SIZES) -> list[Any]:
    out, start, i = [], 0, 0
    while start < samples.size:
        out.append(samples[start : start + sizes[i % len(sizes)]])
        start, i = start + sizes[i % len(sizes)], i + 1
    return out


def encode_stream(pcm: npt.NDArray[Any], fmt: dict[str, Any]) -> tuple[bytes, AudioEncoder]:
    encoder = AudioEncoder(fmt)
    wire = b"".join(encoder.encode(c.astype("<i2").tobytes()) for c in chunked(pcm))
    return wire, encoder


# -- anti-aliasing and anti-imaging -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "above", "folds_to"),
    [(8000, 6000, 2000), (8000, 5000, 3000), (16000, 10000, 6000)],
    ids=["6k-to-8k", "5k-to-8k", "10k-to-16k"],
)
def test_a_tone_above_the_target_nyquist_is_filtered_out(
    rate: int, above: int, folds_to: int
) -> None:
    reference = resample(tone(1000, 24000), 24000, rate)
    folded = resample(tone(above, 24000), 24000, rate)
    in_band = level_db(reference, rate, *around(1000))
    alias = level_db(folded, rate, *around(folds_to))
    assert alias <= in_band - 30, (alias, in_band)
    # the whole spectrum, not only where the alias would land
    assert level_db(folded, rate, 0, rate / 2) <= in_band - 30


@pytest.mark.parametrize("fmt", [PCMU, PCMA, PCM16K], ids=["pcmu", "pcma", "pcm16k"])
def test_the_wire_encoders_filter_before_decimating(fmt: dict[str, Any]) -> None:
    rate = fmt["rate"]
    above = 6000 if rate == 8000 else 10000
    in_band = level_db(decode_narrow(encode_audio(tone(1000, 24000), fmt), fmt), rate, 0, rate / 2)
    alias = level_db(decode_narrow(encode_audio(tone(above, 24000), fmt), fmt), rate, 0, rate / 2)
    assert alias <= in_band - 30, (alias, in_band)
    wire, encoder = encode_stream(tone(above, 24000), fmt)  # the transport's streaming path
    streamed = level_db(decode_narrow(wire + encoder.flush(), fmt), rate, 0, rate / 2)
    assert streamed <= in_band - 30, (streamed, in_band)


def decode_narrow(wire: bytes, fmt: dict[str, Any]) -> Any:
    """Wire bytes at the wire's own rate (no resampling), to look at what was sent."""
    if fmt["type"] == "audio/pcm":
        return np.frombuffer(wire, dtype="<i2")
    from realtime_sdk.codecs import alaw_decode

    raw = np.frombuffer(wire, dtype=np.uint8)
    return ulaw_decode(raw) if fmt["type"] == "audio/pcmu" else alaw_decode(raw)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_upsampling_leaves_no_images_above_the_source_band(rate: int) -> None:
    freq = 3000 if rate == 8000 else 6000
    up = resample(tone(freq, rate), rate, 24000)
    wanted = level_db(up, 24000, *around(freq))
    images = level_db(up, 24000, rate / 2 + 300, 12000)
    assert images <= wanted - 30, (images, wanted)


@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
@pytest.mark.parametrize("fmt", [PCMU, PCMA, PCM16K], ids=["pcmu", "pcma", "pcm16k"])
def test_in_band_tones_keep_their_level_within_1_db(freq: int, fmt: dict[str, Any]) -> None:
    source = tone(freq, 24000)
    before = level_db(source, 24000, *around(freq))
    narrow = decode_narrow(encode_audio(source, fmt), fmt)
    down = level_db(narrow, fmt["rate"], *around(freq))
    assert abs(down - before) <= 1.0, ("down", down, before)
    back = decode_audio(encode_audio(source, fmt), fmt)  # and up again, as the client hears it
    assert back.size == source.size
    after = level_db(back, 24000, *around(freq))
    assert abs(after - before) <= 1.0, ("round trip", after, before)


# -- streams: chunked == whole, no seams, no drift ------------------------------------------------


@pytest.mark.parametrize("fmt", [PCM16K, PCMU], ids=["pcm16k", "pcmu"])
def test_an_encoded_stream_is_the_whole_conversion_a_fixed_delay_later(
    fmt: dict[str, Any],
) -> None:
    speech = synthesize("a stream cut into odd pieces", ms_per_char=40.0)
    wire, encoder = encode_stream(speech, fmt)
    one_piece = AudioEncoder(fmt).encode(speech.astype("<i2").tobytes())
    assert one_piece == wire  # chunk sizes change nothing
    stream = decode_narrow(wire + encoder.flush(), fmt).astype(np.int32)
    whole = decode_narrow(encode_audio(speech, fmt), fmt).astype(np.int32)
    assert 0 < encoder.delay <= fmt["rate"] // 250  # a look-ahead of at most 4 ms
    assert stream.size == whole.size + encoder.delay
    late = stream[encoder.delay :]
    peak = int(np.abs(whole).max())
    # equal but for rounding (G.711: a quantisation step near the loudest samples)
    tolerance = 8 if fmt["type"] == "audio/pcm" else peak // 16
    assert int(np.abs(late - whole).max()) <= tolerance
    assert np.abs(stream[: encoder.delay]).max() <= peak // 50  # it starts with silence


@pytest.mark.parametrize("fmt", [PCM16K, PCMU, PCMA], ids=["pcm16k", "pcmu", "pcma"])
def test_a_decoded_stream_is_the_whole_conversion_a_fixed_delay_later(
    fmt: dict[str, Any],
) -> None:
    quiet = np.zeros(240, dtype=np.int16)  # 10 ms each side: both conversions see silence
    speech = np.concatenate([quiet, synthesize("the other direction", ms_per_char=40.0), quiet])
    wire = encode_audio(speech, fmt)
    width = 2 if fmt["type"] == "audio/pcm" else 1
    decoder = AudioDecoder(fmt)
    pieces = chunked(np.arange(len(wire) // width))
    parts = [decoder.decode(wire[p[0] * width : (p[-1] + 1) * width]) for p in pieces]
    stream = np.concatenate([*parts, decoder.flush()]).astype(np.int32)
    whole = decode_audio(wire, fmt).astype(np.int32)
    assert 0 < decoder.delay <= 24000 // 250
    assert stream.size == whole.size + decoder.delay
    late = stream[decoder.delay :]
    assert int(np.abs(late - whole).max()) <= 8
    one_piece = AudioDecoder(fmt)
    assert np.array_equal(
        np.concatenate([one_piece.decode(wire), one_piece.flush()]), stream.astype(np.int16)
    )


def test_a_tone_streamed_in_tiny_chunks_has_no_clicks_at_the_borders() -> None:
    source = tone(440, 24000, seconds=0.5)
    wire, encoder = encode_stream(source, PCM16K)
    narrow = np.frombuffer(wire, dtype="<i2").astype(np.float64)[encoder.delay :]
    # a 440 Hz sine's sample-to-sample step at 16 kHz is at most 2*pi*440/16000 of its amplitude
    steps = np.abs(np.diff(narrow))
    assert steps.max() <= 8000 * 2 * np.pi * 440 / 16000 * 1.05 + 4


@pytest.mark.parametrize("fmt", [PCM16K, PCMU, PCMA], ids=["pcm16k", "pcmu", "pcma"])
def test_each_chunk_gives_its_share_of_samples_so_the_stream_never_drifts(
    fmt: dict[str, Any],
) -> None:
    rate, width = fmt["rate"], 2 if fmt["type"] == "audio/pcm" else 1
    encoder, decoder = AudioEncoder(fmt), AudioDecoder(fmt)
    sent = wire_total = heard = 0
    speech = synthesize("count every sample", ms_per_char=40.0)
    for piece in chunked(speech):
        wire = encoder.encode(piece.astype("<i2").tobytes())
        sent, wire_total = sent + piece.size, wire_total + len(wire) // width
        heard += decoder.decode(wire).size
        # the resampler takes a few ms to start; from then on every chunk gives its share
        assert wire_total <= sent * rate // 24000 + 1, sent
        assert heard <= wire_total * 24000 // rate + 1, sent
        if sent >= 24000 * 10 // 1000:
            assert abs(wire_total - sent * rate // 24000) <= 1, sent
            assert abs(heard - wire_total * 24000 // rate) <= 1, sent
    tail = encoder.flush()
    assert wire_total + len(tail) // width == speech.size * rate // 24000 + encoder.delay
    heard += decoder.decode(tail).size + decoder.flush().size
    assert heard == speech.size + encoder.delay * 24000 // rate + decoder.delay


def test_passthrough_streams_change_nothing_and_hold_nothing() -> None:
    fmt = {"type": "audio/pcm", "rate": 24000}
    pcm = synthesize("as it is", ms_per_char=40.0).astype("<i2").tobytes()
    encoder, decoder = AudioEncoder(fmt), AudioDecoder(fmt)
    assert encoder.passthrough
    assert decoder.passthrough
    assert encoder.encode(pcm) == pcm
    assert decoder.decode(pcm).astype("<i2").tobytes() == pcm
    assert (encoder.delay, decoder.delay, encoder.flush(), decoder.flush().size) == (0, 0, b"", 0)


def test_a_flushed_stream_starts_again_with_its_delay() -> None:
    encoder = AudioEncoder(PCMU)
    speech = synthesize("twice", ms_per_char=40.0).astype("<i2").tobytes()
    first = encoder.encode(speech) + encoder.flush()
    second = encoder.encode(speech) + encoder.flush()
    assert first == second


# -- whole buffers: lengths and edges --------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst"), [(24000, 8000), (8000, 24000), (24000, 16000), (16000, 24000), (44100, 24000)]
)
def test_whole_buffers_keep_their_length_and_timing(src: int, dst: int) -> None:
    for n in (1, 2, 3, 5, 47, 160, 1001, 2400):
        x = tone(300, src)[:n]
        assert resample(x, src, dst).size == max(1, round(n * dst / src)), n
    impulse = np.zeros(src // 10, dtype=np.int16)
    impulse[src // 40] = 20000
    peak = int(np.argmax(np.abs(resample(impulse, src, dst))))
    assert abs(peak - (src // 40) * dst / src) <= 1  # no delay in a whole-buffer conversion


def test_chunks_converted_one_by_one_meet_without_a_step() -> None:
    # what a caller converting each delta on its own gets: edges continued, not dropped to zero
    speech = synthesize("delta after delta", ms_per_char=40.0)
    whole = resample(speech, 24000, 8000).astype(np.int32)
    step = 24000 * 20 // 1000
    pieces = [resample(speech[i : i + step], 24000, 8000) for i in range(0, speech.size, step)]
    joined = np.concatenate(pieces).astype(np.int32)
    assert joined.size == whole.size
    assert np.abs(joined - whole).max() <= np.abs(whole).max() // 20


def test_resample_refuses_rates_that_are_not_positive_whole_numbers() -> None:
    pcm = np.zeros(10, dtype=np.int16)
    for src, dst, said in ((0, 8000, "src"), (24000, -1, "dst"), (24000.5, 8000, "src")):
        with pytest.raises(ValueError, match=f"{said} must be a positive whole number of Hz"):
            resample(pcm, src, dst)  # type: ignore[arg-type]
    assert resample(np.zeros(0, dtype=np.int16), 24000, 8000).size == 0


def test_mono_resampler_flush_gives_what_its_filter_held() -> None:
    import av

    resampler = MonoResampler(8000)
    frame = av.AudioFrame.from_ndarray(
        tone(1000, 24000).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 24000
    first = resampler.samples(frame)
    rest = resampler.flush()
    assert first.size + rest.size == 8000
    assert 0 < rest.size < 100
    assert resampler.flush().size == 0  # nothing left; the next frame starts a new stream
    assert resampler.samples(frame).size == first.size


def test_g711_round_trip_of_a_stream_still_sounds_like_the_speech() -> None:
    speech = synthesize("round trip", ms_per_char=40.0)
    for fmt in (PCMU, PCMA):
        wire, encoder = encode_stream(speech, fmt)
        decoder = AudioDecoder(fmt)
        back = np.concatenate([decoder.decode(wire + encoder.flush()), decoder.flush()])
        lag = encoder.delay * 3 + decoder.delay
        back = back[lag : lag + speech.size].astype(np.float64)
        assert back.size == speech.size
        assert np.corrcoef(back, speech.astype(np.float64))[0, 1] > 0.99, fmt
    assert np.array_equal(ulaw_decode(ulaw_encode(np.zeros(4, dtype=np.int16))), np.zeros(4))


def test_a_buffer_converts_the_same_whatever_was_converted_before() -> None:
    # whole-buffer conversions share one resampler per rate pair: each buffer stays on its own
    rng = np.random.default_rng(7)
    speech = synthesize("on its own", ms_per_char=40.0)[:4001]
    first = resample(speech, 24000, 8000)
    resample((rng.standard_normal(999) * 20000).astype(np.int16), 24000, 8000)
    resample(np.full(5, 32767, dtype=np.int16), 24000, 8000)
    assert np.array_equal(resample(speech, 24000, 8000), first)


def test_whole_buffers_convert_correctly_from_several_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    buffers = [
        (rng.standard_normal(int(n)) * 5000).astype(np.int16) for n in rng.integers(1, 3000, 40)
    ]
    alone = [resample(b, 8000, 24000) for b in buffers]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda b: resample(b, 8000, 24000), buffers))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


def test_resample_refuses_what_is_not_mono() -> None:
    with pytest.raises(ValueError, match=r"mono PCM16, a 1-D array, not shape \(2, 10\)"):
        resample(np.zeros((2, 10), dtype=np.int16), 24000, 8000)


def test_a_failed_conversion_leaves_the_shared_resampler_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from realtime_sdk import codecs

    speech = synthesize("still fine", ms_per_char=40.0)[:2000]
    before = resample(speech, 24000, 16000)

    def broken(*args: object) -> None:
        raise OSError("resampler failed")

    with monkeypatch.context() as patched:
        patched.setattr(codecs, "_convert", broken)
        with pytest.raises(OSError, match="resampler failed"):
            resample(speech, 24000, 16000)
    assert np.array_equal(resample(speech, 24000, 16000), before)
