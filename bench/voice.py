"""Voice: CPU of a full-duplex voice session, and barge-in reaction time.

    PYTHONPATH=machines:sdk .venv/bin/python bench/voice.py [--seconds 10] [--barge-ins 30]

Needs ``pulseaudio`` (with ``pactl``) and PortAudio (``libportaudio2``). The bench starts a
private PulseAudio daemon on a socket in a temporary directory — the same null devices as the
tests (``tests/sdk/conftest.py``): ``vspeaker`` (null sink, the default output), ``vmic`` (a
440 Hz sine at −9 dBFS, the default input) — before sounddevice is imported. The emulator runs
in a **child process** (``realtime_sdk.emulator.serve`` on 127.0.0.1), so this process is the
client alone: ``RealtimeClient`` + ``MicrophoneTrack`` + ``Speaker``, aiortc's Opus and SRTP,
the charts. ICE is restricted to loopback host candidates; all traffic is 127.0.0.1.

1. CPU. The microphone streams the 440 Hz tone to the emulator (turn detection off, so the
   tone never interrupts), and the emulator answers one long spoken message after another
   (``response.create`` again each time playback stops), so audio flows both ways the whole
   time. After a 1 s warm-up, for ``--seconds``: this process's ``getrusage`` (user + sys, all
   threads) over wall time, i.e. the fraction of one core; the emulator child's and the
   PulseAudio daemon's CPU from ``/proc/<pid>/stat`` over the same window. Required: client
   ≤ 0.15 of a core.

2. Barge-in reaction. The default source becomes ``vspeaker.monitor``: the microphone hears
   the assistant (no echo guard), so each answer's first syllable reaches the emulator's energy
   VAD, which sends ``input_audio_buffer.speech_started`` and cuts the response
   (``interrupt_response``). Measured from the moment aiortc hands that message to the SDK
   (``Peer._message``, wrapped: the first Python code that sees it) to ``Speaker.stop()``
   having returned (queue dropped, ``playing`` False) — the Playback chart's ``StopPlayback``
   effect executed by the client. The device's next 10 ms block is then silence. Median and p99
   over ``--barge-ins`` (≥ 30). Required: median ≤ 5 ms.

Prints a compact report; exits 0 (1 only if the setup fails: no PulseAudio or PortAudio).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from realtime_sdk import peer as peer_module
from realtime_sdk.audio import Speaker, microphone_factory
from realtime_sdk.client import RealtimeClient
from realtime_sdk.emulator import loopback_ice
from realtime_sdk.webhooks.local_redis import terminate

API_KEY = "sk-bench-voice"
TIMEOUT = 10.0
PULSE_MODULES = [
    "module-null-sink sink_name=vspeaker rate=48000 channels=1",
    "module-null-sink sink_name=vmic_tone rate=48000 channels=1",
    "module-sine sink=vmic_tone frequency=440",
    "module-remap-source master=vmic_tone.monitor source_name=vmic",
    "module-null-sink sink_name=vdrain rate=48000 channels=1",
    "module-loopback source=vmic_tone.monitor sink=vdrain latency_msec=20"
    " source_dont_move=true sink_dont_move=true",
    "module-null-source source_name=vsilence rate=48000 channels=1",
    "module-loopback source=vsilence sink=vspeaker latency_msec=20"
    " source_dont_move=true sink_dont_move=true",
]
EMULATOR_CHILD = (
    "import asyncio, sys\n"
    "from realtime_sdk.emulator import serve\n"
    "asyncio.run(serve('127.0.0.1', 0, sys.argv[1], lambda url: print(url, flush=True)))\n"
)
LONG_QUESTION = (
    "Please read this back to me slowly: the quick brown fox jumps over the lazy dog, "
    "and then it runs around the field twice before it goes back home to sleep."
)


class Pulse:
    """A private PulseAudio daemon (see the module doc)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="rt-bench-pulse-"))
        self.server = f"unix:{self.directory / 'native'}"
        args = [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "-L",
            f"module-native-protocol-unix socket={self.directory / 'native'} auth-anonymous=1",
        ]
        for module in PULSE_MODULES:
            args += ["-L", module]
        env = {
            **os.environ,
            "HOME": str(self.directory),
            "XDG_RUNTIME_DIR": str(self.directory),
            "XDG_CONFIG_HOME": str(self.directory),
            "PULSE_RUNTIME_PATH": str(self.directory),
        }
        env.pop("PULSE_SERVER", None)
        self.process = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + TIMEOUT
        while self._pactl_ok("info") is False:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.05)
        self.pactl("set-default-sink", "vspeaker")
        self.pactl("set-default-source", "vmic")
        os.environ["PULSE_SERVER"] = self.server

    def _pactl_ok(self, *args: str) -> bool:
        env = {**os.environ, "PULSE_SERVER": self.server}
        done = subprocess.run(["pactl", *args], env=env, capture_output=True, timeout=5)
        return done.returncode == 0

    def pactl(self, *args: str) -> None:
        if not self._pactl_ok(*args):
            raise RuntimeError(f"pactl {' '.join(args)} failed")

    def close(self) -> None:
        terminate(self.process)
        os.environ.pop("PULSE_SERVER", None)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def emulator_child() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.Popen(
        [sys.executable, "-c", EMULATOR_CHILD, API_KEY],
        env=env,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], TIMEOUT)
        if not ready:
            raise RuntimeError("the emulator child did not start")
        yield child.stdout.readline().strip(), child
    finally:
        terminate(child)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + sys) of another process, from /proc (NaN if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def make_client(base_url: str, speaker: Speaker, turn_detection: Any) -> RealtimeClient:
    return RealtimeClient(
        token_provider=lambda: API_KEY,
        base_url=base_url,
        ice_servers=[],
        microphone=microphone_factory(),
        audio_sink=speaker,
        greet_enabled=False,
        session={
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": turn_detection}},
        },
    )


async def cpu_of_a_session(
    base_url: str, emulator_pid: int, pulse_pid: int, seconds: float
) -> dict[str, float]:
    speaker = Speaker()
    client = make_client(base_url, speaker, None)
    stopped: list[float] = []
    client.model.subscribe(
        lambda t: (
            stopped.append(time.monotonic())
            if t.chart == "playback" and t.event == "stopped"
            else None
        )
    )
    try:
        async with client:
            await client.send_text_message(LONG_QUESTION)
            await until(lambda: speaker.playing, "the first answer")
            await asyncio.sleep(1.0)
            answers = len(stopped)
            mic = client.local_track
            captured0 = getattr(mic, "frames_captured", 0)
            received0 = speaker.frames_received
            played0, underruns0 = speaker.samples_played, speaker.underruns
            audible_blocks = 0
            wall0, cpu0 = time.monotonic(), self_cpu()
            emu0, pulse0 = proc_cpu(emulator_pid), proc_cpu(pulse_pid)
            end = wall0 + seconds
            checks = 0
            while time.monotonic() < end:
                if len(stopped) > answers:  # keep the assistant talking
                    answers = len(stopped)
                    await client.send_response()
                await asyncio.sleep(0.05)
                checks += 1
                audible_blocks += speaker.playing
            wall = time.monotonic() - wall0
            cpu = self_cpu() - cpu0
            emu, pulse = proc_cpu(emulator_pid) - emu0, proc_cpu(pulse_pid) - pulse0
            captured = getattr(mic, "frames_captured", 0) - captured0
            received = speaker.frames_received - received0
            played = speaker.samples_played - played0
            underruns = speaker.underruns - underruns0
    finally:
        speaker.close()
    return {
        "wall": wall,
        "client": cpu / wall,
        "emulator": emu / wall,
        "pulseaudio": pulse / wall,
        "mic_frames_per_s": captured / wall,
        "remote_frames_per_s": received / wall,
        "played_s_per_s": played / 48000 / wall,
        "audible": audible_blocks / max(1, checks),
        "underruns": float(underruns),
    }


class TimedSpeaker(Speaker):
    def __init__(self) -> None:
        super().__init__()
        self.stopped_ns: list[int] = []

    def stop(self) -> None:
        super().stop()
        self.stopped_ns.append(time.perf_counter_ns())


async def barge_in_reaction(base_url: str, rounds: int) -> dict[str, Any]:
    arrivals: list[int] = []
    speech_stops: list[int] = []
    original: Any = peer_module.Peer._message

    def timed(self: Any, message: str | bytes) -> None:
        if isinstance(message, str):
            if '"input_audio_buffer.speech_started"' in message:
                arrivals.append(time.perf_counter_ns())
            elif '"input_audio_buffer.speech_stopped"' in message:
                speech_stops.append(time.perf_counter_ns())
        original(self, message)

    speaker = TimedSpeaker()
    client = make_client(
        base_url,
        speaker,
        {
            "type": "server_vad",
            "threshold": 0.5,
            "silence_duration_ms": 100,
            "create_response": False,
            "interrupt_response": True,
        },
    )
    stopped_events: list[str] = []
    client.model.subscribe(
        lambda t: (
            stopped_events.append(t.event)
            if t.chart == "playback" and t.event in {"cleared", "stopped", "settle_timed_out"}
            else None
        )
    )
    reactions: list[float] = []
    unmatched = 0
    peer_module.Peer._message = timed  # type: ignore[method-assign]
    try:
        async with client:
            for _ in range(rounds):
                arrivals.clear()
                speaker.stopped_ns.clear()
                stopped_events.clear()
                speech_stops.clear()
                await client.send_response()
                await until(lambda: bool(speaker.stopped_ns), "the echo to barge in")
                await until(lambda: bool(stopped_events), "the server's cleared")
                # the echo's tail, then the VAD's speech_stopped: the room is quiet again
                await until(lambda: bool(speech_stops), "speech_stopped")
                if len(arrivals) != 1 or len(speaker.stopped_ns) != 1:
                    unmatched += 1
                    continue
                reactions.append((speaker.stopped_ns[0] - arrivals[0]) / 1e6)
    finally:
        peer_module.Peer._message = original  # type: ignore[method-assign]
        speaker.close()
    return {"reactions": reactions, "unmatched": unmatched, "latency": speaker.latency}


def report(cpu: dict[str, float], barge: dict[str, Any]) -> None:
    print(
        f"full-duplex voice session, {cpu['wall']:.1f} s "
        f"(mic {cpu['mic_frames_per_s']:.0f} frames/s up, remote {cpu['remote_frames_per_s']:.0f}"
        f" frames/s down, assistant audible {cpu['audible']:.0%}, "
        f"underruns {cpu['underruns']:.0f})"
    )
    verdict = "ok" if cpu["client"] <= 0.15 else "OVER"
    print(f"  client process CPU: {cpu['client']:.3f} of a core (required <= 0.15: {verdict})")
    print(f"  emulator (child):   {cpu['emulator']:.3f} of a core")
    print(f"  pulseaudio daemon:  {cpu['pulseaudio']:.3f} of a core")
    reactions: list[float] = barge["reactions"]
    if not reactions:
        print("barge-in: no measurement")
        return
    median = statistics.median(reactions)
    verdict = "ok" if median <= 5 else "OVER"
    print(
        f"barge-in, speech_started arriving -> Speaker.stop() done, {len(reactions)} barge-ins"
        f" ({barge['unmatched']} rounds not paired):"
    )
    print(
        f"  median {median:.3f} ms, p99 {percentile(reactions, 0.99):.3f} ms, "
        f"max {max(reactions):.3f} ms (required median <= 5 ms: {verdict}); then at most one "
        f"10 ms device block; output latency reported by PortAudio "
        f"{barge['latency'] * 1000:.0f} ms"
    )


async def main(args: argparse.Namespace, pulse: Pulse) -> None:
    with emulator_child() as (base_url, child), loopback_ice():
        cpu = await cpu_of_a_session(base_url, child.pid, pulse.process.pid, args.seconds)
        pulse.pactl("set-default-source", "vspeaker.monitor")  # the mic hears the speaker
        barge = await barge_in_reaction(base_url, args.barge_ins)
    report(cpu, barge)


def cli() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--barge-ins", type=int, default=30)
    args = parser.parse_args()
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        print("bench/voice.py needs pulseaudio and pactl (apt-get install pulseaudio)")
        return 1
    pulse = Pulse()
    try:
        asyncio.run(main(args, pulse))
    finally:
        pulse.close()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
