"""Mode chart: text ⇄ voice.

Switching sends a ``session.update`` and waits for the server's ``session.updated`` — the switch
is done when the server says so, not after a fixed delay. A rejected update (an ``error`` that
names our ``event_id``) or no answer within the timeout returns to the previous mode and keeps
the reason in :attr:`ModeChart.last_error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, SendEvent, SetMicrophone, StartTimer

__all__ = ["ModeChart", "text_session_patch", "voice_session_patch"]

SWITCH_TIMER = "mode.switch"


def voice_session_patch() -> dict[str, Any]:
    """The GA ``session`` fields that put a session into voice (audio out) mode."""
    return {"type": "realtime", "output_modalities": ["audio"]}


def text_session_patch() -> dict[str, Any]:
    """The GA ``session`` fields that put a session into text-only mode."""
    return {"type": "realtime", "output_modalities": ["text"]}


class ModeChart(ModelChart):
    """Whether the session talks (voice) or writes (text), and the switches between them."""

    chart_kind = "mode"

    text = State("text", initial=True)
    switching_to_voice = State("switching to voice")
    voice = State("voice")
    switching_to_text = State("switching to text")

    to_voice = text.to(switching_to_voice, on="send_update")
    to_text = voice.to(switching_to_text, on="send_update")
    updated = switching_to_voice.to(voice) | switching_to_text.to(text)
    rejected = switching_to_voice.to(text, on="keep_error") | switching_to_text.to(
        voice, on="keep_error"
    )
    timed_out = switching_to_voice.to(text, on="keep_timeout") | switching_to_text.to(
        voice, on="keep_timeout"
    )
    server_chose_voice = text.to(voice)
    server_chose_text = voice.to(text)

    def __init__(self, host: ChartHost, *, new_event_id: Any, timeout: float = 5.0) -> None:
        self.pending_event_id: str | None = None
        self.last_error: str | None = None
        self._new_event_id = new_event_id
        self._timeout = timeout
        super().__init__(host)

    @property
    def is_switching(self) -> bool:
        return self.current_state_value in _SWITCHING

    def send_update(self, session: Mapping[str, Any] | None = None) -> None:
        self.pending_event_id = self._new_event_id()
        self.last_error = None
        self.host.emit(
            SendEvent(
                {
                    "type": "session.update",
                    "event_id": self.pending_event_id,
                    "session": dict(session or {}),
                }
            )
        )

    def keep_error(self, error: str = "") -> None:
        self.last_error = (
            f"session.update rejected: {error}" if error else "session.update rejected"
        )

    def keep_timeout(self) -> None:
        self.last_error = f"no session.updated within {self._timeout:g} s"

    def on_enter_switching_to_voice(self) -> None:
        self.host.emit(StartTimer(SWITCH_TIMER, self._timeout))

    def on_enter_switching_to_text(self) -> None:
        self.host.emit(StartTimer(SWITCH_TIMER, self._timeout))

    def on_exit_switching_to_voice(self) -> None:
        self._leave_switch()

    def on_exit_switching_to_text(self) -> None:
        self._leave_switch()

    def _leave_switch(self) -> None:
        self.pending_event_id = None
        self.host.emit(CancelTimer(SWITCH_TIMER))

    def on_enter_voice(self, source: Any = None) -> None:
        if source is not None and source.id == "switching_to_voice":
            self.host.emit(SetMicrophone(True))

    def on_enter_text(self, source: Any = None) -> None:
        if source is not None and source.id == "switching_to_text":
            self.host.emit(SetMicrophone(False))


_SWITCHING = frozenset({"switching_to_voice", "switching_to_text"})
