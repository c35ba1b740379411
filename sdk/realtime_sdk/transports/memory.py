"""The in-memory transport: a call to the emulator's protocol :class:`Engine` in this process.

No socket is opened. The engine is the one behind the emulator's WebSocket route, driven the
way that route drives it: built per call, attached to a sink, started (``session.created``),
fed each client text, closed when the call ends. What makes a wire honest is kept: client
events go in as JSON text (a malformed one is the engine's business, as on a wire), server
events come out as the JSON text the engine serialised, in order, delivered from the event
loop, never from inside the caller's ``send()``. Audio arrives as
``response.output_audio.delta`` (the client owns playback, as on WebSocket) and goes in as
``input_audio_buffer.append`` (``send_audio()``, or the ``ConnectContext.microphone`` track
pumped by a :class:`~realtime_sdk.audio_convert.MicrophonePump`, as on WebSocket).

    transport = MemoryTransport(brain=ScriptedBrain([[Say("Hi.")]]))

The engine paces nothing in real time on this protocol (only WebRTC's outbound track is
paced), so a turn takes as long as the code that runs it; ``Faults(delta_delay_s=...)`` slows
it down on purpose.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from typing import ClassVar

from ..audio_convert import MicrophonePump, append_events
from ..emulator.brain import Brain
from ..emulator.engine import Engine, EngineOptions
from ..emulator.faults import Faults
from ..emulator.server import WS_MAX_MESSAGE
from ..emulator.session import ProtocolError, validate_model
from ..errors import ConnectError, SendError
from .base import ConnectContext, HandshakeStep, Transport, TransportEvents

__all__ = ["MemoryTransport"]

log = logging.getLogger(__name__)

ATTACHING = HandshakeStep(
    state="attaching", stage="data_channel", timeout=5.0, success="data_channel_open"
)
"""Build the engine and wait until its ``session.created`` has been delivered."""

_REASONS = {
    "expired": "the session expired: the emulator's engine closed the call",
    "client": "the emulator's engine closed the call after session.close",
    "fault": "the emulator's engine closed the call (close_mid_response fault)",
}


@dataclasses.dataclass(frozen=True)
class _Lost:
    reason: str


@dataclasses.dataclass(frozen=True)
class _Mark:
    """Queued after what the engine emitted so far: ``reached`` is set once delivery gets
    there (a handshake step waits for it, so it ends after those events, in order)."""

    reached: asyncio.Event


class InProcessTransport(Transport):
    """What an in-process call to an emulator engine is, whatever its protocol: the engine's
    texts queued and delivered from the event loop in order (never inside ``send()``), sends
    refused once the engine ended the call, the engine's end reported once as ``on_lost``
    (or failing the handshake step that waits), a microphone pumped into :meth:`send_audio`,
    liveness from the engine itself. Subclasses build the engine and hand it texts:
    :class:`MemoryTransport` (Realtime) and
    :class:`~realtime_sdk.transports.live_memory.LiveMemoryTransport` (GPT-Live)."""

    owns_playback: ClassVar[bool] = True
    label: ClassVar[str] = "in-memory call"
    """How errors name the call."""

    def __init__(self) -> None:
        self.lost: str | None = None
        """Why the engine ended the call, once it did (also given to ``on_lost``)."""
        self._events: TransportEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: collections.deque[str | _Lost | _Mark] = collections.deque()
        self._drain_scheduled = False
        self._waiting: asyncio.Event | None = None
        self._closed = False
        self._last_inbound = time.monotonic()
        self._engine_closing: asyncio.Task[None] | None = None
        self._ending = False
        """The engine asked to end the call: its loss is delivered in order, sends fail now."""
        self._microphone = MicrophonePump(self.send_audio, name=f"{self.kind}-microphone")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._state()}>"

    def _state(self) -> str:
        """``new``, ``attached``, ``lost`` or ``closed`` (for the repr)."""
        if self._closed:
            return "closed"
        if self.lost is not None:
            return "lost"
        return "attached" if self._attached_engine() else "new"

    # ------------------------------------------------------------------ for subclasses

    @abc.abstractmethod
    def _attached_engine(self) -> bool:
        """Whether the call has its engine (a handshake step built it)."""
        raise NotImplementedError

    @abc.abstractmethod
    def _feed(self, text: str) -> None:
        """Hand one client text to the engine."""
        raise NotImplementedError

    @abc.abstractmethod
    def _engine_alive(self) -> bool:
        """Whether the engine still answers (not silent, not ended)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def _release(self) -> None:
        """Let go of the engine (the client closed the call, or the engine ended it)."""
        raise NotImplementedError

    def _delivered(self, text: str) -> None:
        """One server text is about to reach ``on_message`` (a handshake may wait for it)."""

    def _begin(self, context: ConnectContext) -> None:
        """The first step starts the call: refused when closed or already used."""
        if self._closed:
            raise ConnectError(
                self.steps[0].stage, f"this {self.kind} transport is closed; use fresh()"
            )
        if self._attached_engine():
            raise ConnectError(
                self.steps[0].stage,
                f"this {self.kind} transport already carries a call; use fresh()",
            )
        self._events = context.events
        self._loop = asyncio.get_running_loop()

    def _check_step(self, state: str) -> None:
        if state not in {step.state for step in self.steps}:
            raise ValueError(
                f"the {self.kind} transport has no handshake step {state!r}; "
                f"its steps are: {', '.join(s.state for s in self.steps)}"
            )

    async def _until(self, reached: asyncio.Event, stage: str) -> None:
        """Wait until ``reached`` is set by delivery, or fail with the reason the call was
        lost meanwhile (a :class:`~realtime_sdk.errors.ConnectError` at ``stage``)."""
        if self.lost is None:
            self._waiting = reached
            try:
                await reached.wait()
            finally:
                self._waiting = None
        if self.lost is not None:
            raise ConnectError(stage, self.lost)

    async def _delivered_so_far(self, stage: str, timeout: float) -> None:  # noqa: ASYNC109
        """Until everything the engine emitted so far has been delivered."""
        mark = _Mark(asyncio.Event())
        self._queue(mark)
        async with asyncio.timeout(timeout):
            await self._until(mark.reached, stage)

    # ------------------------------------------------------------------ outgoing

    async def send(self, text: str) -> None:
        if self._closed or self._ending or self.lost is not None or not self._attached_engine():
            ended = self._closed or self._ending or self.lost is not None
            why = "closed" if ended else "not connected yet"
            raise SendError(_event_type(text), f"the {self.label} is {why}")
        if len(text.encode()) > WS_MAX_MESSAGE:
            raise SendError(
                _event_type(text),
                f"the message is {len(text.encode())} bytes; the peer accepts at most "
                f"{WS_MAX_MESSAGE}",
            )
        self._feed(text)

    @property
    def max_message_size(self) -> int | None:
        return WS_MAX_MESSAGE

    def set_microphone(self, enabled: bool) -> None:
        """Mute (zeros keep flowing, so the engine's VAD hears silence) or unmute the
        microphone given as ``ConnectContext.microphone``; before it starts too."""
        self._microphone.set_enabled(enabled)

    # ------------------------------------------------------------------ incoming

    def _sink(self, text: str) -> None:
        self._queue(text)

    def _queue(self, item: str | _Lost | _Mark) -> None:
        self._pending.append(item)
        if not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Deliver what the engine emitted, in order, from the event loop."""
        self._drain_scheduled = False
        while self._pending and not self._closed and self.lost is None:
            item = self._pending.popleft()
            if isinstance(item, _Mark):
                item.reached.set()
            elif isinstance(item, _Lost):
                self._lose(item.reason)
            elif self._events is not None:
                self._last_inbound = time.monotonic()
                self._delivered(item)
                try:
                    self._events.on_message(item)
                except Exception:  # the consumer's bug must not stop the stream
                    log.exception("on_message failed for an in-memory event")

    def _lose(self, reason: str) -> None:
        self.lost = reason
        self._pending.clear()
        if self._attached_engine() and self._engine_closing is None:
            self._engine_closing = asyncio.get_running_loop().create_task(self._release())
        if self._waiting is not None:  # a handshake step waits: it fails with the reason
            self._waiting.set()
        elif self._events is not None:
            try:
                self._events.on_lost(reason)
            except Exception:
                log.exception("on_lost failed")

    @property
    def last_inbound(self) -> float:
        """Now while the engine is alive (it answers every ping at once, as a WebSocket peer
        does); once it went silent (``vanish_mid_response``) or ended, the last delivery."""
        if (
            self._attached_engine()
            and self._engine_alive()
            and not self._closed
            and self.lost is None
        ):
            self._last_inbound = time.monotonic()
        return self._last_inbound

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        if self._closed:
            if self._engine_closing is not None:
                with contextlib.suppress(Exception):
                    await self._engine_closing
            return
        self._closed = True
        self._pending.clear()
        if self._waiting is not None:
            self._waiting.set()
        await self._microphone.aclose()
        if self._attached_engine() and self._engine_closing is None:
            self._engine_closing = asyncio.get_running_loop().create_task(self._release())
        if self._engine_closing is not None:
            try:
                await self._engine_closing
            except Exception:
                log.exception("closing the in-memory engine failed")


class MemoryTransport(InProcessTransport):
    """One call to an in-process emulator :class:`~realtime_sdk.emulator.Engine`.

    ``brain`` scripts the assistant (shared by every call this transport and its
    :meth:`fresh` copies make, as ``Emulator(brain=...)`` shares one; ``None``: a new
    :class:`~realtime_sdk.emulator.DeterministicBrain` per call). ``faults`` are copied into
    each call (mutate ``transport.faults`` to change the next call's). ``options`` are the
    engine's (transcription, ``ms_per_char``, ``session_ttl_s``, ids); the model is the
    client's (:attr:`ConnectContext.model`), checked as the emulator's ``?model=`` is. The
    token is not checked: there is no server to authenticate to.
    """

    kind: ClassVar[str] = "memory"
    steps: ClassVar[tuple[HandshakeStep, ...]] = (ATTACHING,)

    def __init__(
        self,
        *,
        brain: Brain | None = None,
        faults: Faults | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.brain = brain
        self.faults = faults or Faults()
        self.options = options or EngineOptions()
        self.engine: Engine | None = None
        """The call's engine once attached (its ``items``, ``sent`` and ``received`` show what
        the server side holds)."""
        super().__init__()

    # ------------------------------------------------------------------ handshake

    async def run_step(self, state: str, context: ConnectContext) -> None:
        self._check_step(state)
        self._begin(context)
        try:
            model = validate_model(context.model)
        except ProtocolError as exc:
            raise ConnectError(ATTACHING.stage, exc.message) from exc
        self.engine = Engine(
            kind="websocket",  # the same protocol: audio as deltas, no output_audio_buffer.*
            brain=self.brain,
            faults=dataclasses.replace(self.faults),
            options=dataclasses.replace(self.options, model=model),
            close_transport=self._engine_closed,
        )
        self.engine.attach(self._sink)
        self.engine.start()  # session.created (and a fault's extra frames) are queued now
        await self._delivered_so_far(ATTACHING.stage, ATTACHING.timeout)
        if context.microphone is not None:
            self._microphone.start(context.microphone)

    # ------------------------------------------------------------------ the engine

    def _attached_engine(self) -> bool:
        return self.engine is not None

    def _feed(self, text: str) -> None:
        assert self.engine is not None
        self.engine.handle_text(text)

    def _engine_alive(self) -> bool:
        engine = self.engine
        return engine is not None and not (engine.silent or engine.closed)

    async def _release(self) -> None:
        engine = self.engine
        if engine is not None:
            engine.detach(self._sink)
            await engine.aclose()

    def _engine_closed(self, reason: str) -> None:
        self._ending = True  # sends fail from now on, as into a closed socket
        self._queue(_Lost(_REASONS.get(reason, f"the emulator's engine closed the call: {reason}")))

    async def send_audio(self, pcm: bytes) -> None:
        """Append PCM16 mono 24 kHz to the input buffer (``input_audio_buffer.append`` events
        that fit :attr:`max_message_size`, as on a WebSocket); the engine's VAD hears it as it
        arrives."""
        for text in append_events(pcm, WS_MAX_MESSAGE):
            await self.send(text)

    def fresh(self) -> MemoryTransport:
        return MemoryTransport(brain=self.brain, faults=self.faults, options=self.options)


def _event_type(text: str) -> str:
    """The ``type`` of a serialised client event, for an error message (``"<not JSON>"``)."""
    try:
        event = json.loads(text)
    except ValueError:
        return "<not JSON>"
    kind = event.get("type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else "<no type>"
