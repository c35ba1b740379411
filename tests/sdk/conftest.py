"""A private PulseAudio daemon for the tests that hear real audio.

The ``pulseaudio`` session fixture starts one daemon (no sound card needed) on a socket in a
fresh temporary directory, points ``PULSE_SERVER`` at it, and stops it at the end of the run:

* ``vspeaker`` — a null sink (the default output); ``vspeaker.monitor`` records what it played;
* ``vmic`` — the default input: a 440 Hz sine (``module-sine`` into the null sink ``vmic_tone``,
  remapped). ``module-sine-source`` is not used: it renders in 2-second blocks, so a capture
  from it arrives in bursts, not in real time.

An idle null sink renders in 2-second blocks too, and a stream opened on it waits for the
current block to end (up to 2 s before its first callback). Two low-latency loopbacks keep both
sinks rendering in small blocks all the time: ``vmic_tone.monitor`` → ``vdrain`` (a third null
sink) and ``vsilence`` (a null source: zeros) → ``vspeaker`` (adds nothing to what is heard).

PortAudio enumerates devices when sounddevice is imported; if something imported it before the
daemon was up, the fixture re-initialises PortAudio. Without PulseAudio or PortAudio the audio
tests skip locally, and FAIL under ``CI=true`` (scripts/_bootstrap.sh installs both as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import pytest

from realtime_sdk.webhooks.local_redis import LocalRedis, terminate

MIC_TONE_HZ = 440
PULSE_START_TIMEOUT = 10.0

PULSE_MODULES = [
    "module-null-sink sink_name=vspeaker rate=48000 channels=1",
    "module-null-sink sink_name=vmic_tone rate=48000 channels=1",
    f"module-sine sink=vmic_tone frequency={MIC_TONE_HZ}",
    "module-remap-source master=vmic_tone.monitor source_name=vmic",
    "module-null-sink sink_name=vdrain rate=48000 channels=1",
    "module-loopback source=vmic_tone.monitor sink=vdrain latency_msec=20"
    " source_dont_move=true sink_dont_move=true",
    "module-null-source source_name=vsilence rate=48000 channels=1",
    "module-loopback source=vsilence sink=vspeaker latency_msec=20"
    " source_dont_move=true sink_dont_move=true",
]


def ci_enabled() -> bool:
    """Same rule as the root conftest: ``CI`` is ``true`` or ``1``."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def audio_unavailable(reason: str) -> NoReturn:
    """Skip locally; fail under CI, where audio is part of what is tested."""
    if ci_enabled():
        pytest.fail(
            f"CI=true: the audio tests need PulseAudio and PortAudio: {reason}", pytrace=False
        )
    pytest.skip(f"audio tests need PulseAudio and PortAudio: {reason}")


@dataclass
class Pulse:
    """The running daemon: where it listens and what it provides."""

    server: str
    directory: Path
    sink: str = "vspeaker"
    monitor: str = "vspeaker.monitor"
    source: str = "vmic"
    mic_tone_hz: int = MIC_TONE_HZ

    def pactl(self, *args: str) -> str:
        env = {**os.environ, "PULSE_SERVER": self.server}
        done = subprocess.run(
            ["pactl", *args], env=env, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout

    def record_monitor(self) -> MonitorRecording:
        return MonitorRecording(self)


class MonitorRecording:
    """``parec`` of the speaker's monitor into a file, from now until :meth:`stop`."""

    def __init__(self, pulse: Pulse) -> None:
        fd, name = tempfile.mkstemp(prefix="monitor-", suffix=".raw", dir=pulse.directory)
        self.path = Path(name)
        with os.fdopen(fd, "wb") as out:
            self.process = subprocess.Popen(
                [
                    "parec",
                    f"--server={pulse.server}",
                    f"--device={pulse.monitor}",
                    "--raw",
                    "--format=s16le",
                    "--rate=48000",
                    "--channels=1",
                    "--latency-msec=10",
                ],
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        # parec connects asynchronously: on a loaded machine it can miss the first few ms of
        # what plays next. Its first bytes (the null sink's silence) say it is recording.
        deadline = time.monotonic() + 5.0
        while self.bytes_so_far() == 0 and time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            time.sleep(0.005)

    def bytes_so_far(self) -> int:
        return self.path.stat().st_size

    def samples_so_far(self) -> npt.NDArray[np.int16]:
        """What was recorded until now (48 kHz mono int16); recording goes on."""
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)

    def stop(self) -> npt.NDArray[np.int16]:
        """Stop recording and return the samples (48 kHz mono int16)."""
        terminate(self.process)
        samples = self.samples_so_far()
        self.path.unlink(missing_ok=True)
        return samples


def _wait_ready(process: subprocess.Popen[bytes], server: str, log: Path) -> None:
    deadline = time.monotonic() + PULSE_START_TIMEOUT
    env = {**os.environ, "PULSE_SERVER": server}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            audio_unavailable(f"pulseaudio exited with {process.returncode}:\n{tail}")
        probe = subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=5)
        if probe.returncode == 0:
            return
        time.sleep(0.05)
    audio_unavailable(f"pulseaudio did not answer on {server} within {PULSE_START_TIMEOUT} s")


def _warm_up(sd: Any) -> None:
    """Run one capture and one playback until their callbacks flow.

    A fresh daemon's null sinks still render in their initial 2-second blocks, so the first
    streams opened on it wait up to ~2 s for their first callback; later streams start at once.
    """
    counts = {"input": 0, "output": 0}

    def captured(indata: Any, frames: int, time_info: Any, status: Any) -> None:
        counts["input"] += 1

    def played(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        outdata.fill(0)
        counts["output"] += 1

    kw: dict[str, Any] = {"samplerate": 48000, "channels": 1, "dtype": "int16", "blocksize": 960}
    with sd.InputStream(callback=captured, **kw), sd.OutputStream(callback=played, **kw):
        deadline = time.monotonic() + PULSE_START_TIMEOUT
        while min(counts.values()) < 5:
            if time.monotonic() > deadline:
                audio_unavailable(f"PulseAudio streams did not start: callbacks {counts}")
            time.sleep(0.02)


@contextmanager
def pulse_daemon(modules: list[str]) -> Iterator[Pulse]:
    """A private PulseAudio daemon loading ``modules`` (no default devices set), stopped after."""
    for tool in ("pulseaudio", "pactl", "parec"):
        if shutil.which(tool) is None:
            audio_unavailable(
                f"{tool!r} is not installed (apt-get install pulseaudio pulseaudio-utils "
                "libasound2-plugins libportaudio2)"
            )
    directory = Path(tempfile.mkdtemp(prefix="rt-pulse-"))
    server = f"unix:{directory / 'native'}"
    log = directory / "pulseaudio.log"
    args = [
        "pulseaudio",
        "-n",
        "--daemonize=no",
        "--exit-idle-time=-1",
        "--use-pid-file=no",
        "--log-target=stderr",
        "-L",
        f"module-native-protocol-unix socket={directory / 'native'} auth-anonymous=1",
    ]
    for module in modules:
        args += ["-L", module]
    env = {
        **os.environ,
        "HOME": str(directory),
        "XDG_RUNTIME_DIR": str(directory),
        "XDG_CONFIG_HOME": str(directory),
        "PULSE_RUNTIME_PATH": str(directory),
    }
    env.pop("PULSE_SERVER", None)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    try:
        _wait_ready(process, server, log)
        yield Pulse(server=server, directory=directory)
    finally:
        terminate(process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pulseaudio() -> Iterator[Pulse]:
    """A private PulseAudio daemon with a null sink and a sine source (see the module doc)."""
    saved = os.environ.get("PULSE_SERVER")
    with pulse_daemon(PULSE_MODULES) as pulse:
        try:
            pulse.pactl("set-default-sink", pulse.sink)
            pulse.pactl("set-default-source", pulse.source)
            os.environ["PULSE_SERVER"] = pulse.server
            sd = sys.modules.get("sounddevice")
            if sd is not None:  # imported before the daemon was up: enumerate the devices again
                sd._terminate()
                sd._initialize()
            try:
                from realtime_sdk.audio import AudioError, list_devices

                devices = list_devices()
            except AudioError as exc:
                audio_unavailable(str(exc))
            if not any(d.default_input for d in devices) or not any(
                d.default_output for d in devices
            ):
                audio_unavailable(
                    f"PortAudio sees no default devices through PulseAudio: {devices}"
                )
            _warm_up(sys.modules["sounddevice"])
            yield pulse
        finally:
            if saved is None:
                os.environ.pop("PULSE_SERVER", None)
            else:
                os.environ["PULSE_SERVER"] = saved


# -- Redis ------------------------------------------------------------------------------------

REDIS_START_TIMEOUT = 15.0


class RedisServer(LocalRedis):
    """A redis-server on 127.0.0.1 without persistence; :meth:`stop` ends it. Not installed:
    a skip, a failure under CI=true; not starting: a failure."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            reason = "redis-server is not installed (scripts/_bootstrap.sh installs it)"
            if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
                pytest.fail(f"CI=true: {reason}", pytrace=False)
            pytest.skip(reason)
        try:
            super().__init__(binary, start_timeout=REDIS_START_TIMEOUT)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()
