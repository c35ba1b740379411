"""Local audio that is really heard: a private PulseAudio (tests/sdk/conftest.py) with a 440 Hz
source and a null sink whose monitor records what the speaker played."""

from __future__ import annotations

import asyncio
import ctypes.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from realtime_machines import Transition
from realtime_sdk import audio
from realtime_sdk.audio import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioDeviceError,
    AudioUnavailable,
    MicrophoneTrack,
    Speaker,
    microphone_factory,
    rms,
)
from realtime_sdk.cli import main as cli_main
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import Emulator
from realtime_sdk.keys import api_key_token_provider
from tests.sdk.conftest import Pulse

Runner = Callable[..., Any]
Samples = npt.NDArray[np.int16]

pytestmark = pytest.mark.usefixtures("pulseaudio")


def tone(hz: float, seconds: float, amplitude: float = 0.3) -> Samples:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def stereo_frames(samples: Samples) -> list[av.AudioFrame]:
    """What aiortc's Opus decoder hands the sink: 20 ms of packed s16 stereo at 48 kHz."""
    frames = []
    for start in range(0, samples.size, FRAME_SAMPLES):
        chunk = np.repeat(samples[start : start + FRAME_SAMPLES], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frames.append(frame)
    return frames


def peak_hz(samples: Samples) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * SAMPLE_RATE / samples.size)


def loud_samples(samples: Samples, threshold: float = 0.05, window: int = 48) -> int:
    """How many samples are in 1 ms windows louder than ``threshold`` (RMS)."""
    usable = samples[: samples.size // window * window].astype(np.float64) / 32768
    levels = np.sqrt(np.mean(usable.reshape(-1, window) ** 2, axis=1))
    return int(np.count_nonzero(levels > threshold) * window)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# Microphone
# ---------------------------------------------------------------------------------------------


def test_microphone_captures_the_source_tone_in_real_time(run: Runner, pulseaudio: Pulse) -> None:
    async def scenario() -> None:
        mic = MicrophoneTrack()
        levels: list[float | None] = []
        mic.add_level_listener(levels.append)
        try:
            first = await mic.recv()  # the stream's start-up latency is not part of the pace
            started = time.monotonic()
            frames = [await mic.recv() for _ in range(50)]
            elapsed = time.monotonic() - started
            level = mic.level
        finally:
            mic.stop()
        assert first.sample_rate == SAMPLE_RATE
        for frame in frames:
            assert (frame.format.name, frame.layout.name) == ("s16", "mono")
            assert frame.samples == FRAME_SAMPLES
        pts = [frame.pts for frame in [first, *frames]]
        assert pts == [i * FRAME_SAMPLES for i in range(51)]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)
        assert abs(peak_hz(samples) - pulseaudio.mic_tone_hz) <= 2
        assert 0.3 < rms(samples) < 0.4  # module-sine: amplitude 0.5, RMS 0.354
        # Paced by the device: one second of audio takes about one second to arrive.
        # (wide bounds: this checks "paced, not a burst", not the machine's timing)
        assert 0.5 < elapsed < 2.5, elapsed
        assert level > 0.3
        assert mic.level == 0.0
        assert levels[-1] is None  # stop() tells the listeners that capture ended
        assert all(level is not None and level > 0.3 for level in levels[:-1])
        assert mic.readyState == "ended"
        assert not mic.is_capturing

    run(scenario())


def test_microphone_mute_sends_zeros_on_the_same_track(run: Runner) -> None:
    async def scenario() -> None:
        mic = MicrophoneTrack()
        try:
            loud = await mic.recv()
            mic.muted = True
            assert not mic.is_capturing
            for _ in range(3):  # frames captured before the mute may still be queued
                await mic.recv()
            muted = [await mic.recv() for _ in range(5)]
            mic.muted = False
            for _ in range(3):
                await mic.recv()
            back = await mic.recv()
        finally:
            mic.stop()
        assert rms(loud.to_ndarray()) > 0.3
        assert all(not frame.to_ndarray().any() for frame in muted)
        assert rms(back.to_ndarray()) > 0.3

    run(scenario())


def test_microphone_queue_is_bounded_and_drops_the_oldest(run: Runner) -> None:
    async def scenario() -> None:
        mic = MicrophoneTrack(max_queued_frames=3)
        try:
            await until(lambda: mic.frames_captured >= 12, 5, "12 captured frames")
            captured, dropped = mic.frames_captured, mic.frames_dropped
            frames = [await mic.recv() for _ in range(3)]
        finally:
            mic.stop()
        # Nobody consumed while 12+ frames were captured: only the newest three were kept.
        assert dropped == captured - 3
        assert [f.pts for f in frames] == [0, FRAME_SAMPLES, 2 * FRAME_SAMPLES]

    run(scenario())


def test_stopped_microphone_ends_a_waiting_recv(run: Runner) -> None:
    async def scenario() -> None:
        from aiortc.mediastreams import MediaStreamError

        mic = MicrophoneTrack()
        mic.stop()
        mic.stop()  # idempotent
        with pytest.raises(MediaStreamError):
            await mic.recv()

    run(scenario())


# ---------------------------------------------------------------------------------------------
# Speaker
# ---------------------------------------------------------------------------------------------


def test_speaker_plays_what_it_is_given(run: Runner, pulseaudio: Pulse) -> None:
    async def scenario() -> None:
        recording = pulseaudio.record_monitor()
        with Speaker() as speaker:
            sent = tone(1000, 0.6)
            for frame in stereo_frames(sent):  # at once: far faster than real time
                speaker(frame)
            assert speaker.frames_received == 30
            await until(lambda: speaker.playing, 3, "playback to start")
            assert 0.15 < speaker.level < 0.25
            await until(lambda: speaker.samples_played >= sent.size, 5, "the tone to play")
            await until(lambda: not speaker.playing, 1, "playback to end")
            await asyncio.sleep(0.1)  # let the monitor catch the tail
        heard = recording.stop()
        assert speaker.samples_played == sent.size
        assert speaker.frames_dropped == 0
        louder = heard[np.abs(heard) > 0]
        assert abs(peak_hz(heard) - 1000) <= 2
        assert 0.20 < rms(louder) < 0.22  # 0.3 amplitude -> RMS 0.212, exactly what was sent
        # The monitor's capture can start or end a few ms off (seen: 6 ms short in a full run
        # while samples_played matched exactly). 10 ms still catches one dropped 20 ms frame.
        assert abs(loud_samples(heard) - sent.size) <= 10 * 48

    run(scenario())


def test_speaker_stop_silences_within_one_frame(run: Runner, pulseaudio: Pulse) -> None:
    async def scenario() -> None:
        recording = pulseaudio.record_monitor()
        with Speaker(max_buffer_ms=3000) as speaker:
            for frame in stereo_frames(tone(1000, 2.0)):
                speaker(frame)
            await until(lambda: speaker.samples_played >= SAMPLE_RATE // 2, 5, "0.5 s played")
            speaker.stop()
            at_stop = speaker.samples_played
            assert not speaker.playing
            assert speaker.buffered_ms == 0
            await asyncio.sleep(0.3)
            after = speaker.samples_played
        heard = recording.stop()
        # What was already handed to the device when stop() came is at most one device block,
        # and everything the monitor heard is what had been played: 1.5 s of tone were dropped.
        assert after - at_stop <= audio.SPEAKER_BLOCK
        assert at_stop >= SAMPLE_RATE // 2
        audible = loud_samples(heard)
        assert audible >= SAMPLE_RATE // 2 - FRAME_SAMPLES
        assert audible <= after + FRAME_SAMPLES, (audible, after)
        last_loud = np.flatnonzero(np.abs(heard) > 0.05 * 32768)[-1]
        assert heard.size - last_loud > 0.2 * SAMPLE_RATE  # silence after the stop

    run(scenario())


def test_speaker_never_blocks_and_bounds_its_buffer(run: Runner) -> None:
    async def scenario() -> None:
        with Speaker(jitter_ms=60, max_buffer_ms=200) as speaker:
            frames = stereo_frames(tone(500, 2.0))
            started = time.perf_counter()
            for frame in frames:
                speaker(frame)
            per_frame = (time.perf_counter() - started) / len(frames)
            assert speaker.buffered_ms <= 200
            assert speaker.frames_dropped >= len(frames) - 11
        # Non-blocking: 100 frames (2 s of audio) were taken far faster than real time.
        assert per_frame < 0.005

    run(scenario())


def test_speaker_converts_other_rates_and_formats(run: Runner) -> None:
    async def scenario() -> None:
        with Speaker() as speaker:
            samples = tone(300, 0.02, amplitude=0.5)[:480]  # 24 kHz: 480 samples = 20 ms
            frame = av.AudioFrame.from_ndarray(
                samples.astype(np.float32).reshape(1, -1) / 32768, format="fltp", layout="mono"
            )
            frame.sample_rate = 24000
            converted = speaker._convert(frame)
            mono = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            mono.sample_rate = SAMPLE_RATE
            assert np.array_equal(speaker._convert(mono), samples)
        # 24 kHz → 48 kHz doubles the samples (the resampler may hold back a few).
        assert 800 <= converted.size <= 960
        assert converted.dtype == np.int16

    run(scenario())


def test_speaker_discards_audio_in_flight_right_after_stop(run: Runner) -> None:
    async def scenario() -> None:
        with Speaker(stop_hold_ms=500) as speaker:
            loud = stereo_frames(tone(800, 0.1))
            quiet = stereo_frames(np.zeros(FRAME_SAMPLES, dtype=np.int16))
            speaker.stop()
            for frame in loud:  # the server's audio still in flight: not played
                speaker(frame)
            assert speaker.buffered_ms == 0
            assert speaker.frames_discarded == len(loud)
            speaker(quiet[0])  # the server went quiet: the next response is played again
            speaker(loud[0])
            assert speaker.buffered_ms == 40

    run(scenario())


# ---------------------------------------------------------------------------------------------
# Errors and devices
# ---------------------------------------------------------------------------------------------


def test_without_portaudio_the_error_names_the_system_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(AudioUnavailable) as caught:
        audio.load_sounddevice()
    assert str(caught.value) == (
        "PortAudio is not installed: install the system package libportaudio2 "
        "(apt-get install libportaudio2) to use a microphone or speaker."
    )
    with pytest.raises(AudioUnavailable, match="libportaudio2"):
        Speaker()
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(AudioUnavailable, match="pip install sounddevice"):
        audio.load_sounddevice()


def test_importing_the_sdk_does_not_import_sounddevice() -> None:
    code = "import sys, realtime_sdk, realtime_sdk.audio; print('sounddevice' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert done.stdout.strip() == "False"


def test_an_unknown_device_is_a_clear_error(run: Runner) -> None:
    async def scenario() -> None:
        with pytest.raises(AudioDeviceError, match=r"no audio input device matching 'no-such-mic'"):
            MicrophoneTrack("no-such-mic")
        with pytest.raises(AudioDeviceError, match=r"no audio output device 99"):
            Speaker(99)

    run(scenario())


def test_without_any_device_the_error_says_what_was_looked_for() -> None:
    """A process whose PortAudio finds no device (no PulseAudio reachable, no sound card)."""
    code = (
        "import asyncio\n"
        "from realtime_sdk.audio import AudioDeviceError, MicrophoneTrack, Speaker\n"
        "async def main():\n"
        "    for make in (MicrophoneTrack, Speaker):\n"
        "        try:\n"
        "            make()\n"
        "        except AudioDeviceError as exc:\n"
        "            print(exc)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, env=env
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done
    assert lines[0].startswith("no default audio input device: PortAudio found 0 device(s)")
    assert lines[1].startswith("no default audio output device: PortAudio found 0 device(s)")
    assert "PulseAudio" in lines[0]


def test_realtime_devices_lists_the_pulse_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["devices"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["index", "in", "out", "default", "hostapi", "name"]
    pulse = [line for line in lines if line.rstrip().endswith("pulse")]
    default = [line for line in lines if line.rstrip().endswith(" default")]
    assert pulse, out
    assert default, out
    assert "in,out" in default[0]


def test_realtime_devices_without_portaudio_prints_the_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert cli_main(["devices"]) == 1
    assert "install the system package libportaudio2" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# With the client
# ---------------------------------------------------------------------------------------------


def test_client_streams_the_microphone_and_plays_the_greeting(
    run: Runner, pulseaudio: Pulse
) -> None:
    async def scenario() -> None:
        recording = pulseaudio.record_monitor()
        factory = microphone_factory()
        speaker = Speaker()
        playback: list[Transition] = []
        async with Emulator() as emu:
            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
                ice_servers=[],
                microphone=factory,
                audio_sink=speaker,
                greet_enabled=True,
                greet_instructions="Say hello to the tester in a few words.",
                session={
                    "type": "realtime",
                    "output_modalities": ["audio"],
                    "audio": {"input": {"turn_detection": None}},
                },
            )
            client.model.subscribe(lambda t: playback.append(t) if t.chart == "playback" else None)
            try:
                async with client:
                    assert client.local_track is factory.track
                    await until(
                        lambda: any(t.event == "stopped" for t in playback), 15, "the greeting"
                    )
                    await until(lambda: not speaker.playing, 2, "the speaker to finish")
                    mic = factory.track
                    assert mic is not None
                    assert mic.frames_captured > 0
            finally:
                speaker.close()
            assert factory.track is not None
            assert factory.track.readyState == "ended"  # the client stopped it on disconnect
        heard = recording.stop()
        assert [t.event for t in playback][:2] == ["started", "stopped"]
        assert speaker.frames_received > 0, speaker
        assert speaker.frames_dropped == 0
        assert speaker.samples_played > 0.2 * SAMPLE_RATE
        # The emulator's synthesised speech (about -10 dBFS peaks) reached the null sink.
        assert loud_samples(heard, threshold=0.02) > 0.2 * SAMPLE_RATE
        assert rms(heard) > 0.01

    run(scenario(), timeout=25)


def test_client_goes_receive_only_when_the_microphone_cannot_open(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = RealtimeClient(
                token_provider=api_key_token_provider(emu.api_key, base_url=emu.base_url),
                base_url=emu.base_url,
                ice_servers=[],
                microphone=microphone_factory("no-such-mic"),
                greet_enabled=False,
                session={"type": "realtime", "output_modalities": ["text"]},
            )
            async with client:
                assert client.status == "connected"
                assert client.local_track is None
                steps = [(t.source, t.event) for t in client.model.record]
                assert ("opening_microphone", "microphone_unavailable") in steps

    run(scenario())
