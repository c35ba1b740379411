"""Server-side control of phone calls over SIP: :class:`CallControl` and :class:`SipCall`.

OpenAI announces an incoming SIP call with a signed ``realtime.call.incoming`` webhook
(verify it with :mod:`realtime_sdk.webhooks`). The app then decides, with its API key, through
the call's control endpoints::

    POST {base_url}/v1/realtime/calls/{call_id}/accept   flat session ({"type": "realtime", ...})
    POST {base_url}/v1/realtime/calls/{call_id}/reject   {"status_code": 603}
    POST {base_url}/v1/realtime/calls/{call_id}/refer    {"target_uri": "tel:+1..." | "sip:..."}
    POST {base_url}/v1/realtime/calls/{call_id}/hangup

:class:`CallControl` makes those requests (one timeout per request; a refusal is a
:class:`CallControlError` naming the step, with OpenAI's message, secrets masked).
:class:`SipCall` runs one call's :class:`~realtime_machines.charts.CallChart` and executes its
effects: the app's decision (:class:`Accept`, :class:`Reject`, :class:`Refer`), the hang-up,
the timeouts, and the control channel: ``attach`` is called once the call is accepted (to open
a sideband client on ``call_id``) and what it returns is closed when the call is over::

    control = CallControl(api_key, base_url=emu.base_url)
    call = SipCall.from_webhook(event, control, attach=open_sideband)
    await call.decide(Accept({"type": "realtime", "instructions": "..."}))
    ...
    await call.hangup()
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from realtime_machines.charts.call import (
    CALL_STAGES,
    AcceptCall,
    AttachSideband,
    CallChart,
    CallDtmf,
    CallTimeouts,
    DetachSideband,
    HangupCall,
    ReferCall,
    RejectCall,
)
from realtime_machines.effects import CancelTimer, Effect, StartTimer
from realtime_machines.record import Transition

from ._aio import maybe_await
from .config import DEFAULTS
from .errors import RealtimeError, redact_text
from .keys import _post_api, _resolve_api_key
from .transports.sideband import check_call_id
from .webhooks.events import IncomingCall, parse_event, sip_header_values

if TYPE_CHECKING:
    from .client import RealtimeClient

__all__ = [
    "CALL_NOTICES",
    "Accept",
    "CallControl",
    "CallControlError",
    "CallStateError",
    "Decision",
    "Refer",
    "Reject",
    "SidebandAttach",
    "SipCall",
    "close_channel",
    "hang_up_quietly",
    "open_sideband",
]

logger = logging.getLogger(__name__)

CALLS_PATH: Final = "/v1/realtime/calls"
_URI_SCHEMES: Final = ("tel:", "sip:", "sips:")

#: What :meth:`SipCall.on` subscribes to: each transition (a ``Transition``), a DTMF key
#: (``CallDtmf``), the end of the call (the ``SipCall``), a failed step or attach (the error).
CALL_NOTICES: Final = frozenset({"call:state", "call:dtmf", "call:ended", "call:error"})

Handler = Callable[[Any], "object | Awaitable[object]"]


class CallControlError(RealtimeError):
    """A call-control request failed: ``stage`` is the step (``accept``, ``reject``,
    ``refer``, ``hangup``), ``status`` the HTTP status (``None``: no answer), ``code`` OpenAI's
    error code. The message is OpenAI's, secrets masked."""

    def __init__(
        self,
        stage: str,
        message: str,
        *,
        call_id: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.stage = stage
        self.call_id = call_id
        self.status = status
        self.code = code
        self.message = redact_text(message)
        where = f" call {call_id}" if call_id else ""
        super().__init__(f"{stage}{where} failed: {self.message}")


class CallStateError(RealtimeError):
    """A decision the call cannot take in its current state (accept after reject...)."""


# -- decisions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer the call with this Realtime session (flat: ``type``, ``model``, ``instructions``,
    ``audio``, ``tools``...); ``type`` is ``"realtime"`` (added when missing)."""

    session: Mapping[str, Any] = field(default_factory=lambda: {"type": "realtime"})

    def __post_init__(self) -> None:
        if not isinstance(self.session, Mapping):
            raise TypeError(f"Accept(session) takes a mapping, not {type(self.session).__name__}")
        kind = self.session.get("type", "realtime")
        if kind != "realtime":
            raise ValueError(f"an accepted call's session has type 'realtime', not {kind!r}")

    def body(self) -> dict[str, Any]:
        return {"type": "realtime", **self.session}


@dataclass(frozen=True, slots=True)
class Reject:
    """Decline the call with a SIP status (``603`` Decline, ``486`` Busy Here...)."""

    status_code: int = 603

    def __post_init__(self) -> None:
        code = self.status_code
        if isinstance(code, bool) or not isinstance(code, int) or not 300 <= code <= 699:
            raise ValueError(f"a SIP reject status_code is an integer 300-699, not {code!r}")


@dataclass(frozen=True, slots=True)
class Refer:
    """Transfer the call (SIP REFER) to ``tel:+1…`` or ``sip:user@host``."""

    target_uri: str

    def __post_init__(self) -> None:
        uri = self.target_uri
        if not isinstance(uri, str) or not uri.startswith(_URI_SCHEMES) or len(uri) < 5:
            raise ValueError(
                f"a refer target_uri is a 'tel:' or 'sip:' URI such as 'tel:+14155550123', "
                f"not {uri!r}"
            )


Decision = Accept | Reject | Refer


# -- the HTTP client --------------------------------------------------------------------------


class CallControl:
    """Async client for the call-control endpoints, with the server's API key.

    ``base_url`` is the API's root (``https://api.openai.com``, or an emulator's
    ``base_url``); ``timeout`` is each request's limit in seconds. Pass ``http`` to share an
    ``aiohttp.ClientSession`` (it is then not closed by :meth:`aclose`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULTS["base_url"],
        timeout: float = 10.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, not {base_url!r}")
        self._api_key = _resolve_api_key(api_key)
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self._http = http
        self._own_http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"CallControl(base_url={self.base_url!r}, api_key='***')"

    def __reduce__(self) -> Any:
        raise TypeError("a CallControl holds an API key and cannot be pickled")

    async def accept(self, call_id: str, session: Mapping[str, Any] | Accept) -> None:
        """Answer the call with ``session`` (a flat Realtime session config)."""
        decision = session if isinstance(session, Accept) else Accept(session)
        await self._post("accept", call_id, decision.body())

    async def reject(self, call_id: str, status_code: int = 603) -> None:
        """Decline the call with a SIP status (default ``603`` Decline)."""
        await self._post("reject", call_id, {"status_code": Reject(status_code).status_code})

    async def refer(self, call_id: str, target_uri: str) -> None:
        """Transfer the call to ``target_uri`` (``tel:`` or ``sip:``)."""
        await self._post("refer", call_id, {"target_uri": Refer(target_uri).target_uri})

    async def hangup(self, call_id: str) -> None:
        """End the call (SIP or WebRTC) from the server's side."""
        await self._post("hangup", call_id, None)

    async def aclose(self) -> None:
        if self._own_http is not None:
            await self._own_http.close()
            self._own_http = None

    async def __aenter__(self) -> CallControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is not None:
            return self._http
        if self._own_http is None or self._own_http.closed:
            self._own_http = aiohttp.ClientSession()
        return self._own_http

    async def _post(self, stage: str, call_id: str, body: Mapping[str, Any] | None) -> None:
        url = f"{self.base_url}{CALLS_PATH}/{check_call_id(call_id)}/{stage}"

        def fail(message: str, status: int | None, code: str | None) -> CallControlError:
            return CallControlError(stage, message, call_id=call_id, status=status, code=code)

        answer = await _post_api(
            self._session(), url, self._api_key, body, self.timeout, fail, name_url=False
        )
        logger.debug("%s %s: HTTP %s", stage, call_id, answer.status)


# -- one call ---------------------------------------------------------------------------------

Attach = Callable[["SipCall"], Awaitable[object]]
Detach = Callable[["SipCall", object], Awaitable[None]]


async def close_channel(call: SipCall, channel: object) -> None:
    """The default ``detach``: ``disconnect()``, ``aclose()`` or ``close()`` what ``attach``
    returned (a :class:`~realtime_sdk.RealtimeClient` disconnects)."""
    for name in ("disconnect", "aclose", "close"):
        method = getattr(channel, name, None)
        if callable(method):
            await maybe_await(method())
            return


class SipCall:
    """One SIP call, controlled by this server: its chart, its requests and its listeners.

    ``attach(call)`` is awaited once the call is accepted (open the sideband there, e.g. a
    ``RealtimeClient`` on ``call_id``); when the call is over ``detach(call, channel)`` closes
    what it returned (default: :func:`close_channel`). Feed what the other side does with
    :meth:`caller_hung_up` and :meth:`handle_server_event` (DTMF from the sideband).
    """

    def __init__(
        self,
        call_id: str,
        control: CallControl,
        *,
        attach: Attach | None = None,
        detach: Detach | None = close_channel,
        timeouts: CallTimeouts | None = None,
        sip_headers: Sequence[Mapping[str, str]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = check_call_id(call_id)
        self.control = control
        self.sip_headers: list[dict[str, str]] = [dict(h) for h in sip_headers]
        self._attach = attach
        self._detach = detach
        self._clock = clock
        self.transitions: list[Transition] = []
        self._outbox: list[Effect] = []
        self._handlers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._request: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._changed = asyncio.Event()
        #: What ``attach`` returned (the sideband), while the call is active.
        self.channel: object | None = None
        #: The error of the last failed step (or attach), if any.
        self.error: Exception | None = None
        self.chart = CallChart(self, call_id=self.id, timeouts=timeouts)

    @classmethod
    def from_webhook(cls, event: object, control: CallControl, **options: Any) -> SipCall:
        """A call from a verified ``realtime.call.incoming`` webhook: its body as parsed JSON,
        or a typed event with ``call_id`` and ``sip_headers`` (items with ``name``/``value``),
        such as the webhook receiver's (``realtime_sdk.webhooks``)."""
        call_id: object
        headers: object
        if isinstance(event, Mapping):
            if event.get("type") != "realtime.call.incoming":
                raise ValueError(
                    f"expected a 'realtime.call.incoming' event, got {event.get('type')!r}"
                )
            parsed = parse_event(event)  # a WebhookPayloadError (a ValueError) says what is off
            assert isinstance(parsed, IncomingCall)
            call_id, headers = parsed.call_id, parsed.sip_headers
        else:
            call_id = getattr(event, "call_id", None)
            headers = getattr(event, "sip_headers", None) or []
        if not isinstance(call_id, str):
            raise ValueError(f"expected a 'realtime.call.incoming' event with a call_id: {event!r}")
        if not isinstance(headers, list | tuple):
            raise ValueError("the webhook's sip_headers is not a list")
        clean = []
        for header in headers:
            if isinstance(header, Mapping):
                name, value = header.get("name", ""), header.get("value", "")
            else:
                name, value = getattr(header, "name", ""), getattr(header, "value", "")
            clean.append({"name": str(name), "value": str(value)})
        return cls(call_id, control, sip_headers=clean, **options)

    # -- what the app reads -----------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.chart.state

    @property
    def is_over(self) -> bool:
        return self.chart.is_over

    @property
    def digits(self) -> str:
        """The DTMF keys pressed so far."""
        return "".join(self.chart.digits)

    def sip_header(self, name: str) -> str | None:
        """The first SIP header called ``name`` (case-insensitive): untrusted call metadata."""
        values = sip_header_values(((h["name"], h["value"]) for h in self.sip_headers), name)
        return values[0] if values else None

    def __repr__(self) -> str:
        return f"<SipCall {self.id} state={self.state!r}>"

    def on(self, name: str, handler: Handler) -> Callable[[], None]:
        """Subscribe to ``call:state``, ``call:dtmf``, ``call:ended`` or ``call:error``;
        return an unsubscribe. A handler may be sync or async."""
        if name not in CALL_NOTICES:
            raise ValueError(
                f"unknown event {name!r}; subscribe to one of: {', '.join(sorted(CALL_NOTICES))}"
            )
        handlers = self._handlers.setdefault(name, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    # -- the app's decisions ----------------------------------------------------------------
    async def decide(self, decision: Decision) -> str:
        """Carry out ``decision``; return the state it led to (``active``, ``rejected``,
        ``referred``). A failed or stalled request raises :class:`CallControlError`."""
        if isinstance(decision, Accept):
            return await self._step("accept", session=decision.body())
        if isinstance(decision, Reject):
            return await self._step("reject", status_code=decision.status_code)
        if isinstance(decision, Refer):
            return await self._step("refer", target_uri=decision.target_uri)
        raise TypeError(f"a decision is Accept, Reject or Refer, not {type(decision).__name__}")

    async def accept(self, session: Mapping[str, Any] | None = None) -> str:
        return await self.decide(Accept(session if session is not None else {"type": "realtime"}))

    async def reject(self, status_code: int = 603) -> str:
        return await self.decide(Reject(status_code))

    async def refer(self, target_uri: str) -> str:
        return await self.decide(Refer(target_uri))

    async def hangup(self) -> str:
        """End the call from the server's side (``ended``; a failure raises)."""
        return await self._step("hangup")

    # -- what the other side does -----------------------------------------------------------
    def caller_hung_up(self, reason: str = "") -> None:
        """The caller ended the call (or the ring timed out, or the sideband closed)."""
        self._send("remote_hangup", reason=reason)

    def dtmf(self, digit: str, received_at: int | None = None) -> None:
        """The caller pressed ``digit`` (ignored unless the call is active)."""
        self._send("dtmf", digit=str(digit), received_at=received_at)

    def handle_server_event(self, event: Mapping[str, Any]) -> None:
        """Feed a server event from the call's sideband: DTMF becomes ``call:dtmf``."""
        if event.get("type") == "input_audio_buffer.dtmf_event_received":
            digit = event.get("event")
            received = event.get("received_at")
            if isinstance(digit, str):
                self._send("dtmf", digit=digit, received_at=received)

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 - a bound, documented
        """Once the call is over: give its last work (closing the channel) up to ``timeout``
        seconds, then :meth:`aclose` (what is still running is cancelled)."""
        current = asyncio.current_task()
        running = [t for t in self._tasks if t is not current]
        if running:
            await asyncio.wait(running, timeout=timeout)
        await self.aclose()

    async def wait_over(self, timeout: float) -> str:  # noqa: ASYNC109 - a bound, documented
        """Wait until the call is in a final state (at most ``timeout`` s); return it."""
        async with asyncio.timeout(timeout):
            while not self.is_over:
                self._changed.clear()
                await self._changed.wait()
        return self.state

    async def aclose(self) -> None:
        """Stop everything this object runs (requests, timers, the channel); the call itself
        is left as it is on the server (use :meth:`hangup` to end it)."""
        self._cancel_timer()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.channel is not None:
            await self._close_channel()

    # -- ChartHost ---------------------------------------------------------------------------
    def emit(self, effect: Effect) -> None:
        self._outbox.append(effect)

    def record_transition(
        self,
        chart: str,
        event: str,
        source: str | None,
        target: str | None,
        data: Mapping[str, Any],
    ) -> None:
        record = Transition(
            seq=len(self.transitions),
            time=self._clock(),
            chart=chart,
            event=event,
            source=source,
            target=target,
            data=dict(data),
        )
        self.transitions.append(record)
        self._changed.set()
        logger.info("call %s: %s %s -> %s", self.id, event, source, target or source)
        self._notify("call:state", record)
        if event == "dtmf":
            self._notify("call:dtmf", CallDtmf(data.get("digit", ""), data.get("received_at")))
        if target is not None and target in CallChart.terminal_states:
            self._notify("call:ended", self)

    # -- internals ---------------------------------------------------------------------------
    async def _step(self, event: str, **data: Any) -> str:
        before = self.state
        if not self._send(event, **data):
            raise CallStateError(
                f"cannot {event} call {self.id}: it is {before!r}"
                + (" (over)" if self.is_over else "")
            )
        waiting = self.state
        while self.state == waiting:
            self._changed.clear()
            await self._changed.wait()
        if self.state == "failed" and self.chart.error_stage == CALL_STAGES[waiting]:
            error = self.error
            if not isinstance(error, CallControlError):
                error = CallControlError(
                    self.chart.error_stage or event,
                    self.chart.error_message or "failed",
                    call_id=self.id,
                    status=self.chart.error_status,
                )
            raise error
        return self.state

    def _send(self, event: str, **data: Any) -> bool:
        sent = self.chart.offer(event, **data)
        self._run_effects()
        return sent

    def _run_effects(self) -> None:
        while self._outbox:
            effect = self._outbox.pop(0)
            if isinstance(effect, StartTimer):
                self._cancel_timer()
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(effect.seconds, self._timed_out)
            elif isinstance(effect, CancelTimer):
                self._cancel_timer()
                request = self._request
                if request is not None and request is not asyncio.current_task():
                    request.cancel()  # the state that started it is left: its outcome is moot
                self._request = None
            elif isinstance(effect, AcceptCall):
                self._start_request("accept", self.control.accept(self.id, dict(effect.session)))
            elif isinstance(effect, RejectCall):
                self._start_request("reject", self.control.reject(self.id, effect.status_code))
            elif isinstance(effect, ReferCall):
                self._start_request("refer", self.control.refer(self.id, effect.target_uri))
            elif isinstance(effect, HangupCall):
                self._start_request("hangup", self.control.hangup(self.id))
            elif isinstance(effect, AttachSideband):
                if self._attach is not None:
                    self._spawn(self._open_channel())
            elif isinstance(effect, DetachSideband):
                self._spawn(self._close_channel())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        self._send("timed_out")
        self._report_error()

    def _start_request(self, stage: str, request: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await request
            except CallControlError as exc:
                self.error = exc
                self._send("step_failed", error=exc.message, status=exc.status)
                self._report_error()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in the HTTP layer: the step failed, visibly
                logger.exception("call %s: %s failed", self.id, stage)
                self.error = CallControlError(stage, f"{type(exc).__name__}: {exc}")
                self._send("step_failed", error=self.error.message)
                self._report_error()
            else:
                self._send("step_done")

        self._request = self._spawn(run())

    def _report_error(self) -> None:
        if self.state != "failed":
            return
        if not isinstance(self.error, CallControlError) or self.error.stage != (
            self.chart.error_stage
        ):
            self.error = CallControlError(
                self.chart.error_stage or "call",
                self.chart.error_message or "failed",
                call_id=self.id,
                status=self.chart.error_status,
            )
        logger.warning("call %s: %s", self.id, self.error)
        self._notify("call:error", self.error)

    async def _open_channel(self) -> None:
        assert self._attach is not None
        try:
            channel = await self._attach(self)
        except Exception as exc:
            logger.warning("call %s: attach failed: %s", self.id, redact_text(str(exc)))
            self._notify("call:error", exc)
            return
        if self.is_over:  # ended while attaching
            await self._dispose(channel)
            return
        self.channel = channel

    async def _close_channel(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            await self._dispose(channel)

    async def _dispose(self, channel: object) -> None:
        if self._detach is None:
            return
        try:
            await self._detach(self, channel)
        except Exception:
            logger.warning("call %s: closing the control channel failed", self.id, exc_info=True)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _notify(self, name: str, payload: Any) -> None:
        for handler in list(self._handlers.get(name, ())):
            try:
                result = handler(payload)
            except Exception:
                logger.exception("call %s: %s handler failed", self.id, name)
                continue
            if inspect.isawaitable(result):
                self._spawn(_logged(result, self.id, name))


async def _logged(awaitable: Awaitable[Any], call_id: str, name: str) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("call %s: %s handler failed", call_id, name)


# -- the sideband as a call's control channel -------------------------------------------------

OnClient = Callable[["SipCall", "RealtimeClient"], "object | Awaitable[object]"]
#: The client options a sideband's owner sets itself (``open_sideband``'s callers refuse them).
_RESERVED_CLIENT_OPTIONS: Final = ("api_key", "token_provider", "base_url", "transport")


async def open_sideband(
    call_id: str,
    *,
    api_key: str,
    base_url: str,
    timeout: float,  # noqa: ASYNC109 - the connect's limit
    options: Mapping[str, Any],
    before_connect: Callable[[RealtimeClient], Awaitable[None]] | None = None,
) -> RealtimeClient:
    """A sideband client on ``call_id`` (:meth:`RealtimeClient.attach
    <realtime_sdk.RealtimeClient.attach>` with ``options``), connected within ``timeout``
    seconds; ``before_connect(client)`` runs first (hooks, observers). When anything fails the
    client is disconnected and the error raised (``TimeoutError``: the connect took too long).
    The core of :class:`SidebandAttach` and of the token server's ``POST /realtime/calls``."""
    from .client import RealtimeClient

    client = RealtimeClient.attach(call_id, api_key=api_key, base_url=base_url, **options)
    try:
        if before_connect is not None:
            await before_connect(client)
        async with asyncio.timeout(timeout):
            await client.connect()
    except BaseException:
        await client.disconnect()
        raise
    return client


class SidebandAttach:
    """A ready-made ``attach`` for :class:`SipCall`: the call's sideband client.

    Once the call is active, ``SidebandAttach(api_key, base_url=..., tools=[...], ...)(call)``
    opens :meth:`RealtimeClient.attach(call.id, ...) <realtime_sdk.RealtimeClient.attach>` with
    the other keyword options (``session``, ``tools``, middleware, ``on_event``...) and wires it
    to the call:

    * each server event of the call goes through :meth:`SipCall.handle_server_event`, so the
      caller's keys (``input_audio_buffer.dtmf_event_received``) become ``call:dtmf``;
    * when the sideband lands in ``ended`` (the caller hung up, the call is over, a reattach
      found the call gone) the call ends with that reason (:meth:`SipCall.caller_hung_up`);
    * when the sideband is lost for good (its connection in ``error`` after it was attached:
      its reconnect attempts are spent) the call, which nobody controls any more, is hung up
      (``hangup_when_lost=False`` leaves it running).

    ``on_client(call, client)`` (sync or async) is called before the client connects (add
    handlers there). The connect is bounded by ``connect_timeout``; a refused or stalled attach
    raises (the :class:`SipCall` reports it as ``call:error``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULTS["base_url"],
        connect_timeout: float = 15.0,
        on_client: OnClient | None = None,
        hangup_when_lost: bool = True,
        **options: Any,
    ) -> None:
        for reserved in _RESERVED_CLIENT_OPTIONS:
            if reserved in options:
                raise TypeError(f"SidebandAttach sets {reserved!r} itself; leave it out")
        if not isinstance(connect_timeout, int | float) or not connect_timeout > 0:
            raise ValueError(
                f"connect_timeout must be a positive number of seconds, not {connect_timeout!r}"
            )
        if on_client is not None and not callable(on_client):
            raise TypeError("on_client must be a function of (call, client)")
        self._api_key = _resolve_api_key(api_key)
        self.base_url = base_url
        self.connect_timeout = float(connect_timeout)
        self.on_client = on_client
        self.hangup_when_lost = hangup_when_lost
        self.options = options

    def __repr__(self) -> str:
        return f"SidebandAttach(base_url={self.base_url!r}, api_key='***')"

    def __reduce__(self) -> Any:
        raise TypeError("a SidebandAttach holds an API key and cannot be pickled")

    async def __call__(self, call: SipCall) -> RealtimeClient:
        options = dict(self.options)
        their_on_event = options.pop("on_event", None)

        async def on_event(event: Mapping[str, Any]) -> None:
            call.handle_server_event(event)
            if their_on_event is not None:
                await maybe_await(their_on_event(event))

        attached = False

        async def before_connect(client: RealtimeClient) -> None:
            if self.on_client is not None:
                await maybe_await(self.on_client(call, client))
            # after the app's observers: they see the end first
            client.model.subscribe(functools.partial(watch, client))

        def watch(client: RealtimeClient, step: Transition) -> None:
            if step.chart != "connection" or step.target == step.source:
                return
            if step.target == "ended":
                reason = client.model.connection.end_reason or "the call ended"
                call.caller_hung_up(f"the sideband ended: {reason}")
            elif (
                step.target == "error"
                and attached
                and call.state == "active"
                and not client.model.connection.may_retry()  # its reconnects are spent
            ):
                message = client.model.connection.error_message or "failed"
                logger.warning("call %s: the sideband is lost: %s", call.id, message)
                if self.hangup_when_lost:
                    call._spawn(hang_up_quietly(call))

        try:
            client = await open_sideband(
                call.id,
                api_key=self._api_key,
                base_url=self.base_url,
                timeout=self.connect_timeout,
                options={**options, "on_event": on_event},
                before_connect=before_connect,
            )
        except TimeoutError:
            raise CallControlError(
                "attach",
                f"the sideband did not attach within {self.connect_timeout:g} s",
                call_id=call.id,
            ) from None
        attached = True
        return client


async def hang_up_quietly(call: SipCall) -> None:
    """Hang ``call`` up; a call already over, or a refused request, is logged, not raised."""
    try:
        await call.hangup()
    except (CallControlError, CallStateError) as exc:  # over already, or the request failed
        logger.info("call %s: no hang-up: %s", call.id, exc)
