"""The chat of a GPT-Live session: turns inferred from transcript timing.

Live transcripts are fragments (``session.input_transcript.delta`` for the user,
``session.output_transcript.delta`` for the assistant), each with its ``[start_ms, end_ms)``
interval on the session's timeline, and nothing else: no item, no turn, no done event, and the
two speakers may talk at the same time. Grouping fragments into turns is the application's
choice; this module makes it with one documented rule, as a pure function of the record, so
``project_live(record) == session.chat`` always holds and a saved trace replays into the same
chat. Re-projecting a record with other options (:class:`LiveChatOptions`) regroups it.

**The turn rule.** Each speaker has at most one open turn. For a fragment ``[s, e)`` of speaker
*R* (the other speaker being *O*), in this order:

1. *Inactivity*: every open turn (either speaker) that ended ``silence_ms`` or more before
   ``s`` closes.
2. *Floor change*: *O*'s open turn closes if it ended at or before ``s`` (no overlap): *R* has
   the floor.
3. *Barge-in*: if *R* is the user and the assistant's open turn overlaps ``s``
   (``start ≤ s < end``), the assistant turn closes as interrupted (status ``canceled``).
   Assistant fragments that arrive afterwards start a new turn.
4. *Gap*: *R*'s fragment continues *R*'s open turn when it starts less than ``turn_gap_ms``
   after that turn's end; otherwise that turn closes and the fragment starts a new one.

Fragments are appended exactly as received (no trimming, no spaces inserted). A
``turns_closed`` fact (the session closed, or the shell settled the turns) closes every open
turn. A ``session_restarted`` fact (a new session replaced the last one, e.g. after a
reconnect: its timeline starts again at 0) closes every open turn and shifts the new session's
fragments past the end of everything heard so far, so its rows follow the old ones.

Rows are :class:`~realtime_machines.chat.ChatItem` rows, as in a Realtime chat: ``id`` is the
turn's id (``turn_1``, ``turn_2`` …; Live has no item or response ids, so ``item_id`` and
``response_id`` are ``None``), ``ts`` the turn's start on the session timeline in seconds (so
overlapping turns are ordered by when they began), ``time`` the arrival time of its first
fragment, and ``status`` ``streaming`` while open, ``done`` once closed, ``canceled`` when the
user barged in. A row is shown once its text is meaningful (not blank by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..chat import ChatItem, Status
from ..record import Transition

__all__ = ["LiveChatOptions", "LiveChatProjection", "TurnChange", "project_live"]

Role = Literal["user", "assistant"]


def _non_blank(text: str) -> bool:
    return bool(text.strip())


@dataclass(frozen=True, slots=True)
class LiveChatOptions:
    """How fragments become turns, and which rows are shown.

    ``turn_gap_ms``: a speaker's silence that starts a new turn of the same speaker (500 ms,
    the ``min_turn_separation_ms`` of openai-python's transcript grouper). ``silence_ms``: a
    turn that has heard nothing for this long on the timeline is over (2000 ms, its
    ``assistant_silence_ms``). ``is_meaningful_text`` decides when a row is shown (not blank by
    default); ``inverted`` lists the newest row first.
    """

    turn_gap_ms: int = 500
    silence_ms: int = 2000
    is_meaningful_text: Callable[[str], bool] | None = None
    inverted: bool = False

    def __post_init__(self) -> None:
        for name in ("turn_gap_ms", "silence_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"{name} must be a whole number of milliseconds ≥ 0, got {value!r}"
                )


class _Turn:
    __slots__ = ("end_ms", "id", "open", "parts", "role", "start_ms", "status", "time", "visible")

    def __init__(self, turn_id: str, role: Role, start_ms: int, end_ms: int, time: float) -> None:
        self.id = turn_id
        self.role: Role = role
        self.parts: list[str] = []
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.time = time
        self.status: Status = "streaming"
        self.open = True
        self.visible = False

    @property
    def text(self) -> str:
        parts = self.parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def snapshot(self) -> ChatItem:
        return ChatItem(
            self.id, "text", self.role, self.text, self.start_ms / 1000.0, self.time, self.status
        )

    def fields(self) -> list[Any]:
        return [
            self.id,
            self.role,
            self.text,
            self.start_ms,
            self.end_ms,
            self.time,
            self.status,
            self.open,
            self.visible,
        ]


#: One change to the chat: ``(what, turn id, role, text)`` where ``what`` is ``started``,
#: ``delta`` (text: the fragment), ``completed`` (text: the whole turn) or ``interrupted``
#: (text: the whole turn; the user barged in).
TurnChange = tuple[Literal["started", "delta", "completed", "interrupted"], str, Role, str]


class LiveChatProjection:
    """Folds Live record facts (``transcript``, ``turns_closed``, ``snapshot``) into turns."""

    def __init__(self, options: LiveChatOptions | None = None) -> None:
        self.options = options or LiveChatOptions()
        self._meaningful = self.options.is_meaningful_text or _non_blank
        self._turns: dict[str, _Turn] = {}
        self._open: dict[str, _Turn] = {}  # role -> its open turn
        self._next = 1
        self._sorted: list[_Turn] | None = None
        self.version = 0
        #: Added to the current session's times (the sessions before it, end to end).
        self._offset = 0
        self._horizon = 0  # the latest end_ms seen, shifted

    # -- reading ------------------------------------------------------------------------------
    @property
    def items(self) -> list[ChatItem]:
        """The visible rows, ordered by the start of their turn (newest first if inverted)."""
        turns = self._sorted
        if turns is None:
            turns = sorted(
                (t for t in self._turns.values() if t.visible),
                key=lambda t: (t.start_ms, int(t.id.rpartition("_")[2])),
            )
            self._sorted = turns
        rows = [turn.snapshot() for turn in turns]
        if self.options.inverted:
            rows.reverse()
        return rows

    @property
    def row_count(self) -> int:
        return len(self._turns)

    def open_turn(self, role: Role) -> str | None:
        """The id of ``role``'s open turn, if any."""
        turn = self._open.get(role)
        return turn.id if turn is not None else None

    # -- folding ------------------------------------------------------------------------------
    def apply(self, step: Transition) -> list[TurnChange]:
        """Apply one fact; return what changed in the chat."""
        if step.chart == "chat" and step.event == "snapshot":
            self._restore(step.data)
            return []
        if step.chart != "conversation":
            return []
        if step.event == "transcript":
            changes = self._transcript(step)
        elif step.event in ("turns_closed", "session_restarted"):
            changes = []
            for turn in list(self._open.values()):
                self._close(turn, "done", changes)
            if step.event == "session_restarted":
                self._offset = self._horizon
        else:
            return []
        self.version += 1
        return changes

    def _close(self, turn: _Turn, status: Status, changes: list[TurnChange]) -> None:
        turn.open = False
        turn.status = status
        if self._open.get(turn.role) is turn:
            del self._open[turn.role]
        what: Literal["completed", "interrupted"] = (
            "interrupted" if status == "canceled" else "completed"
        )
        changes.append((what, turn.id, turn.role, turn.text))

    def _transcript(self, step: Transition) -> list[TurnChange]:
        data = step.data
        role: Role = "user" if data["role"] == "user" else "assistant"
        delta: str = data["delta"]
        start: int = data["start_ms"] + self._offset
        end: int = data["end_ms"] + self._offset
        self._horizon = max(self._horizon, end)
        options = self.options
        changes: list[TurnChange] = []
        for stale in list(self._open.values()):  # 1. inactivity
            if start - stale.end_ms >= options.silence_ms:
                self._close(stale, "done", changes)
        other = self._open.get("assistant" if role == "user" else "user")
        if other is not None:
            if other.end_ms <= start:  # 2. the floor changes
                self._close(other, "done", changes)
            elif role == "user" and other.start_ms <= start:  # 3. barge-in
                self._close(other, "canceled", changes)
        turn: _Turn | None = self._open.get(role)
        if turn is not None and start - turn.end_ms >= options.turn_gap_ms:  # 4. gap
            self._close(turn, "done", changes)
            turn = None
        if turn is None:
            turn = _Turn(f"turn_{self._next}", role, start, end, step.time)
            self._next += 1
            self._turns[turn.id] = turn
            self._open[role] = turn
            changes.append(("started", turn.id, role, ""))
        elif _new_utterance(turn.text[-1:], delta[:1], paused=start > turn.end_ms):
            # Not run into the last words ("One moment." + "In Paris …"); fragments of one
            # utterance carry their own spaces and are joined as given.
            delta = " " + delta
        turn.parts.append(delta)
        if end > turn.end_ms:
            turn.end_ms = end
        if not turn.visible and self._meaningful(turn.text):
            turn.visible = True
            self._sorted = None
        changes.append(("delta", turn.id, role, delta))
        return changes

    # -- snapshots (compacted records) ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The projection's whole state as plain JSON values (a ``snapshot`` fact's data)."""
        return {
            "turns": [t.fields() for t in self._turns.values()],
            "next": self._next,
            "offset": self._offset,
            "horizon": self._horizon,
        }

    def _restore(self, data: Mapping[str, Any]) -> None:
        self._turns = {}
        self._open = {}
        for fields in data["turns"]:
            turn_id, role, text, start_ms, end_ms, time, status, is_open, visible = fields
            turn = _Turn(turn_id, role, start_ms, end_ms, time)
            turn.parts = [text]
            turn.status, turn.open, turn.visible = status, is_open, visible
            self._turns[turn_id] = turn
            if is_open:
                self._open[role] = turn
        self._next = int(data["next"])
        self._offset = int(data.get("offset", 0))
        self._horizon = int(data.get("horizon", 0))
        self._sorted = None
        self.version += 1


def project_live(
    records: Iterable[Transition], options: LiveChatOptions | None = None
) -> list[ChatItem]:
    """The chat that a Live session's ``records`` describe (equal to its live chat)."""
    projection = LiveChatProjection(options)
    for record in records:
        projection.apply(record)
    return projection.items


def _new_utterance(last: str, first: str, *, paused: bool) -> bool:
    """Whether a fragment starting with ``first`` begins a new utterance after ``last`` (the
    turn's last character) with no space between: after a pause, a word; after a sentence's
    end, a capital (``"21."`` + ``"5"`` is a number going on)."""
    if not last.strip() or not first.isalnum():
        return False
    return paused or (last in ".!?" and first.isupper())
