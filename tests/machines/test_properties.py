"""Hypothesis properties over recorded sessions mutated at random.

Out-of-order (shuffled windows), duplicated, dropped, truncated and wrong-typed events, unknown
types, non-objects, events spliced in from other sessions and user commands in between: the model
must never raise and must keep its invariants after every step.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_machines import wire
from realtime_machines.chat import ChatOptions, project
from realtime_machines.notices import AssistantCompleted
from realtime_machines.record import final_states, read_jsonl, write_jsonl
from realtime_machines.session import TERMINAL, SessionModel
from tests.machines.kit import charts, well_formed
from tests.machines.strategies import Step, mutated_sessions

INITIAL = {"connection": "idle", "response": "idle", "playback": "silent", "mode": "text"}
ASSISTANT_DELTAS = ("response.output_text.delta", "response.output_audio_transcript.delta")
ITEM_EVENTS = ("conversation.item.added", "conversation.item.done", "response.output_item.done")


def content_text(item: Mapping[str, Any]) -> str | None:
    """The final text a message item carries (the protocol's content shapes)."""
    content = item.get("content")
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            value = part.get("text")
        elif kind in ("input_audio", "output_audio", "audio"):
            value = part.get("transcript")
        else:
            value = None
        if isinstance(value, str):
            texts.append(value)
    return "".join(texts) if texts else None


class Checker:
    """Feeds steps to a session and checks the invariants after each one."""

    def __init__(self, options: ChatOptions | None = None) -> None:
        self.session = SessionModel(chat_options=options, transport="webrtc")
        self.terminal: dict[str, str] = {}
        self.arguments: dict[str, str] = {}
        self.deltas: dict[str, list[str]] = {}
        self.finals: dict[str, str] = {}
        self.completed: list[str] = []

    # -- references ------------------------------------------------------------------------
    def _streaming(self, call_id: object, response_id: object = None) -> bool:
        """Whether the call takes arguments: it streams, or it is new (a new call of a response
        that is over is abandoned at once: its arguments will never be done)."""
        if not isinstance(call_id, str):
            return False
        chart = self.session.tool_calls.get(call_id)
        if chart is None:
            over = isinstance(response_id, str) and self.session.responses.get(response_id)
            return over not in TERMINAL
        return chart.state == "streaming"

    def _reference(self, raw: object) -> None:
        event = wire.normalize(raw)
        if not isinstance(event, wire.ServerEvent):
            return
        kind = event.type
        data: Any = event
        if kind == "response.function_call_arguments.delta" and self._streaming(
            data.call_id, data.response_id
        ):
            self.arguments[data.call_id] = self.arguments.get(data.call_id, "") + data.delta
        elif kind == "response.function_call_arguments.done" and self._streaming(
            data.call_id, data.response_id
        ):
            self.arguments[data.call_id] = data.arguments
        elif kind in ASSISTANT_DELTAS or (
            kind == "conversation.item.input_audio_transcription.delta" and data.delta
        ):
            self.deltas.setdefault(data.item_id, []).append(data.delta)
        elif kind == "response.output_text.done":
            self.finals[data.item_id] = data.text
        elif (
            kind == "response.output_audio_transcript.done"
            or kind == "conversation.item.input_audio_transcription.completed"
        ):
            self.finals[data.item_id] = data.transcript
        if kind in (*ITEM_EVENTS, "conversation.item.created"):
            item = data.item
            done = kind != "conversation.item.added" and (
                kind != "conversation.item.created" or item.get("status") == "completed"
            )
            if item.get("type") == "message" and isinstance(item.get("id"), str):
                text = content_text(item)
                if text is not None:
                    self.finals[item["id"]] = text
            elif item.get("type") == "function_call" and done:
                arguments = item.get("arguments")
                if isinstance(arguments, str) and self._streaming(item.get("call_id")):
                    self.arguments[item["call_id"]] = arguments

    # -- stepping ----------------------------------------------------------------------------
    def step(self, step: Step) -> None:
        session = self.session
        kind, value = step
        if kind == "recv":
            self._reference(value)
            notices = session.receive(value)
            self.completed.extend(
                n.response_id for n in notices if isinstance(n, AssistantCompleted)
            )
        elif kind == "send":
            session.send(value)
        else:
            self._command(value)
        session.take_effects()
        self.check()

    def _command(self, name: str) -> None:
        session = self.session
        if name == "request_response":
            session.request_response()
        elif name == "cancel_response":
            session.cancel_response()
        elif name == "set_voice":
            session.set_mode("voice")
        elif name == "set_text":
            session.set_mode("text")
        elif name.startswith("timer:"):
            session.timer_fired(name.partition(":")[2])
        elif name == "submit_first_open_call":
            for call_id, chart in session.tool_calls.items():
                if not chart.is_settled:
                    assert session.submit_tool_output(call_id, "{}")
                    break

    # -- invariants ----------------------------------------------------------------------------
    def check(self) -> None:
        session = self.session
        assert session.faults == 0, [r.data for r in session.record if r.chart == "model"]
        # one terminal status per response
        for rid, status in self.terminal.items():
            assert session.responses[rid] == status, rid
        self.terminal.update({r: s for r, s in session.responses.items() if s in TERMINAL})
        assert len(self.completed) == len(set(self.completed)), self.completed
        # tool arguments: concatenated deltas, or the done text when given
        for call_id, chart in session.tool_calls.items():
            assert chart.arguments_text == self.arguments.get(call_id, ""), call_id
        # chat rows: concatenated deltas, or the final text
        for row in session.chat:
            if row.item_id is None:
                continue
            if row.item_id in self.finals:
                assert row.text == self.finals[row.item_id], row
            elif row.item_id in self.deltas:
                assert row.text == "".join(self.deltas[row.item_id]), row
        # the chat is a projection of the record
        assert project(session.record, session.chat_options) == session.chat
        for model_chart in charts(session):
            well_formed(model_chart)
        states = session.states()
        recorded = final_states(session.record)
        assert recorded == {name: states[name] for name in recorded}
        for name, initial in INITIAL.items():
            if states[name] != initial:
                assert name in recorded

    def check_round_trip(self) -> None:
        buffer = io.StringIO()
        write_jsonl(self.session.record, buffer)
        buffer.seek(0)
        records = list(read_jsonl(buffer))
        assert project(records, self.session.chat_options) == self.session.chat
        assert final_states(records) == final_states(self.session.record)


def run(steps: list[Step], options: ChatOptions | None = None) -> Checker:
    checker = Checker(options)
    for step in steps:
        checker.step(step)
    checker.check_round_trip()
    return checker


@settings(max_examples=200, deadline=None)
@given(mutated_sessions())
def test_mutated_sessions_keep_the_invariants(steps: list[Step]) -> None:
    run(steps)


OPTIONS = st.builds(
    ChatOptions,
    user_add_on_delta=st.booleans(),
    user_placeholder_on_start=st.booleans(),
    assistant_add_on_delta=st.booleans(),
    assistant_placeholder_on_start=st.booleans(),
    inverted=st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(mutated_sessions(max_mutations=4), OPTIONS)
def test_projection_holds_under_every_chat_option(steps: list[Step], options: ChatOptions) -> None:
    run(steps, options)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted(wire.GA_SERVER_EVENT_TYPES)), max_size=30))
def test_bare_typed_events_without_fields_never_raise(types: list[str]) -> None:
    checker = Checker()
    for kind in types:
        checker.step(("recv", {"type": kind}))
    checker.check_round_trip()


def test_unmutated_recordings_pass_the_checker() -> None:
    from tests.machines.strategies import BASES

    for steps in BASES.values():
        checker = run(steps)
        assert checker.session.chat


def test_a_late_arguments_delta_of_a_finished_response_starts_no_arguments() -> None:
    """Found by the property above: a call first heard of in an arguments delta after its
    response's ``response.done`` is abandoned at once, and the delta adds nothing to it."""
    done = {
        "type": "response.done",
        "response": {"object": "realtime.response", "id": "resp_1", "status": "completed"},
    }
    delta = {
        "type": "response.function_call_arguments.delta",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "call_id": "call_1",
        "delta": "{",
    }
    checker = run([("recv", done), ("recv", delta)])
    chart = checker.session.tool_calls["call_1"]
    assert (chart.state, chart.arguments_text) == ("abandoned", "")
