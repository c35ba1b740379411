"""Playback chart: is the assistant audible?

Over WebRTC the server streams audio on the media track and reports it with
``output_audio_buffer.started`` / ``stopped`` / ``cleared``; audio keeps playing after
``response.done`` until ``stopped``. "Assistant speaking" is this chart being in ``playing``,
not a response being in progress.

Barge-in: when the user starts speaking while the assistant is audible, the chart moves to
``interrupted`` and asks the shell to stop local playback at once (``StopPlayback``); the
server's own ``cleared`` (VAD ``interrupt_response``) or ``stopped`` then brings it back to
``silent``. The client never sends a second cancel for this: the server already did.
"""

from __future__ import annotations

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, StartTimer, StopPlayback

__all__ = ["PlaybackChart"]

SETTLE_TIMER = "playback.settle"


class PlaybackChart(ModelChart):
    """Assistant audio output: silent, playing, or interrupted by the user."""

    chart_kind = "playback"

    silent = State("silent", initial=True)
    playing = State("playing")
    interrupted = State("interrupted")

    started = silent.to(playing) | interrupted.to(playing)
    stopped = playing.to(silent) | interrupted.to(silent)
    cleared = playing.to(silent, on="stop_local") | interrupted.to(silent)
    barge_in = playing.to(interrupted, on="stop_local")
    settle_timed_out = interrupted.to(silent)
    reset = playing.to(silent, on="stop_local") | interrupted.to(silent)

    def __init__(self, host: ChartHost, *, settle_timeout: float = 3.0) -> None:
        self.response_id: str | None = None
        self._settle_timeout = settle_timeout
        super().__init__(host)

    def stop_local(self) -> None:
        self.host.emit(StopPlayback())

    def on_enter_playing(self, response_id: str | None = None) -> None:
        self.response_id = response_id

    def on_enter_silent(self) -> None:
        self.response_id = None

    def on_enter_interrupted(self) -> None:
        self.host.emit(StartTimer(SETTLE_TIMER, self._settle_timeout))

    def on_exit_interrupted(self) -> None:
        self.host.emit(CancelTimer(SETTLE_TIMER))
