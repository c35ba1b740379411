"""``realtime demo --voice`` and ``realtime chat --voice`` as subprocesses, with real audio.

They run under the ``pulseaudio`` fixture's daemon (``PULSE_SERVER`` is inherited), with the
default source switched to ``vspeaker.monitor``: the microphone hears everything played on the
default output — the assistant and the demo's synthesised user alike. ``OPENAI_API_KEY`` is
removed from their environment: everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from realtime_sdk.emulator.audio import synthesize
from tests.sdk.conftest import Pulse

pytestmark = pytest.mark.usefixtures("pulseaudio")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    return env


@contextmanager
def microphone_hears_speaker(pulse: Pulse) -> Iterator[None]:
    pulse.pactl("set-default-source", pulse.monitor)
    try:
        yield
    finally:
        pulse.pactl("set-default-source", pulse.source)


@pytest.mark.parametrize("transport", ["webrtc", "websocket", "memory"])
def test_demo_voice_runs_a_spoken_turn_and_a_barge_in(pulseaudio: Pulse, transport: str) -> None:
    """The same checked session on every transport. Over WebSocket and memory the client plays
    the answer itself: at the barge-in it sends one ``conversation.item.truncate`` whose
    ``audio_end_ms`` is what the speaker played (the demo checks it against the speaker's
    sample count), short of the audio received."""
    with microphone_hears_speaker(pulseaudio):
        done = subprocess.run(
            [sys.executable, "-m", "realtime_sdk.cli", "demo", "--voice", "--transport", transport],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Voice demo passed (5/5 checks)" in out
    for name in ("devices", "connect", "spoken turn", "barge-in", "disconnect"):
        assert f"  ok    {name}" in out, out
    assert "FAIL" not in out
    assert "0 response.cancel sent by the client" in out
    assert "received input_audio_buffer.speech_started" in out
    assert "received input_audio_buffer.committed" in out
    assert "playback --barge_in--> interrupted" in out
    truncates = re.findall(r"sent conversation\.item\.truncate \(audio_end_ms (\d+)\)", out)
    if transport == "webrtc":
        assert truncates == []  # the server played it, the server truncates
        assert "server truncated at" in out
    else:
        assert len(truncates) == 1, out
        played = re.search(
            r"client truncated at (\d+) ms \(the speaker played (\d+) ms of "
            r"(\d+) ms received\)",
            out,
        )
        assert played is not None, out
        end_ms, heard_ms, received_ms = map(int, played.groups())
        assert end_ms == int(truncates[0])
        assert abs(end_ms - heard_ms) <= 100
        assert 500 <= end_ms < received_ms  # the story was heard 0.8 s before the interruption
        assert "received conversation.item.truncated" in out


def test_demo_voice_without_audio_devices_says_so_in_one_sentence(pulseaudio: Pulse) -> None:
    env = _env()
    env["PULSE_SERVER"] = "unix:/nonexistent/native"  # no sound server: no devices
    done = subprocess.run(
        [sys.executable, "-m", "realtime_sdk.cli", "demo", "--voice"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # (PortAudio's ALSA back end may log lines of its own; ours is exactly one.)
    lines = [line for line in done.stderr.splitlines() if line.startswith("realtime")]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("realtime demo --voice: ")
    assert "device" in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("transport", ["webrtc", "websocket", "memory"])
def test_chat_voice_greets_aloud_and_quits(
    pulseaudio: Pulse, tmp_path: Path, transport: str
) -> None:
    """The greeting is heard and transcribed; then the user speaks (played into the sound
    server, which the microphone hears) and is answered; ``/quit`` then leaves with 0. On
    WebSocket and memory the client plays to the speaker itself (``Speaker`` as audio_sink:
    "assistant speaking" is its position moving) and pumps the microphone as appends."""
    speech = tmp_path / "speech.wav"
    with wave.open(str(speech), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        pcm = synthesize("What is the weather like in Paris today?")
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    err_path = tmp_path / "stderr.txt"
    seen: list[str] = []
    with (
        microphone_hears_speaker(pulseaudio),
        err_path.open("w", encoding="utf-8") as err_file,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "realtime_sdk.cli",
                "chat",
                "--voice",
                *("--transport", transport),
            ],
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        ) as proc,
    ):
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        def greeted() -> bool:
            heard = any(s.startswith("assistant: Hello") for s in seen)
            return heard and "* assistant speaking\n" in seen

        def wait(until: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 20
            while not until():
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {what}: {seen}"
                try:
                    line = lines.get(timeout=remaining)
                except queue.Empty:
                    raise AssertionError(f"no {what}: {seen}") from None
                assert line is not None, f"exited early: {seen}"
                seen.append(line)

        spoken_at = [0]

        def answered() -> bool:
            heard = seen[spoken_at[0] :]
            if "* you speaking\n" not in heard:
                return False
            after = heard[heard.index("* you speaking\n") :]
            return "* assistant speaking\n" in after and "* assistant quiet\n" in after

        try:
            wait(greeted, "greeting transcript")
            wait(lambda: "* assistant quiet\n" in seen, "end of the greeting")
            spoken_at[0] = len(seen)
            subprocess.run(["paplay", str(speech)], env=_env(), check=True, timeout=20)
            wait(answered, "spoken turn answered")
            assert any(line.startswith("you: ") for line in seen[spoken_at[0] :]), seen
            assert proc.stdin is not None
            proc.stdin.write("/quit\n")
            proc.stdin.flush()
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        reader.join(timeout=5)
    err = err_path.read_text(encoding="utf-8")
    assert code == 0, "".join(seen) + err
    assert "embedded emulator" in err
