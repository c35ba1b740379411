"""``realtime demo --voice`` and ``realtime chat --voice`` as subprocesses, with real audio.

They run under the ``pulseaudio`` fixture's daemon (``PULSE_SERVER`` is inherited), with the
default source switched to ``vspeaker.monitor``: the microphone hears everything played on the
default output — the assistant and the demo's synthesised user alike. The chat's barge-in test
builds a room instead (``user_in_the_room``: the speaker and the user mixed on a sink the
microphone hears), so the speaker's monitor records what the assistant alone played.
``OPENAI_API_KEY`` is removed from their environment: everything stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from realtime_sdk.audio import SAMPLE_RATE
from realtime_sdk.cli.demo_voice import TRUNCATE_TOLERANCE_MS, user_voice
from realtime_sdk.emulator.audio import synthesize
from tests.sdk.conftest import MonitorRecording, Pulse

pytestmark = pytest.mark.usefixtures("pulseaudio")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    return env


class VoiceChat:
    """``realtime chat --voice --transport T [args]`` as a subprocess (``with`` it: killed if
    still running at the end); its standard output lines are kept in :attr:`seen` as they come,
    its standard error goes to ``err`` (a file)."""

    def __init__(self, transport: str, err: IO[str], *args: str) -> None:
        command = [sys.executable, "-m", "realtime_sdk.cli", "chat", "--voice"]
        self.proc = subprocess.Popen(
            [*command, "--transport", transport, *args],
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def __enter__(self) -> VoiceChat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()

    def wait(self, until: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        """Read lines until ``until()`` (checked at least every 50 ms), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {what}: {self.seen}"
            try:
                line = self._lines.get(timeout=min(remaining, 0.05))
            except queue.Empty:
                continue
            assert line is not None, f"exited early: {self.seen}"
            self.seen.append(line)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> int:
        """``/quit``; the exit status."""
        self.type("/quit")
        return self.proc.wait(timeout=15)


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> Path:
    """Mono PCM16 ``pcm`` at ``rate`` Hz as a WAV file (what ``paplay`` plays)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return path


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
        assert abs(end_ms - heard_ms) <= TRUNCATE_TOLERANCE_MS
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
    speech = write_wav(
        tmp_path / "speech.wav", synthesize("What is the weather like in Paris today?"), 24_000
    )
    err_path = tmp_path / "stderr.txt"
    with (
        microphone_hears_speaker(pulseaudio),
        err_path.open("w", encoding="utf-8") as err_file,
        VoiceChat(transport, err_file) as chat,
    ):
        seen = chat.seen

        def greeted() -> bool:
            heard = any(s.startswith("assistant: Hello") for s in seen)
            return heard and "* assistant speaking\n" in seen

        spoken_at = [0]

        def answered() -> bool:
            heard = seen[spoken_at[0] :]
            if "* you speaking\n" not in heard:
                return False
            after = heard[heard.index("* you speaking\n") :]
            return "* assistant speaking\n" in after and "* assistant quiet\n" in after

        chat.wait(greeted, "greeting transcript")
        chat.wait(lambda: "* assistant quiet\n" in seen, "end of the greeting")
        spoken_at[0] = len(seen)
        subprocess.run(["paplay", str(speech)], env=_env(), check=True, timeout=20)
        chat.wait(answered, "spoken turn answered")
        assert any(line.startswith("you: ") for line in seen[spoken_at[0] :]), seen
        code = chat.quit()
    err = err_path.read_text(encoding="utf-8")
    assert code == 0, "".join(seen) + err
    assert "embedded emulator" in err


@contextmanager
def user_in_the_room(pulse: Pulse) -> Iterator[str]:
    """A room: the speaker's output (through a loopback) and the user's voice meet on a null
    sink whose monitor is the default input; yields the sink the user speaks into. The
    speaker's own monitor then records the assistant alone: what was actually played."""
    modules = [
        pulse.pactl(
            "load-module", "module-null-sink", "sink_name=vroom", "rate=48000", "channels=1"
        ),
        pulse.pactl(
            "load-module",
            "module-loopback",
            f"source={pulse.monitor}",
            "sink=vroom",
            "latency_msec=20",
            "source_dont_move=true",
            "sink_dont_move=true",
        ),
    ]
    pulse.pactl("set-default-source", "vroom.monitor")
    try:
        yield "vroom"
    finally:
        pulse.pactl("set-default-source", pulse.source)
        for module in reversed(modules):
            pulse.pactl("unload-module", module.strip())


def audible_stretches(samples: np.ndarray, gap_ms: int = 300) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of the stretches of sound in 48 kHz samples (10 ms blocks above
    -60 dBFS), pauses shorter than ``gap_ms`` (between syllables) inside a stretch."""
    blocks = samples[: samples.size // 480 * 480].astype(np.float64).reshape(-1, 480) / 32768
    loud = np.flatnonzero(np.sqrt(np.mean(blocks**2, axis=1)) > 1e-3)
    stretches: list[tuple[int, int]] = []
    for block in loud.tolist():
        at = int(block) * 10
        if stretches and at - stretches[-1][1] < gap_ms:
            stretches[-1] = (stretches[-1][0], at + 10)
        else:
            stretches.append((at, at + 10))
    return stretches


def trace_events(path: Path, direction: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [e["data"] for e in entries if e["direction"] == direction]


@pytest.mark.parametrize("transport", ["webrtc", "websocket", "memory"])
def test_chat_voice_user_interrupts_a_long_spoken_answer(
    pulseaudio: Pulse, tmp_path: Path, transport: str
) -> None:
    """In ``realtime chat --voice`` the user asks for a story, and about a second into it
    speaks into the room, louder than the speakers' echo as a user near the microphone is
    (``USER_GAIN``, 3× the assistant's level, as ``realtime demo --voice`` plays the user).
    Why louder: the chat's echo guard (``EchoGuard`` gate, ``coupling=1.0``: the worst case, a
    microphone hearing the speaker at full level, which this room is) passes a frame only
    above twice the loudest echo it may be hearing; a user at the assistant's own level plus
    that echo never gets there, so a user that quiet is never heard over the answer:
    the story's playback stops, the answer is interrupted and truncated at what was actually
    played (over WebSocket and memory by the client's ``conversation.item.truncate``, whose
    ``audio_end_ms`` matches what the speaker's monitor recorded; over WebRTC by the server,
    which plays it), the client sends no ``response.cancel`` of its own (the server VAD's
    ``interrupt_response`` did it), and the new question is answered aloud."""
    # USER_GAIN × louder than the assistant
    question = user_voice("What is the weather like in Paris today?")
    question_wav = write_wav(tmp_path / "question.wav", question, SAMPLE_RATE)
    trace = tmp_path / "trace.jsonl"
    err_path = tmp_path / "stderr.txt"
    with (
        user_in_the_room(pulseaudio) as room,
        err_path.open("w", encoding="utf-8") as err_file,
    ):
        recording = pulseaudio.record_monitor()  # the assistant alone
        with VoiceChat(transport, err_file, "--no-greet", "--trace", str(trace)) as chat:
            seen = chat.seen

            def heard_ms() -> int:
                stretches = audible_stretches(recording.samples_so_far())
                return stretches[0][1] - stretches[0][0] if stretches else 0

            def after_speaking(*marks: str) -> bool:
                """``* you speaking``, then ``marks`` in this order."""
                if "* you speaking\n" not in seen:
                    return False
                rest = seen[seen.index("* you speaking\n") :]
                for mark in marks:
                    if mark not in rest:
                        return False
                    rest = rest[rest.index(mark) + 1 :]
                return True

            chat.type("Tell me a long story.")
            chat.wait(lambda: "* assistant speaking\n" in seen, "story")
            chat.wait(lambda: heard_ms() >= 800, "0.8 s of the story played")
            subprocess.run(
                ["paplay", f"--device={room}", str(question_wav)],
                env=_env(),
                check=True,
                timeout=20,
            )
            # the story cut, then the answer to the question played from start to end
            quiet, speaking = "* assistant quiet\n", "* assistant speaking\n"
            chat.wait(lambda: after_speaking(quiet, speaking, quiet), "answer to the question")
            code = chat.quit()
        played = recording.stop()
    err = err_path.read_text(encoding="utf-8")
    assert code == 0, "".join(seen) + err
    assert "you: Hello.\n" in seen  # the emulator transcribes every spoken turn "Hello."

    sent, received = trace_events(trace, "sent"), trace_events(trace, "received")
    sent_types = [e["type"] for e in sent]
    assert "response.cancel" not in sent_types
    # What the speaker played: the story until the cut, then (after the user) the answer.
    stretches = audible_stretches(played)
    assert len(stretches) == 2, stretches
    story_ms = stretches[0][1] - stretches[0][0]
    responses = [e["response"] for e in received if e["type"] == "response.done"]
    assert len(responses) == 2, [r["status"] for r in responses]
    story, answer = responses
    story_item = story["output"][0]
    assert answer["status"] == "completed"
    assert answer["output"][0]["content"][0]["transcript"] == "You said: Hello."
    full_ms = len(synthesize(story_item["content"][0]["transcript"])) * 1000 // 24_000
    assert 800 <= story_ms < full_ms - 1000  # cut well before its end
    truncated = [e for e in received if e["type"] == "conversation.item.truncated"]
    assert [e["item_id"] for e in truncated] == [story_item["id"]]
    truncates = [e for e in sent if e["type"] == "conversation.item.truncate"]
    if transport == "webrtc":
        # The server plays the audio: it cut its output buffer and truncated the item itself.
        assert truncates == []
        assert any(e["type"] == "output_audio_buffer.cleared" for e in received)
        # Where it was in its own playback: ahead of the speaker by the way there (the
        # network, the jitter buffer, the device), never behind it.
        assert story_ms - 100 <= truncated[0]["audio_end_ms"] <= story_ms + 1000
    else:
        # The client plays it: the story was still being generated when the user spoke, so the
        # server cancelled it, and the client truncated it at what the speaker played.
        assert story["status"] == "cancelled"
        assert len(truncates) == 1
        assert truncates[0]["item_id"] == story_item["id"]
        assert abs(truncates[0]["audio_end_ms"] - story_ms) <= TRUNCATE_TOLERANCE_MS


def wait_for_text(path: Path, text: str, timeout: float = 20.0) -> None:
    """Until ``text`` is in the file at ``path`` (a subprocess's standard error)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"no {text!r} in {path.read_text(encoding='utf-8')}"
        time.sleep(0.05)


class LiveVoiceChat:
    """``realtime chat --api live --voice --transport memory --trace FILE`` in a room
    (``user_in_the_room``), the speaker's monitor recorded (the assistant alone), the session
    started; :meth:`speak` plays the user's question into the room. After the ``with``:
    :attr:`played` (what the speaker played), :attr:`err` and the trace's events."""

    def __init__(self, pulse: Pulse, tmp_path: Path) -> None:
        self.pulse = pulse
        self.question = write_wav(
            tmp_path / "question.wav", user_voice("What is the capital of France?"), SAMPLE_RATE
        )
        self.err_path = tmp_path / "stderr.txt"
        self.trace = tmp_path / "trace.jsonl"
        self.played = np.zeros(0, dtype=np.int16)
        self._stack = ExitStack()

    def __enter__(self) -> tuple[VoiceChat, MonitorRecording]:
        with ExitStack() as stack:  # unwound if the session does not start
            self.room = stack.enter_context(user_in_the_room(self.pulse))
            err_file = stack.enter_context(self.err_path.open("w", encoding="utf-8"))
            self.recording = self.pulse.record_monitor()
            stack.callback(self._stop_recording)
            args = ("--api", "live", "--trace", str(self.trace))
            chat = stack.enter_context(VoiceChat("memory", err_file, *args))
            wait_for_text(self.err_path, "started.")
            self._stack = stack.pop_all()
        return chat, self.recording

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.__exit__(*exc_info)

    def _stop_recording(self) -> None:
        self.played = self.recording.stop()

    def speak(self) -> None:
        subprocess.run(
            ["paplay", f"--device={self.room}", str(self.question)],
            env=_env(),
            check=True,
            timeout=20,
        )

    @property
    def err(self) -> str:
        return self.err_path.read_text(encoding="utf-8")

    def sent(self) -> list[str]:
        return [e["type"] for e in trace_events(self.trace, "sent")]


def test_chat_api_live_voice_hears_the_user_and_answers_aloud(
    pulseaudio: Pulse, tmp_path: Path
) -> None:
    """``realtime chat --api live --voice`` on the emulator's Live engine in memory: the
    user's synthesised question, spoken into the room (which the default microphone hears), is
    transcribed (the emulator hears every utterance as "Hello.") and answered; the answer is
    heard on the speaker, whose monitor records the assistant alone: one stretch of sound, as
    long as the answer's speech (played to its end: the assistant's own voice, back in the
    microphone through the room, did not barge in on it). ``/mute`` is acknowledged."""
    session = LiveVoiceChat(pulseaudio, tmp_path)
    with session as (chat, _recording):
        seen = chat.seen
        session.speak()

        def answered() -> bool:
            if "you: Hello.\n" not in seen:
                return False
            rest = seen[seen.index("you: Hello.\n") :]
            speaking = "* assistant speaking\n"
            return speaking in rest and "* assistant quiet\n" in rest[rest.index(speaking) :]

        chat.wait(answered, "the answer heard")
        chat.type("/mute")
        wait_for_text(session.err_path, "muted\n")
        code = chat.quit()
    assert code == 0, "".join(seen) + session.err
    assert "the emulator's Live engine in memory" in session.err
    said = "You said: Hello."
    assert [s for s in seen if s.startswith("assistant")] == [f"assistant: {said}\n"], seen
    assert "* assistant interrupted\n" not in seen
    sent = session.sent()
    assert sent[0] == "session.start"
    assert "session.input_audio.mute" in sent
    stretches = audible_stretches(session.played)
    assert len(stretches) == 1, stretches
    heard_ms = stretches[0][1] - stretches[0][0]
    full_ms = len(synthesize(said)) * 1000 // 24_000
    assert full_ms - 300 <= heard_ms <= full_ms + 300, (heard_ms, full_ms)


def test_chat_api_live_voice_user_barges_in_on_a_long_answer(
    pulseaudio: Pulse, tmp_path: Path
) -> None:
    """Live's barge-in in ``realtime chat --api live --voice`` (in memory): a typed line makes
    the assistant repeat it (a long answer); about a second into it the user speaks into the
    room, louder than the speaker's echo (``user_voice``, as in the Realtime barge-in test
    above). The server cuts the assistant (Live has no cancel or truncate: the client sends
    neither); the chat's turn rule marks the turn interrupted and the client's player drops
    what it still held: the speaker's monitor records the long answer cut well before its
    end, then the answer to the user's question played whole."""
    line = "Please tell me, slowly and in full, about the old city, its bridges and its river."
    answer = "assistant: You said: Hello.\n"
    session = LiveVoiceChat(pulseaudio, tmp_path)
    with session as (chat, recording):
        seen = chat.seen

        def heard_ms() -> int:
            stretches = audible_stretches(recording.samples_so_far())
            return stretches[0][1] - stretches[0][0] if stretches else 0

        chat.type(line)
        chat.wait(lambda: heard_ms() >= 800, "0.8 s of the long answer played")
        session.speak()
        chat.wait(lambda: answer in seen and seen[-1] == "* assistant quiet\n", "answer")
        code = chat.quit()
    assert code == 0, "".join(seen) + session.err
    assert "* assistant interrupted\n" in seen, seen
    cut = seen.index("* assistant interrupted\n")
    assert seen[0].startswith("assistant: You said: Please")  # cut: never the whole line
    assert [s for s in seen if s.startswith("assistant:")] == [seen[0], answer]
    assert cut < seen.index("you: Hello.\n") < seen.index(answer)
    assert set(session.sent()) == {
        "session.start",
        "session.instructions.append",
        "session.close",
    }
    stretches = audible_stretches(session.played)
    assert len(stretches) == 2, stretches
    long_ms = stretches[0][1] - stretches[0][0]
    full_ms = len(synthesize(f"You said: {line}")) * 1000 // 24_000
    assert 800 <= long_ms < full_ms - 1000, (long_ms, full_ms)  # cut well before its end
    answer_ms = stretches[1][1] - stretches[1][0]
    said_ms = len(synthesize("You said: Hello.")) * 1000 // 24_000
    assert said_ms - 300 <= answer_ms <= said_ms + 300, (answer_ms, said_ms)
