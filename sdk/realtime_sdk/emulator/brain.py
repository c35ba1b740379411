"""The emulator's assistants: a deterministic default and a scripted one for tests.

A brain sees the turn (conversation items, effective session config, response overrides) and
returns what the assistant produces: a list of :class:`Say` (a message; spoken or written per
the output modalities) and :class:`CallTool` (a function call). It never sees the wire.

A response may hold several messages, as reasoning models (``gpt-realtime-2*``) answer: a
``Say(..., phase="commentary")`` preamble before a ``Say(..., phase="final_answer")``; the
engine puts the ``phase`` on each message item. ``DeterministicBrain(preamble=...)`` answers
that way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

JSON = dict[str, Any]


Phase: TypeAlias = Literal["commentary", "final_answer"]


@dataclass(frozen=True)
class Say:
    """An assistant message. ``text`` is the text (or the audio transcript); ``phase``, when
    given, goes on the message item (``commentary``: a preamble; ``final_answer``: the answer)."""

    text: str
    phase: Phase | None = None


@dataclass(frozen=True)
class CallTool:
    """A function call. ``arguments`` is a JSON string or a dict (serialised for the wire)."""

    name: str
    arguments: str | JSON = field(default_factory=dict)
    call_id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


Output: TypeAlias = Say | CallTool


@dataclass(frozen=True)
class Turn:
    """What a brain gets for one response."""

    items: Sequence[JSON]
    instructions: str
    tools: Sequence[JSON]
    tool_choice: object
    output_modalities: Sequence[str]
    metadata: JSON | None = None

    def last_item(self) -> JSON | None:
        return self.items[-1] if self.items else None

    def last_user_text(self) -> str | None:
        for item in reversed(self.items):
            if item.get("type") == "message" and item.get("role") == "user":
                return item_text(item)
        return None


def item_text(item: JSON) -> str:
    """The text of a message item (input text, transcripts, output text)."""
    parts: list[str] = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        for key in ("text", "transcript"):
            value = part.get(key)
            if isinstance(value, str):
                parts.append(value)
                break
    return " ".join(parts)


class Brain(Protocol):
    """Anything that turns a :class:`Turn` into outputs."""

    def respond(self, turn: Turn) -> Sequence[Output]: ...


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_DEFAULTS: dict[str, object] = {
    "string": "example",
    "number": 0,
    "integer": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


def _schema_arguments(schema: JSON, text: str) -> JSON:
    found = _JSON_OBJECT.search(text)
    if found:
        try:
            parsed = json.loads(found.group(0))
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    props = schema.get("properties") or {}
    args: JSON = {}
    for name in schema.get("required") or []:
        prop = props.get(name) or {}
        if isinstance(prop.get("enum"), list) and prop["enum"]:
            args[name] = prop["enum"][0]
        else:
            kind = prop.get("type", "string")
            if isinstance(kind, list):
                kind = kind[0] if kind else "string"
            args[name] = _DEFAULTS.get(str(kind))
    return args


class DeterministicBrain:
    """The default assistant. Same input, same output, no model.

    * After a ``function_call_output``: says ``"Tool result: <output>"``.
    * A user turn whose text names a declared tool (whole word, or a forced ``tool_choice``):
      calls it, with arguments from the first JSON object in the text, or else the schema's
      required fields filled with type defaults (``"example"``, ``0``, ``false``, …).
    * Otherwise: ``"You said: <text>"`` (``"Hello! How can I help?"`` when there is no text).

    ``preamble`` (e.g. ``"Let me check."``) answers as a reasoning model does: every response
    starts with that message as ``phase="commentary"``, and the answer is
    ``phase="final_answer"`` (a tool call follows the preamble).
    """

    def __init__(self, preamble: str | None = None) -> None:
        self.preamble = preamble

    def respond(self, turn: Turn) -> Sequence[Output]:
        outputs = self._respond(turn)
        if self.preamble is None:
            return outputs
        tagged = [Say(o.text, "final_answer") if isinstance(o, Say) else o for o in outputs]
        return [Say(self.preamble, "commentary"), *tagged]

    def _respond(self, turn: Turn) -> list[Output]:
        last = turn.last_item()
        if last is not None and last.get("type") == "function_call_output":
            return [Say(f"Tool result: {last.get('output', '')}")]
        text = turn.last_user_text() or ""
        if turn.tool_choice != "none":
            forced = turn.tool_choice.get("name") if isinstance(turn.tool_choice, dict) else None
            for tool in turn.tools:
                name = str(tool.get("name", ""))
                named = name and re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text)
                if name == forced or named or turn.tool_choice == "required":
                    args = _schema_arguments(tool.get("parameters") or {}, text)
                    return [CallTool(name, args)]
        if not text.strip():
            return [Say("Hello! How can I help?")]
        return [Say(f"You said: {text.strip()}")]


Step: TypeAlias = Sequence[Output] | Callable[[Turn], Sequence[Output]]


class ScriptedBrain:
    """Plays a list of steps, one per response; each step is outputs or ``turn -> outputs``.

    When the script runs out it falls back to ``fallback`` (a :class:`DeterministicBrain` by
    default). ``turns`` records every :class:`Turn` seen, for assertions.
    """

    def __init__(self, steps: Iterable[Step], fallback: Brain | None = None) -> None:
        self._steps = list(steps)
        self._fallback: Brain = fallback or DeterministicBrain()
        self.turns: list[Turn] = []

    @property
    def remaining(self) -> int:
        return len(self._steps)

    def respond(self, turn: Turn) -> Sequence[Output]:
        self.turns.append(turn)
        if not self._steps:
            return self._fallback.respond(turn)
        step = self._steps.pop(0)
        if callable(step):
            return list(step(turn))
        return list(step)
