"""``RealtimeClient``: the Python counterpart of the seed library's ``RealtimeClientClass``.

The client is a thin shell around :class:`realtime_machines.SessionModel`. It feeds the model
what happens (server events, the outcome of each effect, timers) and executes what the charts
ask (:mod:`realtime_machines.effects`) with aiortc and aiohttp. It makes no lifecycle decisions
of its own: when to send ``response.create``, whether a cancel may be sent, when a connect step
has failed — all of that is the charts'.

The wire is a :class:`~realtime_sdk.transports.Transport` (WebRTC by default): its handshake
steps are the states of the model's handshake chart, and the client runs each one when the
chart asks (:class:`~realtime_machines.effects.RunStep`). Effects are executed through a
registry (effect class → handler, :data:`EFFECT_HANDLERS`); :meth:`RealtimeClient.on_effect`
sees each one start and finish.

Ordering: incoming messages go into one queue read by one consumer task, so middleware,
handlers and the model see events strictly in arrival order even when they are async.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import time
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
    Set,
)
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from aiortc import MediaStreamTrack

from realtime_machines import (
    ChatItem,
    ChatOptions,
    ConnectionTimeouts,
    ErrorNotice,
    MetricsTracker,
    MetricsTurn,
    Notice,
    Prices,
    SessionMetrics,
    SessionModel,
    Transition,
    TurnMetrics,
    effects,
)
from realtime_machines.live import LiveChatOptions
from realtime_machines.metrics import DEFAULT_WINDOW
from realtime_machines.session import DEFAULT_RECORD_LIMIT

from ._aio import maybe_await
from .config import (
    NOT_GIVEN,
    apply_defaults,
    beta_response_params,
    check_callable,
    normalize_session,
    validate_options,
    warn_model_shutdowns,
)
from .errors import (
    CallGoneError,
    ConnectError,
    ErrorEvent,
    ErrorStage,
    NotConnectedError,
    RealtimeError,
    SendError,
    TokenError,
    redact,
)
from .keys import ApiKeyTokenProvider
from .middleware import (
    IncomingContext,
    IncomingMiddleware,
    OutgoingMiddleware,
    run_incoming,
    run_outgoing,
)
from .peer import AudioSink
from .playback import AUDIO_DELTA_TYPES, ChunkSink, LocalPlayback, PlaybackSink, SpeakerSink
from .tools import FunctionTool, function_tool
from .transports import ConnectContext, Transport, TransportEvents, transport_class
from .transports.sideband import NO_AUDIO, SidebandTransport, check_call_id
from .transports.webrtc import WebRTCTransport
from .turn import Answer, TurnTracker

if TYPE_CHECKING:
    from .inspector import Inspector

__all__ = ["EFFECT_HANDLERS", "EffectEvent", "RealtimeClient", "ToolCall"]

logger = logging.getLogger("realtime_sdk.client")

TokenProvider = Callable[[], "str | Awaitable[str]"]
MicrophoneFactory = Callable[[], "MediaStreamTrack | Awaitable[MediaStreamTrack | None] | None"]
Handler = Callable[[Any], "object | Awaitable[object]"]

RAW_PREVIEW = 2000

_MESSAGE_EVENT_PREFIX = "evt_"
"""``send_text_message``'s create has the event id ``evt_<item id>``."""

_ACKS = frozenset(
    {"conversation.item.added", "conversation.item.created", "conversation.item.done"}
)
"""Server events that acknowledge a conversation item the client created."""


class ToolCall:
    """What ``on_tool_call`` receives: the call's ``name``, parsed ``args`` and ``call_id``."""

    __slots__ = ("args", "call_id", "name")

    def __init__(self, name: str, args: Mapping[str, Any], call_id: str) -> None:
        self.name = name
        self.args = args
        self.call_id = call_id

    def __repr__(self) -> str:
        return f"ToolCall(name={self.name!r}, call_id={self.call_id!r})"


class _StaticKey:
    """A token provider that gives one key, never shown in a ``repr()``."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self) -> str:
        return self._key

    def __repr__(self) -> str:
        return "<api key>"


@dataclass(frozen=True, slots=True)
class _CallEnd:
    """The transport's end of the call (``on_lost`` / ``on_ended``), queued in the inbox
    behind the server events that came before it."""

    act: Callable[[str], None]
    reason: str


@dataclass(frozen=True, slots=True)
class EffectEvent:
    """What :meth:`RealtimeClient.on_effect` observers receive: an effect that ``started``,
    ``finished`` (its handler returned; a connect step runs on after that, as its own task)
    or ``failed`` (``error`` is the exception)."""

    effect: effects.Effect
    phase: Literal["started", "finished", "failed"]
    error: BaseException | None = None


class RealtimeClient:
    """A Realtime session over WebRTC, driven by the charts of :mod:`realtime_machines`.

    Use it as ``async with RealtimeClient(token_provider=...) as client:`` or call
    :meth:`connect` / :meth:`disconnect` yourself. Every option has the default given in
    :data:`realtime_sdk.config.DEFAULTS`, and docs/configuration.md describes each parameter.
    Bad option values raise ``TypeError`` / ``ValueError`` here, naming the option.

    ``api="live"`` makes a :class:`~realtime_sdk.live_client.LiveClient` instead: the same
    client on OpenAI's GPT-Live protocol (``/v1/live/sessions``; ``docs/live.md``).
    """

    api: ClassVar[str] = "realtime"
    """The protocol: ``"realtime"`` (``"live"`` on a :class:`~realtime_sdk.LiveClient`)."""
    measures_turns: ClassVar[bool] = True
    """Whether :attr:`metrics_tracker` follows the model (``client.metrics``, ``metrics:turn``):
    not on Live, whose wire has no response lifecycle."""

    def __new__(cls, *args: Any, api: str = "realtime", **kwargs: Any) -> RealtimeClient:
        if api == "live" and cls is RealtimeClient:
            from .live_client import LiveClient

            return super().__new__(LiveClient)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        api: Literal["realtime", "live"] = "realtime",
        token_provider: TokenProvider | None = None,
        api_key: str | None = None,
        base_url: Any = NOT_GIVEN,
        model: Any = NOT_GIVEN,
        session: Any = NOT_GIVEN,
        ice_servers: Any = NOT_GIVEN,
        data_channel_label: Any = NOT_GIVEN,
        transport: str | Transport = "webrtc",
        transport_options: Mapping[str, Any] | None = None,
        microphone: MicrophoneFactory | None = None,
        audio_sink: AudioSink | None = None,
        allow_connect_without_mic: Any = NOT_GIVEN,
        auto_session_update: Any = NOT_GIVEN,
        greet_enabled: Any = NOT_GIVEN,
        greet_instructions: Any = NOT_GIVEN,
        greet_modalities: Any = NOT_GIVEN,
        on_tool_call: Callable[[ToolCall], object] | None = None,
        tools: Sequence[FunctionTool | Callable[..., Any]] = (),
        tool_timeout: Any = NOT_GIVEN,
        tool_timeouts: Mapping[str, float] | None = None,
        incoming_middleware: Sequence[IncomingMiddleware] = (),
        outgoing_middleware: Sequence[OutgoingMiddleware] = (),
        on_event: Callable[[Mapping[str, Any]], object] | None = None,
        chat_options: ChatOptions | LiveChatOptions | None = None,
        chat_enabled: Any = NOT_GIVEN,
        chat_inverted: Any = NOT_GIVEN,
        chat_is_meaningful_text: Any = NOT_GIVEN,
        policy_is_meaningful_text: Any = NOT_GIVEN,
        chat_user_add_on_delta: Any = NOT_GIVEN,
        chat_user_placeholder_on_start: Any = NOT_GIVEN,
        chat_assistant_add_on_delta: Any = NOT_GIVEN,
        chat_assistant_placeholder_on_start: Any = NOT_GIVEN,
        delete_chat_history_on_disconnect: Any = NOT_GIVEN,
        on_chat_update: Callable[[list[ChatItem]], object] | None = None,
        on_success: Callable[[str, Any], object] | None = None,
        on_error: Callable[[ErrorEvent], object] | None = None,
        timeouts: Any = NOT_GIVEN,
        liveness_timeout: Any = NOT_GIVEN,
        reconnect: Any = NOT_GIVEN,
        record_limit: int | None = DEFAULT_RECORD_LIMIT,
        prices: Prices | None = None,
        metrics_window: int = DEFAULT_WINDOW,
    ) -> None:
        if api != "realtime":
            raise ValueError(f"api must be 'realtime' or 'live', not {api!r}")
        chat_given = {
            "chat_is_meaningful_text": chat_is_meaningful_text,
            "policy_is_meaningful_text": policy_is_meaningful_text,
            "chat_user_add_on_delta": chat_user_add_on_delta,
            "chat_user_placeholder_on_start": chat_user_placeholder_on_start,
            "chat_assistant_add_on_delta": chat_assistant_add_on_delta,
            "chat_assistant_placeholder_on_start": chat_assistant_placeholder_on_start,
            "chat_inverted": chat_inverted,
        }
        options = apply_defaults(
            {
                "base_url": base_url,
                "model": model,
                "session": session,
                "ice_servers": ice_servers,
                "data_channel_label": data_channel_label,
                "allow_connect_without_mic": allow_connect_without_mic,
                "auto_session_update": auto_session_update,
                "greet_enabled": greet_enabled,
                "greet_instructions": greet_instructions,
                "greet_modalities": greet_modalities,
                "tool_timeout": tool_timeout,
                "chat_enabled": chat_enabled,
                **chat_given,
                "delete_chat_history_on_disconnect": delete_chat_history_on_disconnect,
                "timeouts": timeouts,
                "liveness_timeout": liveness_timeout,
                "reconnect": reconnect,
            }
        )
        validate_options(options)
        _check_parameters(
            token_provider=token_provider,
            api_key=api_key,
            microphone=microphone,
            on_tool_call=on_tool_call,
            on_event=on_event,
            on_chat_update=on_chat_update,
            on_success=on_success,
            on_error=on_error,
            incoming_middleware=incoming_middleware,
            outgoing_middleware=outgoing_middleware,
            tools=tools,
            tool_timeouts=tool_timeouts,
            chat_options=chat_options,
            record_limit=record_limit,
        )
        if api_key is not None:  # one base_url: the client's
            token_provider = ApiKeyTokenProvider(api_key, base_url=options["base_url"])
        elif isinstance(token_provider, ApiKeyTokenProvider):
            token_provider = token_provider.with_base_url(options["base_url"])
        self.options: Mapping[str, Any] = options
        #: Models already named in a shutdown ``DeprecationWarning`` (once per client).
        self._warned_models: set[str] = set()
        warn_model_shutdowns(options["session"], warned=self._warned_models, stacklevel=2)
        self._token_provider = token_provider
        self._tools: dict[str, FunctionTool] = {}
        for tool in tools:
            self._add_tool(function_tool(tool))
        self._microphone_factory = microphone
        #: enable_microphone / disable_microphone's last word; every new call starts with it.
        self._microphone_enabled = True
        self._audio_sink = audio_sink
        self._remote_audio_enabled = True
        self._on_tool_call = on_tool_call
        self._incoming = list(incoming_middleware)
        self._outgoing = list(outgoing_middleware)
        self._on_event = on_event
        self._on_chat_update = on_chat_update
        self._on_success = on_success
        self._on_error = on_error
        self._handlers: dict[str, list[Handler]] = {}
        self._streams: list[asyncio.Queue[Notice | None]] = []

        timeout_options: Mapping[str, float] = options["timeouts"]
        reconnect_options: Mapping[str, Any] = options["reconnect"]
        # The flat chat_* options, or chat_options with the flat options given laid over it.
        chat = dataclasses.replace(
            chat_options if isinstance(chat_options, ChatOptions) else ChatOptions(),
            **{
                field: options[option]
                for option, field in _CHAT_FIELDS.items()
                if chat_options is None or chat_given[option] is not NOT_GIVEN
            },
        )
        self._template = self._transport_option(transport, transport_options)
        self._owns_playback = self._template.owns_playback
        if not self._template.carries_audio:
            given = [n for n, v in (("microphone", microphone), ("audio_sink", audio_sink)) if v]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} cannot be used on the {self._template.kind} "
                    f"transport: {NO_AUDIO}"
                )
        if self._owns_playback and audio_sink is not None:
            _playback_sink(audio_sink)  # a sink this transport cannot play into: say so now
        #: The transport for the next call: the one given, then fresh ones (one per call).
        self._spare: Transport | None = self._template
        steps = self._template.steps
        step_timeouts = dict(timeout_options)
        by_option = self._template.timeout_options  # WebRTC's: "peer", "sdp"...
        self.model = self._new_model(
            chat_options=chat,
            transport="websocket" if self._template.owns_playback else "webrtc",
            handshake_kind=self._template.kind,
            handshake_steps=[(step.state, step.stage) for step in steps],
            handshake_timeouts={
                step.state: float(step_timeouts.get(by_option.get(step.state, ""), step.timeout))
                for step in steps
            },
            auto_execute_tools=on_tool_call is not None or bool(self._tools),
            tool_timeout=float(options["tool_timeout"]),
            tool_timeouts=tool_timeouts,
            connection_timeouts=ConnectionTimeouts(
                fetching_token=timeout_options["token"],
                opening_microphone=timeout_options["microphone"],
                disconnecting=timeout_options["hangup"],
            ),
            allow_connect_without_microphone=bool(options["allow_connect_without_mic"]),
            reconnect_attempts=int(reconnect_options["attempts"]),
            reconnect_delay=float(reconnect_options["backoff_initial"]),
            reconnect_backoff=float(reconnect_options["backoff_factor"]),
            reconnect_delay_max=float(reconnect_options["backoff_max"]),
            response_create_timeout=timeout_options["response_create"],
            mode_switch_timeout=timeout_options["mode_switch"],
            record_limit=record_limit,
            time=time.time(),
        )
        self.model.subscribe(self._observe)
        if isinstance(metrics_window, bool) or not isinstance(metrics_window, int):
            raise TypeError(f"metrics_window must be an int, got {type(metrics_window).__name__}")
        if metrics_window < 1:
            raise ValueError(f"metrics_window must be ≥ 1, got {metrics_window}")
        if prices is not None and not isinstance(prices, Prices):
            raise TypeError(
                f"prices must be a realtime_machines.Prices, got {type(prices).__name__}"
            )
        #: The turn metrics, computed as the transitions come (``client.metrics`` is their
        #: snapshot; each ended turn is a ``metrics:turn`` event).
        self.metrics_tracker = MetricsTracker(
            prices=prices, window=metrics_window, on_turn=self._turn_measured
        )
        if self.measures_turns:
            self.metrics_tracker.attach(self.model)

        self._transport: Transport | None = None
        self._context: ConnectContext | None = None
        self._effect_observers: list[Callable[[EffectEvent], object]] = []
        self._microphone: MediaStreamTrack | None = None
        #: The local player (transports that own playback), made for the ``audio_sink`` on
        #: the first audio, or by :meth:`audio_chunks`; closed on disconnect.
        self._player: LocalPlayback | None = None
        self._token: str | None = None
        self.call_id: str | None = None
        self._inbox: asyncio.Queue[str | _CallEnd] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._rollover: asyncio.TimerHandle | None = None
        self._rollover_refused = False
        # send_text_message's messages the server has not acknowledged yet: item id → its
        # conversation.item.create and response.create params, re-sent on the next call if
        # this one is lost.
        self._unacked: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._step_tasks: dict[str, asyncio.Task[None]] = {}
        self._tool_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._connection_changed = asyncio.Event()
        self._chat_version = -1
        self._turns: list[asyncio.Queue[Notice | None]] = []

    def _new_model(self, **options: Any) -> SessionModel:
        """The session model this client drives, from the Realtime model's options (a client
        of another API builds its own model here instead, and the client subscribes to it and
        attaches its metrics tracker to it)."""
        return SessionModel(**options)

    @classmethod
    def attach(
        cls,
        call_id: str,
        *,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        transport_options: Mapping[str, Any] | None = None,
        greet_enabled: Any = False,
        **options: Any,
    ) -> RealtimeClient:
        """A client for the existing call ``call_id`` (``rtc_…``), attached on a sideband
        WebSocket: a browser or a phone holds the call's media while this client, with the
        API key, runs the tools, the middleware and the logic (``docs/server-side.md``).

        ``api_key`` (default ``OPENAI_API_KEY``) is sent as it is: a sideband needs the API
        key, and an ephemeral key (``ek_…``) is refused here. ``token_provider`` may give the
        key instead (a rotating secret). ``transport_options`` are
        :class:`~realtime_sdk.transports.SidebandTransport`'s; every other option is the
        constructor's, except ``transport``, ``microphone`` and ``audio_sink`` (no audio of
        its own). ``greet_enabled`` is ``False`` by default: the call is already under way.
        When the call ends, the client's connection lands in ``ended``."""
        call_id = check_call_id(call_id)
        if "transport" in options:
            raise TypeError("attach() picks the sideband transport; leave out transport=")
        token_provider = server_key(api_key, token_provider, "attach()")
        return cls(
            token_provider=token_provider,
            transport=SidebandTransport(call_id=call_id, **dict(transport_options or {})),
            greet_enabled=greet_enabled,
            **options,
        )

    def __repr__(self) -> str:
        return (
            f"<RealtimeClient status={self.status!r} "
            f"response={self.model.response.state!r} mode={self.model.mode.state!r}>"
        )

    # ---------------------------------------------------------------------------------------
    # Getters
    # ---------------------------------------------------------------------------------------
    @property
    def status(self) -> Literal["idle", "connecting", "connected", "disconnected", "error"]:
        status: Any = self.model.status
        return status  # type: ignore[no-any-return]

    @property
    def chat(self) -> list[ChatItem]:
        """The chat rows (``[]`` with ``chat_enabled=False``: build your own from events)."""
        return self.model.chat if self.options["chat_enabled"] else []

    @property
    def transport(self) -> Transport | None:
        """The current call's transport (``None`` between calls)."""
        return self._transport

    @property
    def transport_kind(self) -> str:
        """The ``transport=`` name: ``"webrtc"``, ``"websocket"``, ``"memory"``..."""
        return self._template.kind

    @property
    def _peer(self) -> Any:
        """The WebRTC peer of the current call (``None`` on other transports)."""
        transport = self._transport
        return transport.peer if isinstance(transport, WebRTCTransport) else None

    @property
    def peer_connection(self) -> Any:
        """The aiortc ``RTCPeerConnection`` (WebRTC transport only; else ``None``)."""
        peer = self._peer
        return peer.pc if peer is not None else None

    @property
    def data_channel(self) -> Any:
        """The ``oai-events`` ``RTCDataChannel`` (WebRTC transport only; else ``None``)."""
        peer = self._peer
        return peer.channel if peer is not None else None

    @property
    def local_track(self) -> MediaStreamTrack | None:
        return self._microphone

    @property
    def remote_track(self) -> MediaStreamTrack | None:
        peer = self._peer
        return peer.remote_track if peer is not None else None

    def _transport_option(
        self, transport: object, options: Mapping[str, Any] | None = None
    ) -> Transport:
        """The ``transport=`` option as a fresh :class:`Transport`: an instance as it is, or a
        name built with ``transport_options`` as its keyword arguments."""
        webrtc = {  # the client's own WebRTC options, unless given in transport_options
            "ice_servers": self.options["ice_servers"],
            "channel_label": self.options["data_channel_label"],
            "sdp_timeout": float(self.options["timeouts"]["sdp"]),
        }
        return build_transport(
            transport,
            options,
            api=self.api,
            resolve=transport_class,
            defaults={WebRTCTransport: webrtc},
        )

    @property
    def record(self) -> list[Transition]:
        return self.model.record

    # ---------------------------------------------------------------------------------------
    # Connect / disconnect
    # ---------------------------------------------------------------------------------------
    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def set_token_provider(self, provider: TokenProvider) -> None:
        self._token_provider = provider

    async def connect(self) -> None:
        """Connect; return when connected, raise :class:`ConnectError` naming the failed stage.

        A connect while another connect or a disconnect is under way is ignored with a warning
        (there is never a second peer); it then waits for that one to settle.
        """
        if not self.model.connect(time=time.time()):
            await self._wait_connection(_CONNECT_SETTLED)
            return
        await self._drain()
        await self._wait_connection(_CONNECT_SETTLED)
        if self.model.connection.state == "error":
            stage = self.model.connection.error_stage or "peer_connection"
            message = self.model.connection.error_message or "connect failed"
            if stage == "fetch_token":
                raise TokenError(message)
            raise ConnectError(stage, message)
        if self.model.connection.state == "ended":
            reason = self.model.connection.end_reason or "the server ended the call"
            raise ConnectError("hangup", f"{reason} while connecting")
        if self.model.connection.state != "connected":
            raise ConnectError("hangup", "disconnected while connecting")

    async def disconnect(self) -> None:
        """Hang up and release everything; return when disconnected."""
        if self.model.disconnect(time=time.time()):
            await self._drain()
        await self._wait_connection({"disconnected", "idle", "error"})
        await self._release()
        self.metrics_tracker.flush()  # the turn the hang-up closed, even if events were queued
        for notice in self.model.take_notices():
            await self._dispatch(notice)
        if self.options["delete_chat_history_on_disconnect"]:
            self.model.clear_chat_history()
        for stream in self._streams:  # every ``events()`` iteration ends here
            stream.put_nowait(None)

    async def _wait_connection(self, states: Set[str]) -> None:
        while self.model.connection.state not in states:
            self._connection_changed.clear()
            await self._connection_changed.wait()

    async def _release(self) -> None:
        player, self._player = self._player, None
        if player is not None:  # first: its pump reports to the model no more
            await player.aclose()
        for name in list(self._timers):
            self._cancel_timer(name)
        self._cancel_rollover()
        tasks = [t for t in (self._consumer, self._watchdog) if t is not None]
        tasks += list(self._step_tasks.values()) + list(self._tool_tasks.values())
        tasks += list(self._tasks)
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for task in tasks:
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        closing = [t for t in self._closing if t is not asyncio.current_task()]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        self._consumer = self._watchdog = None
        self._step_tasks.clear()
        self._tool_tasks.clear()
        self._tasks.clear()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self._context = None
        self._stop_microphone()
        self._token = None

    def _stop_microphone(self) -> None:
        if self._microphone is not None:
            self._microphone.stop()
            self._microphone = None

    # ---------------------------------------------------------------------------------------
    # Observing the model
    # ---------------------------------------------------------------------------------------
    @property
    def metrics(self) -> SessionMetrics:
        """The session's turn metrics so far: the ended turns (the last ``metrics_window``),
        the connects, median and p90 per measure, usage and cost (with ``prices``); see
        docs/metrics.md. A turn still under way is not in them yet."""
        return self.metrics_tracker.result()

    def _turn_measured(self, turn: TurnMetrics) -> None:
        self.model.notify(MetricsTurn(turn))

    def _observe(self, step: Transition) -> None:
        if step.chart == "handshake":
            if step.source != step.target:  # a step left: its task (if still running) goes
                task = self._step_tasks.pop(step.source or "", None)
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
            return
        if step.chart != "connection" or step.target is None:
            return
        self._connection_changed.set()
        if step.target != "connected":
            for turn in self._turns:  # an ask() in progress fails at once
                turn.put_nowait(None)
        if step.source != step.target:
            task = self._step_tasks.pop(step.source or "", None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        target = step.target
        if target == "handshaking" and step.source != target:
            self._new_call()  # before the handshake's first step runs (or, with none, opens)
        if target in _SUCCESS_STAGES:
            self._success(_SUCCESS_STAGES[target], None)
        if target == "connected":
            self._on_connected()
        elif target == "ended":
            self._success("call_ended", {"reason": self.model.connection.end_reason})
            for stream in self._streams:  # the call is over: every events() iteration ends
                stream.put_nowait(None)
            if self._unacked:
                self._undelivered()
        elif target == "error":
            connection = self.model.connection
            stage: Any = connection.error_stage or "peer_connection"
            self._report(stage, connection.error_message or "failed", "critical", False)
            if not connection.may_retry():  # no new call will carry the unacknowledged
                self._undelivered()
        elif self._unacked and (
            target == "disconnecting"
            or (target == "fetching_token" and step.source != "reconnecting")
        ):  # the app hung up, or starts afresh: its messages were for the call it left
            logger.info("%d message(s) not acknowledged before %s", len(self._unacked), target)
            self._unacked.clear()

    def _undelivered(self) -> None:
        """Tell the app about each message the lost call never acknowledged (never silence)."""
        pending, self._unacked = self._unacked, {}
        for item_id, (create, _params) in pending.items():
            self._report(
                "data_channel",
                f"message {item_id} was not delivered: the call was lost before the server "
                "acknowledged it, and no new call replaced it",
                "warning",
                False,
                {"item_id": item_id, "text": _content_text(create["item"])[:RAW_PREVIEW]},
            )

    def _on_connected(self) -> None:
        """Queue the session update and the greeting before anything the user sends next."""
        if self.options["auto_session_update"]:
            session = self._with_tools(normalize_session(self.options["session"]))
            self.model.send({"type": "session.update", "session": session}, time=time.time())
        if self.model.connection.reconnects:
            self._replay_history()
        elif self.options["greet_enabled"]:
            params: dict[str, Any] = {"instructions": self.options["greet_instructions"]}
            modalities = self.options.get("greet_modalities")
            if modalities:
                params["output_modalities"] = list(modalities)
            self.model.request_response(params)
        if self._watchdog is not None:  # the previous call's (reconnect)
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().create_task(self._liveness())

    def _replay_history(self) -> None:
        """Give the new call the conversation so far, as items with their original ids (the
        server's echoes then update the existing chat rows instead of adding new ones); not
        when the transport rejoins the same call (a sideband: the conversation is still there)."""
        for item in () if self._template.resumes_call else self.model.chat:
            if item.type != "text" or item.item_id is None or item.role not in _REPLAYED:
                continue
            if not item.text.strip():
                continue
            content_type = "input_text" if item.role == "user" else "output_text"
            message = {
                "id": item.item_id,
                "type": "message",
                "role": item.role,
                "content": [{"type": content_type, "text": item.text}],
            }
            self.model.send({"type": "conversation.item.create", "item": message})
        # Then what the app sent into the lost call that the server never acknowledged (a call
        # can die silently: those messages left, but never arrived), with their response.
        for create, _params in self._unacked.values():
            self.model.send(create)
        if self._unacked:
            _pending, params = list(self._unacked.values())[-1]
            self.model.request_response(params or None)
        self._success("history_replayed", None)

    def _schedule_rollover(self, session: Mapping[str, Any]) -> None:
        """With ``reconnect.rollover_before_cap``, start a new call before the server's cap.

        Only for a usable cap: ``expires_at`` a finite time more than the margin away. Anything
        else (missing, NaN, infinite, past, or nearer than the margin, where a new call would
        be no better) schedules nothing and is logged once per client: rolling over on it
        would open a new call after every ``session.created``, forever."""
        margin = self.options["reconnect"].get("rollover_before_cap")
        if margin is None:
            return
        self._cancel_rollover()
        delay = _rollover_delay(session.get("expires_at"), float(margin), time.time())
        if delay is None:
            if not self._rollover_refused:
                self._rollover_refused = True
                logger.warning(
                    "no rollover: session.created has expires_at=%r, not a time more than "
                    "rollover_before_cap=%g s ahead",
                    session.get("expires_at"),
                    float(margin),
                )
            return
        self._rollover = asyncio.get_running_loop().call_later(delay, self._roll_over)

    def _cancel_rollover(self) -> None:
        if self._rollover is not None:
            self._rollover.cancel()
            self._rollover = None

    def _roll_over(self) -> None:
        self._rollover = None
        if self.model.rollover(time=time.time()):
            self._spawn(self._drain())

    def _success(self, stage: str, data: Any) -> None:
        if self._on_success is not None:
            try:
                self._on_success(stage, data)
            except Exception:
                logger.exception("on_success handler failed for %s", stage)

    def _report(
        self,
        stage: ErrorStage,
        error: BaseException | str,
        severity: Literal["critical", "warning", "info"],
        recoverable: bool,
        context: Mapping[str, Any] | None = None,
    ) -> ErrorEvent:
        event = ErrorEvent(
            stage=stage,
            error=error,
            severity=severity,
            recoverable=recoverable,
            timestamp=time.time(),
            context=redact(dict(context or {})),
        )
        log = logger.error if severity == "critical" else logger.warning
        log("%s (%s): %s", stage, severity, redact({"message": event.message})["message"])
        if self._on_error is not None:
            try:
                self._on_error(event)
            except Exception:
                logger.exception("on_error handler failed")
        return event

    # ---------------------------------------------------------------------------------------
    # Executing effects
    # ---------------------------------------------------------------------------------------
    async def _drain(self, *, strict: bool = False) -> None:
        """Execute every effect the model has queued, in order. With ``strict`` (an operation
        of the app's), the first :class:`SendError` is raised once the outbox is empty."""
        model = self.model
        failed: SendError | None = None
        while model.outbox:
            effect = model.outbox.popleft()
            try:
                await self._execute(effect)
            except SendError as exc:  # already reported to on_error by _transmit
                failed = failed or exc
            except Exception as exc:
                logger.exception("effect %s failed", effect.describe())
                self._report("peer_connection", exc, "warning", True, {"effect": effect.kind})
        self._chat_changed()
        if self._quiet():
            self.metrics_tracker.flush()
        for notice in model.take_notices():  # from reports and timers, not from an event
            await self._dispatch(notice)
        if strict and failed is not None:
            raise failed

    def _quiet(self) -> bool:
        """No server event is waiting: the metrics tracker processes what it took now (in a
        burst it waits for the burst's end, or its batch: see ``MetricsTracker``)."""
        inbox = self._inbox
        return inbox is None or inbox.empty()

    async def _execute(self, effect: effects.Effect) -> None:
        """Run ``effect`` through its handler in :data:`EFFECT_HANDLERS`, telling every
        :meth:`on_effect` observer when it starts and when it finishes or fails."""
        handler = EFFECT_HANDLERS.get(type(effect))
        if handler is None:
            raise TypeError(f"no handler for effect {effect!r}")
        observed = bool(self._effect_observers)
        if observed:
            self._effect_event(EffectEvent(effect, "started"))
        try:
            await handler(self, effect)
        except BaseException as exc:
            if observed:
                self._effect_event(EffectEvent(effect, "failed", exc))
            raise
        if observed:
            self._effect_event(EffectEvent(effect, "finished"))

    def on_effect(self, observer: Callable[[EffectEvent], object]) -> Callable[[], None]:
        """Call ``observer`` with an :class:`EffectEvent` as each effect the charts ask for
        starts and as it finishes or fails (a connect step is then under way as its own task:
        the handshake chart's transitions in :attr:`record` say when it is done). Return an
        unsubscribe function. An observer that raises is logged and does not stop the effect."""
        check_callable("on_effect observer", observer)
        self._effect_observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._effect_observers:
                self._effect_observers.remove(observer)

        return unsubscribe

    def _effect_event(self, event: EffectEvent) -> None:
        for observer in list(self._effect_observers):
            try:
                observer(event)
            except Exception:
                logger.exception("on_effect observer failed for %s", event.effect.describe())

    # -- effect handlers (EFFECT_HANDLERS) ------------------------------------------------------
    async def _send_event(self, effect: effects.SendEvent) -> None:
        await self._transmit(effect.event)

    async def _start_timer_effect(self, effect: effects.StartTimer) -> None:
        self._start_timer(effect.name, effect.seconds)

    async def _cancel_timer_effect(self, effect: effects.CancelTimer) -> None:
        self._cancel_timer(effect.name)

    async def _fetch_token_effect(self, _effect: effects.FetchToken) -> None:
        self._step("fetching_token", self._fetch_token())

    async def _open_microphone_effect(self, _effect: effects.OpenMicrophone) -> None:
        self._step("opening_microphone", self._open_microphone())

    async def _run_step_effect(self, effect: effects.RunStep) -> None:
        self._step(effect.state, self._run_step(effect.state))

    async def _close_transport(self, _effect: effects.CloseTransport) -> None:
        # Detached now (nothing reaches it any more); closed in the background, never
        # cancelled: a peer closed halfway leaks its sockets. _release awaits it.
        transport, self._transport = self._transport, None
        self._context = None
        task = asyncio.get_running_loop().create_task(self._close_call(transport))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _release_media(self, _effect: effects.ReleaseMedia) -> None:
        self._stop_microphone()

    async def _set_microphone_effect(self, effect: effects.SetMicrophone) -> None:
        self._set_microphone(effect.enabled)

    async def _stop_playback(self, _effect: effects.StopPlayback) -> None:
        if self._owns_playback:
            self._cut_local_playback()
        stop = getattr(self._audio_sink, "stop", None)
        if callable(stop):
            stop()

    async def _execute_tool(self, effect: effects.ExecuteTool) -> None:
        task = asyncio.get_running_loop().create_task(self._run_tool(effect))
        self._tool_tasks[effect.call_id] = task

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        # The coroutine itself is the task (not wrapped): a task cancelled before it starts
        # then closes it, instead of leaving a "coroutine ... was never awaited" behind.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _step(self, state: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a connect step; it is cancelled if the chart leaves ``state`` first, and ANY
        exception it raises fails the step at once, with the step's stage (``STAGES``) — the
        one place where connect steps fail, so none of them can hang until its timeout."""
        task = asyncio.get_running_loop().create_task(coro)
        self._step_tasks[state] = task
        task.add_done_callback(partial(self._step_done, state))

    def _step_done(self, state: str, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self._current_step() == state:
            self._spawn(self._fail(exc))
        else:  # the step had already reported its outcome
            logger.warning("connect step %s raised after it finished: %r", state, exc)

    def _current_step(self) -> str:
        """The connect step under way: the handshake chart's state while ``handshaking``."""
        model = self.model
        state = model.connection.state
        if state == "handshaking" and model.handshake is not None:
            return model.handshake.state
        return state

    async def _signal(self, event: str, **data: Any) -> None:
        self.model.signal(event, time=time.time(), **data)
        await self._drain()

    async def _fail(self, exc: BaseException | str) -> None:
        """Fail the current connect step (the charts know its stage) with ``exc``."""
        if isinstance(exc, CallGoneError) and self.model.connection.reconnecting_now:
            # Reattaching to a call that is over: the call ended while the socket was down.
            await self._signal("call_ended", error=f"the call ended: {exc.message}")
            return
        text = exc.message if isinstance(exc, ConnectError) else str(exc)
        if not isinstance(exc, str | RealtimeError):  # an unexpected exception: say which
            text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        message = redact({"m": text or "failed"})["m"]
        await self._signal("step_failed", error=message)

    # -- timers -----------------------------------------------------------------------------
    def _start_timer(self, name: str, seconds: float) -> None:
        self._cancel_timer(name)
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(seconds, self._timer_fired, name)

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _timer_fired(self, name: str) -> None:
        self._timers.pop(name, None)
        if name.startswith("tool_call:"):
            task = self._tool_tasks.pop(name.partition(":")[2], None)
            if task is not None:
                task.cancel()
        self.model.timer_fired(name, time=time.time())
        self._spawn(self._drain())

    # -- connect steps ----------------------------------------------------------------------
    async def _fetch_token(self) -> None:
        provider = self._token_provider
        if provider is None:
            raise TokenError("no token_provider: pass token_provider=...")
        self._token = _header_token(await maybe_await(provider()))
        await self._signal("token_received")

    async def _open_microphone(self) -> None:
        factory = self._microphone_factory
        if factory is None:
            await self._signal("microphone_unavailable", error="no microphone configured")
            return
        try:
            track = await maybe_await(factory())
        except Exception as exc:
            self._report("get_user_media", exc, "warning", True)
            await self._signal("microphone_unavailable", error=str(exc) or type(exc).__name__)
            return
        if track is None:
            await self._signal("microphone_unavailable", error="the microphone factory gave none")
            return
        self._microphone = track
        await self._signal("microphone_ready")

    def _new_call(self) -> None:
        """The transport, inbox and context of a new call (the connection enters
        ``handshaking``): one transport per call, the one given first, then fresh ones."""
        if self._consumer is not None:  # the consumer of a previous call (reconnect)
            self._consumer.cancel()
            self._consumer = None
        transport = self._spare if self._spare is not None else self._template.fresh()
        self._spare = None
        self._transport = transport
        if not self._microphone_enabled:  # muted before this call (or a lost one) began
            transport.set_microphone(False)
        inbox: asyncio.Queue[str | _CallEnd] = asyncio.Queue()
        self._inbox = inbox
        self._consumer = asyncio.get_running_loop().create_task(self._consume(inbox))
        session = self._with_tools(normalize_session(self.options["session"]))
        self._context = ConnectContext(
            base_url=str(self.options["base_url"]),
            token=self._token or "",
            model=str(session.get("model") or self.options["model"]),
            events=TransportEvents(
                on_message=inbox.put_nowait,
                # The wire's end is taken in order, after the events that came before it (the
                # last of which may say why: a Live session.closed, a sideband's hang-up).
                on_lost=lambda reason: inbox.put_nowait(_CallEnd(self._transport_lost, reason)),
                on_ended=lambda reason: inbox.put_nowait(_CallEnd(self._transport_ended, reason)),
            ),
            session=session,
            microphone=self._microphone,
            audio_sink=self._audio_sink if self._remote_audio_enabled else None,
            step_done=self._success,
        )

    async def _run_step(self, state: str) -> None:
        """Run the transport's handshake step ``state``; report its success stage, then
        ``step_done``. An exception fails the step (:meth:`_step_done`)."""
        context, transport = self._context, self._transport
        if context is None or transport is None:
            raise RuntimeError(f"no call under way for the handshake step {state!r}")
        await transport.run_step(state, context)
        if transport.call_id is not None:
            self.call_id = transport.call_id
        step = next((s for s in transport.steps if s.state == state), None)
        if step is not None and step.success is not None:
            self._success(step.success, None)
        await self._signal("step_done")

    def _transport_lost(self, reason: str) -> None:
        if self.model.connection.state in ("connected", "handshaking"):
            self._spawn(self._lost(reason))

    def _transport_ended(self, reason: str) -> None:
        """The server ended the call (a sideband's call hung up): ``ended``, no reconnect."""
        state = self.model.connection.state
        if state == "connected":
            self._spawn(self._signal("call_ended", error=reason))
        elif state == "handshaking":
            self._spawn(self._signal("step_failed", error=reason))

    async def _lost(self, reason: str) -> None:
        state = self.model.connection.state
        event = "connection_lost" if state == "connected" else "step_failed"
        await self._signal(event, error=reason)

    async def _close_call(self, transport: Transport | None) -> None:
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()
        if self.model.connection.state == "disconnecting":
            await self._signal("transport_closed")

    async def _liveness(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Declare the call lost once nothing (event or audio frame) has arrived for
        ``liveness_timeout`` seconds (less :data:`LIVENESS_LEAD_S`). Each check is timed for
        that moment, so a dead peer is noticed within the limit, never a polling interval
        later (:func:`liveness_wait`)."""
        limit = float(self.options["liveness_timeout"])
        pinged_after: float | None = None  # the last_inbound a ping was sent after
        while self.model.connection.state == "connected":
            transport = self._transport
            if transport is None:
                return
            last, now = transport.last_inbound, clock()
            wait = liveness_wait(last, now, limit)
            if wait is None:
                await self._signal(
                    "connection_lost", error=f"nothing from the server for {now - last:.1f} s"
                )
                return
            # Silent for half the limit: ask for a sign of life (a WebSocket ping; its pong
            # moves last_inbound), once per silence, so an idle but healthy call is not lost.
            until_ping = last + limit / 2 - now
            if until_ping > 0:
                wait = min(wait, until_ping)
            elif pinged_after != last:
                pinged_after = last
                self._spawn(_ping(transport))
            await sleep(wait)

    # ---------------------------------------------------------------------------------------
    # Receiving
    # ---------------------------------------------------------------------------------------
    async def _consume(self, inbox: asyncio.Queue[str | _CallEnd]) -> None:
        while True:
            text = await inbox.get()
            if isinstance(text, _CallEnd):
                text.act(text.reason)
                continue
            try:
                await self._handle(text)
            except Exception as exc:
                self._report("data_channel", exc, "warning", True, {"raw": text[:RAW_PREVIEW]})

    async def _handle(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError as exc:
            self._report(
                "data_channel",
                exc,
                "warning",
                True,
                {
                    "raw": text[:RAW_PREVIEW],
                    "hint": "Failed to parse a DataChannel message as JSON",
                },
            )
            return
        if not isinstance(event, dict):
            self._report(
                "data_channel",
                f"expected a JSON object, got {type(event).__name__}",
                "warning",
                True,
                {"raw": text[:RAW_PREVIEW]},
            )
            return
        arrived = time.time()
        if self._incoming:
            ctx = IncomingContext(event=event, send=self.send_raw, client=self, time=arrived)
            result = await run_incoming(self._incoming, ctx)
            if result is None:
                return
            event = dict(result)
        if self._on_event is not None:
            await maybe_await(self._on_event(event))
        kind = event.get("type")
        if self._owns_playback and kind == "response.done":
            self._audio_pending(event)
        notices = self.model.receive(event, time=arrived)
        if self._quiet():  # the turn this event ended, if any, comes after its own notices
            self.metrics_tracker.flush()
            notices += self.model.take_notices()
        if self._owns_playback and self._is_audio_delta(kind):
            self._output_audio(event)
        elif self._owns_playback and kind == "response.done" and self._player is not None:
            self._player.finish(_response_id(event))
        if self._unacked:
            self._acknowledge(event)
        if event.get("type") == "session.created" and isinstance(event.get("session"), dict):
            self._schedule_rollover(event["session"])
        await self._drain()
        for notice in notices:
            await self._dispatch(notice)

    def _acknowledge(self, event: Mapping[str, Any]) -> None:
        """The server has a message of ``send_text_message`` (an item event names it) or
        refused it (an ``error`` names its create, and reaches ``on_error``): either way it
        is no longer the client's to deliver."""
        kind = event.get("type")
        if kind in _ACKS and isinstance(event.get("item"), dict):
            self._unacked.pop(str(event["item"].get("id")), None)
        elif kind == "error" and isinstance(event.get("error"), dict):
            event_id = str(event["error"].get("event_id"))
            self._unacked.pop(event_id.removeprefix(_MESSAGE_EVENT_PREFIX), None)

    async def _dispatch(self, notice: Notice) -> None:
        if isinstance(notice, ErrorNotice):  # the seed's onError hears server errors too
            server = notice.scope == "server"
            message = notice.error.get("message") or notice.error.get("code") or "error"
            self._report(
                "openai_api" if server else "data_channel",
                str(message),
                "warning",
                True,
                {"scope": notice.scope, "error": dict(notice.error)},
            )
        for handler in list(self._handlers.get(notice.name, ())):
            try:
                await maybe_await(handler(notice))
            except Exception as exc:
                self._report("data_channel", exc, "warning", True, {"handler": notice.name})
        for stream in self._streams:
            stream.put_nowait(notice)
        for turn in self._turns:
            turn.put_nowait(notice)

    def _chat_changed(self) -> None:
        version = self.model.chat_version
        if version != self._chat_version:
            self._chat_version = version
            if self._on_chat_update is not None and self.options["chat_enabled"]:
                try:
                    self._on_chat_update(self.model.chat)
                except Exception:
                    logger.exception("on_chat_update handler failed")

    # ---------------------------------------------------------------------------------------
    # Subscribing
    # ---------------------------------------------------------------------------------------
    def on(self, name: str, handler: Handler) -> Callable[[], None]:
        """Subscribe to a convenience event (``"assistant:delta"``...); return an unsubscribe."""
        names = self._notice_names()
        if name not in names:
            known = ", ".join(sorted(names))
            raise ValueError(f"unknown event {name!r}; subscribe to one of: {known}")
        handlers = self._handlers.setdefault(name, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def _notice_names(self) -> frozenset[str]:
        """The convenience events :meth:`on` takes."""
        from realtime_machines import NOTICE_NAMES

        return NOTICE_NAMES

    async def inspect(
        self, *, host: str = "127.0.0.1", port: int = 0, title: str | None = None
    ) -> Inspector:
        """Serve the live inspector of this client (``docs/inspector.md``): a local web page
        with each chart's diagram and current state, the transition log, the chat and the turn
        metrics, updated as the session goes. Return the started
        :class:`~realtime_sdk.inspector.Inspector` (its ``url``; ``await inspector.close()``
        when done). It listens on 127.0.0.1 and any free port by default; the client's only
        cost is one append per transition, whatever the pages do."""
        from .inspector import Inspector, LiveSource

        inspector = Inspector(LiveSource(self, title=title), host=host, port=port)
        await inspector.start()
        return inspector

    async def events(self) -> AsyncIterator[Notice]:
        """Every convenience event from now on, until the client disconnects."""
        stream: asyncio.Queue[Notice | None] = asyncio.Queue()
        self._streams.append(stream)
        try:
            while True:
                notice = await stream.get()
                if notice is None:
                    return
                yield notice
        finally:
            self._streams.remove(stream)

    # ---------------------------------------------------------------------------------------
    # Sending
    # ---------------------------------------------------------------------------------------
    def _require_connected(self, what: str) -> None:
        if self.model.connection.state != "connected":
            raise NotConnectedError(what, self.status)

    async def _transmit(self, event: Mapping[str, Any]) -> None:
        """Send one event on the channel, through the outgoing middleware. An event that cannot
        go (channel not open, larger than the peer's max-message-size) is reported to
        ``on_error`` and raised as :class:`SendError`; nothing is dropped silently."""
        async with self._send_lock:
            outgoing = await run_outgoing(self._outgoing, dict(event)) if self._outgoing else event
            if outgoing is None:
                return
            kind = str(event.get("type"))
            transport = self._transport
            reason = None
            if transport is None:
                reason = "the events channel is not open"
            else:
                try:
                    await transport.send(json.dumps(outgoing, ensure_ascii=False))
                except SendError as exc:
                    reason = exc.reason
                except Exception as exc:  # too large (ValueError), channel closing, ...
                    reason = str(exc) or type(exc).__name__
            if reason is not None:
                error = SendError(kind, reason)
                self._report(error.stage, error, "warning", True, {"type": kind})
                raise error

    # -- local playback (transports that own it: WebSocket, in-memory) -----------------------
    def _cut_local_playback(self) -> None:
        """On barge-in (``StopPlayback``): cut the local player now and, when it cut audio
        (heard or not), send ``conversation.item.truncate`` with ``audio_end_ms`` equal to what
        it actually played, once (a second cut finds nothing left). Nothing is sent when
        everything received had been played, or when the call is no longer connected."""
        player = self._player
        if player is None:
            return
        cut = player.cut()  # its on_stopped(cleared=True) tells the Playback chart
        playback = self.model.playback
        if playback.state != "silent":  # audible-pending, never consumed: cut all the same
            self._local_playback("cleared", playback.response_id)
        if cut is not None and self.model.connection.state == "connected":
            self.model.send(cut.truncate_event(), time=time.time())

    def _output_audio(self, event: Mapping[str, Any]) -> None:
        """A ``response.output_audio.delta`` to the local player (made on the first one for
        the ``audio_sink``). With neither an ``audio_sink`` nor :meth:`audio_chunks`, or with
        remote audio muted, the audio is drained (as WebRTC drains its remote track)."""
        player = self._audio_player()
        if player is None:
            return
        try:
            player.feed_event(event)
        except ValueError as exc:
            self._report("data_channel", exc, "warning", True, {"type": event.get("type")})

    def _audio_player(self) -> LocalPlayback | None:
        """The player output audio goes to (made on first use for the ``audio_sink``);
        ``None`` when nobody plays it (no sink, no :meth:`audio_chunks`, remote audio muted)."""
        player = self._player
        if player is None and self._audio_sink is not None:
            player = self._new_player(_playback_sink(self._audio_sink))
        if player is None or not self._remote_audio_enabled:
            return None
        return player

    def _is_audio_delta(self, kind: object) -> bool:
        """Whether a server event of type ``kind`` carries output audio for the player."""
        return kind in AUDIO_DELTA_TYPES

    def _audio_pending(self, event: Mapping[str, Any]) -> None:
        """``response.done`` while the player still holds audio of that response: it is
        audible from now on (reported ``started``), so the response completes when the player
        has played it, as on WebRTC where ``output_audio_buffer.started`` precedes it."""
        player = self._player
        response_id = _response_id(event)
        if player is not None and player.unplayed_ms(response_id) > 0:
            self._local_playback("started", response_id)

    def _new_player(self, sink: PlaybackSink | None) -> LocalPlayback:
        player = self._player = LocalPlayback(
            sink,
            on_started=partial(self._local_playback, "started"),
            on_stopped=self._local_stopped,
        )
        player.start()
        return player

    def _local_stopped(self, response_id: str, cleared: bool) -> None:
        self._local_playback("cleared" if cleared else "stopped", response_id)

    def _local_playback(
        self, event: Literal["started", "stopped", "cleared"], response_id: str | None
    ) -> None:
        """Feed the player's audibility to the Playback chart (``SessionModel.local_playback``),
        then run what it asked for and tell the app (``assistant:completed``...)."""
        notices = self.model.local_playback(event, response_id, time=time.time())
        self._spawn(self._after_local_playback(notices))

    async def _after_local_playback(self, notices: list[Notice]) -> None:
        await self._drain()
        for notice in notices:
            await self._dispatch(notice)

    async def audio_chunks(self) -> AsyncIterator[bytes]:
        """The assistant's audio as PCM16 mono 24 kHz chunks for the app to play, on transports
        where the client plays it (WebSocket, in-memory), at most ``lead_ms`` (120 ms) ahead
        of what the app has taken: what it has taken counts as played, so a barge-in truncates
        the item there. Start iterating before the audio comes (before :meth:`connect` is
        fine); it ends when the client disconnects. Not with an ``audio_sink`` (the sink plays
        it), nor on WebRTC (the audio is a media track: pass ``audio_sink``)."""
        if not self._template.carries_audio:
            raise TypeError(f"audio_chunks() has nothing to give: {NO_AUDIO}")
        if not self._owns_playback:
            raise TypeError(
                f"audio_chunks() is for transports that deliver audio as events; on "
                f"{self.transport_kind} the audio is a media track: pass audio_sink="
            )
        player = self._player
        if player is None:
            if self._audio_sink is not None:
                raise TypeError("audio_chunks() is for a client without an audio_sink")
            player = self._new_player(ChunkSink())
        elif not isinstance(player.sink, ChunkSink):
            raise TypeError("audio_chunks() is for a client without an audio_sink")
        try:
            async for chunk in player.chunks():
                yield chunk
        finally:  # the app stopped listening with no call under way: nothing else closes it
            if self._player is player and self.model.connection.state in _NO_CALL:
                self._player = None
                await player.aclose()

    async def send_audio(self, pcm: bytes) -> None:
        """Send PCM16 mono 24 kHz audio from the app, on transports that take audio as events
        (``input_audio_buffer.append``). On WebRTC audio travels as media: pass a
        ``microphone`` track instead (this raises ``NotImplementedError`` saying so), and a
        sideband carries no audio at all (``NotImplementedError`` too)."""
        if not self._template.carries_audio:
            raise NotImplementedError(
                f"send_audio() on the {self.transport_kind} transport: {NO_AUDIO}"
            )
        self._require_connected("send audio")
        transport = self._transport
        if transport is None:
            raise NotConnectedError("send audio", self.status)
        await transport.send_audio(bytes(pcm))

    async def send_raw(self, event: Mapping[str, Any]) -> None:
        """Send any client event; ``response.create`` and ``response.cancel`` go through the
        Response chart's sequencer. Raises :class:`NotConnectedError` when not connected and
        :class:`SendError` when it cannot be sent (the channel is closed, or the event is
        larger than the peer's max-message-size)."""
        self._require_connected(f"send {event.get('type')!r}")
        self.model.send(event, time=time.time())
        await self._drain(strict=True)

    async def send_response(self, params: Mapping[str, Any] | None = None) -> None:
        """``response.create`` (queued while a response is active)."""
        self._require_connected("send response.create")
        self.model.request_response(beta_response_params(params) if params else None)
        await self._drain(strict=True)

    async def send_response_strict(
        self,
        *,
        instructions: str,
        modalities: Sequence[str] | None = None,
        conversation: Literal["auto", "default", "none"] | None = None,
    ) -> None:
        """``response.create`` with required instructions (the seed's strict variant)."""
        if not instructions:
            raise ValueError("send_response_strict needs instructions")
        params: dict[str, Any] = {"instructions": instructions}
        if modalities:
            params["output_modalities"] = ["audio"] if "audio" in modalities else ["text"]
        if conversation is not None:
            params["conversation"] = "auto" if conversation == "default" else conversation
        await self.send_response(params)

    async def update_session(self, patch: Mapping[str, Any]) -> None:
        """``session.update`` with a (GA or beta-shaped) partial session."""
        self._require_connected("send session.update")
        session = normalize_session(patch)
        warn_model_shutdowns(session, warned=self._warned_models, stacklevel=2)
        self.model.send({"type": "session.update", "session": session})
        await self._drain(strict=True)

    async def send_tool_output(self, call_id: str, output: object) -> None:
        """``function_call_output`` for ``call_id`` (no response.create: call send_response)."""
        self._require_connected("send a tool output")
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        if not self.model.submit_tool_output(call_id, text, follow_up=False, time=time.time()):
            item = {"type": "function_call_output", "call_id": call_id, "output": text}
            self.model.send({"type": "conversation.item.create", "item": item})
        await self._drain(strict=True)

    async def send_text_message(
        self,
        text: str,
        *,
        response_modality: Literal["text", "audio"] | None = None,
        instructions: str | None = None,
        conversation: Literal["auto", "none"] = "auto",
    ) -> None:
        """A user text message, then a response to it.

        Returns once both are on the channel. Raises :class:`SendError` (also reported to
        ``on_error``) if the message cannot be sent — the channel is closed, or it is larger
        than the peer's max-message-size — and then no ``response.create`` is sent either.

        The message is delivered even if the call dies silently right after: until the server
        acknowledges it (``conversation.item.added``), the client keeps it, and when the call is
        replaced (``reconnect``, rollover) it is re-sent on the new call after the history,
        with its ``response.create``. If no new call replaces the lost one, ``on_error`` gets
        an :class:`ErrorEvent` (stage ``data_channel``, ``context["item_id"]``,
        ``context["text"]``) for each message that was not delivered.
        """
        self._require_connected("send a text message")
        item_id = f"item_{uuid.uuid4().hex[:24]}"  # the client's id: the ack names it
        item = {
            "id": item_id,
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        params: dict[str, Any] = {}
        if response_modality:
            params["output_modalities"] = [response_modality]
        if instructions:
            params["instructions"] = instructions
        if conversation == "none":
            params["conversation"] = "none"
        create = {
            "type": "conversation.item.create",
            "event_id": f"{_MESSAGE_EVENT_PREFIX}{item_id}",
            "item": item,
        }
        self._unacked[item_id] = (create, params)
        try:
            self.model.send(create, time=time.time())
            await self._drain(strict=True)  # the message first: if it fails, nothing follows
            self.model.request_response(params or None)
            await self._drain(strict=True)
        except SendError:
            self._unacked.pop(item_id, None)  # the app is told by the exception
            raise

    async def cancel_response(self) -> None:
        """``response.cancel`` (only if a response is active) and ``output_audio_buffer.clear``
        (only if audio is playing)."""
        self._require_connected("cancel a response")
        self.model.cancel_response()
        await self._drain(strict=True)

    async def ask(
        self,
        text: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109
        response_modality: Literal["text", "audio"] | None = None,
        instructions: str | None = None,
    ) -> Answer:
        """Send a user text message and return when the whole turn is done — tool rounds
        included — with its :class:`~realtime_sdk.turn.Answer` (``answer.text`` is the
        assistant's final text).

        Raises :class:`~realtime_sdk.turn.TurnError` when the turn's response is cancelled or
        fails or the server answers with an ``error``, :class:`NotConnectedError` when the
        connection goes (or was not there), and ``TimeoutError`` after ``timeout`` seconds.
        A tool call nobody answers (no tool registered, ``on_tool_call`` returned ``None``)
        keeps the turn open until the app answers it or the timeout.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be seconds > 0, got {timeout!r}")
        self._require_connected("ask")
        tracker = TurnTracker(self.model, self.model.chat)
        inbox: asyncio.Queue[Notice | None] = asyncio.Queue()
        self._turns.append(inbox)
        try:
            async with asyncio.timeout(timeout):
                await self.send_text_message(
                    text, response_modality=response_modality, instructions=instructions
                )
                while True:
                    notice = await inbox.get()
                    if notice is None:
                        raise NotConnectedError("finish the turn", self.status)
                    tracker.feed(notice)
                    if inbox.empty() and tracker.settled():
                        return tracker.answer(self.model.chat)
        finally:
            self._turns.remove(inbox)

    # -- tools ------------------------------------------------------------------------------
    @property
    def tools(self) -> dict[str, FunctionTool]:
        """The tools registered with ``tools=`` or :meth:`tool`, by name."""
        return dict(self._tools)

    @overload
    def tool(self, function: Callable[..., Any], /) -> FunctionTool: ...

    @overload
    def tool(
        self, /, *, name: str | None = None, description: str | None = None
    ) -> Callable[[Callable[..., Any]], FunctionTool]: ...

    def tool(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
        """Register a sync or async function as a tool (``@client.tool`` or
        ``@client.tool(name=..., description=...)``): its schema, built from the type hints
        and the docstring (:func:`~realtime_sdk.tools.function_tool`), goes into the session's
        ``tools`` (at once with a ``session.update`` when connected) and the model's calls to
        it are dispatched to it; its return value is the call's output."""

        def register(func: Callable[..., Any]) -> FunctionTool:
            tool = function_tool(func, name=name, description=description)
            self._add_tool(tool)
            self.model.auto_execute_tools = True
            if self.model.connection.state == "connected":
                self._announce_tools()
            return tool

        return register(function) if function is not None else register

    def _announce_tools(self) -> None:
        """A tool was registered during a call: tell the session (``session.update``)."""
        session = self._with_tools(normalize_session(self.options["session"]))
        tools = session["tools"]
        self.model.send({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
        self._spawn(self._drain())

    def _add_tool(self, tool: FunctionTool) -> None:
        if tool.name in self._tools and self._tools[tool.name] is not tool:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def _with_tools(self, session: dict[str, Any]) -> dict[str, Any]:
        """``session`` with the registered tools' schemas in ``tools`` (replacing same names)."""
        if not self._tools:
            return session
        given = [t for t in session.get("tools") or () if t.get("name") not in self._tools]
        return {**session, "tools": given + [tool.schema for tool in self._tools.values()]}

    async def _run_tool(self, effect: effects.ExecuteTool) -> None:
        handler = self._on_tool_call
        call = ToolCall(effect.name, effect.arguments, effect.call_id)
        tool = self._tools.get(effect.name)
        try:
            if tool is not None:
                result = await tool.invoke(effect.arguments)
            elif handler is not None:
                result = await maybe_await(handler(call))
            else:
                known = ", ".join(self._tools) or "none"
                raise LookupError(f"no tool named {effect.name!r} (tools: {known})")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.model.tool_failed(effect.call_id, f"{type(exc).__name__}: {exc}", time=time.time())
        else:
            if result is None:
                self.model.tool_deferred(effect.call_id, time=time.time())
            else:
                output = result if isinstance(result, str) else json.dumps(result)
                self.model.submit_tool_output(
                    effect.call_id, output, follow_up=True, time=time.time()
                )
        finally:
            self._tool_tasks.pop(effect.call_id, None)
        await self._drain()

    # -- microphone and chat ----------------------------------------------------------------
    def enable_microphone(self) -> None:
        """Unmute the microphone track (no renegotiation)."""
        self._set_microphone(True)

    def disable_microphone(self) -> None:
        """Mute the microphone track (no renegotiation): nothing is sent, and a track with a
        ``muted`` flag (:class:`~realtime_sdk.audio.MicrophoneTrack`) is muted too, so its
        level drops to 0 and it reports not capturing."""
        self._set_microphone(False)

    def _set_microphone(self, enabled: bool) -> None:
        self._microphone_enabled = bool(enabled)
        if self._transport is not None:
            self._transport.set_microphone(enabled)
        track = self._microphone
        if track is not None and hasattr(track, "muted"):
            track.muted = not enabled

    @property
    def remote_audio_enabled(self) -> bool:
        """Whether remote audio reaches the ``audio_sink``; see :meth:`set_remote_audio_enabled`."""
        return self._remote_audio_enabled

    def set_remote_audio_enabled(self, enabled: bool) -> None:
        """Play (True) or mute (False) remote audio: muted, the remote track is still drained
        but its frames skip the ``audio_sink``, and what the sink had queued is dropped. No
        renegotiation; the setting survives reconnects. On WebSocket and memory the local
        player drops what it holds and takes no audio while muted (counted as played, as the
        server's buffer plays on over WebRTC: no truncation)."""
        self._remote_audio_enabled = bool(enabled)
        transport = self._transport
        if isinstance(transport, WebRTCTransport):
            transport.audio_sink = self._audio_sink if enabled else None
        if not enabled:
            if self._player is not None:  # WebSocket/memory: what the player holds goes too
                self._player.drop()
            stop = getattr(self._audio_sink, "stop", None)
            if callable(stop):
                stop()

    async def set_mode(
        self, mode: Literal["voice", "text"], session: Mapping[str, Any] | None = None
    ) -> bool:
        """Start a Mode-chart switch (``session.update``); False if the chart cannot switch now
        (already in ``mode`` or switching). It settles when ``session.updated`` arrives, an
        ``error`` names the update, or ``timeouts["mode_switch"]`` runs out."""
        self._require_connected(f"switch to {mode} mode")
        patch = normalize_session(session) if session else None
        if patch is not None:
            warn_model_shutdowns(patch, warned=self._warned_models, stacklevel=2)
        started = self.model.set_mode(mode, patch)
        await self._drain(strict=True)
        return started

    def add_message(self, message: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[str]:
        ids = self.model.add_message(message)
        self._chat_changed()
        return ids

    def clear_added(self) -> None:
        self.model.clear_added()
        self._chat_changed()

    def clear_chat_history(self) -> None:
        self.model.clear_chat_history()
        self._chat_changed()

    def next_ts(self) -> float:
        return self.model.next_ts()


def build_transport(
    transport: object,
    options: Mapping[str, Any] | None,
    *,
    api: str,
    resolve: Callable[[str], type[Transport]],
    defaults: Mapping[type[Transport], Mapping[str, Any]] = {},
) -> Transport:
    """The ``transport=`` option of a client of ``api`` (``"realtime"`` or ``"live"``): a
    :class:`Transport` instance of that API as it is, or a name (``resolve`` gives its class)
    built with ``transport_options`` (over ``defaults`` for that class) as its keyword
    arguments. ``TypeError`` for an instance of the other API, options with an instance, or an
    option the class does not take (listing those it does)."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"transport_options must be a mapping of options, got {options!r}")
    if isinstance(transport, Transport):
        speaks = getattr(transport, "api", "realtime")
        if speaks != api:
            raise TypeError(
                f"{type(transport).__name__} speaks the {_PROTOCOLS.get(speaks, speaks)} "
                f"protocol; a {_PROTOCOLS.get(api, api)} client needs one of its own transports "
                "or a transport name"
            )
        if options:
            raise TypeError(
                "transport_options go with a transport name; a Transport instance already "
                "has its options"
            )
        return transport
    if not isinstance(transport, str):
        raise TypeError(
            f"transport must be a name ('webrtc', ...) or a Transport, got {transport!r}"
        )
    cls = resolve(transport)
    given = {**defaults.get(cls, {}), **dict(options or {})}
    accepted = transport_options_of(cls)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise TypeError(
            f"transport_options for {transport!r} has no option {', '.join(unknown)}; "
            f"its options are: {', '.join(accepted) or 'none'}"
        )
    return cls(**given)


_PROTOCOLS = {"realtime": "Realtime", "live": "GPT-Live"}


def transport_options_of(cls: type[Transport]) -> list[str]:
    """The keyword options ``cls(...)`` takes: its ``__init__``'s keyword-only parameters and,
    where it passes ``**options`` on, its bases' (``LiveWebSocketTransport`` takes
    ``WebSocketTransport``'s)."""
    accepted: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        parameters = inspect.signature(init).parameters.values()
        accepted += [
            p.name
            for p in parameters
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in accepted
        ]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            break
    return accepted


def _init_signature(cls: type) -> inspect.Signature:
    """``cls.__init__``'s signature without ``self``: what ``inspect.signature(cls)`` shows
    (``RealtimeClient.__new__`` only picks the class for ``api=``)."""
    init = vars(cls)["__init__"]
    parameters = list(inspect.signature(init).parameters.values())[1:]
    return inspect.Signature(parameters)


setattr(RealtimeClient, "__signature__", _init_signature(RealtimeClient))  # noqa: B010

_REPLAYED = ("user", "assistant")

#: The client's flat chat options → the fields of :class:`ChatOptions`.
_CHAT_FIELDS = {
    "chat_is_meaningful_text": "is_meaningful_text",
    "policy_is_meaningful_text": "policy_is_meaningful_text",
    "chat_user_add_on_delta": "user_add_on_delta",
    "chat_user_placeholder_on_start": "user_placeholder_on_start",
    "chat_assistant_add_on_delta": "assistant_add_on_delta",
    "chat_assistant_placeholder_on_start": "assistant_placeholder_on_start",
    "chat_inverted": "inverted",
}


_CALLABLE_PARAMETERS = (
    "token_provider",
    "microphone",
    "on_tool_call",
    "on_event",
    "on_chat_update",
    "on_success",
    "on_error",
)


def server_key(
    api_key: str | None, token_provider: TokenProvider | None, what: str
) -> TokenProvider:
    """The API key as a token provider for ``what`` (``attach()``): ``token_provider`` as it
    is, else ``api_key`` (default ``OPENAI_API_KEY``), which must not be an ephemeral key."""
    if api_key is not None and token_provider is not None:
        raise TypeError(f"{what} takes api_key or token_provider, not both")
    if token_provider is not None:
        return token_provider
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{what} needs the API key: pass api_key=... or set OPENAI_API_KEY")
    key = key.strip()
    if key.startswith("ek_"):
        raise ValueError(
            f"{what} needs the server's API key, not an ephemeral key (ek_…): "
            "OpenAI refuses ephemeral keys on a sideband"
        )
    return _StaticKey(key)


def _check_parameters(**parameters: Any) -> None:
    """The constructor's parameters that are not in ``DEFAULTS``: types, with a sentence."""
    for name in _CALLABLE_PARAMETERS:
        check_callable(name, parameters[name])
    api_key = parameters["api_key"]
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise TypeError(f"api_key must be a non-empty string, got {type(api_key).__name__}")
        if parameters["token_provider"] is not None:
            raise TypeError("pass api_key or token_provider, not both")
    for name in ("incoming_middleware", "outgoing_middleware", "tools"):
        chain = parameters[name]
        if isinstance(chain, str) or not isinstance(chain, Sequence):
            raise TypeError(f"{name} must be a list of functions, got {chain!r}")
        for index, middleware in enumerate(chain):
            if not callable(middleware):
                raise TypeError(f"{name}[{index}] must be a function, got {middleware!r}")
    tool_timeouts = parameters["tool_timeouts"]
    if tool_timeouts is not None:
        if not isinstance(tool_timeouts, Mapping):
            raise TypeError(f"tool_timeouts must map tool names to seconds, got {tool_timeouts!r}")
        for tool, seconds in tool_timeouts.items():
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not (0 < seconds < float("inf"))
            ):
                raise ValueError(f"tool_timeouts[{tool!r}] must be seconds > 0, got {seconds!r}")
    chat_options = parameters["chat_options"]
    if chat_options is not None and not isinstance(chat_options, ChatOptions):
        raise TypeError(f"chat_options must be a ChatOptions, got {chat_options!r}")
    record_limit = parameters["record_limit"]
    if record_limit is not None and (
        isinstance(record_limit, bool) or not isinstance(record_limit, int) or record_limit < 0
    ):
        raise ValueError(
            f"record_limit must be a whole number of transitions >= 0 or None, got {record_limit!r}"
        )


_SUCCESS_STAGES = {  # the Connection chart's; each handshake step reports its own
    "opening_microphone": "get_user_media",
    "connected": "connected",
    "disconnected": "hangup_done",
}


LIVENESS_LEAD_S = 0.1
"""The liveness check runs this long (at most a tenth of the limit) before ``liveness_timeout``
is reached, so that the event loop's scheduling delay does not push it past the limit."""


def liveness_wait(last_inbound: float, now: float, limit: float) -> float | None:
    """The liveness check's arithmetic: ``None`` when the peer counts as lost (silent since
    ``last_inbound`` for ``limit`` minus the lead); else how long to wait before the next check:
    exactly until then. No polling interval is added, so a silent peer is noticed at
    ``limit - lead`` seconds, within ``limit`` even with the event loop running late."""
    remaining = last_inbound + limit - min(LIVENESS_LEAD_S, limit / 10) - now
    if remaining <= 0:
        return None
    return remaining


async def _ping(transport: Transport) -> None:
    """Ping ``transport`` for the liveness check; a failure only means no pong will come."""
    try:
        await transport.ping()
    except Exception as exc:
        logger.debug("liveness ping failed: %r", exc)


def _rollover_delay(expires_at: object, margin: float, now: float) -> float | None:
    """Seconds until the rollover, ``margin`` seconds before ``expires_at``; ``None`` when
    ``expires_at`` is no usable cap (not a finite number, or not more than ``margin`` ahead)."""
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        return None
    delay = float(expires_at) - margin - now
    if not math.isfinite(delay) or delay <= 0:
        return None
    return delay


_NO_CALL = frozenset({"idle", "disconnected", "error", "ended"})
_CONNECT_SETTLED = frozenset({"connected", "error", "disconnected", "idle", "ended"})


def _response_id(event: Mapping[str, Any]) -> str:
    """The ``response.id`` of a ``response.done`` (``""`` when missing)."""
    response = event.get("response")
    return str(response.get("id") or "") if isinstance(response, Mapping) else ""


def _playback_sink(sink: object) -> PlaybackSink:
    """The ``audio_sink`` as what the local player writes to: a :class:`PlaybackSink` as it
    is, a :class:`~realtime_sdk.audio.Speaker` through a :class:`SpeakerSink`."""
    if all(hasattr(sink, name) for name in ("write", "position", "stop")):
        return sink  # type: ignore[return-value]
    if all(hasattr(sink, name) for name in ("samples_played", "silence_skipped", "stop")):
        return SpeakerSink(sink)
    raise TypeError(
        "on a transport where the client plays the audio (websocket, memory), audio_sink must "
        "be a Speaker or a PlaybackSink (write, position, stop), not "
        f"{type(sink).__name__}; use audio_chunks() to take the audio yourself"
    )


def _content_text(item: Mapping[str, Any]) -> str:
    return "".join(str(part.get("text", "")) for part in item.get("content", ()))


def _header_token(token: object) -> str:
    """The token as sent in ``Authorization: Bearer``: surrounding whitespace stripped (a token
    read from a file ends in a newline); a :class:`TokenError` if it is not a header value."""
    if not isinstance(token, str) or not token.strip():
        raise TokenError(f"token_provider returned no token (got {type(token).__name__})")
    token = token.strip()
    for position, char in enumerate(token):
        if not "!" <= char <= "~":
            raise TokenError(
                f"the token from token_provider cannot be sent as an HTTP header: it has "
                f"{char!r} at position {position} (a token is printable ASCII, no spaces or "
                "line breaks)"
            )
    return token


#: Effect class → the client's handler for it: one entry per effect the charts emit.
EFFECT_HANDLERS: dict[type[Any], Callable[[RealtimeClient, Any], Awaitable[None]]] = {
    effects.SendEvent: RealtimeClient._send_event,
    effects.StartTimer: RealtimeClient._start_timer_effect,
    effects.CancelTimer: RealtimeClient._cancel_timer_effect,
    effects.FetchToken: RealtimeClient._fetch_token_effect,
    effects.OpenMicrophone: RealtimeClient._open_microphone_effect,
    effects.RunStep: RealtimeClient._run_step_effect,
    effects.CloseTransport: RealtimeClient._close_transport,
    effects.ReleaseMedia: RealtimeClient._release_media,
    effects.SetMicrophone: RealtimeClient._set_microphone_effect,
    effects.StopPlayback: RealtimeClient._stop_playback,
    effects.ExecuteTool: RealtimeClient._execute_tool,
}
