"""Speech activity (the seed's ``useSpeechActivity``), derived purely from what happened.

:class:`SpeechActivity` folds two inputs into a :class:`SpeechSnapshot`:

* **wire events** (:meth:`SpeechActivity.receive`): ``input_audio_buffer.speech_started`` /
  ``speech_stopped`` / ``committed`` / ``cleared`` for the user side, user transcription and
  assistant audio/transcript deltas for the "last event" times, and — only when no model is
  followed — ``output_audio_buffer.started`` / ``stopped`` / ``cleared``;
* **the Playback chart's transitions** (:meth:`SpeechActivity.observe`, wired by
  :meth:`SpeechActivity.follow`): ``playing`` means the assistant is audible; ``interrupted``
  (barge-in: local playback already stopped, the server's ``cleared`` not yet in) means it is
  not audible any more while the server's output buffer still holds audio.

No clock, no I/O: times come with the events (``time=``) or from an injected ``clock``.
``on_change`` callbacks get the new snapshot whenever one of the four flags changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .record import Transition

__all__ = ["SpeechActivity", "SpeechSnapshot"]

_USER_TIME_EVENTS = frozenset(
    {
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
    }
)
_ASSISTANT_TIME_EVENTS = frozenset(
    {
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.audio.delta",  # beta names
        "response.audio.done",
        "response.audio_transcript.delta",
    }
)
_OUTPUT_BUFFER = {
    "output_audio_buffer.started": "playing",
    "output_audio_buffer.stopped": "silent",
    "output_audio_buffer.cleared": "silent",
}
_CONNECTION_ENDED = frozenset({"disconnected", "error", "idle", "ended"})


class _Observable(Protocol):
    def subscribe(self, observer: Callable[[Transition], None]) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class SpeechSnapshot:
    """Who is speaking, and when each side was last heard of."""

    is_user_speaking: bool = False
    """Between the server VAD's ``speech_started`` and ``speech_stopped`` (or commit/clear)."""
    is_assistant_speaking: bool = False
    """The assistant is audible: the Playback chart is ``playing``."""
    input_buffered: bool = False
    """The input audio buffer holds speech not yet committed or cleared."""
    output_buffered: bool = False
    """The server's output audio buffer is active (``started`` … ``stopped``/``cleared``)."""
    last_user_event_at: float | None = None
    last_assistant_event_at: float | None = None

    def flags(self) -> tuple[bool, bool, bool, bool]:
        return (
            self.is_user_speaking,
            self.is_assistant_speaking,
            self.input_buffered,
            self.output_buffered,
        )


class SpeechActivity:
    """The seed's ``useSpeechActivity`` state, updated from events and transitions."""

    def __init__(
        self,
        on_change: Callable[[SpeechSnapshot], object] | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._snapshot = SpeechSnapshot()
        self._listeners: list[Callable[[SpeechSnapshot], object]] = []
        if on_change is not None:
            self._listeners.append(on_change)
        self._clock = clock
        self._following = False
        self._unsubscribe: Callable[[], None] | None = None

    def __repr__(self) -> str:
        s = self._snapshot
        return (
            f"<SpeechActivity user={'speaking' if s.is_user_speaking else 'quiet'} "
            f"assistant={'speaking' if s.is_assistant_speaking else 'quiet'} "
            f"input_buffered={s.input_buffered} output_buffered={s.output_buffered}>"
        )

    # -- reading ----------------------------------------------------------------------------
    @property
    def snapshot(self) -> SpeechSnapshot:
        return self._snapshot

    @property
    def is_user_speaking(self) -> bool:
        return self._snapshot.is_user_speaking

    @property
    def is_assistant_speaking(self) -> bool:
        return self._snapshot.is_assistant_speaking

    @property
    def input_buffered(self) -> bool:
        return self._snapshot.input_buffered

    @property
    def output_buffered(self) -> bool:
        return self._snapshot.output_buffered

    @property
    def last_user_event_at(self) -> float | None:
        return self._snapshot.last_user_event_at

    @property
    def last_assistant_event_at(self) -> float | None:
        return self._snapshot.last_assistant_event_at

    @property
    def following(self) -> bool:
        """True once :meth:`follow` attached it to a model's transitions."""
        return self._following

    def on_change(self, listener: Callable[[SpeechSnapshot], object]) -> Callable[[], None]:
        """Call ``listener(snapshot)`` whenever a flag changes; return an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- feeding ----------------------------------------------------------------------------
    def follow(self, model: _Observable) -> Callable[[], None]:
        """Observe a :class:`~realtime_machines.session.SessionModel`'s transitions.

        From then on the assistant side comes from the Playback chart only (its
        ``output_audio_buffer.*`` wire events are not counted twice). Returns an unsubscribe.
        """
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._following = True
        playback = getattr(getattr(model, "playback", None), "state", None)
        if isinstance(playback, str):
            self._playback(playback, None)
        unsubscribe = model.subscribe(self.observe)

        def stop_following() -> None:
            unsubscribe()
            self._following = False
            self._unsubscribe = None

        self._unsubscribe = stop_following
        return stop_following

    def observe(self, step: Transition) -> None:
        """Fold one transition record (only Playback and Connection steps matter)."""
        if step.chart == "playback" and step.target is not None:
            self._playback(step.target, step.time)
        elif step.chart == "connection" and step.target in _CONNECTION_ENDED:
            self._update(
                is_user_speaking=False,
                is_assistant_speaking=False,
                input_buffered=False,
                output_buffered=False,
            )

    def receive(self, event: Mapping[str, Any], *, time: float | None = None) -> None:
        """Fold one server event (a parsed JSON object); unrelated events are ignored."""
        kind = event.get("type")
        if not isinstance(kind, str):
            return
        at = self._now(time)
        if kind == "input_audio_buffer.speech_started":
            self._update(is_user_speaking=True, input_buffered=True, last_user_event_at=at)
        elif kind == "input_audio_buffer.speech_stopped":
            self._update(is_user_speaking=False, last_user_event_at=at)
        elif kind in ("input_audio_buffer.committed", "input_audio_buffer.cleared"):
            self._update(is_user_speaking=False, input_buffered=False, last_user_event_at=at)
        elif kind in _USER_TIME_EVENTS:
            self._update(last_user_event_at=at)
        elif kind in _ASSISTANT_TIME_EVENTS:
            self._update(last_assistant_event_at=at)
        elif kind in _OUTPUT_BUFFER:
            if self._following:
                self._update(last_assistant_event_at=at)
            else:
                self._playback(_OUTPUT_BUFFER[kind], at)

    # -- internals --------------------------------------------------------------------------
    def _now(self, time: float | None) -> float | None:
        if time is not None:
            return time
        return self._clock() if self._clock is not None else None

    def _playback(self, state: str, at: float | None) -> None:
        changes: dict[str, Any] = {
            "is_assistant_speaking": state == "playing",
            "output_buffered": state in ("playing", "interrupted"),
        }
        if at is not None:
            changes["last_assistant_event_at"] = at
        self._update(**changes)

    def _update(self, **changes: Any) -> None:
        if changes.get("last_user_event_at", 0) is None:
            del changes["last_user_event_at"]
        if changes.get("last_assistant_event_at", 0) is None:
            del changes["last_assistant_event_at"]
        before = self._snapshot
        after = replace(before, **changes)
        self._snapshot = after
        if after.flags() != before.flags():
            for listener in list(self._listeners):
                listener(after)
