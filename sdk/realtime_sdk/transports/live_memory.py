"""The in-memory GPT-Live transport: a Live session on the emulator's :class:`LiveEngine` in
this process, the counterpart of :class:`~realtime_sdk.transports.memory.MemoryTransport`.

No socket is opened. The engine is driven the way the emulator's ``GET /v1/live/sessions``
WebSocket route drives it: a new engine per call with one primary ``websocket`` connection,
client events in as JSON text (``session.start`` first, sent by the client in the
``starting_session`` step, which ends when ``session.started`` has been delivered), server
events out as the JSON text the engine serialised, in order, from the event loop (never from
inside ``send()``). Input audio goes in as ``session.input_audio.append`` in the session's
``audio.format`` (``send_audio()``, or the ``ConnectContext.microphone`` track pumped as on
WebSocket); output audio comes as ``session.output_audio.delta`` (the client plays it).

    transport = LiveMemoryTransport(brain=ScriptedBrain([[Say("Hi.")]]))
    client = RealtimeClient(api="live", api_key="sk-test", transport=transport)

Live's timeline moves with input audio only: a client streaming silence (the default) runs in
real time; with ``silence=False`` and ``send_audio()`` a test runs as fast as it sends. The
engine ending the session (``session.close``, expiry, a hang-up through
``transport.engine.close(...)``) reaches the client after ``session.closed`` as a lost call
with the reason, which the Live client reports as the session's end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import ClassVar

from ..emulator.brain import Brain
from ..emulator.faults import Faults
from ..emulator.live.engine import LiveConnection, LiveEngine, LiveOptions
from ..errors import ConnectError
from .base import ConnectContext, HandshakeStep
from .live import STARTING_SESSION, LiveAudioInput, input_encoder
from .memory import InProcessTransport, _Lost
from .websocket import _parsed_type

__all__ = ["FAULTS", "LiveMemoryTransport"]

ATTACHING = HandshakeStep("attaching", "data_channel", 5.0)
"""Build the engine and connect to it as its primary WebSocket would."""
STARTING = HandshakeStep(STARTING_SESSION, "data_channel", 15.0, success="data_channel_open")
"""The client sent ``session.start``: until ``session.started`` has been delivered."""

FAULTS: frozenset[str] = frozenset(
    {"close_mid_response", "vanish_mid_response", "nonjson_frame", "oversized_frame_bytes"}
)
"""The :class:`~realtime_sdk.emulator.Faults` a Live call can inject: the wire's. The
assistant's first audio or transcript delta is the "response" the first two wait for."""

_SPEECH = frozenset({"session.output_audio.delta", "session.output_transcript.delta"})
_REASONS = {
    "close_requested": "the emulator's Live engine closed the session (close_requested)",
    "expired": "the Live session expired: the emulator's engine closed it",
    "content": "the emulator's Live engine ended the session (content)",
}


def check_faults(faults: Faults) -> Faults:
    """``faults`` if a Live call can inject them; a ``ValueError`` naming the others."""
    if not isinstance(faults, Faults):
        raise TypeError(f"faults must be a realtime_sdk.emulator.Faults, got {faults!r}")
    default = Faults()
    unsupported = sorted(
        f.name
        for f in dataclasses.fields(faults)
        if f.name not in FAULTS and getattr(faults, f.name) != getattr(default, f.name)
    )
    if unsupported:
        raise ValueError(
            f"the Live memory transport cannot inject {', '.join(unsupported)}; "
            f"its faults are: {', '.join(sorted(FAULTS))}"
        )
    return faults


class LiveMemoryTransport(LiveAudioInput, InProcessTransport):
    """One GPT-Live session on an in-process emulator :class:`LiveEngine`.

    ``brain`` scripts the assistant (shared by every call this transport and its
    :meth:`fresh` copies make; ``None``: a new deterministic brain per call). ``faults`` are
    copied into each call (those in :data:`FAULTS`; others raise ``ValueError``). ``options``
    are the engine's (:class:`~realtime_sdk.emulator.live.LiveOptions`: transcription,
    ``ms_per_char``, ``session_ttl_s``, ``silence_ms``, ids). The key is not checked: there is
    no server to authenticate to.
    """

    api: ClassVar[str] = "live"
    kind: ClassVar[str] = "memory"
    label: ClassVar[str] = "in-memory Live session"
    sends_start: ClassVar[bool] = True
    steps: ClassVar[tuple[HandshakeStep, ...]] = (ATTACHING, STARTING)

    def __init__(
        self,
        *,
        brain: Brain | None = None,
        faults: Faults | None = None,
        options: LiveOptions | None = None,
    ) -> None:
        if options is not None and not isinstance(options, LiveOptions):
            raise TypeError(
                f"options must be a realtime_sdk.emulator.live.LiveOptions, got {options!r}"
            )
        self.brain = brain
        self.faults = check_faults(faults or Faults())
        self.options = options or LiveOptions()
        self.engine: LiveEngine | None = None
        """The call's engine once attached (its ``received`` and ``sent`` show the wire)."""
        self.connection: LiveConnection | None = None
        """The engine's view of this call: its primary ``websocket`` connection."""
        self._encoder = input_encoder({})
        self._started = asyncio.Event()
        self._faults = Faults()
        self._silent = False
        self._spoke = False
        super().__init__()

    def _state(self) -> str:
        state = super()._state()
        return "started" if state == "attached" and self._started.is_set() else state

    # ------------------------------------------------------------------ handshake

    async def run_step(self, state: str, context: ConnectContext) -> None:
        self._check_step(state)
        if state == STARTING_SESSION:
            if self.engine is None:
                raise RuntimeError(f"{STARTING_SESSION} runs after {ATTACHING.state}")
            await self._until(self._started, STARTING.stage)
            if context.microphone is not None:
                self._microphone.start(context.microphone)
            return
        self._begin(context)
        try:
            self._encoder = input_encoder(context.session)
            self._faults = dataclasses.replace(check_faults(self.faults))
        except (TypeError, ValueError) as exc:
            raise ConnectError(ATTACHING.stage, str(exc)) from None
        self.engine = LiveEngine(
            transport="websocket", brain=self.brain, options=dataclasses.replace(self.options)
        )
        self.connection = LiveConnection("websocket", self._sink, self._end)
        self.engine.connect(self.connection)
        await self._delivered_so_far(ATTACHING.stage, ATTACHING.timeout)

    # ------------------------------------------------------------------ the engine

    def _attached_engine(self) -> bool:
        return self.engine is not None

    def _feed(self, text: str) -> None:
        if self.engine is not None and self.connection is not None and not self._silent:
            self.engine.handle_text(self.connection, text)

    def _engine_alive(self) -> bool:
        return self.engine is not None and not (self._silent or self.engine.is_over)

    async def _release(self) -> None:
        """The primary connection goes: the engine ends a running session as the emulator
        does for a closed WebSocket (``remote_hangup``; ``connection_lost`` after a drop)."""
        engine, connection = self.engine, self.connection
        if engine is not None and connection is not None:
            engine.disconnect(connection, lost=self._faults.close_mid_response)

    def _sink(self, text: str) -> None:
        if self._silent or self._ending:
            return  # vanished, or the connection dropped: nothing more arrives
        self._queue(text)
        if not self._started.is_set() and self._faults != Faults():
            self._after_start(text)
        if self._spoke or not (self._faults.close_mid_response or self._faults.vanish_mid_response):
            return
        if _parsed_type(text) in _SPEECH:
            self._spoke = True
            if self._faults.vanish_mid_response:
                self._silent = True
            else:
                self._ending = True
                self._queue(
                    _Lost("the in-memory Live connection dropped (close_mid_response fault)")
                )

    def _after_start(self, text: str) -> None:
        """The ``nonjson_frame`` / ``oversized_frame_bytes`` faults, after ``session.started``."""
        if _parsed_type(text) != "session.started":
            return
        if self._faults.nonjson_frame:
            self._queue("this frame is not JSON")
        size = self._faults.oversized_frame_bytes
        if size:
            padding = "x" * max(0, size - 64)
            self._queue(json.dumps({"type": "emulator.padding", "padding": padding}))

    def _end(self, code: int, reason: str) -> None:
        """The engine ended the session (after ``session.closed``)."""
        if self._ending:
            return
        self._ending = True  # sends fail from now on, as into a closed socket
        text = _REASONS.get(reason, f"the emulator's Live engine ended the session: {reason}")
        self._queue(_Lost(text))

    def _delivered(self, text: str) -> None:
        if not self._started.is_set() and _parsed_type(text) == "session.started":
            self._started.set()

    def fresh(self) -> LiveMemoryTransport:
        return LiveMemoryTransport(brain=self.brain, faults=self.faults, options=self.options)
