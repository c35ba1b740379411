"""Tool-call chart: one instance per ``call_id``.

Arguments stream in as deltas (kept in :attr:`ToolCallChart.arguments_text`, not sent through
the chart), then ``response.function_call_arguments.done`` parses them: valid JSON objects go to
``ready``, anything else to ``invalid`` with the parse error kept — never an exception. From
``ready`` the call is either executed by the user's handler (``executing``, with a timeout) or
answered by hand; a handler that returns nothing hands the call back (``deferred``) for the app
to answer itself. ``answered`` means the ``function_call_output`` item has been sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, ExecuteTool, SendEvent, StartTimer

__all__ = ["ToolCallChart", "parse_arguments"]


def parse_arguments(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Parse tool arguments; return ``(arguments, None)`` or ``(None, error)``."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


class ToolCallChart(ModelChart):
    """The life of one function call, from streamed arguments to the output sent back."""

    chart_kind = "tool_call"

    streaming = State("streaming arguments", initial=True)
    ready = State("arguments ready")
    invalid = State("arguments invalid")
    executing = State("executing")
    answered = State("output sent", final=True)
    abandoned = State("abandoned", final=True)

    arguments_done = streaming.to(ready, cond="arguments_valid") | streaming.to(invalid)
    execute = ready.to(executing, on="start_execution")
    deferred = executing.to(ready)
    submit = (
        ready.to(answered, on="send_output")
        | invalid.to(answered, on="send_output")
        | executing.to(answered, on="send_output")
        | streaming.to(answered, on="send_output")
    )
    execution_failed = executing.to(answered, on="send_error_output")
    execution_timed_out = executing.to(answered, on="send_timeout_output")
    abandon = (
        streaming.to(abandoned)
        | ready.to(abandoned)
        | invalid.to(abandoned)
        | executing.to(abandoned)
    )

    def __init__(
        self,
        host: ChartHost,
        *,
        call_id: str,
        name: str,
        item_id: str | None,
        response_id: str | None,
        new_event_id: Any,
        timeout: float = 30.0,
    ) -> None:
        self.call_id = call_id
        self.tool_name = name
        self.item_id = item_id
        self.response_id = response_id
        self.parts: list[str] = []
        self.arguments: dict[str, Any] | None = None
        self.error: str | None = None
        self.output: str | None = None
        self.follow_up = False
        self._new_event_id = new_event_id
        #: Seconds the handler may take once executing (set per tool name by the session).
        self.timeout = timeout
        super().__init__(host, name=f"tool_call:{call_id}")

    @property
    def arguments_text(self) -> str:
        """The arguments as streamed so far (or as given by ``…arguments.done``)."""
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    @property
    def timer_name(self) -> str:
        return f"tool_call:{self.call_id}"

    # -- guards -------------------------------------------------------------------------------
    def arguments_valid(self, arguments: str = "") -> bool:
        self.parts[:] = [arguments]
        self.arguments, self.error = parse_arguments(arguments)
        return self.error is None

    # -- actions ------------------------------------------------------------------------------
    def start_execution(self) -> None:
        self.host.emit(ExecuteTool(self.call_id, self.tool_name, dict(self.arguments or {})))
        self.host.emit(StartTimer(self.timer_name, self.timeout))

    def send_output(self, output: str = "", follow_up: bool = False) -> None:
        self._send(output, follow_up)

    def send_error_output(self, error: str = "", follow_up: bool = True) -> None:
        self._send(json.dumps({"error": f"tool {self.tool_name!r} failed: {error}"}), follow_up)

    def send_timeout_output(self, follow_up: bool = True) -> None:
        message = f"tool {self.tool_name!r} did not answer within {self.timeout:g} s"
        self._send(json.dumps({"error": message}), follow_up)

    def _send(self, output: str, follow_up: bool) -> None:
        self.output = output
        self.follow_up = follow_up
        item: Mapping[str, Any] = {
            "type": "function_call_output",
            "call_id": self.call_id,
            "output": output,
        }
        self.host.emit(
            SendEvent(
                {"type": "conversation.item.create", "event_id": self._new_event_id(), "item": item}
            )
        )

    def on_exit_executing(self) -> None:
        self.host.emit(CancelTimer(self.timer_name))

    @property
    def is_settled(self) -> bool:
        """True once the call needs nothing more (output sent or abandoned)."""
        return self.current_state_value in _SETTLED

    def summary(self) -> dict[str, Any]:
        """The call as the replay summary shows it."""
        return {
            "call_id": self.call_id,
            "name": self.tool_name,
            "arguments": self.arguments_text,
            "status": self.state,
        }


_SETTLED = frozenset({"answered", "abandoned"})
