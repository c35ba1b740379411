"""The call server: a phone agent over SIP, in one aiohttp application.

OpenAI posts a signed ``realtime.call.incoming`` webhook for each phone call; the call server
verifies it (:class:`~realtime_sdk.webhooks.WebhookReceiver`), asks the app's ``decide`` hook
(default: accept), answers the call with the configured session (instructions, voice, tools),
attaches a sideband client to it (:class:`~realtime_sdk.calls.SidebandAttach`) that runs the
tools on this server, and follows the call (:class:`~realtime_sdk.calls.SipCall`) until it
ends::

    server = CallServer(api_key, webhook_secret=secret, instructions="...", tools=[lookup])
    web.run_app(server.app(), port=8000)  # POST /webhooks/openai, GET /healthz, GET /calls

Each call's chart transitions, its sideband's connection, the caller's keys, its tool calls and
its chat (each finished row) are logged on one logger, ``realtime_sdk.call_server``, with the
fields in ``extra`` (``call_id``, ``kind``, ...) for structured handlers; with ``log_dir`` they
also go to ``{log_dir}/{call_id}.jsonl``, one JSON object a line.

Many calls per process: the media flows between the phone network and OpenAI, and the server
holds one sideband WebSocket per call, on one event loop (no thread per call). An ended call is
forgotten (only the counters keep it); beyond ``max_calls`` live calls a new one is rejected
with SIP ``486`` (Busy Here). Several processes may share the webhook endpoint behind a load
balancer with a shared replay store (:class:`~realtime_sdk.webhooks.RedisReplayStore`): a
delivery is then handed to exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, cast

from aiohttp import web

from realtime_machines.charts.call import CallDtmf, CallTimeouts
from realtime_machines.record import Transition

from ._aio import maybe_await
from .calls import (
    Accept,
    CallControl,
    CallControlError,
    CallStateError,
    Decision,
    Refer,
    Reject,
    SidebandAttach,
    SipCall,
    hang_up_quietly,
)
from .config import DEFAULTS, deep_merge, normalize_session, thaw
from .errors import redact_text
from .keys import _resolve_api_key
from .tools import FunctionTool, function_tool
from .transports.sideband import check_call_id
from .webhooks import (
    DEFAULT_PATH,
    DEFAULT_TOLERANCE,
    IncomingCall,
    ReplayStore,
    WebhookEvent,
    WebhookReceiver,
)

if TYPE_CHECKING:
    from realtime_machines.chat import ChatItem
    from realtime_machines.notices import ToolCallDone

    from .client import RealtimeClient

__all__ = [
    "BUSY",
    "CALLS_PATH",
    "HEALTH_PATH",
    "CallServer",
    "Decide",
    "run_call_server",
]

logger = logging.getLogger(__name__)

HEALTH_PATH: Final = "/healthz"
CALLS_PATH: Final = "/calls"
BUSY: Final = 486
"""SIP Busy Here: the answer to a call beyond ``max_calls``."""
_SHUTTING_DOWN: Final = 503
_DECIDE_FAILED: Final = 500
_TEXT_PREVIEW: Final = 2000

Decide = Callable[[IncomingCall], "Decision | Awaitable[Decision]"]
"""``decide(event)``: the app's answer to a ringing call (sync or async)."""
OnCall = Callable[[SipCall], "object | Awaitable[object]"]
OnClient = Callable[[SipCall, "RealtimeClient"], "object | Awaitable[object]"]


def _accept(_event: IncomingCall) -> Decision:
    return Accept()


class _CallLog:
    """One call's log: lines on the module's logger and, with a directory, its JSONL file."""

    def __init__(self, call_id: str, directory: Path | None) -> None:
        self.call_id = call_id
        self._file: IO[str] | None = None
        if directory is not None:
            try:
                self._file = (directory / f"{call_id}.jsonl").open("a", encoding="utf-8")
            except OSError as exc:
                logger.warning("call %s: cannot open its log file: %s", call_id, exc)
        self._logged_rows: set[str] = set()

    def write(self, kind: str, message: str, *args: Any, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "call_id": self.call_id, "kind": kind, **fields}
        logger.info("call %s: " + message, self.call_id, *args, extra={"call": record})
        if self._file is not None:
            try:
                self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                self._file.flush()
            except (OSError, ValueError) as exc:
                logger.warning("call %s: cannot write its log file: %s", self.call_id, exc)
                self._close_file()

    def transition(self, step: Transition, *, chart: str = "call") -> None:
        target = step.target or step.source
        self.write(
            "state" if chart == "call" else chart,
            "%s %s %s -> %s",
            chart,
            step.event,
            step.source,
            target,
            chart=chart,
            event=step.event,
            source=step.source,
            target=target,
        )

    def chat(self, rows: Sequence[ChatItem]) -> None:
        """Each chat row once, when it is finished (``done`` or ``canceled``)."""
        for row in rows:
            if row.status == "streaming" or row.type != "text" or row.id in self._logged_rows:
                continue
            self._logged_rows.add(row.id)
            text = row.text[:_TEXT_PREVIEW]
            self.write(
                "chat", "%s: %s", row.role, text, role=row.role, text=text, status=row.status
            )

    def close(self) -> None:
        self._logged_rows.clear()
        self._close_file()

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()


class CallServer:
    """Answers phone calls over SIP with a Realtime session and runs their tools here.

    ``api_key`` (default ``$OPENAI_API_KEY``) controls the calls and attaches the sidebands at
    ``base_url``; ``webhook_secret`` (default ``$OPENAI_WEBHOOK_SECRET``) verifies the
    webhooks posted to ``path``.

    The session a call is accepted with is ``session`` (a flat Realtime session, GA or beta
    shape; ``model`` and input transcription default to the SDK's) with ``instructions`` and
    the ``tools`` (functions or :func:`~realtime_sdk.function_tool` objects; their schemas go
    in the session, and they run on this server's sideband client). ``decide(event)`` (sync or
    async) answers each :class:`~realtime_sdk.webhooks.IncomingCall`: :class:`Accept` (with no
    session of its own: the configured one; with one: laid over it), :class:`Reject` or
    :class:`Refer`; default: accept every call. A ``decide`` that raises rejects the call
    (SIP 500). ``max_calls`` live calls at most: beyond, a call is rejected with 486.

    ``client_options`` are more options of each sideband client
    (:meth:`RealtimeClient.attach <realtime_sdk.RealtimeClient.attach>`: middleware,
    ``tool_timeout``, ``reconnect``, ...); ``greeting`` makes it greet the caller with those
    instructions once attached. ``on_call(call)`` is called with each new :class:`SipCall`
    before the decision, ``on_client(call, client)`` with each sideband client before it
    connects (sync or async).

    :meth:`app` serves the webhook endpoint, ``GET /healthz`` and ``GET /calls``; its cleanup
    is :meth:`close`: new webhooks are answered 503 (OpenAI retries them, on another process
    behind the balancer), live calls are hung up (``hangup_on_close``) or detached, all within
    ``shutdown_timeout`` seconds.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        webhook_secret: str | None = None,
        base_url: str = DEFAULTS["base_url"],
        session: Mapping[str, Any] | None = None,
        instructions: str | None = None,
        tools: Sequence[FunctionTool | Callable[..., Any]] = (),
        decide: Decide | None = None,
        greeting: str | None = None,
        replay: ReplayStore | None = None,
        max_calls: int = 100,
        path: str = DEFAULT_PATH,
        log_dir: str | os.PathLike[str] | None = None,
        client_options: Mapping[str, Any] | None = None,
        on_call: OnCall | None = None,
        on_client: OnClient | None = None,
        call_timeouts: CallTimeouts | None = None,
        control_timeout: float = 10.0,
        attach_timeout: float = 15.0,
        shutdown_timeout: float = 10.0,
        hangup_on_close: bool = True,
        tolerance: int = DEFAULT_TOLERANCE,
    ) -> None:
        if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
            raise ValueError(f"max_calls must be a whole number >= 1, not {max_calls!r}")
        for name, value in (("shutdown_timeout", shutdown_timeout),):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if decide is not None and not callable(decide):
            raise TypeError("decide must be a function of the incoming call")
        if instructions is not None and not isinstance(instructions, str):
            raise TypeError(f"instructions must be a string, not {type(instructions).__name__}")
        key = _resolve_api_key(api_key)
        self.base_url = base_url
        self.tools: list[FunctionTool] = [function_tool(tool) for tool in tools]
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError(f"two tools have the same name: {names}")
        self.session: dict[str, Any] = self._session(session, instructions)
        self.max_calls = max_calls
        self.shutdown_timeout = float(shutdown_timeout)
        self.hangup_on_close = hangup_on_close
        self.log_dir = Path(log_dir) if log_dir is not None else None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._decide: Decide = decide or _accept
        self._on_call = on_call
        self._call_timeouts = call_timeouts
        #: The live calls: call id → :class:`SipCall` (``call.channel`` is its sideband client).
        self.calls: dict[str, SipCall] = {}
        #: What happened so far: ``incoming``, ``accepted``, ``rejected``, ``referred``,
        #: ``busy``, ``failed`` (a control request), ``attach_failed``, ``decide_failed``,
        #: ``ended`` (every call that is over, whatever its end), ``ignored`` (other webhooks).
        self.counts: Counter[str] = Counter()
        self._logs: dict[str, _CallLog] = {}
        self._attached: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.control = CallControl(key, base_url=base_url, timeout=control_timeout)
        options = dict(client_options or {})
        for reserved in ("session", "tools", "on_chat_update", "auto_session_update"):
            if reserved in options:
                raise TypeError(
                    f"client_options cannot set {reserved!r}: the call server sets it "
                    "(give session=, tools= to the CallServer)"
                )
        if greeting is not None:
            options.setdefault("greet_enabled", True)
            options["greet_instructions"] = greeting
        self._sideband = SidebandAttach(
            key,
            base_url=base_url,
            connect_timeout=attach_timeout,
            on_client=self._client_opened,
            session=self.session,
            tools=self.tools,
            auto_session_update=False,  # the accept configured the call's session
            **options,
        )
        self._on_client = on_client
        self.receiver = WebhookReceiver(
            webhook_secret,
            on_event=self._on_event,
            replay=replay,
            tolerance=tolerance,
            path=path,
            drain_timeout=shutdown_timeout / 2,  # the other half: hanging up the live calls
        )

    def __repr__(self) -> str:
        return (
            f"<CallServer {len(self.calls)} live call(s) of {self.max_calls}, "
            f"base_url={self.base_url!r}>"
        )

    def __reduce__(self) -> Any:
        raise TypeError("a CallServer holds an API key and cannot be pickled")

    def _session(
        self, session: Mapping[str, Any] | None, instructions: str | None
    ) -> dict[str, Any]:
        defaults = thaw(DEFAULTS["session"])
        base: dict[str, Any] = {
            "type": "realtime",
            "model": defaults["model"],
            "audio": {"input": {"transcription": defaults["audio"]["input"]["transcription"]}},
        }
        given = normalize_session(session) if session is not None else {}
        merged = deep_merge(base, given)
        if instructions is not None:
            merged["instructions"] = instructions
        Accept(merged)  # the same checks as a decision's (type "realtime")
        return self._session_with_tools(merged)

    # -- serving ------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.receiver.path

    def app(self) -> web.Application:
        """A new aiohttp application: ``POST {path}`` (the webhooks), ``GET /healthz``,
        ``GET /calls``; its cleanup is :meth:`close`."""
        app = web.Application()
        self.add_to(app)
        return app

    def add_to(self, app: web.Application) -> None:
        """Add the call server's routes and cleanup to ``app``."""
        app.router.add_post(self.path, self._webhook)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_get(CALLS_PATH, self._list_calls)

        async def cleanup(_app: web.Application) -> None:
            await self.close()

        app.on_cleanup.append(cleanup)

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /calls`` answers: the live calls with their states, and the counters."""
        calls = []
        for call in self.calls.values():
            client = call.channel
            model = getattr(client, "model", None)
            calls.append(
                {
                    "call_id": call.id,
                    "state": call.state,
                    "sideband": model.connection.state if model is not None else None,
                    "caller": call.sip_header("From"),
                    "digits": call.digits,
                    "since": call.transitions[0].time if call.transitions else None,
                }
            )
        return {
            "calls": calls,
            "max_calls": self.max_calls,
            "counts": dict(self.counts),
            "webhooks": dict(self.receiver.counts),
        }

    async def _webhook(self, request: web.Request) -> web.Response:
        if self._closing:  # OpenAI retries: another process behind the balancer takes it
            return web.json_response(
                {"error": {"code": "closing", "message": "This call server is shutting down."}},
                status=503,
                headers={"Retry-After": "1"},
            )
        return await self.receiver.handle(request)

    async def _health(self, _request: web.Request) -> web.Response:
        status = "closing" if self._closing else "ok"
        return web.json_response(
            {"status": status, "calls": len(self.calls), "max_calls": self.max_calls},
            status=503 if self._closing else 200,
        )

    async def _list_calls(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def close(self) -> None:
        """Stop taking calls (webhooks are answered 503), finish the webhook handlers,
        then hang up (``hangup_on_close``) or detach the live calls, within
        ``shutdown_timeout`` seconds; what is left is cancelled."""
        if self._closing and not self.calls and not self._tasks:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        await self.receiver.close()
        live = list(self.calls.values())
        if live:
            logger.info("call server: closing %d live call(s)", len(live))
        if self.hangup_on_close:
            hangups = [call.hangup() for call in live if call.state == "active"]
            if hangups:
                remaining = max(0.0, deadline - loop.time())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await asyncio.gather(*hangups, return_exceptions=True)
        for call in list(self.calls.values()):
            self._forget(call)
        if self._tasks:
            _done, pending = await asyncio.wait(
                set(self._tasks), timeout=max(0.1, deadline - loop.time())
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(call.aclose() for call in live), return_exceptions=True)
        await self.control.aclose()

    # -- one call -----------------------------------------------------------------------------

    async def _on_event(self, event: WebhookEvent) -> None:
        if not isinstance(event, IncomingCall):
            self.counts["ignored"] += 1
            logger.info("call server: ignored a %s webhook (%s)", event.type, event.id)
            return
        self.counts["incoming"] += 1
        try:
            call_id = check_call_id(event.call_id)
        except (TypeError, ValueError) as exc:
            logger.warning("call server: incoming call with a bad call_id: %s", exc)
            self.counts["failed"] += 1
            return
        if call_id in self.calls:
            logger.warning("call %s: incoming again while live: ignored", call_id)
            return
        call = SipCall.from_webhook(
            event, self.control, attach=self._attach, timeouts=self._call_timeouts
        )
        self._attached[call_id] = asyncio.Event()
        log = _CallLog(call_id, self.log_dir)
        log.write(
            "incoming",
            "incoming from %s",
            event.caller,
            caller=event.caller,
            callee=event.callee,
            sip_media_security=event.sip_media_security,
        )
        if self._closing:
            await self._answer_unserved(call, log, _SHUTTING_DOWN, "shutting_down")
            return
        if len(self.calls) >= self.max_calls:
            await self._answer_unserved(call, log, BUSY, "busy")
            return
        self.calls[call_id] = call
        self._logs[call_id] = log
        self._follow(call, log)
        if self._on_call is not None:
            try:
                await maybe_await(self._on_call(call))
            except Exception:
                logger.exception("call %s: on_call failed", call_id)
        try:
            decision = await maybe_await(self._decide(event))
            if not isinstance(decision, Accept | Reject | Refer):
                raise TypeError(f"decide() must return Accept, Reject or Refer, not {decision!r}")
        except Exception as exc:
            self.counts["decide_failed"] += 1
            logger.exception("call %s: decide failed; rejecting the call", call_id)
            log.write("decide_failed", "decide failed: %s", exc, error=redact_text(str(exc)))
            decision = Reject(_DECIDE_FAILED)
        if isinstance(decision, Accept):
            # Laid over the configured session; the tools this server runs stay in it.
            decision = Accept(self._session_with_tools(deep_merge(self.session, decision.session)))
        await self._carry_out(call, decision)

    def _session_with_tools(self, session: Mapping[str, Any]) -> dict[str, Any]:
        if not self.tools:
            return dict(session)
        named = {tool.name for tool in self.tools}
        kept = [t for t in session.get("tools") or () if t.get("name") not in named]
        return {**session, "tools": kept + [tool.schema for tool in self.tools]}

    async def _carry_out(self, call: SipCall, decision: Decision) -> None:
        kind = type(decision).__name__.lower()
        try:
            state = await call.decide(decision)
        except CallControlError as exc:
            self.counts["failed"] += 1
            logger.warning("call %s: %s", call.id, exc)
            return
        except CallStateError as exc:  # the caller hung up meanwhile
            logger.info("call %s: %s", call.id, exc)
            return
        self.counts[{"accept": "accepted", "reject": "rejected", "refer": "referred"}[kind]] += 1
        logger.debug("call %s: %s -> %s", call.id, kind, state)

    async def _attach(self, call: SipCall) -> RealtimeClient:
        client = await self._sideband(call)
        attached = self._attached.get(call.id)
        if attached is not None:
            attached.set()
        return client

    async def wait_attached(self, call_id: str, timeout: float = 10.0) -> RealtimeClient:  # noqa: ASYNC109
        """Wait (at most ``timeout`` s) until the live call ``call_id`` has its sideband client
        connected; return the client. A ``LookupError`` if the call is not (or no longer)
        live. For tests and demos: a server does not need to wait for it."""
        attached = self._attached.get(call_id)
        if attached is None:
            raise LookupError(f"no live call {call_id!r} on this call server")
        async with asyncio.timeout(timeout):
            await attached.wait()
        call = self.calls.get(call_id)
        client = call.channel if call is not None else None
        if client is None:
            raise LookupError(f"call {call_id!r} is over")
        return cast("RealtimeClient", client)

    async def _answer_unserved(self, call: SipCall, log: _CallLog, status: int, why: str) -> None:
        """Reject a call this server does not take (busy, closing), logged and counted."""
        self._attached.pop(call.id, None)
        self.counts[why] += 1
        self.counts["ended"] += 1
        log.write(why, "rejected with %d (%s)", status, why, status_code=status)
        try:
            await call.reject(status)
        except (CallControlError, CallStateError) as exc:
            logger.warning("call %s: %s", call.id, exc)
        finally:
            log.close()
            await call.aclose()

    def _follow(self, call: SipCall, log: _CallLog) -> None:
        call.on("call:state", log.transition)

        def dtmf(notice: CallDtmf) -> None:
            log.write("dtmf", "key %s", notice.digit, digit=notice.digit)

        def error(exc: Exception) -> None:
            log.write("error", "%s", exc, error=redact_text(str(exc)))
            if call.state == "active" and call.channel is None:
                # The sideband could not attach: nobody would run the call. Hang it up.
                self.counts["attach_failed"] += 1
                self._spawn(hang_up_quietly(call))

        def ended(_call: SipCall) -> None:
            self._forget(call)

        call.on("call:dtmf", dtmf)
        call.on("call:error", error)
        call.on("call:ended", ended)

    async def _client_opened(self, call: SipCall, client: RealtimeClient) -> None:
        log = self._logs.get(call.id)
        if log is not None:
            chat_log = log

            def sideband(step: Transition) -> None:
                if step.chart == "connection" and step.target not in (None, step.source):
                    chat_log.transition(step, chart="sideband")

            def tool(notice: ToolCallDone) -> None:
                chat_log.write(
                    "tool",
                    "tool %s(%s)",
                    notice.tool_name,
                    json.dumps(notice.args),
                    name=notice.tool_name,
                    args=notice.args,
                    error=notice.error,
                )

            client.model.subscribe(sideband)
            client.on("tool:call_done", tool)
            self._watch_chat(client, chat_log)
        if self._on_client is not None:
            await maybe_await(self._on_client(call, client))

    @staticmethod
    def _watch_chat(client: RealtimeClient, log: _CallLog) -> None:
        def finished(_notice: object) -> None:
            log.chat(client.chat)

        client.on("user:completed", finished)
        client.on("assistant:completed", finished)

    def _forget(self, call: SipCall) -> None:
        """The call is over: drop it (the counters keep it); once its sideband is detached,
        log its end and close its log."""
        if self.calls.get(call.id) is not call:
            return
        del self.calls[call.id]
        attached = self._attached.pop(call.id, None)
        if attached is not None:
            attached.set()  # a wait_attached() wakes up, and finds the call over
        self.counts["ended"] += 1
        self._spawn(self._finish(call, call.channel, self._logs.pop(call.id, None)))

    async def _finish(self, call: SipCall, client: object, log: _CallLog | None) -> None:
        try:
            await call.settle(self.shutdown_timeout)
        finally:
            if log is not None:
                log.chat(getattr(client, "chat", ()))
                reason = call.chart.end_reason or call.chart.error_message
                log.write(
                    "ended",
                    "over: %s (%s)",
                    call.state,
                    reason or call.state,
                    state=call.state,
                    ended_by=call.chart.ended_by,
                    reason=reason,
                    digits=call.digits,
                )
                log.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def run_call_server(
    server: CallServer,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    ready: asyncio.Future[str] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``server`` on ``host:port`` until cancelled or ``stop`` is set, then close it
    gracefully. ``port=0`` picks a free port; ``ready`` receives the base URL
    (``"http://127.0.0.1:8000"``) once it accepts connections."""
    from .token_server import serve_app

    await serve_app(
        server.app(), host, port, ready=ready, stop=stop, what=f"call server ({server.path})"
    )
