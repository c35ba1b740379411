"""``LiveClient``: a GPT-Live session (``/v1/live/sessions``) over the SDK's transports.

``RealtimeClient(api="live", ...)`` makes one (it *is* a :class:`~realtime_sdk.RealtimeClient`:
the same connect/disconnect, transports, middleware, ``on(...)``, ``events()``, chat, record
and effect machinery), running :class:`realtime_machines.live.LiveSessionModel` instead of the
Realtime ``SessionModel``. What differs is what the protocol makes differ (``docs/live.md``):

* **Connect**: the API key (Live has no ephemeral keys) and a Live session configuration
  (``session={"model": "gpt-live-1.1", "instructions": ...}``). Over WebSocket the client sends
  ``session.start`` as the first message and waits for ``session.started``; over WebRTC the
  offer is posted as JSON to ``/v1/live/sessions`` and ``session.started`` arrives on the data
  channel; :meth:`LiveClient.attach` joins a running session on a sideband. The handshake
  chart shows each step (``starting_session`` last).
* **Audio keeps the clock**: Live's timeline moves with input audio frames, so without a
  ``microphone`` the client streams silence (``silence=False`` turns that off, e.g. when the app
  streams its own audio with ``send_audio``).
* **Text**: Live has no user text messages. :meth:`send_text_message` (and
  :meth:`send_instructions`) appends trusted instructions the model acts on;
  :meth:`send_commentary` gives it something to say, :meth:`send_thinking` quiet context.
* **Tools by delegation**: with ``delegation={"type": "responses", ...}`` the registered tools'
  schemas go into ``delegation.responses.tools``; the client runs each function call of the
  delegated run, submits its output (``response.item.create``) and continues the run
  (``response.create``) once every call is answered. With client delegation
  (the default) ``on_delegation`` is called with each :class:`Delegation` and its return
  value is the answer (``session.commentary.append`` naming the delegation).
* **Mute** is a protocol command (:meth:`mute` / :meth:`unmute`, acknowledged).
* **Input audio** over WebSocket (the ``microphone``, :meth:`send_audio`: PCM16 mono 24 kHz)
  goes up in the session's ``audio.format`` (PCM16 16 kHz, G.711 µ-law or A-law are encoded
  by the transport; an unsupported format is a :class:`LiveConfigError`).
* **Output audio** over WebSocket (``session.output_audio.delta``, in the session's format) is
  played by the client as on Realtime's WebSocket: into the ``audio_sink`` or as PCM16 mono
  24 kHz chunks from :meth:`audio_chunks`. Live has no truncate: when the user barges in (the
  chat's turn rule: ``assistant:interrupted``) or a fixture starts, the client only drops what
  it still holds of the interrupted speech.
* **Disconnect** closes the session first (``session.close`` → ``session.closed``).
* **Reconnect** (``reconnect={"attempts": n}``, off by default): Live has no resume, so a
  dropped connection is replaced by a *new* session (the old one is ``lost``). The client says
  so: the ``session:restarted`` event and ``on_success("session_restarted", {...})`` with both
  ids. The chat keeps the old rows and puts the new session's after them; the model does not
  remember the old session. A sideband re-attaches to the same session.
* What Live does not have raises :class:`LiveUnsupportedError` naming it (``cancel_response``,
  ``ask``, ``set_mode``...), and :meth:`update_session` refuses immutable fields with a
  :class:`LiveConfigError` naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NoReturn

from realtime_machines import ConnectionTimeouts, Notice, ToolCallDone, Transition
from realtime_machines.live import (
    LIVE_NOTICE_NAMES,
    AssistantInterrupted,
    DelegationCreatedNotice,
    LiveChatOptions,
    LiveSessionModel,
    SessionRestartedNotice,
)
from realtime_machines.session import DEFAULT_RECORD_LIMIT

from ._aio import maybe_await
from .client import (
    RealtimeClient,
    _init_signature,
    _StaticKey,
    build_transport,
    server_key,
)
from .codecs import AudioDecoder, Int16Array, check_audio_format
from .config import DEFAULTS, NOT_GIVEN
from .errors import ConnectError, RealtimeError
from .tools import FunctionTool
from .transports import Transport
from .transports.live import (
    STARTING_SESSION,
    LiveSidebandTransport,
    LiveWebRTCTransport,
    LiveWebSocketTransport,
    check_session_id,
)

__all__ = [
    "DEFAULT_LIVE_MODEL",
    "Delegation",
    "LiveClient",
    "LiveConfigError",
    "LiveUnsupportedError",
]

logger = logging.getLogger("realtime_sdk.live_client")

DEFAULT_LIVE_MODEL = "gpt-live-1.1"

#: The fields of a Live session configuration (``SessionConfig``; the last two on WebRTC).
SESSION_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "instructions",
        "input",
        "audio",
        "delegation",
        "triggers",
        "store",
        "safety_identifier",
        "client",
        "idle_timeout_s",
        "wake_policy",
    }
)
#: What ``session.update`` may change (everything else is immutable once started).
MUTABLE_FIELDS: frozenset[str] = frozenset({"delegation", "triggers"})

#: Realtime-only options of ``RealtimeClient`` that mean nothing on Live.
_REALTIME_OPTIONS: frozenset[str] = frozenset(
    {
        "greet_enabled",
        "greet_instructions",
        "greet_modalities",
        "auto_session_update",
        "chat_options",
        "prices",
        "ice_servers_from_token",
    }
)

_RUNNING = frozenset({"starting", "started", "paused", "expired"})
_SESSION_OVER = frozenset({"closed", "failed", "lost"})


class LiveUnsupportedError(RealtimeError, TypeError):
    """A Realtime call that GPT-Live has no counterpart for (the message says what to use)."""

    def __init__(self, attempted: str, instead: str) -> None:
        self.attempted = attempted
        super().__init__(f"{attempted} does not exist on GPT-Live: {instead}")


class LiveConfigError(RealtimeError, ValueError):
    """A Live session configuration the server would refuse; ``field`` names it
    (``session.instructions``, ``session.delegation.type``...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class Delegation:
    """What ``on_delegation`` receives: a client delegation (``session.delegation.created``
    carries no task text, so ``request`` is the user's last turn as transcribed)."""

    id: str
    target: str
    request: str


def _silence() -> Any:
    """A silent aiortc track: Live's clock moves with input audio frames."""
    from aiortc.mediastreams import AudioStreamTrack

    return AudioStreamTrack()


_TRANSPORTS: dict[str, type[Transport]] = {
    "webrtc": LiveWebRTCTransport,
    "websocket": LiveWebSocketTransport,
}
"""The Live transports by name; ``"memory"`` (``LiveMemoryTransport``, which imports the
emulator) is loaded on first use by :func:`live_transport_class`."""


class LiveClient(RealtimeClient):
    """A GPT-Live session; make one with ``RealtimeClient(api="live", ...)`` or directly.

    ``session`` is the Live configuration (``model``, ``instructions``, ``delegation``,
    ``triggers``, ``input``, ``audio``, ...; unknown fields raise :class:`LiveConfigError`);
    ``model`` fills ``session["model"]`` when it is not given (default
    :data:`DEFAULT_LIVE_MODEL`). ``api_key`` (default ``OPENAI_API_KEY``) or ``token_provider``
    gives the project API key. ``transport`` is ``"webrtc"`` (default), ``"websocket"``,
    ``"memory"`` (the emulator's Live engine in this process, for tests) or a Live transport
    instance; ``transport_options`` are the named transport's options. ``tools`` /
    :meth:`tool` are run for a Responses delegation's function calls; ``on_delegation``
    answers client delegations. ``chat_options`` is a
    :class:`~realtime_machines.live.LiveChatOptions` (the turn rule's thresholds). Other
    options are :class:`RealtimeClient`'s; its Realtime-only ones (greeting,
    ``auto_session_update``) raise ``TypeError``.
    """

    api: ClassVar[str] = "live"
    measures_turns: ClassVar[bool] = False
    model: LiveSessionModel

    def __init__(
        self,
        *,
        api: str = "live",
        api_key: str | None = None,
        token_provider: Any = None,
        session: Mapping[str, Any] | None = None,
        model: str | None = None,
        transport: str | Transport = "webrtc",
        transport_options: Mapping[str, Any] | None = None,
        microphone: Any = None,
        silence: bool = True,
        tools: Sequence[FunctionTool | Callable[..., Any]] = (),
        on_delegation: Callable[[Delegation], object] | None = None,
        chat_options: LiveChatOptions | None = None,
        start_timeout: float = 15.0,
        close_timeout: float = 10.0,
        record_limit: int | None = DEFAULT_RECORD_LIMIT,
        **options: Any,
    ) -> None:
        if api != "live":
            raise ValueError(f"LiveClient is api='live', not {api!r}")
        refused = sorted(set(options) & _REALTIME_OPTIONS)
        if refused:
            raise TypeError(
                f"{', '.join(refused)}: Realtime-only option(s); a GPT-Live session has no "
                "greeting response or session.update of its configuration (see docs/live.md)"
            )
        if chat_options is not None and not isinstance(chat_options, LiveChatOptions):
            raise TypeError(
                f"chat_options must be a realtime_machines.live.LiveChatOptions, "
                f"got {type(chat_options).__name__}"
            )
        if on_delegation is not None and not callable(on_delegation):
            raise TypeError(f"on_delegation must be a function, got {on_delegation!r}")
        self._session_config = _check_session(session, model)
        if api_key is not None and token_provider is not None:
            raise TypeError("pass api_key or token_provider, not both")
        if token_provider is None:
            key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
            if key is not None:
                if not isinstance(key, str) or not key.strip():
                    raise TypeError("api_key must be a non-empty string")
                token_provider = _StaticKey(key.strip())
        rtc: dict[str, Any] = {
            "ice_servers": options.get("ice_servers", DEFAULTS["ice_servers"]),
            "channel_label": options.get("data_channel_label", DEFAULTS["data_channel_label"]),
        }
        template = _live_transport(transport, transport_options, rtc)
        if microphone is None and silence and template.carries_audio:
            microphone = _silence
        # What _new_model needs, which super().__init__ calls: the Live model is the only one
        # this client builds.
        self._live_model = (template, chat_options, start_timeout, close_timeout, record_limit)
        super().__init__(
            token_provider=token_provider,
            transport=template,
            microphone=microphone,
            tools=tools,
            greet_enabled=False,
            auto_session_update=False,
            delete_chat_history_on_disconnect=options.pop(
                "delete_chat_history_on_disconnect", False
            ),
            record_limit=record_limit,
            **options,
        )
        self._on_delegation = on_delegation
        self._session_changed = asyncio.Event()
        #: Delegations whose function outputs were submitted and await ``response.create``.
        self._to_continue: set[str] = set()
        self._settle: asyncio.TimerHandle | None = None
        #: The player's key for the assistant's audio since the last cut (Live audio has no
        #: response or item id): a cut starts a new one, so later speech is not dropped.
        self._speech = 0
        #: Set whenever the player starts or stops playing the assistant (``assistant_audible``
        #: changed): what to wait on instead of polling it.
        self.audible_changed = asyncio.Event()
        #: The output audio's decoder for the current speech (a format other than PCM16
        #: 24 kHz): one stream per speech, so deltas meet without a seam at their borders.
        self._decoder: tuple[int, Mapping[str, Any], AudioDecoder] | None = None

    @classmethod
    def attach(  # type: ignore[override]
        cls,
        session_id: str,
        *,
        api_key: str | None = None,
        token_provider: Any = None,
        transport_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> LiveClient:
        """A client for the running Live session ``session_id`` (``live_…``) on a sideband
        WebSocket (``/v1/live/sessions/{id}/attach``): no ``session.start``, no audio; it runs
        the tools and delegation answers while a browser or phone holds the media."""
        session_id = check_session_id(session_id)
        if "transport" in options:
            raise TypeError("attach() picks the sideband transport; leave out transport=")
        token_provider = server_key(api_key, token_provider, "attach()")
        sideband = LiveSidebandTransport(session_id=session_id, **dict(transport_options or {}))
        return cls(token_provider=token_provider, transport=sideband, **options)

    def _new_model(self, **realtime_options: Any) -> LiveSessionModel:  # type: ignore[override]
        """The Live session model (the Realtime model's options do not apply to it)."""
        template, chat_options, start_timeout, close_timeout, record_limit = self._live_model
        timeouts: Mapping[str, float] = self.options["timeouts"]
        reconnect: Mapping[str, Any] = self.options["reconnect"]
        by_option = template.timeout_options
        steps = template.steps
        return LiveSessionModel(
            chat_options=chat_options,
            connection_timeouts=ConnectionTimeouts(
                fetching_token=timeouts["token"],
                opening_microphone=timeouts["microphone"],
                disconnecting=timeouts["hangup"],
            ),
            handshake_kind=template.kind,
            handshake_steps=[(step.state, step.stage) for step in steps],
            handshake_timeouts={
                step.state: float(timeouts.get(by_option.get(step.state, ""), step.timeout))
                for step in steps
            },
            allow_connect_without_microphone=bool(self.options["allow_connect_without_mic"]),
            reconnect_attempts=int(reconnect["attempts"]),
            reconnect_delay=float(reconnect["backoff_initial"]),
            reconnect_backoff=float(reconnect["backoff_factor"]),
            reconnect_delay_max=float(reconnect["backoff_max"]),
            start_timeout=start_timeout,
            close_timeout=close_timeout,
            record_limit=record_limit,
            time=time.time(),
        )

    def __repr__(self) -> str:
        return (
            f"<LiveClient status={self.status!r} session={self.model.session.state!r} "
            f"input_audio={self.model.input_audio.state!r}>"
        )

    # ---------------------------------------------------------------------------------------
    # Reading
    # ---------------------------------------------------------------------------------------
    @property
    def session_id(self) -> str | None:
        """The Live session's id (``live_…``) once known."""
        return self.model.session.session_id or self.call_id

    @property
    def session_config(self) -> Mapping[str, Any]:
        """The configuration the client starts the session with (the server's resolved one
        is ``client.model.session_config`` once started)."""
        return self._live_session()

    @property
    def _sends_start(self) -> bool:
        """Whether the client starts the session with ``session.start`` (WebSocket, memory)."""
        return bool(getattr(self._template, "sends_start", False))

    @property
    def usage(self) -> Mapping[str, Any] | None:
        """The last usage snapshot (``session.usage.updated``), or the final one."""
        return self.model.usage

    def _live_session(self) -> dict[str, Any]:
        """The configuration with the registered tools in a Responses delegation."""
        session = json.loads(json.dumps(self._session_config))
        delegation = session.get("delegation")
        if self._tools and isinstance(delegation, dict) and delegation.get("type") == "responses":
            responses = delegation.setdefault("responses", {})
            given = [t for t in responses.get("tools") or () if t.get("name") not in self._tools]
            responses["tools"] = given + [tool.schema for tool in self._tools.values()]
        if self._sends_start:  # WebRTC-only fields
            session.pop("idle_timeout_s", None)
            session.pop("wake_policy", None)
        return dict(session)

    # ---------------------------------------------------------------------------------------
    # Connecting (the Live steps of the handshake)
    # ---------------------------------------------------------------------------------------
    def _new_call(self) -> None:
        super()._new_call()
        if self._context is not None:
            self._context.session = self._live_session()
            self._context.model = str(self._session_config.get("model", ""))

    async def _run_step(self, state: str) -> None:
        if state != STARTING_SESSION:
            await super()._run_step(state)
            if state == "posting_offer":  # the HTTP request created the session
                self.model.created(time=time.time())
                await self._drain()
            elif state == "attaching" and self.transport_kind == "sideband":
                self.model.attached(self.call_id, time=time.time())
                await self._drain()
            return
        if self._sends_start:
            self.model.start(self._live_session())
            await self._drain(strict=True)
        step = asyncio.ensure_future(super()._run_step(state))
        failed = asyncio.ensure_future(self._session_left_starting())
        try:
            await asyncio.wait({step, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            failed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await failed
        if not step.done():
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await step
            session = self.model.session
            raise ConnectError("data_channel", session.error or f"session {session.state}")
        step.result()

    async def _session_left_starting(self) -> None:
        """Return when the session failed to start (``error`` for ``session.start``, the start
        timer, or the transport gone)."""
        while self.model.session.state not in _SESSION_OVER:
            self._session_changed.clear()
            await self._session_changed.wait()

    def _observe(self, step: Transition) -> None:
        if step.chart == "live_session":
            self._session_changed.set()
        elif step.chart == "conversation" and step.event == "transcript":
            self._settle_later()
        super()._observe(step)

    def _settle_later(self) -> None:
        """Close the open turns once the transcripts have been quiet for the chat's
        ``silence_ms`` (no event says a turn ended; the inactivity rule needs a clock)."""
        if self._settle is not None:
            self._settle.cancel()
        delay = self.model.chat_options.silence_ms / 1000
        self._settle = asyncio.get_running_loop().call_later(delay, self._settle_turns)

    def _settle_turns(self) -> None:
        self._settle = None
        if self.model.connection.state == "connected":
            self.model.settle_turns(time=time.time())
            self._spawn(self._drain())

    def _on_connected(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().create_task(self._liveness())

    def _transport_lost(self, reason: str) -> None:
        """The server closes the wire after ``session.closed``: the session ended, not lost."""
        if self.model.session.state == "closed" and self.model.connection.state == "connected":
            reason = f"the session closed ({self.model.session.reason})"
            self._spawn(self._signal("call_ended", error=reason))
            return
        super()._transport_lost(reason)

    async def disconnect(self) -> None:
        """Close the session (``session.close``, then ``session.closed`` within
        ``close_timeout``), then the transport; return when disconnected."""
        model = self.model
        running = model.connection.state == "connected" and model.session.state in _RUNNING
        if running and model.close() is not None:
            with contextlib.suppress(Exception):
                await self._drain()
            await self._wait_session(_SESSION_OVER)
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None
        await super().disconnect()

    async def _wait_session(self, states: Collection[str]) -> None:
        """Until the session chart is in one of ``states`` (its close timer bounds a close)."""
        while self.model.session.state not in states:
            if self.model.connection.state != "connected":
                return
            self._session_changed.clear()
            await self._session_changed.wait()

    # ---------------------------------------------------------------------------------------
    # Events
    # ---------------------------------------------------------------------------------------
    def _notice_names(self) -> frozenset[str]:
        """The Realtime convenience events that fit a Live session (``user:delta``,
        ``assistant:delta``, ``assistant:completed``, ``tool:call_done``, ``error``...) and
        Live's own (``session:started``, ``delegation:created``, ``input:muted``...)."""
        return super()._notice_names() | LIVE_NOTICE_NAMES

    async def _handle(self, text: str) -> None:
        await super()._handle(text)
        if self._to_continue:
            await self._continue_delegations()

    async def _dispatch(self, notice: Notice) -> None:
        if isinstance(notice, AssistantInterrupted):
            self._cut_speech()
        elif isinstance(notice, SessionRestartedNotice):
            logger.warning(
                "a new Live session %s replaced %s: Live has no resume (the model does not "
                "remember the old session; the chat keeps its rows)",
                notice.session_id,
                notice.previous_session_id,
            )
            self._success(
                "session_restarted",
                {
                    "previous_session_id": notice.previous_session_id,
                    "session_id": notice.session_id,
                },
            )
        if isinstance(notice, ToolCallDone):
            self._spawn(self._run_delegated_tool(notice))
        elif (
            isinstance(notice, DelegationCreatedNotice)
            and notice.target == "client"
            and self._on_delegation is not None
        ):
            self._spawn(self._answer_delegation(notice.delegation_id, notice.target))
        await super()._dispatch(notice)

    # ---------------------------------------------------------------------------------------
    # Output audio (primary WebSocket: the client plays it)
    # ---------------------------------------------------------------------------------------
    def _is_audio_delta(self, kind: object) -> bool:
        return kind == "session.output_audio.delta" or kind == FIXTURE_PLAYING

    def _output_audio(self, event: Mapping[str, Any]) -> None:
        """A ``session.output_audio.delta`` (the session's format, converted to PCM16 24 kHz)
        to the local player: the ``audio_sink`` or :meth:`audio_chunks`. Live sends no done
        event, so each delta is the end of what is known: the player reports the assistant
        silent (:attr:`assistant_audible`) whenever it has played everything received.
        ``session.output_audio.fixture.playing`` cuts what is queued (the fixture interrupts
        the model's speech; its own audio follows)."""
        if event.get("type") == FIXTURE_PLAYING:
            self._cut_speech()
            return
        player = self._audio_player()
        if player is None:
            return  # drained, as the base class drains it: no decoding for nobody
        try:
            samples = self._decode_output(event.get("delta"))
        except ValueError as exc:
            self._report("data_channel", exc, "warning", True, {"type": event.get("type")})
            return
        key = f"speech_{self._speech}"
        player.feed_samples(key, key, 0, samples)  # decoded once, here
        player.finish(key)

    def _decode_output(self, delta: object) -> Int16Array:
        """A delta decoded once, through the current speech's decoder (a new speech, or a
        new format, starts a new stream; its ~2 ms tail is dropped with the old one)."""
        fmt = self._output_format()
        current = self._decoder
        if current is None or current[0] != self._speech or current[1] != fmt:
            current = self._decoder = (self._speech, fmt, AudioDecoder(_with_rate(fmt)))
        return current[2].decode(_delta_bytes(delta, fmt))

    def _output_format(self) -> Mapping[str, Any]:
        """The session's audio format (the resolved one once started), PCM16 24 kHz if none."""
        for config in (self.model.session_config, self._session_config):
            audio = (config or {}).get("audio")
            fmt = audio.get("format") if isinstance(audio, Mapping) else None
            if isinstance(fmt, Mapping) and "type" in fmt:
                return fmt
        return _PCM24

    def _cut_speech(self) -> None:
        """Barge-in on Live: the server stopped the assistant (the user spoke over it, or a
        fixture took over); what the player still holds of that speech is never played.
        Live has no truncate: nothing is sent."""
        player = self._player
        if player is None:
            return
        dropped = player.queued_ms
        player.cut()
        self._speech += 1
        if dropped:
            logger.info("the assistant was interrupted: %.0f ms of its audio not played", dropped)

    def _local_playback(
        self, event: Literal["started", "stopped", "cleared"], response_id: str | None
    ) -> None:
        """Nothing to feed: Live has no Playback chart (the server owns turn-taking);
        :attr:`assistant_audible` reads the player itself, and :attr:`audible_changed` is set."""
        self.audible_changed.set()

    @property
    def assistant_audible(self) -> bool:
        """Whether the client's player is playing the assistant's audio now (WebSocket; Live
        has no speaking state on the wire)."""
        return self._player is not None and self._player.playing

    # ---------------------------------------------------------------------------------------
    # Delegation
    # ---------------------------------------------------------------------------------------
    def _delegation_of(self, call_id: str) -> str | None:
        for chart in self.model.delegations.values():
            if call_id in chart.calls:
                return chart.delegation_id
        return None

    async def _run_delegated_tool(self, call: ToolCallDone) -> None:
        """Run a delegated run's function call, submit its output, continue when all are in."""
        tool = self._tools.get(call.tool_name)
        if tool is None and self._on_tool_call is None:
            # Not this client's to answer: another connection (a sideband) may own the tools.
            logger.info("function call %s (%s) left to its owner", call.call_id, call.tool_name)
            return
        try:
            if call.args is None:
                raise ValueError(f"invalid arguments: {call.error}")
            if tool is not None:
                result = await tool.invoke(call.args)
            elif self._on_tool_call is not None:
                from .client import ToolCall

                result = await maybe_await(
                    self._on_tool_call(ToolCall(call.tool_name, call.args, call.call_id))
                )
            else:
                known = ", ".join(self._tools)
                raise LookupError(f"no tool named {call.tool_name!r} (tools: {known})")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        if result is None:  # the app answers later with submit_function_output
            return
        if self.model.connection.state != "connected":
            return
        output = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        self.model.submit_function_output(call.call_id, output)
        delegation_id = self._delegation_of(call.call_id)
        if delegation_id is not None:
            self._to_continue.add(delegation_id)
        await self._drain()
        await self._continue_delegations()

    async def _continue_delegations(self) -> None:
        """``response.create`` once a run whose outputs we submitted has finished and has no
        call left unanswered (one per run: the server continues every answered delegation)."""
        ready = []
        for delegation_id in list(self._to_continue):
            chart = self.model.delegations.get(delegation_id)
            if chart is None or (chart.is_settled and chart.state != "done"):
                self._to_continue.discard(delegation_id)
            elif chart.state in ("awaiting_output", "done") and not chart.pending:
                ready.append(delegation_id)
        if not ready or self.model.connection.state != "connected":
            return
        self._to_continue.difference_update(ready)
        self.model.continue_response()
        await self._drain()

    async def _answer_delegation(self, delegation_id: str, target: str) -> None:
        handler = self._on_delegation
        if handler is None:
            return
        users = [row for row in self.model.chat if row.role == "user"]
        request = users[-1].text if users else ""
        try:
            answer = await maybe_await(handler(Delegation(delegation_id, target, request)))
        except Exception as exc:
            self._report("data_channel", exc, "warning", True, {"delegation_id": delegation_id})
            return
        if answer is None or self.model.connection.state != "connected":
            return
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        await self.answer_delegation(delegation_id, text)

    async def answer_delegation(self, delegation_id: str, answer: str) -> str:
        """Answer a client delegation: ``session.commentary.append`` naming it (the model says
        it, paraphrased). Return the command's ``event_id``."""
        return await self._append("commentary", answer, delegation_id)

    async def submit_function_output(
        self, call_id: str, output: object, *, continue_response: bool = True
    ) -> None:
        """A delegated run's function result (``response.item.create``); with
        ``continue_response`` the run is continued (``response.create``) once every call of
        it is answered."""
        self._require_connected("submit a function output")
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        self.model.submit_function_output(call_id, text)
        delegation_id = self._delegation_of(call_id)
        if continue_response and delegation_id is not None:
            self._to_continue.add(delegation_id)
        await self._drain(strict=True)
        if continue_response:
            await self._continue_delegations()

    async def continue_response(self) -> None:
        """``response.create``: continue the delegated run, or start backend work."""
        self._require_connected("send response.create")
        self.model.continue_response()
        await self._drain(strict=True)

    # ---------------------------------------------------------------------------------------
    # Text, mute, configuration, fixtures
    # ---------------------------------------------------------------------------------------
    async def _append(self, kind: str, content: str, delegation_id: str | None) -> str:
        self._require_connected(f"send session.{kind}.append")
        if not isinstance(content, str) or not content:
            raise ValueError(f"session.{kind}.append needs a non-empty string content")
        event_id = self.model.append(kind, content, delegation_id=delegation_id)
        await self._drain(strict=True)
        return event_id

    async def send_text_message(  # type: ignore[override]
        self,
        text: str,
        *,
        kind: Literal["instructions", "commentary", "thinking"] = "instructions",
        delegation_id: str | None = None,
    ) -> str:
        """Text into a Live session. Live has no user text messages: the text goes in as a
        context append, trusted ``instructions`` by default (the model acts on them; they can
        interrupt its speech), ``commentary`` (to be said aloud, paraphrased) or ``thinking``
        (quiet context). Return the append's ``event_id``; its acknowledgement
        (``session.<kind>.appended``) comes once the session's audio clock reaches it."""
        if kind not in ("instructions", "commentary", "thinking"):
            raise ValueError(
                f"kind must be 'instructions', 'commentary' or 'thinking', not {kind!r}"
            )
        return await self._append(kind, text, delegation_id)

    async def send_instructions(self, text: str) -> str:
        """``session.instructions.append``: trusted instructions (a greeting, a disclosure,
        "stop speaking"); they can interrupt current speech."""
        return await self._append("instructions", text, None)

    async def send_commentary(self, text: str, *, delegation_id: str | None = None) -> str:
        """``session.commentary.append``: content for the model to say (paraphrased)."""
        return await self._append("commentary", text, delegation_id)

    async def send_thinking(self, text: str, *, delegation_id: str | None = None) -> str:
        """``session.thinking.append``: quiet facts or progress that may shape later speech."""
        return await self._append("thinking", text, delegation_id)

    async def mute(self, *, wait: bool = True) -> bool:
        """``session.input_audio.mute``: the model hears silence (output and delegated work go
        on). With ``wait``, return once acknowledged: True when muted (False when refused or
        not acknowledged in time)."""
        return await self._set_input("mute", wait)

    async def unmute(self, *, wait: bool = True) -> bool:
        """``session.input_audio.unmute``; see :meth:`mute`."""
        return await self._set_input("unmute", wait)

    async def _set_input(self, what: Literal["mute", "unmute"], wait: bool) -> bool:
        self._require_connected(f"{what} the input")
        chart = self.model.input_audio
        (self.model.mute if what == "mute" else self.model.unmute)()
        await self._drain(strict=True)
        settled = "muted" if what == "mute" else "unmuted"
        while wait and chart.state in ("muting", "unmuting"):
            if self.model.connection.state != "connected":
                break
            self._session_changed.clear()
            changed = asyncio.ensure_future(self._session_changed.wait())
            try:
                await asyncio.wait({changed}, timeout=0.05)
            finally:
                changed.cancel()
        return not wait or chart.state == settled

    def enable_microphone(self) -> None:
        """The seed's microphone switch on Live: :meth:`unmute` (sent in the background)."""
        if self.model.connection.state == "connected":
            self._spawn(self._set_input("unmute", False))

    def disable_microphone(self) -> None:
        """The seed's microphone switch on Live: :meth:`mute` (sent in the background)."""
        if self.model.connection.state == "connected":
            self._spawn(self._set_input("mute", False))

    async def update_session(self, patch: Mapping[str, Any]) -> None:
        """``session.update`` of what Live lets change: ``delegation`` settings (same type)
        and ``triggers``. Anything else raises :class:`LiveConfigError` naming the field
        (model, instructions, voice, audio and startup input are immutable)."""
        if not isinstance(patch, Mapping):
            raise TypeError(f"update_session takes a mapping, got {type(patch).__name__}")
        for name in patch:
            if name not in MUTABLE_FIELDS:
                raise LiveConfigError(
                    f"session.{name}",
                    "immutable once the session started (only delegation settings and "
                    "triggers can change; start a new session for the rest)",
                )
        delegation = patch.get("delegation")
        if delegation is not None:
            if not isinstance(delegation, Mapping):
                raise LiveConfigError("session.delegation", "must be an object")
            current = (self._session_config.get("delegation") or {}).get("type", "client")
            given = delegation.get("type", current)
            if given != current:
                raise LiveConfigError(
                    "session.delegation.type",
                    f"immutable: the session delegates to {current!r}, not {given!r}",
                )
        self._require_connected("send session.update")
        self.model.send({"type": "session.update", "session": dict(patch)}, time=time.time())
        await self._drain(strict=True)
        # A restarted session (after a drop) starts with the configuration in force now.
        self._session_config = _merged(self._session_config, json.loads(json.dumps(patch)))

    async def play_fixture(self, pcm: bytes) -> str | None:
        """``session.output_audio.fixture.play``: raw PCM16 mono 24 kHz (≤ 30 s) played as is,
        interrupting the model; ``None`` while another fixture is active."""
        import base64

        self._require_connected("play an audio fixture")
        if not isinstance(pcm, bytes | bytearray) or len(pcm) % 2:
            raise ValueError("play_fixture takes PCM16 bytes (an even number of bytes)")
        event_id = self.model.play_fixture(base64.b64encode(bytes(pcm)).decode("ascii"))
        await self._drain(strict=True)
        return event_id

    # -- tools ------------------------------------------------------------------------------
    def _announce_tools(self) -> None:
        """A tool registered during the session (``@client.tool``) joins a Responses
        delegation's tools with a ``session.update`` (delegation settings may change); with
        another delegation there is nothing to update."""
        delegation = self._live_session().get("delegation")
        if isinstance(delegation, dict) and delegation.get("type") == "responses":
            tools = delegation["responses"]["tools"]
            update = {"type": "responses", "responses": {"tools": tools}}
            self.model.send({"type": "session.update", "session": {"delegation": update}})
            self._spawn(self._drain())

    # ---------------------------------------------------------------------------------------
    # What Live does not have
    # ---------------------------------------------------------------------------------------
    def _unsupported(self, attempted: str, instead: str) -> NoReturn:
        raise LiveUnsupportedError(attempted, instead)

    @property
    def metrics(self) -> NoReturn:
        self._unsupported(
            "client.metrics",
            "turn metrics are computed for Realtime sessions (Live has no response lifecycle "
            "on its wire); client.chat holds Live's turns, timed from the transcripts",
        )

    async def cancel_response(self) -> None:
        self._unsupported(
            "cancel_response()",
            "there is no response to cancel; the model handles interruptions itself "
            "(send_instructions('Stop speaking.') asks it to stop)",
        )

    async def ask(self, *args: Any, **kwargs: Any) -> Any:
        self._unsupported(
            "ask()",
            "there are no turns on the wire to wait for; send text with send_text_message() "
            "and follow on('assistant:completed')",
        )

    async def send_response(self, params: Mapping[str, Any] | None = None) -> None:
        self._unsupported(
            "send_response()",
            "response.create only drives a Responses delegation (continue_response()); the "
            "voice model decides when to speak",
        )

    async def send_response_strict(self, *args: Any, **kwargs: Any) -> None:
        self._unsupported("send_response_strict()", "see send_instructions()")

    async def send_tool_output(self, call_id: str, output: object) -> None:
        self._unsupported("send_tool_output()", "use submit_function_output(call_id, output)")

    async def set_mode(self, *args: Any, **kwargs: Any) -> bool:
        self._unsupported(
            "set_mode()", "a Live session's audio and modalities are fixed when it starts"
        )

    def add_message(self, message: Any) -> list[str]:
        self._unsupported(
            "add_message()", "history goes in at start (session['input']) or as appends"
        )

    def clear_added(self) -> None:
        self._unsupported("clear_added()", "Live has no conversation items")

    def clear_chat_history(self) -> None:
        self._unsupported("clear_chat_history()", "the chat is a projection of the record")

    def next_ts(self) -> float:
        self._unsupported("next_ts()", "Live rows are timed on the session's timeline")

    async def send_raw(self, event: Mapping[str, Any]) -> None:
        """Send any Live client event (the charts follow it)."""
        if event.get("type") == "session.start":
            raise LiveUnsupportedError(
                "send_raw(session.start)", "the client starts the session when it connects"
            )
        self._require_connected(f"send {event.get('type')!r}")
        self.model.send(event, time=time.time())
        await self._drain(strict=True)


setattr(LiveClient, "__signature__", _init_signature(LiveClient))  # noqa: B010


def _check_session(session: object, model: object) -> dict[str, Any]:
    """The Live configuration, checked: a mapping of known fields with a model."""
    if session is None or session is NOT_GIVEN:
        session = {}
    if not isinstance(session, Mapping):
        raise TypeError(f"session must be a mapping (a Live SessionConfig), got {session!r}")
    for name in session:
        if name not in SESSION_FIELDS:
            hint = " (Live has no session type)" if name == "type" else ""
            raise LiveConfigError(f"session.{name}", f"not a Live session field{hint}")
    config = dict(session)
    if model is not None:
        if not isinstance(model, str) or not model:
            raise TypeError(f"model must be a model name such as {DEFAULT_LIVE_MODEL!r}")
        config.setdefault("model", model)
    config.setdefault("model", DEFAULT_LIVE_MODEL)
    delegation = config.get("delegation")
    if delegation is not None and not isinstance(delegation, Mapping):
        raise LiveConfigError("session.delegation", "must be an object or None")
    audio = config.get("audio")
    fmt = audio.get("format") if isinstance(audio, Mapping) else None
    if fmt is not None:  # the client encodes input audio into it and decodes output from it
        try:
            checked = check_audio_format(fmt)
        except ValueError as exc:
            raise LiveConfigError("session.audio.format", str(exc)) from None
        # with its rate filled in: the API's audio format objects all carry one
        config["audio"] = {**dict(audio or {}), "format": checked}
    return config


def _merged(config: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` after ``patch`` as a ``session.update`` changes it: ``triggers`` replaced,
    ``delegation`` merged key by key (its settings objects field by field)."""
    merged = dict(config)
    if "triggers" in patch:
        merged["triggers"] = patch["triggers"]
    delegation = patch.get("delegation")
    if isinstance(delegation, Mapping):
        settings = dict(merged.get("delegation") or {})
        for key, value in delegation.items():
            current = settings.get(key)
            if isinstance(value, Mapping) and isinstance(current, Mapping):
                value = {**current, **value}
            settings[key] = value
        merged["delegation"] = settings
    return merged


def _live_transport(
    transport: object, options: Mapping[str, Any] | None, rtc: Mapping[str, Any]
) -> Transport:
    """The ``transport=`` option as a Live transport (resolved as Realtime's are:
    :func:`~realtime_sdk.client.build_transport`)."""
    return build_transport(
        transport,
        options,
        api="live",
        resolve=live_transport_class,
        defaults={LiveWebRTCTransport: rtc},
    )


def live_transport_class(name: str) -> type[Transport]:
    """The Live transport class for a ``transport=`` name (``"webrtc"``, ``"websocket"``,
    ``"memory"``, loaded on first use); ``ValueError`` naming the choices."""
    if name == "sideband":
        raise TypeError("use LiveClient.attach(session_id, ...) for a sideband")
    if name == "memory":
        from .transports.live_memory import LiveMemoryTransport

        return LiveMemoryTransport
    cls = _TRANSPORTS.get(name)
    if cls is None:
        raise ValueError(
            f"unknown Live transport {name!r}: choose 'webrtc', 'websocket' or 'memory' "
            "(or LiveClient.attach for a sideband), or pass a Live Transport instance"
        )
    return cls


FIXTURE_PLAYING = "session.output_audio.fixture.playing"
_PCM24: Mapping[str, Any] = {"type": "audio/pcm", "rate": 24000}


def _with_rate(fmt: Mapping[str, Any]) -> dict[str, Any]:
    """The session's audio format with its rate filled in (G.711 is 8 kHz, PCM16 24 kHz by
    default); ``ValueError`` for a type Live does not have."""
    kind = fmt.get("type")
    if kind not in ("audio/pcm", "audio/pcmu", "audio/pcma"):
        raise ValueError(f"unknown output audio format {kind!r}")
    return {"type": kind, "rate": int(fmt.get("rate", 24000 if kind == "audio/pcm" else 8000))}


def _delta_bytes(delta: object, fmt: Mapping[str, Any]) -> bytes:
    """A Live output delta's wire bytes (base64-decoded once); ``ValueError`` saying what is
    wrong."""
    import base64
    import binascii

    if not isinstance(delta, str):
        raise ValueError("session.output_audio.delta without a base64 delta")
    try:
        data = base64.b64decode(delta, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("session.output_audio.delta is not base64") from None
    if fmt.get("type") == "audio/pcm" and len(data) % 2:
        raise ValueError("PCM16 output audio with an odd number of bytes")
    return data
