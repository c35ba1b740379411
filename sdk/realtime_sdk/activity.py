"""Microphone and speech activity for a running client (the seed's two activity hooks).

* :class:`MicrophoneActivity` — the seed's ``useMicrophoneActivity``: ``level`` (0..1, the
  numpy RMS of each frame the :class:`~realtime_sdk.audio.MicrophoneTrack` captures),
  ``is_mic_active`` and ``is_capturing``, in mode ``"server"`` (the server VAD's
  ``speech_started``/``speech_stopped``), ``"stats"`` (the level above ``level_threshold``,
  held for ``silence_ms`` after it drops) or ``"auto"`` (either: server events when they come,
  the level when they do not, e.g. with VAD off for push-to-talk).
* :func:`speech_activity_middleware` — the seed's ``createSpeechActivityMiddleware``: feeds a
  pure :class:`~realtime_machines.activity.SpeechActivity` from the client's incoming events and
  makes it follow the client's model (Playback chart) from the first event on.

**No polling loop.** The seed polls ``getStats()`` every ``poll_interval`` because a browser
offers nothing else; here the track hands every captured 20 ms frame to its listeners on the
event loop, so the level and the silence timeout are computed per frame (50 times a second, a
few microseconds each). ``poll_interval`` keeps its meaning for the UI: ``on_change`` fires at
once when a flag changes and at most once per ``poll_interval`` for a level-only change. There
is no task to leak or cancel; :meth:`MicrophoneActivity.detach` unsubscribes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from realtime_machines.activity import SpeechActivity

from .audio import MicrophoneFactory, MicrophoneTrack
from .middleware import IncomingContext, IncomingMiddleware

__all__ = [
    "MicrophoneActivity",
    "MicrophoneMode",
    "MicrophoneSnapshot",
    "speech_activity_middleware",
]

MicrophoneMode = Literal["server", "stats", "auto"]


@dataclass(frozen=True, slots=True)
class MicrophoneSnapshot:
    level: float = 0.0
    is_mic_active: bool = False
    is_capturing: bool = False


class MicrophoneActivity:
    """Is the microphone picking up speech? From the real signal, the server VAD, or both."""

    def __init__(
        self,
        *,
        mode: MicrophoneMode = "auto",
        silence_ms: float = 600.0,
        level_threshold: float = 0.02,
        poll_interval: float = 0.25,
        on_change: Callable[[MicrophoneSnapshot], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("server", "stats", "auto"):
            raise ValueError(f"mode must be 'server', 'stats' or 'auto', not {mode!r}")
        self.mode: MicrophoneMode = mode
        self.silence_ms = silence_ms
        self.level_threshold = level_threshold
        self.poll_interval = poll_interval
        self._clock = clock
        self._listeners: list[Callable[[MicrophoneSnapshot], object]] = []
        if on_change is not None:
            self._listeners.append(on_change)
        self._track: MicrophoneTrack | None = None
        self._unsubscribe_track: Callable[[], None] | None = None
        self._last_loud: float | None = None
        self._stats_active = False
        self._server_speaking = False
        self._snapshot = MicrophoneSnapshot()
        self._notified_at = float("-inf")

    def __repr__(self) -> str:
        s = self._snapshot
        return (
            f"<MicrophoneActivity mode={self.mode} level={s.level:.3f} "
            f"active={s.is_mic_active} capturing={s.is_capturing}>"
        )

    # -- reading ----------------------------------------------------------------------------
    @property
    def snapshot(self) -> MicrophoneSnapshot:
        return self._snapshot

    @property
    def level(self) -> float:
        return self._snapshot.level

    @property
    def is_mic_active(self) -> bool:
        return self._snapshot.is_mic_active

    @property
    def is_capturing(self) -> bool:
        return self._snapshot.is_capturing

    def on_change(self, listener: Callable[[MicrophoneSnapshot], object]) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- sources ----------------------------------------------------------------------------
    def attach(self, track: MicrophoneTrack) -> None:
        """Measure this track's frames (replaces any track attached before)."""
        self.detach()
        self._track = track
        self._unsubscribe_track = track.add_level_listener(self._frame)

    def detach(self) -> None:
        """Stop measuring; the level drops to 0 and capturing to False."""
        if self._unsubscribe_track is not None:
            self._unsubscribe_track()
            self._unsubscribe_track = None
        if self._track is not None:
            self._track = None
            self._frame(None)

    def follow(self, factory: MicrophoneFactory) -> Callable[[], None]:
        """Attach to every track ``factory`` opens (the current one, and after reconnects)."""
        return factory.on_open(self.attach)

    def receive(self, event: Mapping[str, Any]) -> None:
        """Feed a server event: the VAD's ``speech_started`` / ``speech_stopped`` count."""
        kind = event.get("type")
        if kind == "input_audio_buffer.speech_started":
            self._server_speaking = True
        elif kind in (
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "input_audio_buffer.cleared",
        ):
            self._server_speaking = False
        else:
            return
        self._publish(self._clock(), self._snapshot.level)

    @property
    def middleware(self) -> IncomingMiddleware:
        """An incoming middleware that calls :meth:`receive` (and passes every event on)."""

        def microphone_activity(ctx: IncomingContext) -> None:
            self.receive(ctx.event)

        return microphone_activity

    # -- per frame --------------------------------------------------------------------------
    def _frame(self, level: float | None) -> None:
        now = self._clock()
        if level is None:
            self._last_loud = None
            self._stats_active = False
        else:
            if level >= self.level_threshold:
                self._last_loud = now
            self._stats_active = (
                self._last_loud is not None and (now - self._last_loud) * 1000 < self.silence_ms
            )
        self._publish(now, level)

    def _publish(self, now: float, level: float | None) -> None:
        before = self._snapshot
        current = 0.0 if level is None else float(level)
        track = self._track
        capturing = track is not None and track.is_capturing
        if self.mode == "server":
            active = self._server_speaking
        elif self.mode == "stats":
            active = capturing and self._stats_active
        else:
            active = self._server_speaking or (capturing and self._stats_active)
        after = MicrophoneSnapshot(level=current, is_mic_active=active, is_capturing=capturing)
        self._snapshot = after
        flags_changed = (after.is_mic_active, after.is_capturing) != (
            before.is_mic_active,
            before.is_capturing,
        )
        level_due = after.level != before.level and now - self._notified_at >= self.poll_interval
        if flags_changed or level_due:
            self._notified_at = now
            for listener in list(self._listeners):
                listener(after)


def speech_activity_middleware(
    activity: SpeechActivity, *, clock: Callable[[], float] = time.time
) -> IncomingMiddleware:
    """``RealtimeClient(incoming_middleware=[speech_activity_middleware(activity)])``.

    Every incoming event is fed to ``activity`` (stamped with ``clock()``, wall-clock seconds
    like the client's transition record); on the first one the activity starts following the
    client's model, so "assistant speaking" is the Playback chart's ``playing`` state.
    """

    def speech_activity(ctx: IncomingContext) -> None:
        client = ctx.client
        if not activity.following and client is not None and hasattr(client, "model"):
            activity.follow(client.model)
        activity.receive(ctx.event, time=clock())

    return speech_activity
