"""The chat: a projection of the transition record.

:class:`ChatProjection` folds :class:`~realtime_machines.record.Transition` facts (items added,
deltas, final texts, transcripts, truncations, response outcomes, UI messages) into chat rows.
The live session applies each fact as it records it; :func:`project` applies a saved record to
a fresh projection, so ``project(session.record) == session.chat`` always holds.

Several assistant messages per response: a reasoning model may answer with a ``commentary``
preamble and a ``final_answer`` message in one response. Each message item is its own row
carrying its ``phase`` (from the item, or from an ``item_phase`` fact recorded when the phase
arrived before the row existed).

A bounded record starts with a ``snapshot`` fact (``chart == "chat"``): the projection's whole
state at that point, from which folding goes on. Folding a snapshot *replaces* the projection's
state, so ``project(record) == chat`` holds for a compacted record too.

Ordering: every conversation item gets an order key (``ts``) from its place in the conversation
(``previous_item_id``), not from its arrival; UI messages get ``max + 1`` unless given one, and
an item that follows the latest item goes after them (so a UI message stays where it was
added, e.g. before the answer that follows a tool call). A
delta costs O(1): it appends to the row's parts; nothing is sorted or copied per delta.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

from .record import Transition

__all__ = ["ChatItem", "ChatOptions", "ChatProjection", "project"]

Status = Literal["streaming", "done", "canceled"]


def _non_blank(text: str) -> bool:
    return bool(text.strip())


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """The seed's ChatStore options.

    ``is_meaningful_text`` (chat) overrides ``policy_is_meaningful_text`` (global), which
    overrides the default "not blank". ``inverted=False`` lists the oldest message first.
    """

    is_meaningful_text: Callable[[str], bool] | None = None
    policy_is_meaningful_text: Callable[[str], bool] | None = None
    user_add_on_delta: bool = True
    user_placeholder_on_start: bool = False
    assistant_add_on_delta: bool = True
    assistant_placeholder_on_start: bool = False
    inverted: bool = False

    @property
    def meaningful(self) -> Callable[[str], bool]:
        return self.is_meaningful_text or self.policy_is_meaningful_text or _non_blank


@dataclass(frozen=True, slots=True)
class ChatItem:
    """One row of the chat, as users see it.

    ``phase`` is the assistant message's phase when the server tagged it (``"commentary"``
    for a preamble, ``"final_answer"`` for the answer), else ``None``.
    """

    id: str
    type: Literal["text", "ui"]
    role: str
    text: str
    ts: float
    time: float
    status: Status
    response_id: str | None = None
    item_id: str | None = None
    kind: str | None = None
    payload: Any = None
    phase: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "role": self.role,
            "text": self.text,
            "ts": self.ts,
            "time": self.time,
            "status": self.status,
            "response_id": self.response_id,
            "item_id": self.item_id,
            "phase": self.phase,
        }
        if self.type == "ui":
            out["kind"] = self.kind
            out["payload"] = self.payload
        return out


class _Row:
    __slots__ = (
        "added",
        "final",
        "id",
        "item_id",
        "kind",
        "parts",
        "payload",
        "phase",
        "placeholder",
        "response_id",
        "role",
        "status",
        "time",
        "ts",
        "type",
        "visible",
    )

    def __init__(
        self, row_id: str, role: str, ts: float, time: float, *, type_: str = "text"
    ) -> None:
        self.id = row_id
        self.type = type_
        self.role = role
        self.parts: list[str] = []
        self.ts = ts
        self.time = time
        self.status: Status = "streaming"
        self.response_id: str | None = None
        self.item_id: str | None = None
        self.visible = False
        self.placeholder = False
        self.added = False  # added by add_message(), not by the conversation
        self.final = False  # the server gave the final text; later deltas are stale
        self.kind: str | None = None
        self.payload: Any = None
        self.phase: str | None = None

    @property
    def text(self) -> str:
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        text = "".join(parts)
        parts[:] = [text]
        return text

    def snapshot(self) -> ChatItem:
        return ChatItem(
            self.id,
            "ui" if self.type == "ui" else "text",
            self.role,
            self.text,
            self.ts,
            self.time,
            self.status,
            self.response_id,
            self.item_id,
            self.kind,
            self.payload,
            self.phase,
        )


class ChatProjection:
    """Folds record facts into chat rows. Feed it with :meth:`apply`; read :attr:`items`."""

    def __init__(self, options: ChatOptions | None = None) -> None:
        self.options = options or ChatOptions()
        self._meaningful = self.options.meaningful
        self._rows: dict[str, _Row] = {}  # row id -> row
        self._by_item: dict[str, _Row] = {}  # conversation item id -> row
        self._by_response: dict[str, list[_Row]] = {}
        self._placeholders: dict[str, _Row] = {}  # response id -> unbound placeholder
        self._phases: dict[str, str] = {}  # item id -> phase that came before its row
        self._item_keys: dict[str, float] = {}
        self._keys: list[float] = []  # every key in use, sorted
        self._last_item_key: float | None = None  # the latest conversation item's key
        self._ui_next = 1
        self._sorted: list[_Row] | None = None
        self.version = 0
        self._handlers: dict[str, Callable[[Transition], _Row | None]] = {
            "item_added": self._item_added,
            "item_done": self._item_done,
            "delta": self._delta,
            "text_done": self._text_done,
            "transcription_completed": self._transcription_completed,
            "transcription_failed": self._transcription_failed,
            "item_phase": self._item_phase,
            "item_truncated": self._item_truncated,
            "item_deleted": self._item_deleted,
            "response_started": self._response_started,
            "response_finished": self._response_finished,
            "ui_added": self._ui_added,
            "ui_cleared": self._ui_cleared,
            "history_cleared": self._history_cleared,
            "snapshot": self._restore,
        }

    # -- reading ------------------------------------------------------------------------------
    @property
    def items(self) -> list[ChatItem]:
        """The visible rows, ordered by ``ts`` (newest first when ``inverted``)."""
        rows = self._sorted
        if rows is None:
            rows = sorted((r for r in self._rows.values() if r.visible), key=_ts)
            self._sorted = rows
        snapshots = [row.snapshot() for row in rows]
        if self.options.inverted:
            snapshots.reverse()
        return snapshots

    @property
    def row_count(self) -> int:
        """Rows held, visible or not."""
        return len(self._rows)

    def get(self, row_id: str) -> ChatItem | None:
        row = self._rows.get(row_id)
        return row.snapshot() if row is not None and row.visible else None

    def phase(self, item_id: str) -> str | None:
        """The phase of a conversation item's message (``None``: untagged or unknown)."""
        row = self._by_item.get(item_id)
        return row.phase if row is not None else self._phases.get(item_id)

    def next_ts(self) -> float:
        """The ``ts`` a message appended now would get (``max + 1``)."""
        return self._keys[-1] + 1 if self._keys else 1.0

    # -- folding ------------------------------------------------------------------------------
    def apply(self, step: Transition) -> ChatItem | None:
        """Apply one fact; return the row it changed (if visible), else ``None``."""
        row = self.fold(step)
        if row is None or not row.visible:
            return None
        return row.snapshot()

    def fold(self, step: Transition) -> _Row | None:
        """Apply one fact without building a snapshot (the live session's per-delta path)."""
        handler = self._handlers.get(step.event)
        if handler is None or step.chart not in ("conversation", "chat"):
            return None
        row = handler(step)
        self.version += 1
        return row

    # -- ordering -----------------------------------------------------------------------------
    def _key_for(self, item_id: str, previous_item_id: str | None) -> float:
        key = self._item_keys.get(item_id)
        if key is not None:
            return key
        keys = self._keys
        prev = self._item_keys.get(previous_item_id) if previous_item_id else None
        if previous_item_id == "root":
            key = keys[0] - 1.0 if keys else 1.0
            keys.insert(0, key)
        elif prev is None or prev == self._last_item_key or prev == keys[-1]:
            # After the latest item: after everything shown so far, UI messages included (a
            # UI message added during a tool call precedes the follow-up answer).
            key = keys[-1] + 1.0 if keys else 1.0
            keys.append(key)
        else:
            following = keys[bisect_right(keys, prev)]
            key = (prev + following) / 2.0
            insort(keys, key)
        self._item_keys[item_id] = key
        if self._last_item_key is None or key > self._last_item_key:
            self._last_item_key = key
        return key

    def _new_row(self, row_id: str, role: str, ts: float, time: float) -> _Row:
        row = _Row(row_id, role, ts, time)
        self._rows[row_id] = row
        return row

    def _conversation_row(self, item_id: str, role: str, step: Transition) -> _Row:
        row = self._by_item.get(item_id)
        if row is None:
            key = self._key_for(item_id, step.data.get("previous_item_id"))
            row = self._new_row(item_id, role, key, step.time)
            row.item_id = item_id
            row.phase = self._phases.pop(item_id, None)
            self._by_item[item_id] = row
        phase = step.data.get("phase")
        if phase is not None:
            row.phase = phase
        return row

    def _attach_response(self, row: _Row, response_id: str | None) -> None:
        if response_id and row.response_id is None:
            row.response_id = response_id
            self._by_response.setdefault(response_id, []).append(row)

    def _show(self, row: _Row, visible: bool) -> None:
        if row.visible != visible:
            row.visible = visible
            self._sorted = None

    # -- handlers -----------------------------------------------------------------------------
    def _item_added(self, step: Transition) -> _Row | None:
        data = step.data
        item_id = data["item_id"]
        role = data.get("role")
        if data.get("item_type") != "message" or role not in ("user", "assistant"):
            self._key_for(item_id, data.get("previous_item_id"))
            return None
        response_id = data.get("response_id")
        if role == "assistant" and item_id not in self._by_item and response_id:
            placeholder = self._placeholders.pop(response_id, None)
            if placeholder is not None:
                return self._bind_placeholder(placeholder, item_id, step)
        row = self._conversation_row(item_id, role, step)
        self._attach_response(row, response_id)
        text = data.get("text")
        if text is not None:
            row.parts[:] = [text]
            row.final = True
            if role == "user":
                row.status = "done"
            self._show(row, self._meaningful(text))
        elif role == "user" and self.options.user_placeholder_on_start:
            row.placeholder = True
            self._show(row, True)
        return row

    def _bind_placeholder(self, row: _Row, item_id: str, step: Transition) -> _Row:
        del self._rows[row.id]
        row.id = item_id
        row.item_id = item_id
        pending = self._phases.pop(item_id, None)
        row.phase = step.data.get("phase") or pending
        row.ts = self._key_for(item_id, step.data.get("previous_item_id"))
        self._rows[item_id] = row
        self._by_item[item_id] = row
        self._sorted = None
        return row

    def _item_done(self, step: Transition) -> _Row | None:
        data = step.data
        row = self._by_item.get(data["item_id"])
        if row is None:
            if data.get("item_type") == "message" and data.get("role") in ("user", "assistant"):
                return self._item_added(step)
            self._key_for(data["item_id"], data.get("previous_item_id"))
            return None
        if data.get("phase") is not None:
            row.phase = data["phase"]
        text = data.get("text")
        if text is not None:
            row.parts[:] = [text]
            row.final = True
            self._show(row, self._meaningful(text))
        elif row.placeholder and not self._meaningful(row.text) and row.role == "assistant":
            self._show(row, False)
        if row.status == "streaming" and (text is not None or row.role == "assistant"):
            row.status = "canceled" if data.get("status") == "incomplete" else "done"
        return row

    def _delta(self, step: Transition) -> _Row | None:
        data = step.data
        item_id = data["item_id"]
        row = self._by_item.get(item_id)
        if row is None:
            role = "user" if data.get("channel") == "input_transcript" else "assistant"
            response_id = data.get("response_id")
            placeholder = self._placeholders.pop(response_id, None) if response_id else None
            if placeholder is not None:
                row = self._bind_placeholder(placeholder, item_id, step)
            else:
                row = self._conversation_row(item_id, role, step)
        # The delta names its response even when the item arrived before output_item.added.
        self._attach_response(row, data.get("response_id"))
        if row.final:
            return row  # a stale delta (duplicated or late): the final text stands
        delta: str = data["delta"]
        row.parts.append(delta)
        if not row.visible:
            add = (
                self.options.user_add_on_delta
                if row.role == "user"
                else self.options.assistant_add_on_delta
            )
            if add and self._meaningful(row.text):
                self._show(row, True)
        return row

    def _text_done(self, step: Transition) -> _Row | None:
        data = step.data
        row = self._by_item.get(data["item_id"])
        if row is None:
            row = self._conversation_row(data["item_id"], "assistant", step)
        self._attach_response(row, data.get("response_id"))
        text: str = data["text"]
        row.parts[:] = [text]
        row.final = True
        self._show(row, self._meaningful(text) or (row.placeholder and row.status == "streaming"))
        return row

    def _transcription_completed(self, step: Transition) -> _Row | None:
        data = step.data
        row = self._conversation_row(data["item_id"], "user", step)
        transcript: str = data["transcript"]
        row.parts[:] = [transcript]
        row.final = True
        row.status = "done"
        self._show(row, self._meaningful(transcript))
        return row

    def _transcription_failed(self, step: Transition) -> _Row | None:
        row = self._by_item.get(step.data["item_id"])
        if row is None:
            return None
        row.status = "canceled"
        self._show(row, self._meaningful(row.text))
        return row

    def _item_phase(self, step: Transition) -> _Row | None:
        item_id = step.data["item_id"]
        row = self._by_item.get(item_id)
        if row is None:
            self._phases[item_id] = step.data["phase"]
            return None
        row.phase = step.data["phase"]
        return row

    def _item_truncated(self, step: Transition) -> _Row | None:
        row = self._by_item.get(step.data["item_id"])
        if row is not None:
            row.status = "canceled"
        return row

    def _item_deleted(self, step: Transition) -> _Row | None:
        item_id = step.data["item_id"]
        self._phases.pop(item_id, None)
        row = self._by_item.pop(item_id, None)
        if row is not None:
            self._drop(row)
        return None

    def _drop(self, row: _Row) -> None:
        self._rows.pop(row.id, None)
        if row.item_id is not None:
            self._by_item.pop(row.item_id, None)
        if row.visible:
            self._sorted = None

    def _response_started(self, step: Transition) -> _Row | None:
        response_id = step.data["response_id"]
        if not self.options.assistant_placeholder_on_start or response_id in self._placeholders:
            return None
        key = self.next_ts()
        self._keys.append(key)
        row = self._new_row(f"response:{response_id}", "assistant", key, step.time)
        row.placeholder = True
        self._attach_response(row, response_id)
        self._placeholders[response_id] = row
        self._show(row, True)
        return row

    def _response_finished(self, step: Transition) -> _Row | None:
        response_id = step.data["response_id"]
        cancelled = step.data.get("status") in ("cancelled", "failed")
        placeholder = self._placeholders.pop(response_id, None)
        if placeholder is not None:
            self._drop(placeholder)
        last = None
        # The response is over: its rows need no index any more (memory stays flat).
        for row in self._by_response.pop(response_id, ()):
            if row.status == "streaming":
                row.status = "canceled" if cancelled else "done"
                last = row
        return last

    def _ui_added(self, step: Transition) -> _Row | None:
        message: Mapping[str, Any] = step.data["message"]
        row_id = message.get("id")
        if not row_id:
            row_id = f"ui-{self._ui_next}"
            self._ui_next += 1
        row_id = str(row_id)
        ts = message.get("ts")
        key = float(ts) if isinstance(ts, int | float) else self.next_ts()
        insort(self._keys, key)
        existing = self._rows.get(row_id)
        if existing is not None:
            self._drop(existing)
        row = self._new_row(row_id, str(message.get("role") or "assistant"), key, step.time)
        time = message.get("time")
        if isinstance(time, int | float):
            row.time = float(time)
        kind = message.get("type", "ui")
        row.type = "ui" if kind == "ui" else "text"
        row.kind = message.get("kind")
        row.payload = message.get("payload")
        row.parts[:] = [str(message.get("text") or "")]
        row.status = "done"
        row.added = True
        self._show(row, True)
        return row

    def _ui_cleared(self, step: Transition) -> _Row | None:
        for row in [r for r in self._rows.values() if r.added]:
            self._drop(row)
        return None

    def _history_cleared(self, step: Transition) -> _Row | None:
        for row in [r for r in self._rows.values() if not r.added]:
            self._drop(row)
        self._placeholders.clear()
        self._by_response.clear()
        self._phases.clear()
        return None

    # -- snapshots (compacted records) ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The projection's whole state as plain JSON values (a ``snapshot`` fact's data)."""
        return {
            "rows": list(map(_row_fields, self._rows.values())),
            "item_keys": dict(self._item_keys),
            "keys": list(self._keys),
            "by_response": {rid: [r.id for r in rows] for rid, rows in self._by_response.items()},
            "placeholders": {rid: row.id for rid, row in self._placeholders.items()},
            "ui_next": self._ui_next,
            "phases": dict(self._phases),
            "last_item_key": self._last_item_key,
        }

    def _restore(self, step: Transition) -> _Row | None:
        data = step.data
        rows: dict[str, _Row] = {}
        for fields in data["rows"]:
            (row_id, type_, role, text, ts, time, status, response_id, item_id) = fields[:9]
            row = _Row(row_id, role, ts, time, type_=type_)
            row.parts = [text]
            row.status = status
            row.response_id = response_id
            row.item_id = item_id
            row.visible, row.placeholder, row.added, row.final = fields[9:13]
            row.kind, row.payload = fields[13], fields[14]
            row.phase = fields[15] if len(fields) > 15 else None
            rows[row_id] = row
        self._rows = rows
        self._by_item = {r.item_id: r for r in rows.values() if r.item_id is not None}
        self._by_response = {
            rid: [rows[i] for i in ids if i in rows] for rid, ids in data["by_response"].items()
        }
        self._placeholders = {rid: rows[i] for rid, i in data["placeholders"].items() if i in rows}
        self._item_keys = dict(data["item_keys"])
        self._keys = list(data["keys"])
        self._ui_next = int(data["ui_next"])
        self._phases = dict(data.get("phases") or {})
        self._last_item_key = data.get("last_item_key")
        self._sorted = None
        return None


# A row as the snapshot keeps it (one C call per row: compaction must stay cheap).
_row_fields = attrgetter(
    "id",
    "type",
    "role",
    "text",
    "ts",
    "time",
    "status",
    "response_id",
    "item_id",
    "visible",
    "placeholder",
    "added",
    "final",
    "kind",
    "payload",
    "phase",
)


def _ts(row: _Row) -> float:
    return row.ts


def project(records: Iterable[Transition], options: ChatOptions | None = None) -> list[ChatItem]:
    """The chat that ``records`` describe — equal to the live chat of the session that made them."""
    projection = ChatProjection(options)
    for record in records:
        projection.apply(record)
    return projection.items
