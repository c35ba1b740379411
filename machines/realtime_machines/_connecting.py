"""Driving the Connection chart and the transport's handshake chart: shared by the Realtime
:class:`~realtime_machines.session.SessionModel` and the GPT-Live
:class:`~realtime_machines.live.session.LiveSessionModel`, which run over the same transports.

:class:`ConnectionDriver` is a mixin: the model that uses it owns ``connection`` (a
:class:`~realtime_machines.charts.connection.ConnectionChart`), ``handshake_class``,
``handshake_timeouts``, ``handshake`` and ``reference_engine``, implements
:meth:`ConnectionDriver._reset_conversation_charts` (the call is gone) and is a chart host.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from .charts.connection import CONNECT_TIMER, ConnectionChart
from .charts.handshake import HANDSHAKE_ENDS, HANDSHAKE_TIMER, HandshakeChart, handshake_chart

__all__ = ["ConnectionDriver"]

logger = logging.getLogger("realtime_machines")

_HANDSHAKE_EVENTS = frozenset({"step_done", "step_failed"})


@functools.lru_cache(maxsize=32)
def handshake_class(kind: str, steps: tuple[tuple[str, str], ...]) -> type[HandshakeChart]:
    """One chart class per handshake shape (a class is built and compiled once)."""
    return handshake_chart(kind, steps)


class ConnectionDriver:
    """Connect, disconnect, the shell's reports and the connection timers."""

    connection: ConnectionChart
    handshake_class: type[HandshakeChart]
    handshake_timeouts: dict[str, float]
    handshake: HandshakeChart | None
    reference_engine: bool
    _now: float
    _advance: Callable[[float | None], None]  # ModelRecord's: the clock moves forward only

    def _reset_conversation_charts(self) -> None:
        raise NotImplementedError

    @property
    def status(self) -> str:
        """The connection's ``idle | connecting | connected | disconnected | error``."""
        return self.connection.status

    def connect(self, *, time: float | None = None) -> bool:
        """Start connecting; False (and a warning) if a connect or disconnect is under way."""
        self._advance(time)
        if not self.connection.offer("connect"):
            logger.warning("connect ignored: connection is %s", self.connection.state)
            return False
        self._sync_handshake()
        return True

    def disconnect(self, *, time: float | None = None) -> bool:
        """Start disconnecting; False (and a warning) if there is nothing to disconnect."""
        self._advance(time)
        if not self.connection.offer("disconnect"):
            logger.warning("disconnect ignored: connection is %s", self.connection.state)
            return False
        self._sync_handshake()
        self._reset_conversation_charts()
        return True

    def signal(self, event: str, *, time: float | None = None, **data: Any) -> bool:
        """Feed the outcome of a connection effect (``token_received``, ``step_done``...).

        While the connection is ``handshaking``, ``step_done`` and ``step_failed`` go to the
        handshake chart (the step's own stage is reported when it fails)."""
        self._advance(time)
        if event in _HANDSHAKE_EVENTS and self.connection.state == "handshaking":
            sent = self._handshake_offer(event, **data)
        elif event == "step_done":  # a step that finished after its call was left: nobody waits
            logger.debug("step_done ignored: connection is %s", self.connection.state)
            return False
        else:
            sent = self.connection.offer(event, **data)
        self._after_connection_change()
        return sent

    def _handshake_offer(self, event: str, **data: Any) -> bool:
        """Feed the current handshake chart; tell the Connection chart when it has settled."""
        handshake = self.handshake
        if handshake is None or event not in type(handshake).handled_in():
            return False
        if not handshake.offer(event, **data):
            return False
        if handshake.state == "open":
            self.connection.offer("handshake_done")
        elif handshake.state == "failed":
            self.connection.offer(
                "step_failed", error=handshake.error_message, stage=handshake.error_stage
            )
        return True

    def _sync_handshake(self) -> None:
        """One handshake chart per call: started when the connection enters ``handshaking``,
        cancelled when it leaves it with a step still running."""
        handshake = self.handshake
        if self.connection.state == "handshaking":
            if handshake is None or handshake.state in HANDSHAKE_ENDS:
                handshake = self.handshake = self.handshake_class(
                    self,  # type: ignore[arg-type]  # the model using the mixin is a ChartHost
                    timeouts=self.handshake_timeouts,
                    reference_engine=self.reference_engine,
                )
                self._handshake_offer("start")
        elif handshake is not None and handshake.state not in HANDSHAKE_ENDS:
            self._handshake_offer("cancel")

    def _after_connection_change(self) -> None:
        connection = self.connection
        self._sync_handshake()
        if connection.state == "error" and connection.may_retry():
            connection.offer("retry")
        if connection.state in ("error", "disconnected", "reconnecting", "ended"):
            self._reset_conversation_charts()

    def rollover(self, *, time: float | None = None) -> bool:
        """Replace the live call with a new one (before the server's session cap ends it)."""
        self._advance(time)
        sent = self.connection.offer("rollover")
        self._after_connection_change()
        return sent

    def _connection_timer(self, name: str) -> bool | None:
        """Handle a connection or handshake timer; ``None`` when ``name`` is neither."""
        if name == CONNECT_TIMER:
            sent = self.connection.offer("timed_out")
            self._after_connection_change()
            return sent
        if name == HANDSHAKE_TIMER:
            if self.connection.state != "handshaking":
                return False
            sent = self._handshake_offer("timed_out")
            self._after_connection_change()
            return sent
        return None
