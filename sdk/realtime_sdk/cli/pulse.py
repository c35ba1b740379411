"""PulseAudio virtual devices for a machine without a sound card: ``realtime devices --virtual``.

:func:`setup_virtual_devices` asks the running PulseAudio server (``pactl``, so
``PULSE_SERVER`` is honoured) for what the voice commands need and loads only what is missing,
so running it twice changes nothing:

* ``vspeaker`` — a null sink, made the **default output**;
* its monitor ``vspeaker.monitor`` made the **default input**: the "microphone" hears whatever
  is played, the assistant and ``realtime demo --voice``'s synthesised user alike (the worst
  open-speaker room: the echo guard keeps the assistant's own voice out);
* ``vsilence`` (a null source) looped into ``vspeaker`` with 20 ms latency: an idle null sink
  renders in 2-second blocks, so without it the first stream opened waits up to 2 s.

These are the test suite's devices (``tests/sdk/conftest.py``), less its 440 Hz test tone.
"""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["SINK", "SOURCE", "VirtualDevicesError", "setup_virtual_devices"]

SINK = "vspeaker"
SOURCE = f"{SINK}.monitor"
_SILENCE = "vsilence"
_LOOPBACK = (
    f"source={_SILENCE} sink={SINK} latency_msec=20 source_dont_move=true sink_dont_move=true"
)


class VirtualDevicesError(Exception):
    """The virtual devices could not be set up; the message is one sentence."""


def _pactl(*args: str) -> str:
    try:
        done = subprocess.run(
            ["pactl", *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VirtualDevicesError(f"pactl {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise VirtualDevicesError(
            f"pactl {' '.join(args)} failed: {reason[-1] if reason else done.returncode}"
        )
    return done.stdout


def _names(kind: str) -> set[str]:
    """The names in ``pactl list short sinks|sources`` (second column)."""
    return {
        line.split("\t")[1] for line in _pactl("list", "short", kind).splitlines() if "\t" in line
    }


def setup_virtual_devices() -> list[str]:
    """Create what is missing and set the defaults; one line per step taken."""
    if shutil.which("pactl") is None:
        raise VirtualDevicesError(
            "pactl is not installed (apt-get install pulseaudio pulseaudio-utils "
            "libasound2-plugins libportaudio2)"
        )
    try:
        _pactl("info")
    except VirtualDevicesError:
        raise VirtualDevicesError(
            "no PulseAudio server answers (start one with 'pulseaudio --start', or point "
            "PULSE_SERVER at one)"
        ) from None
    steps: list[str] = []
    if SINK not in _names("sinks"):
        _pactl("load-module", "module-null-sink", f"sink_name={SINK}", "rate=48000", "channels=1")
        steps.append(f"created the null sink {SINK}")
    if _SILENCE not in _names("sources"):
        _pactl(
            "load-module",
            "module-null-source",
            f"source_name={_SILENCE}",
            "rate=48000",
            "channels=1",
        )
        steps.append(f"created the null source {_SILENCE}")
    modules = _pactl("list", "short", "modules").splitlines()
    if not any("module-loopback" in m and f"source={_SILENCE} " in m + " " for m in modules):
        _pactl("load-module", "module-loopback", *_LOOPBACK.split())
        steps.append(f"looped {_SILENCE} into {SINK} (keeps it rendering in small blocks)")
    _pactl("set-default-sink", SINK)
    steps.append(f"default output: {SINK}")
    _pactl("set-default-source", SOURCE)
    steps.append(f"default input: {SOURCE} (it hears what is played on {SINK})")
    return steps
