"""``RealtimeClient``: the Python counterpart of the seed library's ``RealtimeClientClass``.

The client is a thin shell around :class:`realtime_machines.SessionModel`. It feeds the model
what happens (server events, the outcome of each effect, timers) and executes what the charts
ask (:mod:`realtime_machines.effects`) with aiortc and aiohttp. It makes no lifecycle decisions
of its own: when to send ``response.create``, whether a cancel may be sent, when a connect step
has failed — all of that is the charts'.

Ordering: DataChannel messages go into one queue read by one consumer task, so middleware,
handlers and the model see events strictly in arrival order even when they are async.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Literal

import aiohttp
from aiortc import MediaStreamTrack

from realtime_machines import (
    ChatItem,
    ChatOptions,
    ConnectionTimeouts,
    ErrorNotice,
    Notice,
    SessionModel,
    Transition,
    effects,
)
from realtime_machines.session import DEFAULT_RECORD_LIMIT

from .config import NOT_GIVEN, apply_defaults, beta_response_params, normalize_session
from .errors import ConnectError, ErrorEvent, ErrorStage, NotConnectedError, redact
from .middleware import (
    IncomingContext,
    IncomingMiddleware,
    OutgoingMiddleware,
    run_incoming,
    run_outgoing,
)
from .peer import AudioSink, Peer

__all__ = ["RealtimeClient", "ToolCall"]

logger = logging.getLogger("realtime_sdk.client")

TokenProvider = Callable[[], "str | Awaitable[str]"]
MicrophoneFactory = Callable[[], "MediaStreamTrack | Awaitable[MediaStreamTrack | None] | None"]
Handler = Callable[[Any], "object | Awaitable[object]"]

RAW_PREVIEW = 2000


class ToolCall:
    """What ``on_tool_call`` receives: the call's ``name``, parsed ``args`` and ``call_id``."""

    __slots__ = ("args", "call_id", "name")

    def __init__(self, name: str, args: Mapping[str, Any], call_id: str) -> None:
        self.name = name
        self.args = args
        self.call_id = call_id

    def __repr__(self) -> str:
        return f"ToolCall(name={self.name!r}, call_id={self.call_id!r})"


async def _maybe_await(value: object) -> object:
    if inspect.isawaitable(value):
        return await value
    return value


class RealtimeClient:
    """A Realtime session over WebRTC, driven by the charts of :mod:`realtime_machines`.

    Use it as ``async with RealtimeClient(token_provider=...) as client:`` or call
    :meth:`connect` / :meth:`disconnect` yourself. Every option has the default given in
    :data:`realtime_sdk.config.DEFAULTS`.
    """

    def __init__(
        self,
        *,
        token_provider: TokenProvider | None = None,
        base_url: Any = NOT_GIVEN,
        model: Any = NOT_GIVEN,
        session: Any = NOT_GIVEN,
        ice_servers: Any = NOT_GIVEN,
        microphone: MicrophoneFactory | None = None,
        audio_sink: AudioSink | None = None,
        allow_connect_without_mic: Any = NOT_GIVEN,
        auto_session_update: Any = NOT_GIVEN,
        greet_enabled: Any = NOT_GIVEN,
        greet_instructions: Any = NOT_GIVEN,
        greet_modalities: Any = NOT_GIVEN,
        on_tool_call: Callable[[ToolCall], object] | None = None,
        tool_timeout: Any = NOT_GIVEN,
        tool_timeouts: Mapping[str, float] | None = None,
        incoming_middleware: Sequence[IncomingMiddleware] = (),
        outgoing_middleware: Sequence[OutgoingMiddleware] = (),
        on_event: Callable[[Mapping[str, Any]], object] | None = None,
        chat_options: ChatOptions | None = None,
        chat_inverted: Any = NOT_GIVEN,
        delete_chat_history_on_disconnect: Any = NOT_GIVEN,
        on_chat_update: Callable[[list[ChatItem]], object] | None = None,
        on_success: Callable[[str, Any], object] | None = None,
        on_error: Callable[[ErrorEvent], object] | None = None,
        timeouts: Any = NOT_GIVEN,
        liveness_timeout: Any = NOT_GIVEN,
        reconnect: Any = NOT_GIVEN,
        record_limit: int | None = DEFAULT_RECORD_LIMIT,
    ) -> None:
        options = apply_defaults(
            {
                "base_url": base_url,
                "model": model,
                "session": session,
                "ice_servers": ice_servers,
                "allow_connect_without_mic": allow_connect_without_mic,
                "auto_session_update": auto_session_update,
                "greet_enabled": greet_enabled,
                "greet_instructions": greet_instructions,
                "greet_modalities": greet_modalities,
                "tool_timeout": tool_timeout,
                "chat_inverted": chat_inverted,
                "delete_chat_history_on_disconnect": delete_chat_history_on_disconnect,
                "timeouts": timeouts,
                "liveness_timeout": liveness_timeout,
                "reconnect": reconnect,
            }
        )
        self.options: Mapping[str, Any] = options
        self._token_provider = token_provider
        self._microphone_factory = microphone
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
        chat = chat_options or ChatOptions()
        if options["chat_inverted"] != chat.inverted:
            chat = ChatOptions(
                is_meaningful_text=chat.is_meaningful_text,
                policy_is_meaningful_text=chat.policy_is_meaningful_text,
                user_add_on_delta=chat.user_add_on_delta,
                user_placeholder_on_start=chat.user_placeholder_on_start,
                assistant_add_on_delta=chat.assistant_add_on_delta,
                assistant_placeholder_on_start=chat.assistant_placeholder_on_start,
                inverted=bool(options["chat_inverted"]),
            )
        self.model = SessionModel(
            chat_options=chat,
            transport="webrtc",
            auto_execute_tools=on_tool_call is not None,
            tool_timeout=float(options["tool_timeout"]),
            tool_timeouts=tool_timeouts,
            connection_timeouts=ConnectionTimeouts(
                fetching_token=timeout_options["token"],
                opening_microphone=timeout_options["microphone"],
                creating_peer=timeout_options["peer"],
                creating_offer=timeout_options["offer"],
                posting_offer=timeout_options["sdp"],
                applying_answer=timeout_options["answer"],
                opening_channel=timeout_options["channel"],
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

        self._peer: Peer | None = None
        self._microphone: MediaStreamTrack | None = None
        self._token: str | None = None
        self._answer_sdp: str | None = None
        self.call_id: str | None = None
        self._inbox: asyncio.Queue[str] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._rollover: asyncio.TimerHandle | None = None
        self._step_tasks: dict[str, asyncio.Task[None]] = {}
        self._tool_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._connection_changed = asyncio.Event()
        self._chat_version = -1

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
        return self.model.chat

    @property
    def peer_connection(self) -> Any:
        return self._peer.pc if self._peer is not None else None

    @property
    def data_channel(self) -> Any:
        return self._peer.channel if self._peer is not None else None

    @property
    def local_track(self) -> MediaStreamTrack | None:
        return self._microphone

    @property
    def remote_track(self) -> MediaStreamTrack | None:
        return self._peer.remote_track if self._peer is not None else None

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
            await self._wait_connection({"connected", "error", "disconnected", "idle"})
            return
        await self._drain()
        await self._wait_connection({"connected", "error", "disconnected", "idle"})
        if self.model.connection.state == "error":
            stage = self.model.connection.error_stage or "peer_connection"
            raise ConnectError(stage, self.model.connection.error_message or "connect failed")
        if self.model.connection.state != "connected":
            raise ConnectError("hangup", "disconnected while connecting")

    async def disconnect(self) -> None:
        """Hang up and release everything; return when disconnected."""
        if self.model.disconnect(time=time.time()):
            await self._drain()
        await self._wait_connection({"disconnected", "idle", "error"})
        await self._release()
        if self.options["delete_chat_history_on_disconnect"]:
            self.model.clear_chat_history()
        for stream in self._streams:  # every ``events()`` iteration ends here
            stream.put_nowait(None)

    async def _wait_connection(self, states: set[str]) -> None:
        while self.model.connection.state not in states:
            self._connection_changed.clear()
            await self._connection_changed.wait()

    async def _release(self) -> None:
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
        if self._peer is not None:
            await self._peer.close()
            self._peer = None
        self._stop_microphone()
        self._token = None
        self._answer_sdp = None

    def _stop_microphone(self) -> None:
        if self._microphone is not None:
            self._microphone.stop()
            self._microphone = None

    # ---------------------------------------------------------------------------------------
    # Observing the model
    # ---------------------------------------------------------------------------------------
    def _observe(self, step: Transition) -> None:
        if step.chart != "connection" or step.target is None:
            return
        self._connection_changed.set()
        if step.source != step.target:
            task = self._step_tasks.pop(step.source or "", None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        target = step.target
        if target in _SUCCESS_STAGES:
            self._success(_SUCCESS_STAGES[target], None)
        if target == "connected":
            self._on_connected()
        elif target == "error":
            connection = self.model.connection
            stage: Any = connection.error_stage or "peer_connection"
            self._report(stage, connection.error_message or "failed", "critical", False)

    def _on_connected(self) -> None:
        """Queue the session update and the greeting before anything the user sends next."""
        if self.options["auto_session_update"]:
            session = normalize_session(self.options["session"])
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
        server's echoes then update the existing chat rows instead of adding new ones)."""
        for item in self.model.chat:
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
        self._success("history_replayed", None)

    def _schedule_rollover(self, session: Mapping[str, Any]) -> None:
        """With ``reconnect.rollover_before_cap``, start a new call before the server's cap."""
        margin = self.options["reconnect"].get("rollover_before_cap")
        expires_at = session.get("expires_at")
        if margin is None or not isinstance(expires_at, int | float):
            return
        self._cancel_rollover()
        delay = max(0.0, float(expires_at) - time.time() - float(margin))
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
    async def _drain(self) -> None:
        """Execute every effect the model has queued, in order."""
        model = self.model
        while model.outbox:
            effect = model.outbox.popleft()
            try:
                await self._execute(effect)
            except Exception as exc:
                logger.exception("effect %s failed", effect.describe())
                self._report("peer_connection", exc, "warning", True, {"effect": effect.kind})
        self._chat_changed()
        for notice in model.take_notices():  # from reports and timers, not from an event
            await self._dispatch(notice)

    async def _execute(self, effect: effects.Effect) -> None:
        if isinstance(effect, effects.SendEvent):
            await self._transmit(effect.event)
        elif isinstance(effect, effects.StartTimer):
            self._start_timer(effect.name, effect.seconds)
        elif isinstance(effect, effects.CancelTimer):
            self._cancel_timer(effect.name)
        elif isinstance(effect, effects.FetchToken):
            self._step("fetching_token", self._fetch_token())
        elif isinstance(effect, effects.OpenMicrophone):
            self._step("opening_microphone", self._open_microphone())
        elif isinstance(effect, effects.CreatePeer):
            self._create_peer()
        elif isinstance(effect, effects.CreateOffer):
            self._step("creating_offer", self._create_offer())
        elif isinstance(effect, effects.PostOffer):
            self._step("posting_offer", self._post_offer(effect.sdp))
        elif isinstance(effect, effects.ApplyAnswer):
            self._step("applying_answer", self._apply_answer())
        elif isinstance(effect, effects.ClosePeer):
            # Detached now (nothing reaches it any more); closed in the background, never
            # cancelled: a peer closed halfway leaks its sockets. _release awaits it.
            peer, self._peer = self._peer, None
            task = asyncio.get_running_loop().create_task(self._close_peer(peer))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        elif isinstance(effect, effects.ReleaseMedia):
            self._stop_microphone()
        elif isinstance(effect, effects.SetMicrophone):
            if self._peer is not None:
                self._peer.set_microphone(effect.enabled)
        elif isinstance(effect, effects.StopPlayback):
            stop = getattr(self._audio_sink, "stop", None)
            if callable(stop):
                stop()
        elif isinstance(effect, effects.ExecuteTool):
            task = asyncio.get_running_loop().create_task(self._run_tool(effect))
            self._tool_tasks[effect.call_id] = task
        else:  # pragma: no cover - every effect kind is handled above
            raise TypeError(f"unknown effect {effect!r}")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        # The coroutine itself is the task (not wrapped): a task cancelled before it starts
        # then closes it, instead of leaving a "coroutine ... was never awaited" behind.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _step(self, state: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run a connect step; it is cancelled if the chart leaves ``state`` first."""
        task = asyncio.get_running_loop().create_task(coro)
        self._step_tasks[state] = task

    async def _signal(self, event: str, **data: Any) -> None:
        self.model.signal(event, time=time.time(), **data)
        await self._drain()

    async def _fail(self, stage: str, exc: BaseException | str) -> None:
        message = redact({"m": str(exc) or type(exc).__name__})["m"]
        await self._signal("step_failed", error=message, stage=stage)

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
            await self._fail("fetch_token", "no token_provider: pass token_provider=...")
            return
        try:
            token = await _maybe_await(provider())
        except Exception as exc:
            await self._fail("fetch_token", exc)
            return
        if not isinstance(token, str) or not token:
            await self._fail("fetch_token", "token_provider returned no token")
            return
        self._token = token
        await self._signal("token_received")

    async def _open_microphone(self) -> None:
        factory = self._microphone_factory
        if factory is None:
            await self._signal("microphone_unavailable", error="no microphone configured")
            return
        try:
            track = await _maybe_await(factory())
        except Exception as exc:
            self._report("get_user_media", exc, "warning", True)
            await self._signal("microphone_unavailable", error=str(exc) or type(exc).__name__)
            return
        if track is None:
            await self._signal("microphone_unavailable", error="the microphone factory gave none")
            return
        self._microphone = track  # type: ignore[assignment]
        await self._signal("microphone_ready")

    def _create_peer(self) -> None:
        if self._consumer is not None:  # the consumer of a previous call (reconnect)
            self._consumer.cancel()
            self._consumer = None
        try:
            self._inbox = asyncio.Queue()
            self._peer = Peer(
                ice_servers=self.options["ice_servers"],
                channel_label=self.options["data_channel_label"],
                microphone=self._microphone,
                on_message=self._inbox.put_nowait,
                on_channel_open=self._channel_opened,
                on_lost=self._peer_lost,
                audio_sink=self._audio_sink if self._remote_audio_enabled else None,
            )
        except Exception as exc:
            self._spawn(self._fail("init_peer_connection", exc))
            return
        self._consumer = asyncio.get_running_loop().create_task(self._consume(self._inbox))
        self._spawn(self._signal("peer_created"))

    async def _create_offer(self) -> None:
        assert self._peer is not None
        try:
            sdp = await self._peer.create_offer()
        except Exception as exc:
            await self._fail("create_offer", exc)
            return
        self._success("ice_gathering_complete", None)
        await self._signal("offer_ready", sdp=sdp)

    async def _post_offer(self, sdp: str) -> None:
        url = f"{str(self.options['base_url']).rstrip('/')}/v1/realtime/calls"
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/sdp"}
        timeout = aiohttp.ClientTimeout(total=float(self.options["timeouts"]["sdp"]))
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(url, data=sdp, headers=headers) as response,
            ):
                body = await response.text()
                if response.status not in (200, 201):
                    await self._fail("openai_api", _http_error(response.status, body))
                    return
                location = response.headers.get("Location", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._fail("openai_api", f"POST /v1/realtime/calls failed: {exc!r}")
            return
        self._answer_sdp = body
        self.call_id = location.rstrip("/").rpartition("/")[2] or None
        await self._signal("answer_received")

    async def _apply_answer(self) -> None:
        if self._peer is None or self._answer_sdp is None:
            await self._fail("set_remote_description", "no answer to apply")
            return
        try:
            await self._peer.apply_answer(self._answer_sdp)
        except Exception as exc:
            await self._fail("set_remote_description", exc)
            return
        await self._signal("answer_applied")
        if self._peer is not None and self._peer.channel_open:
            self._channel_opened()

    def _channel_opened(self) -> None:
        if self.model.connection.state == "opening_channel":
            self._success("data_channel_open", None)
            self._spawn(self._signal("channel_opened"))

    def _peer_lost(self, reason: str) -> None:
        if self.model.connection.state in ("connected", "opening_channel"):
            self._spawn(self._lost(reason))

    async def _lost(self, reason: str) -> None:
        state = self.model.connection.state
        event = "connection_lost" if state == "connected" else "step_failed"
        await self._signal(event, error=reason)

    async def _close_peer(self, peer: Peer | None) -> None:
        if peer is not None:
            with contextlib.suppress(Exception):
                await peer.close()
        if self.model.connection.state == "disconnecting":
            await self._signal("peer_closed")

    async def _liveness(self) -> None:
        limit = float(self.options["liveness_timeout"])
        interval = min(1.0, limit / 4)
        while self.model.connection.state == "connected":
            await asyncio.sleep(interval)
            peer = self._peer
            if peer is None:
                return
            silent = time.monotonic() - peer.last_inbound
            if silent > limit:
                await self._signal(
                    "connection_lost", error=f"nothing from the server for {silent:.1f} s"
                )
                return

    # ---------------------------------------------------------------------------------------
    # Receiving
    # ---------------------------------------------------------------------------------------
    async def _consume(self, inbox: asyncio.Queue[str]) -> None:
        while True:
            text = await inbox.get()
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
        if self._incoming:
            ctx = IncomingContext(event=event, send=self.send_raw, client=self)
            result = await run_incoming(self._incoming, ctx)
            if result is None:
                return
            event = dict(result)
        if self._on_event is not None:
            await _maybe_await(self._on_event(event))
        notices = self.model.receive(event, time=time.time())
        if event.get("type") == "session.created" and isinstance(event.get("session"), dict):
            self._schedule_rollover(event["session"])
        await self._drain()
        for notice in notices:
            await self._dispatch(notice)

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
                await _maybe_await(handler(notice))
            except Exception as exc:
                self._report("data_channel", exc, "warning", True, {"handler": notice.name})
        for stream in self._streams:
            stream.put_nowait(notice)

    def _chat_changed(self) -> None:
        version = self.model.chat_version
        if version != self._chat_version:
            self._chat_version = version
            if self._on_chat_update is not None:
                try:
                    self._on_chat_update(self.model.chat)
                except Exception:
                    logger.exception("on_chat_update handler failed")

    # ---------------------------------------------------------------------------------------
    # Subscribing
    # ---------------------------------------------------------------------------------------
    def on(self, name: str, handler: Handler) -> Callable[[], None]:
        """Subscribe to a convenience event (``"assistant:delta"``...); return an unsubscribe."""
        from realtime_machines import NOTICE_NAMES

        if name not in NOTICE_NAMES:
            known = ", ".join(sorted(NOTICE_NAMES))
            raise ValueError(f"unknown event {name!r}; subscribe to one of: {known}")
        handlers = self._handlers.setdefault(name, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

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
        """Send one event on the channel, through the outgoing middleware."""
        async with self._send_lock:
            outgoing = await run_outgoing(self._outgoing, dict(event)) if self._outgoing else event
            if outgoing is None:
                return
            peer = self._peer
            if peer is None or not peer.channel_open:
                self._report(
                    "data_channel",
                    f"{event.get('type')} not sent: the events channel is not open",
                    "warning",
                    True,
                )
                return
            peer.send(json.dumps(outgoing, ensure_ascii=False))

    async def send_raw(self, event: Mapping[str, Any]) -> None:
        """Send any client event; ``response.create`` and ``response.cancel`` go through the
        Response chart's sequencer. Raises :class:`NotConnectedError` when not connected."""
        self._require_connected(f"send {event.get('type')!r}")
        self.model.send(event, time=time.time())
        await self._drain()

    async def send_response(self, params: Mapping[str, Any] | None = None) -> None:
        """``response.create`` (queued while a response is active)."""
        self._require_connected("send response.create")
        self.model.request_response(beta_response_params(params) if params else None)
        await self._drain()

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
        self.model.send({"type": "session.update", "session": normalize_session(patch)})
        await self._drain()

    async def send_tool_output(self, call_id: str, output: object) -> None:
        """``function_call_output`` for ``call_id`` (no response.create: call send_response)."""
        self._require_connected("send a tool output")
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        if not self.model.submit_tool_output(call_id, text, follow_up=False):
            item = {"type": "function_call_output", "call_id": call_id, "output": text}
            self.model.send({"type": "conversation.item.create", "item": item})
        await self._drain()

    async def send_text_message(
        self,
        text: str,
        *,
        response_modality: Literal["text", "audio"] | None = None,
        instructions: str | None = None,
        conversation: Literal["auto", "none"] = "auto",
    ) -> None:
        """A user text message, then a response to it."""
        self._require_connected("send a text message")
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        self.model.send({"type": "conversation.item.create", "item": item}, time=time.time())
        params: dict[str, Any] = {}
        if response_modality:
            params["output_modalities"] = [response_modality]
        if instructions:
            params["instructions"] = instructions
        if conversation == "none":
            params["conversation"] = "none"
        self.model.request_response(params or None)
        await self._drain()

    async def cancel_response(self) -> None:
        """``response.cancel`` (only if a response is active) and ``output_audio_buffer.clear``
        (only if audio is playing)."""
        self._require_connected("cancel a response")
        self.model.cancel_response()
        await self._drain()

    # -- tools ------------------------------------------------------------------------------
    async def _run_tool(self, effect: effects.ExecuteTool) -> None:
        handler = self._on_tool_call
        call = ToolCall(effect.name, effect.arguments, effect.call_id)
        try:
            assert handler is not None
            result = await _maybe_await(handler(call))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.model.tool_failed(effect.call_id, f"{type(exc).__name__}: {exc}")
        else:
            if result is None:
                self.model.tool_deferred(effect.call_id)
            else:
                output = result if isinstance(result, str) else json.dumps(result)
                self.model.submit_tool_output(effect.call_id, output, follow_up=True)
        finally:
            self._tool_tasks.pop(effect.call_id, None)
        await self._drain()

    # -- microphone and chat ----------------------------------------------------------------
    def enable_microphone(self) -> None:
        """Unmute the microphone track (no renegotiation)."""
        if self._peer is not None:
            self._peer.set_microphone(True)

    def disable_microphone(self) -> None:
        """Mute the microphone track (no renegotiation)."""
        if self._peer is not None:
            self._peer.set_microphone(False)

    @property
    def remote_audio_enabled(self) -> bool:
        """Whether remote audio reaches the ``audio_sink``; see :meth:`set_remote_audio_enabled`."""
        return self._remote_audio_enabled

    def set_remote_audio_enabled(self, enabled: bool) -> None:
        """Play (True) or mute (False) remote audio: muted, the remote track is still drained
        but its frames skip the ``audio_sink``, and what the sink had queued is dropped. No
        renegotiation; the setting survives reconnects."""
        self._remote_audio_enabled = bool(enabled)
        if self._peer is not None:
            self._peer.audio_sink = self._audio_sink if enabled else None
        if not enabled:
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
        started = self.model.set_mode(mode, normalize_session(session) if session else None)
        await self._drain()
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


_REPLAYED = ("user", "assistant")

_SUCCESS_STAGES = {
    "opening_microphone": "get_user_media",
    "creating_offer": "peer_connection_created",
    "posting_offer": "create_offer",
    "applying_answer": "openai_api",
    "opening_channel": "set_remote_description",
    "connected": "connected",
    "disconnected": "hangup_done",
}


def _http_error(status: int, body: str) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200]
    return f"POST /v1/realtime/calls answered HTTP {status}: {message}"
