"""Response chart: the lane of the default conversation, with the response-create sequencer.

Only one response may write to the default conversation at a time; the server answers a
second ``response.create`` with ``conversation_already_has_active_response``. This chart makes
that impossible to trigger from the client: a request while a response is being created,
generated or cancelled is queued and sent when the lane is free again, and a cancel with no
active response is never sent (the server would answer ``response_cancel_not_active``).

Every create carries its ``event_id`` in ``response.metadata`` (key :data:`TAG`); once the
server has echoed a tag, a ``response.created`` without ours is a response the server started
itself (server VAD), and a create of ours still unanswered stays in flight: the lane returns to
``create requested`` when that response finishes instead of sending the next queued create.

A ``conversation_already_has_active_response`` naming our create while the lane knows no
response (its ``response.created`` never reached us) moves to ``server busy``: the create is
queued again and a timer runs. The unknown response's ``response.created`` or ``response.done``
moves the lane on as usual; if neither comes in time the lane frees itself and sends the create
again, and after :data:`MAX_BUSY_RETRIES` such rounds it drops the create and counts it in
:attr:`ResponseChart.dropped_creates` (the session tells the app with an ``error`` event).

``idle`` and ``done`` are the free states; ``done`` means a response finished, with its GA status
(``completed | cancelled | failed | incomplete``) in :attr:`ResponseChart.last_status` (each
response's own status is kept by the session). A rejected or timed-out create returns to ``idle``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from statemachine import State

from .._chart import ChartHost, ModelChart
from ..effects import CancelTimer, SendEvent, StartTimer

__all__ = ["ResponseChart"]

CREATE_TIMER = "response.create"
#: The ``response.metadata`` key that carries the ``event_id`` of the create a response answers.
TAG = "realtime_machines_create"
CANCEL_TIMER = "response.cancel"
BUSY_TIMER = "response.busy"
#: Rounds of "busy, and no response shows up" before a create is given up.
MAX_BUSY_RETRIES = 3


class ResponseChart(ModelChart):
    """Lifecycle of responses in the default conversation (one lane per session)."""

    chart_kind = "response"

    idle = State("idle", initial=True)
    create_requested = State("create requested")
    generating = State("generating")
    cancelling = State("cancelling")
    server_busy = State("server busy")
    done = State("done")

    # -- requests from the client -------------------------------------------------------------
    request = (
        idle.to(create_requested, on="send_create")
        | done.to(create_requested, on="send_create")
        | create_requested.to(None, on="enqueue")
        | generating.to(None, on="enqueue")
        | cancelling.to(None, on="enqueue")
        | server_busy.to(None, on="enqueue")
    )
    dequeue = idle.to(create_requested, on="send_next") | done.to(create_requested, on="send_next")
    cancel = (
        generating.to(cancelling, on="send_cancel")
        | create_requested.to(cancelling)
        | server_busy.to(cancelling, on="send_cancel")
        | idle.to(None, on="drop_cancel")
        | done.to(None, on="drop_cancel")
    )

    # -- what the server says -----------------------------------------------------------------
    created = (
        idle.to(generating)
        | create_requested.to(generating)
        | done.to(generating)
        | server_busy.to(generating)
        | cancelling.to(None, on="cancel_created")
    )
    finished = (
        generating.to(create_requested, cond="create_in_flight", on="keep_status")
        | generating.to(done, on="keep_status", after="after_finish")
        | cancelling.to(done, on="keep_status", after="after_finish")
        | server_busy.to(done, on="keep_status", after="after_finish")
    )
    busy = create_requested.to(server_busy, on="requeue_request") | generating.to(
        None, on="requeue_request"
    )
    busy_timed_out = server_busy.to(idle, cond="may_retry", after="after_finish") | (
        server_busy.to(idle, on="drop_create", after="after_finish")
    )
    create_rejected = create_requested.to(idle, after="after_finish")
    create_timed_out = create_requested.to(idle, after="after_finish")
    cancel_timed_out = cancelling.to(done, on="assume_cancelled", after="after_finish")

    # -- the connection went away -------------------------------------------------------------
    reset = (
        create_requested.to(idle, on="drop_queue")
        | generating.to(idle, on="drop_queue")
        | cancelling.to(idle, on="drop_queue")
        | done.to(idle, on="drop_queue")
        | server_busy.to(idle, on="drop_queue")
    )

    def __init__(
        self,
        host: ChartHost,
        *,
        new_event_id: Any,
        create_timeout: float = 15.0,
        cancel_timeout: float = 5.0,
    ) -> None:
        self.queue: deque[Mapping[str, Any] | None] = deque()
        self.response_id: str | None = None
        self.pending_event_id: str | None = None
        self._pending_params: Mapping[str, Any] | None = None
        #: GA status of the last finished response (``completed | cancelled | failed | ...``)
        self.last_status: str | None = None
        self._new_event_id = new_event_id
        self._create_timeout = create_timeout
        self._cancel_timeout = cancel_timeout
        #: Creates given up after :data:`MAX_BUSY_RETRIES` unexplained "busy" answers.
        self.dropped_creates = 0
        self._busy_rounds = 0
        super().__init__(host)

    @property
    def is_active(self) -> bool:
        """True while a response is requested, generating or being cancelled."""
        return self.current_state_value in _ACTIVE

    # -- actions ------------------------------------------------------------------------------
    def _send_create(self, params: Mapping[str, Any] | None) -> None:
        event_id = self._new_event_id()
        self.pending_event_id = event_id
        self._pending_params = params
        response = dict(params or {})
        # The server echoes metadata in response.created: that is how a response started by the
        # server (VAD) is told apart from the one answering this create.
        metadata = response.get("metadata")
        response["metadata"] = {
            **(metadata if isinstance(metadata, Mapping) else {}),
            TAG: event_id,
        }
        self.host.emit(
            SendEvent({"type": "response.create", "event_id": event_id, "response": response})
        )

    def send_create(self, params: Mapping[str, Any] | None = None) -> None:
        self._send_create(params)

    def send_next(self) -> None:
        self._send_create(self.queue.popleft())

    def enqueue(self, params: Mapping[str, Any] | None = None) -> None:
        self.queue.append(params)

    def requeue_request(self) -> None:
        # Our create lost the race against a server-initiated response: retry it afterwards.
        # Keep the request's own parameters (instructions, modalities ...) for the retry.
        self.queue.appendleft(self._pending_params)
        self.pending_event_id = None

    def send_cancel(self) -> None:
        event: dict[str, Any] = {"type": "response.cancel", "event_id": self._new_event_id()}
        if self.response_id:
            event["response_id"] = self.response_id
        self.host.emit(SendEvent(event))

    def cancel_created(self, response_id: str | None = None) -> None:
        # The cancel was asked for before the server created the response: send it now.
        self.response_id = response_id
        self.send_cancel()

    def drop_cancel(self) -> None:
        """A cancel with no active response is not sent."""

    def keep_status(self, status: str = "failed") -> None:
        self.last_status = status

    def assume_cancelled(self) -> None:
        self.last_status = "cancelled"

    def drop_queue(self) -> None:
        self.queue.clear()
        self.pending_event_id = None
        self.response_id = None

    def create_in_flight(self) -> bool:
        """Our create is still unanswered (a server-started response ran meanwhile)."""
        return self.pending_event_id is not None

    def after_finish(self) -> None:
        self.pending_event_id = None
        if self.queue:
            self.send("dequeue")

    def may_retry(self) -> bool:
        return self._busy_rounds <= MAX_BUSY_RETRIES

    def drop_create(self) -> None:
        if self.queue:
            self.queue.popleft()
        self.dropped_creates += 1
        self._busy_rounds = 0

    def on_enter_server_busy(self) -> None:
        self._busy_rounds += 1
        self.response_id = None
        self.host.emit(StartTimer(BUSY_TIMER, self._create_timeout))

    def on_exit_server_busy(self) -> None:
        self.host.emit(CancelTimer(BUSY_TIMER))

    def on_enter_generating(self, response_id: str | None = None, ours: bool = True) -> None:
        self._busy_rounds = 0
        self.response_id = response_id
        if ours:
            self.pending_event_id = None

    def on_enter_create_requested(self) -> None:
        self.response_id = None
        self.host.emit(StartTimer(CREATE_TIMER, self._create_timeout))

    def on_exit_create_requested(self) -> None:
        self.host.emit(CancelTimer(CREATE_TIMER))

    def on_enter_cancelling(self) -> None:
        self.host.emit(StartTimer(CANCEL_TIMER, self._cancel_timeout))

    def on_exit_cancelling(self) -> None:
        self.host.emit(CancelTimer(CANCEL_TIMER))


_ACTIVE = frozenset({"create_requested", "generating", "cancelling", "server_busy"})
