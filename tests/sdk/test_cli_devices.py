"""``realtime devices --virtual``: docs/voice.md's recipe for a machine without a sound card,
run as written against a bare private PulseAudio daemon (no devices at all until the recipe)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from realtime_sdk.cli import main

from .conftest import pulse_daemon
from .test_cli_session import cli

VOICE_DOC = Path(__file__).resolve().parents[2] / "docs" / "voice.md"


def recipe() -> list[list[str]]:
    """The ``realtime`` commands of the bash block under "## No sound card", in order."""
    text = VOICE_DOC.read_text(encoding="utf-8")
    section = text[text.index("## No sound card") :]
    block = re.search(r"^```bash\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert block is not None
    commands = [line.split("#")[0].split() for line in block.group(1).splitlines()]
    return [words[1:] for words in commands if words and words[0] == "realtime"]


def realtime(args: list[str], server: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, stdin="", timeout=60, env={"PULSE_SERVER": server})


def test_the_documented_recipe_makes_the_voice_demo_pass() -> None:
    steps = recipe()
    assert steps == [["devices", "--virtual"], ["demo", "--voice"]]
    with pulse_daemon([]) as pulse:
        before = realtime(["demo", "--voice"], pulse.server)
        assert before.returncode == 1, before.stdout  # no devices yet
        setup = realtime(steps[0], pulse.server)
        assert setup.returncode == 0, setup.stderr
        assert "realtime devices --virtual: created the null sink vspeaker\n" in setup.stderr
        assert (
            "realtime devices --virtual: default input: vspeaker.monitor "
            "(it hears what is played on vspeaker)\n"
        ) in setup.stderr
        assert "default" in setup.stdout  # the device list follows
        again = realtime(steps[0], pulse.server)  # idempotent: nothing created twice
        assert again.returncode == 0, again.stderr
        assert "created" not in again.stderr
        assert "looped" not in again.stderr
        demo = realtime(steps[1], pulse.server)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "Voice demo passed (5/5 checks)" in demo.stdout


def test_without_pactl_virtual_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["devices", "--virtual"]) == 1
    assert capsys.readouterr().err == (
        "realtime devices --virtual: pactl is not installed (apt-get install pulseaudio "
        "pulseaudio-utils libasound2-plugins libportaudio2).\n"
    )


def test_without_a_pulse_server_virtual_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/native")
    assert main(["devices", "--virtual"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("realtime devices --virtual: no PulseAudio server answers")
    assert err.count("\n") == 1
