"""Simulated phone calls over SIP: what OpenAI's SIP connector does, on 127.0.0.1.

An incoming call (``await emu.sip.incoming(caller="+1425…", says=[...], dtmf="12#")``, or
``POST /emulator/sip/calls``) gets an ``rtc_…`` id in ``Emulator.calls`` and a signed
``realtime.call.incoming`` webhook (``webhook-id`` / ``-timestamp`` / ``-signature``, OpenAI's
user agent) posted to the configured URL, retried on 5xx and unreachable endpoints a bounded
number of times with backoff. The server then accepts, rejects or refers it through the call
control endpoints (served by :mod:`.server`, checked here). Once accepted, the caller speaks:
synthesised speech is fed into the call's engine in 20 ms frames (server VAD, transcription and
the brain answer it, and the transcript is what the caller said), the engine's output audio is
played out in real time and counted as the phone hears it, keys are pressed
(``input_audio_buffer.dtmf_event_received``) and the caller can hang up. A call nobody answers
ends when its ring timeout runs out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiortc.mediastreams import MediaStreamError

from .._aio import maybe_await
from ..webhooks.signature import signed_headers
from .audio import WS_RATE, SpeechTrack, synthesize
from .calls import Sideband, Sidebands
from .engine import Engine
from .session import JSON, ProtocolError, apply_session_update

if TYPE_CHECKING:
    from .server import Emulator

__all__ = [
    "DTMF_KEYS",
    "USER_AGENT",
    "CallStateError",
    "SimulatedCall",
    "SipSimulator",
    "check_accept_body",
    "check_keys",
    "refer_target",
    "reject_status",
]

log = logging.getLogger(__name__)

#: What OpenAI's webhook deliveries send as ``user-agent``.
USER_AGENT: Final = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
DTMF_KEYS: Final = frozenset("0123456789*#ABCD")
FRAME_MS: Final = 20
_FRAME_BYTES: Final = WS_RATE * 2 * FRAME_MS // 1000
#: Silence the caller "sends" after an utterance, so that the server VAD hears it end.
TRAILING_SILENCE_MS: Final = 700
WEBHOOK_ATTEMPTS: Final = 4
WEBHOOK_BACKOFF_S: Final = 0.25
WEBHOOK_BACKOFF_MAX_S: Final = 2.0
WEBHOOK_TIMEOUT_S: Final = 10.0
TURN_TIMEOUT_S: Final = 30.0
PICKUP_S: Final = 1.0
_REMEMBERED: Final = 1000


class CallStateError(Exception):
    """A control request the call cannot take now (accept after reject...): an HTTP 400."""


class SimulatedCall:
    """One simulated SIP call: the same small interface as a WebRTC ``Call`` (``id``,
    ``engine``, ``player``, ``inbound_frames``, ``close()``, ``on_closed``), so hang-up and a
    sideband attached by ``call_id`` work for it alike.

    ``status``: ``ringing`` → ``accepted`` | ``rejected`` | ``referred`` | ``missed``
    (ring timeout) | ``ended``.
    """

    def __init__(
        self,
        call_id: str,
        engine: Engine,
        *,
        caller: str,
        to: str,
        fallback_transcribe: Callable[[bytes], str],
        ms_per_char: float,
        realtime: bool,
    ) -> None:
        self.id = call_id
        self.caller = caller
        self.to = to
        self.engine = engine
        self.sidebands = Sidebands(engine)
        self.player = engine.player or SpeechTrack()
        self.status = "ringing"
        self.inbound_frames = 0
        self.reject_status: int | None = None
        self.refer_target: str | None = None
        self.end_reason: str | None = None
        #: Status of each webhook delivery attempt (``None``: no answer).
        self.webhook_attempts: list[int | None] = []
        #: Seconds each attempt took, from sending the POST to the whole answer read.
        self.webhook_seconds: list[float] = []
        #: ``time.monotonic()`` when the call was accepted, and when the phone played the
        #: first audible frame of the assistant's speech (``None``: not yet).
        self.accepted_at: float | None = None
        self.first_heard_at: float | None = None
        self.said: list[str] = []
        self.pressed: list[str] = []
        self.accepted = asyncio.Event()
        self.closed = asyncio.Event()
        self.on_closed: Callable[[SimulatedCall], None] | None = None
        #: Ends the call the way the emulator ends calls (closing sidebands too).
        self.end: Callable[[SimulatedCall], Any] | None = None
        self.realtime = realtime
        self.ms_per_char = ms_per_char
        self._fallback = fallback_transcribe
        self._utterances: collections.deque[str] = collections.deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._ring: asyncio.TimerHandle | None = None
        engine.options.transcribe = self._transcribe

    def __repr__(self) -> str:
        return f"<SimulatedCall {self.id} {self.status} from {self.caller}>"

    @property
    def frames_heard(self) -> int:
        """20 ms frames of the assistant's speech the phone has played."""
        return self.player.audible_frames

    @property
    def sip_headers(self) -> list[JSON]:
        return [
            {"name": "From", "value": f"sip:{self.caller}@sip.example.com"},
            {"name": "To", "value": f"sip:{self.to}@sip.api.openai.com"},
            {"name": "Call-ID", "value": f"{self.id[4:]}@sip.example.com"},
        ]

    # ------------------------------------------------------------------ control (server side)

    def accept(self, session: JSON) -> None:
        self._require_ringing("accepted")
        engine = self.engine
        engine.session = apply_session_update(engine.session, session)
        engine._configure_vad()
        self.status = "accepted"
        self.accepted_at = time.monotonic()
        self._cancel_ring()
        engine.start()
        self._spawn(self._listen())
        self.accepted.set()

    def reject(self, status_code: int) -> None:
        self._require_ringing("rejected")
        self.status = "rejected"
        self.reject_status = status_code
        self.end_reason = f"rejected with {status_code}"

    def refer(self, target_uri: str) -> None:
        if self.status not in ("ringing", "accepted"):
            raise CallStateError(f"Call '{self.id}' cannot be referred: it is {self.status}.")
        self.status = "referred"
        self.refer_target = target_uri
        self.end_reason = f"referred to {target_uri}"

    def _require_ringing(self, what: str) -> None:
        if self.status != "ringing":
            raise CallStateError(
                f"Call '{self.id}' cannot be {what}: it has already been {self.status}."
            )

    # ------------------------------------------------------------------ the caller

    def run_script(self, says: Iterable[str], dtmf: str, hang_up: bool) -> None:
        """Once accepted: say each line (waiting for each answer), press ``dtmf``, hang up."""
        lines = list(says)

        async def script() -> None:
            await self.accepted.wait()
            if self.realtime:  # the caller hears the pickup first (and a sideband attaches)
                await asyncio.sleep(PICKUP_S)
            for text in lines:
                await self.say(text)
            if dtmf:
                await self.press(dtmf)
            if hang_up:
                await self.hang_up()

        if lines or dtmf or hang_up:
            self._spawn(script())

    async def say(self, text: str, *, wait_answer: bool = True) -> None:
        """Speak ``text`` into the call (synthesised, 20 ms frames), then wait (bounded) for
        the assistant's answer to be played out."""
        self._check_live("speak")
        done = asyncio.Event()
        played = asyncio.Event()

        def on_event(event: JSON) -> None:
            kind = event.get("type")
            if kind == "response.done":
                done.set()
            elif kind in ("output_audio_buffer.stopped", "output_audio_buffer.cleared"):
                played.set()

        self.engine.listeners.append(on_event)
        try:
            self.said.append(text)
            self._utterances.append(text)
            pcm = synthesize(text, WS_RATE, self.ms_per_char).astype("<i2").tobytes()
            silence = bytes(_FRAME_BYTES * (TRAILING_SILENCE_MS // FRAME_MS))
            await self._send_audio(pcm + silence)
            if wait_answer:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TURN_TIMEOUT_S):
                        await done.wait()
                        if self.player.playing or self.player.queued_ms:
                            played.clear()
                            await played.wait()
        finally:
            with contextlib.suppress(ValueError):
                self.engine.listeners.remove(on_event)

    async def press(self, keys: str) -> None:
        """Press telephone keys; each is one ``input_audio_buffer.dtmf_event_received``."""
        self._check_live("press keys")
        check_keys(keys)
        for key in keys:
            self.pressed.append(key)
            self.engine.emit(
                "input_audio_buffer.dtmf_event_received", event=key, received_at=int(time.time())
            )
            await asyncio.sleep(0.1 if self.realtime else 0)

    async def hang_up(self) -> None:
        """The caller hangs up: the call ends, sidebands on it are closed."""
        if self.end_reason is None:
            self.end_reason = "the caller hung up"
        await self._end()

    async def wait_ended(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound
        async with asyncio.timeout(timeout):
            await self.closed.wait()

    def _check_live(self, what: str) -> None:
        if self.status != "accepted" or self._closing:
            raise CallStateError(f"the caller cannot {what}: call {self.id} is {self.status}")

    async def _send_audio(self, pcm: bytes) -> None:
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), _FRAME_BYTES)):
            if self._closing:
                return
            self.engine.feed_audio(pcm[offset : offset + _FRAME_BYTES])
            self.inbound_frames += 1
            if self.realtime:
                wait = start + (index + 1) * FRAME_MS / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                await asyncio.sleep(0)

    def _transcribe(self, pcm: bytes) -> str:
        if self._utterances:
            return self._utterances.popleft()
        return self._fallback(pcm)

    async def _listen(self) -> None:
        """The phone's speaker: play the engine's output audio in real time, 20 ms a frame.
        While nothing is queued it waits for speech rather than pulling silent frames (the
        next frame stays on the same 20 ms grid), so that one emulator holds hundreds of
        calls."""
        player = self.player
        queued = asyncio.Event()
        player.on_queued = queued.set
        with contextlib.suppress(MediaStreamError):
            while True:
                await player.next_samples()  # the first one starts the grid
                if self.first_heard_at is None and player.audible_frames:
                    self.first_heard_at = time.monotonic()
                if player.idle:
                    queued.clear()
                    await queued.wait()
                    player.skip_silence()

    # ------------------------------------------------------------------ lifecycle

    def ring(self, seconds: float) -> None:
        """End the call as ``missed`` unless it is answered within ``seconds``."""

        def expire() -> None:
            self._ring = None
            if self.status == "ringing":
                self.status = "missed"
                self.end_reason = f"nobody answered within {seconds:g} s"
                self._spawn(self._end())

        self._ring = asyncio.get_running_loop().call_later(seconds, expire)

    def _cancel_ring(self) -> None:
        if self._ring is not None:
            self._ring.cancel()
            self._ring = None

    async def _end(self) -> None:
        if self.end is not None:
            await maybe_await(self.end(self))
        else:
            await self.close()

    def add_sideband(self, sideband: Sideband) -> None:
        self.sidebands.add(sideband)

    def remove_sideband(self, sideband: Sideband) -> None:
        self.sidebands.remove(sideband)

    async def close(self, reason: str = "call ended") -> None:
        """End the call: its engine, the caller's script, then its sidebands (``reason``)."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        try:
            self._cancel_ring()
            if self.status in ("ringing", "accepted"):
                self.status = "ended"
                self.end_reason = self.end_reason or "hung up by the server"
            await self.engine.aclose()
            self.player.stop()
            current = asyncio.current_task()
            tasks = [t for t in self._tasks if t is not current]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # The caller's side knows better why the call ended than a generic "call ended".
            generic = reason == "call ended" and self.end_reason
            self.sidebands.end(f"call ended: {self.end_reason}" if generic else reason)
            self.closed.set()
            if self.on_closed is not None:
                self.on_closed(self)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sip call %s: task failed", self.id, exc_info=task.exception())


class SipSimulator:
    """``emu.sip``: places simulated SIP calls to the app's webhook."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        #: Ended SIP calls: id → final status, so a late request gets a clear answer.
        self.finished: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()

    def create(
        self,
        caller: str = "+14255550100",
        *,
        to: str = "+18005550199",
        says: Iterable[str] = (),
        dtmf: str = "",
        hang_up: bool = False,
        realtime: bool = True,
        ring_timeout_s: float | None = None,
    ) -> SimulatedCall:
        """Register a ringing call (no webhook yet); see :meth:`incoming`."""
        check_keys(dtmf)
        emu = self.emulator
        config = emu.config
        call_id = emu.ids.rtc()
        holder: list[SimulatedCall] = []

        def close(reason: str) -> None:  # the engine asks (session expired, fault)
            if holder:
                holder[0]._spawn(holder[0]._end())

        engine = emu._new_engine(
            kind="webrtc", faults=emu.faults, session=None, player=SpeechTrack(), close=close
        )
        call = SimulatedCall(
            call_id,
            engine,
            caller=caller,
            to=to,
            fallback_transcribe=config.transcribe,
            ms_per_char=config.ms_per_char,
            realtime=realtime,
        )
        holder.append(call)
        call.on_closed = self._closed
        call.end = emu._end_call
        emu.calls[call_id] = call
        call.ring(ring_timeout_s if ring_timeout_s is not None else config.sip_ring_timeout_s)
        call.run_script(says, dtmf, hang_up)
        return call

    async def incoming(
        self,
        caller: str = "+14255550100",
        *,
        to: str = "+18005550199",
        says: Iterable[str] = (),
        dtmf: str = "",
        hang_up: bool = False,
        webhook_url: str | None = None,
        realtime: bool = True,
        ring_timeout_s: float | None = None,
    ) -> SimulatedCall:
        """A call from ``caller`` rings: its webhook is delivered (to ``webhook_url``, else
        ``config.sip_webhook_url``; none: no webhook) before this returns the call. Once the
        call is accepted the caller says ``says`` (each answered in turn), presses ``dtmf``
        and hangs up if ``hang_up``. ``realtime=False`` feeds speech as fast as possible."""
        call = self.create(
            caller,
            to=to,
            says=says,
            dtmf=dtmf,
            hang_up=hang_up,
            realtime=realtime,
            ring_timeout_s=ring_timeout_s,
        )
        url = webhook_url or self.emulator.config.sip_webhook_url
        if url:
            await self.deliver(call, url)
        return call

    def event(self, call: SimulatedCall) -> JSON:
        """The ``realtime.call.incoming`` webhook body for ``call``."""
        ids = self.emulator.ids
        return {
            "object": "event",
            "id": ids.make("evt", 24),
            "type": "realtime.call.incoming",
            "created_at": int(time.time()),
            "data": {
                "call_id": call.id,
                "sip_headers": call.sip_headers,
                "sip_media_security": "srtp",
            },
        }

    async def deliver(
        self, call: SimulatedCall, url: str, *, webhook_id: str | None = None
    ) -> int | None:
        """POST the signed webhook; retry 5xx / no answer up to ``WEBHOOK_ATTEMPTS`` times
        with backoff. Returns the last status (``None``: never answered). ``webhook_id``
        (default: a new one) lets a test deliver the same delivery twice, to two servers."""
        body = json.dumps(self.event(call))
        webhook_id = webhook_id or self.emulator.ids.make("wh", 24)
        secret = self.emulator.config.webhook_secret
        status: int | None = None
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for attempt in range(WEBHOOK_ATTEMPTS):
                headers = {
                    **signed_headers(secret, webhook_id, body),
                    "user-agent": USER_AGENT,
                    "content-type": "application/json",
                }
                sent = time.monotonic()
                try:
                    async with http.post(url, data=body.encode(), headers=headers) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("webhook for %s: %s", call.id, type(exc).__name__)
                    status = None
                call.webhook_seconds.append(time.monotonic() - sent)
                call.webhook_attempts.append(status)
                if status is not None and status < 500:
                    break
                if attempt + 1 < WEBHOOK_ATTEMPTS:
                    await asyncio.sleep(min(WEBHOOK_BACKOFF_MAX_S, WEBHOOK_BACKOFF_S * 2**attempt))
        log.info("webhook for %s delivered: attempts %s", call.id, call.webhook_attempts)
        return status

    def place(self, body: Mapping[str, Any]) -> SimulatedCall:
        """``POST /emulator/sip/calls``: a call from a JSON body, its webhook sent meanwhile."""
        url = body.get("webhook_url") or self.emulator.config.sip_webhook_url
        if not url:
            raise ValueError("no webhook URL: run with --sip-webhook URL or give 'webhook_url'")
        says = body.get("says", [])
        if not isinstance(says, list) or not all(isinstance(s, str) for s in says):
            raise ValueError("'says' must be a list of strings")
        options: dict[str, Any] = {}
        for name, kind in (("caller", str), ("to", str), ("dtmf", str), ("hang_up", bool)):
            if name in body:
                if not isinstance(body[name], kind):
                    raise ValueError(f"{name!r} must be a {kind.__name__}")
                options[name] = body[name]
        call = self.create(says=says, **options)
        task = asyncio.get_running_loop().create_task(self.deliver(call, str(url)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call

    def _closed(self, call: SimulatedCall) -> None:
        self.finished[call.id] = call.status
        while len(self.finished) > _REMEMBERED:
            self.finished.popitem(last=False)
        self.emulator._forget_call(call)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def check_accept_body(body: JSON) -> None:
    """``type`` is required and must be ``realtime`` (OpenAI's wording)."""
    if "type" not in body:
        raise ProtocolError(
            "missing_required_parameter", "Missing required parameter: 'type'.", "type"
        )
    if body["type"] != "realtime":
        raise ProtocolError(
            "invalid_value",
            f"Invalid value: {json.dumps(body['type'])}. Supported values are: 'realtime'.",
            "type",
        )


def check_keys(keys: str) -> None:
    """``ValueError`` unless every character is a telephone key."""
    bad = sorted(set(keys) - DTMF_KEYS)
    if bad:
        raise ValueError(f"DTMF keys are 0-9, *, #, A-D; not {''.join(bad)!r}")


def reject_status(body: JSON) -> int:
    """A ``/reject`` body's SIP ``status_code`` (default 603), else OpenAI's 400."""
    code = body.get("status_code", 603)
    if isinstance(code, bool) or not isinstance(code, int) or not 300 <= code <= 699:
        raise ProtocolError(
            "invalid_value",
            f"Invalid 'status_code': expected an integer between 300 and 699, but got "
            f"{json.dumps(code)} instead.",
            "status_code",
        )
    return code


def refer_target(body: JSON) -> str:
    """A ``/refer`` body's ``target_uri`` (``tel:`` or ``sip:``), else OpenAI's 400."""
    if "target_uri" not in body:
        raise ProtocolError(
            "missing_required_parameter", "Missing required parameter: 'target_uri'.", "target_uri"
        )
    uri = body["target_uri"]
    if not isinstance(uri, str) or not uri.startswith(("tel:", "sip:", "sips:")):
        raise ProtocolError(
            "invalid_value",
            f"Invalid 'target_uri': expected a 'tel:' or 'sip:' URI, but got "
            f"{json.dumps(uri)} instead.",
            "target_uri",
        )
    return uri
