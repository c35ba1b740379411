"""What a sideband WebSocket needs from a call: the small interface WebRTC and SIP calls share.

``GET /v1/realtime?call_id=…`` looks the id up in ``Emulator.calls`` and attaches to whatever
call is there through :class:`AttachableCall`: the call has an :class:`~.engine.Engine`
(every server event fans out to the call's own channel and to each attached sideband; client
events are accepted from any of them), it adds and removes :class:`Sideband` sinks, and it
ends them when the call ends. :class:`Sidebands` is that bookkeeping, for a call to hold.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from .engine import Engine

__all__ = ["CALL_ENDED_CODE", "AttachableCall", "Sideband", "Sidebands"]

log = logging.getLogger(__name__)

CALL_ENDED_CODE = 1000
"""The close code a sideband gets when its call ends (a normal closure: the call is over)."""


class Sideband(Protocol):
    """One attached sideband socket, as its call sees it."""

    def send(self, text: str) -> None:
        """One server event (JSON text) for this socket."""

    def end(self, code: int, reason: str) -> None:
        """The call is over: close the socket with ``code`` and ``reason``."""


@runtime_checkable
class AttachableCall(Protocol):
    """A call a sideband can attach to (WebRTC now, SIP later)."""

    id: str
    engine: Engine

    def add_sideband(self, sideband: Sideband) -> None:
        """Fan this call's server events out to ``sideband`` too (ended at once if the call
        already has)."""

    def remove_sideband(self, sideband: Sideband) -> None:
        """Stop sending to ``sideband`` (its socket closed); the call goes on."""


class Sidebands:
    """The sidebands attached to one call's engine, ended together with the call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._attached: list[Sideband] = []
        self.end_reason: str | None = None
        """Why the call ended, once it has (every sideband attached later is ended at once)."""

    def __len__(self) -> int:
        return len(self._attached)

    def add(self, sideband: Sideband) -> None:
        if self.end_reason is not None:
            sideband.end(CALL_ENDED_CODE, self.end_reason)
            return
        self._attached.append(sideband)
        self.engine.attach(sideband.send)

    def remove(self, sideband: Sideband) -> None:
        if sideband in self._attached:
            self._attached.remove(sideband)
        self.engine.detach(sideband.send)

    def end(self, reason: str) -> None:
        """The call ended: close every sideband with ``reason`` (idempotent)."""
        if self.end_reason is None:
            self.end_reason = reason
        attached, self._attached = self._attached, []
        for sideband in attached:
            self.engine.detach(sideband.send)
            try:
                sideband.end(CALL_ENDED_CODE, self.end_reason)
            except Exception:  # one broken socket must not keep the others open
                log.warning("could not end a sideband of a closed call", exc_info=True)
