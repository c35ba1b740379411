"""Voice/text mode and push-to-talk over a :class:`~realtime_sdk.client.RealtimeClient`.

* :class:`VoiceControls` is the seed's ``useSessionOptions``: ``initialize_mode``,
  ``close_voice_mode``, ``cancel_assistant``, ``handle_send_message``, ``enforce_text_session``,
  ``enforce_voice_session``, ``set_remote_tracks_enabled``. A mode switch is a Mode-chart
  transition: it returns once the chart is settled in the asked mode — i.e. the server answered
  ``session.updated`` — and raises :class:`ModeSwitchError` with the chart's reason when the
  update was rejected or not answered within ``timeouts["mode_switch"]``. Nothing sleeps.
* :class:`PushToTalk`: with server VAD off (``turn_detection: None``), ``press()`` clears the
  input buffer and opens the microphone; ``release()`` closes it, commits the buffer and asks
  for a response through the Response chart's sequencer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from realtime_machines import Transition
from realtime_machines.charts.mode import text_session_patch, voice_session_patch

from .client import RealtimeClient
from .errors import RealtimeError

__all__ = ["PUSH_TO_TALK_SESSION", "ModeSwitchError", "PushToTalk", "VoiceControls"]

logger = logging.getLogger("realtime_sdk.voice")

Mode = Literal["voice", "text"]
SuccessCallback = Callable[[str], object]
ErrorCallback = Callable[[str, BaseException], object]

#: A session patch that turns server VAD off (JSON ``null``), for :class:`PushToTalk`.
PUSH_TO_TALK_SESSION: Mapping[str, Any] = {"audio": {"input": {"turn_detection": None}}}

#: Extra seconds :class:`VoiceControls` waits beyond the chart's own switch timeout before it
#: gives up on the chart (only if the client's timer could not fire, e.g. a stopped loop).
_GRACE = 2.0


class ModeSwitchError(RealtimeError):
    """A voice/text switch did not happen: rejected by the server, timed out, or cut short."""

    def __init__(self, mode: Mode, reason: str) -> None:
        self.mode = mode
        self.reason = reason
        super().__init__(f"could not switch to {mode} mode: {reason}")


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(base)
    for key, value in (extra or {}).items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(current, value)
        else:
            out[key] = value
    return out


class VoiceControls:
    """The seed's ``useSessionOptions`` for one client, driven by the Mode chart.

    ``voice_session`` / ``text_session`` are extra ``session`` fields sent with the switch to
    that mode (merged over ``output_modalities``), e.g. ``voice_session=PUSH_TO_TALK_SESSION``.
    ``on_success(stage)`` hears ``voice_initialized``, ``text_initialized``, ``voice_closed``,
    ``assistant_cancelled`` and ``message_sent``; ``on_error(stage, exc)`` hears failures (which
    are raised as well).
    """

    def __init__(
        self,
        client: RealtimeClient,
        *,
        voice_session: Mapping[str, Any] | None = None,
        text_session: Mapping[str, Any] | None = None,
        on_success: SuccessCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.client = client
        self.voice_session = _merge(voice_session_patch(), voice_session)
        self.text_session = _merge(text_session_patch(), text_session)
        self._on_success = on_success
        self._on_error = on_error

    def __repr__(self) -> str:
        return f"<VoiceControls mode={self.mode!r} remote_audio={self.remote_tracks_enabled}>"

    @property
    def mode(self) -> str:
        """The Mode chart's state: ``text``, ``voice`` or ``switching_to_…`` one of them."""
        return str(self.client.model.mode.state)

    @property
    def remote_tracks_enabled(self) -> bool:
        return self.client.remote_audio_enabled

    # -- the seed's methods -----------------------------------------------------------------
    async def initialize_mode(self, mode: Mode) -> None:
        """Put the session into ``mode`` (after connecting); see the ``enforce_*`` methods."""
        if mode == "voice":
            await self.enforce_voice_session()
        elif mode == "text":
            await self.enforce_text_session()
            self._success("text_initialized")
        else:
            raise ValueError(f"mode must be 'voice' or 'text', not {mode!r}")

    async def enforce_voice_session(self) -> None:
        """Switch to voice and wait for ``session.updated``; the microphone opens (the chart's
        ``SetMicrophone``) and remote audio plays. Raises :class:`ModeSwitchError`."""
        await self._guard("voice_initialized", self._switch("voice"))
        self.client.enable_microphone()
        self.set_remote_tracks_enabled(True)
        self._success("voice_initialized")

    async def enforce_text_session(self) -> None:
        """Switch to text and wait for ``session.updated``; the microphone closes (the chart's
        ``SetMicrophone``). Raises :class:`ModeSwitchError`."""
        await self._guard("text_initialized", self._switch("text"))

    async def close_voice_mode(self) -> None:
        """Cancel the assistant, mute remote audio, switch to text (the seed's order)."""
        await self.cancel_assistant()
        self.set_remote_tracks_enabled(False)
        await self._guard("voice_closed", self._switch("text"))
        self._success("voice_closed")

    async def cancel_assistant(self) -> None:
        """``response.cancel`` if a response is active, ``output_audio_buffer.clear`` if audio
        is playing (both decided by the charts; nothing is sent when idle)."""
        await self._guard("assistant_cancelled", self.client.cancel_response())
        self._success("assistant_cancelled")

    async def handle_send_message(
        self,
        text: str,
        on_success: Callable[[], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        """Send a user text message and ask for a response in the current mode's modality.

        With ``on_error`` given, a failure goes to it instead of being raised (as in the seed).
        """
        voice = self.client.model.mode.state == "voice"
        modality: Literal["audio", "text"] = "audio" if voice else "text"
        try:
            await self.client.send_text_message(text, response_modality=modality)
        except Exception as exc:
            if on_error is None:
                self._failure("message_sent", exc)
                raise
            on_error(exc)
            return
        if on_success is not None:
            on_success()
        self._success("message_sent")

    def set_remote_tracks_enabled(self, enabled: bool) -> None:
        """Play or mute the assistant's audio (the remote track keeps draining; no SDP)."""
        self.client.set_remote_audio_enabled(enabled)

    # -- switching --------------------------------------------------------------------------
    async def _switch(self, mode: Mode) -> None:
        client = self.client
        chart = client.model.mode
        await self._settled()  # a switch already under way finishes first
        if chart.state == mode:
            return
        patch = self.voice_session if mode == "voice" else self.text_session
        settled = asyncio.Event()

        def observe(step: Transition) -> None:
            if step.chart in ("mode", "connection"):
                settled.set()

        unsubscribe = client.model.subscribe(observe)
        try:
            if not await client.set_mode(mode, patch):
                raise ModeSwitchError(mode, f"the Mode chart cannot switch from {chart.state!r}")
            await self._settled(settled)
        finally:
            unsubscribe()
        if chart.state != mode:
            raise ModeSwitchError(mode, chart.last_error or f"the session stayed {chart.state!r}")

    async def _settled(self, changed: asyncio.Event | None = None) -> None:
        """Until the Mode chart is not switching (or the connection is no longer up)."""
        client = self.client
        chart = client.model.mode
        if not chart.is_switching:
            return
        own = changed is None
        if changed is None:
            changed = asyncio.Event()
            event = changed

            def observe(step: Transition) -> None:
                if step.chart in ("mode", "connection"):
                    event.set()

            unsubscribe = client.model.subscribe(observe)
        limit = float(client.options["timeouts"]["mode_switch"]) + _GRACE
        try:
            async with asyncio.timeout(limit):
                while chart.is_switching and client.model.connection.state == "connected":
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            raise ModeSwitchError(
                "voice" if chart.state == "switching_to_voice" else "text",
                f"the Mode chart did not settle within {limit:g} s",
            ) from None
        finally:
            if own:
                unsubscribe()
        if chart.is_switching:
            raise ModeSwitchError(
                "voice" if chart.state == "switching_to_voice" else "text",
                f"the connection is {client.model.connection.state!r}",
            )

    # -- callbacks --------------------------------------------------------------------------
    async def _guard(self, stage: str, work: Any) -> None:
        try:
            await work
        except Exception as exc:
            self._failure(stage, exc)
            raise

    def _success(self, stage: str) -> None:
        if self._on_success is not None:
            try:
                self._on_success(stage)
            except Exception:
                logger.exception("on_success handler failed for %s", stage)

    def _failure(self, stage: str, exc: BaseException) -> None:
        if self._on_error is not None:
            try:
                self._on_error(stage, exc)
            except Exception:
                logger.exception("on_error handler failed for %s", stage)


class PushToTalk:
    """Manual turns: hold to talk, release to get an answer.

    Use it with server VAD off — ``turn_detection: None`` in the client's ``session``, or
    ``VoiceControls(client, voice_session=PUSH_TO_TALK_SESSION)``; with server VAD on the server
    would commit and answer on its own too (a warning is logged). Creating it closes the
    microphone (no renegotiation); it is open only between :meth:`press` and :meth:`release`.
    """

    def __init__(
        self, client: RealtimeClient, *, response: Mapping[str, Any] | None = None
    ) -> None:
        self.client = client
        self.response = dict(response) if response else None
        self.pressed = False
        client.disable_microphone()

    def __repr__(self) -> str:
        return f"<PushToTalk pressed={self.pressed}>"

    @property
    def server_vad(self) -> bool:
        """Whether the session (as the server last confirmed it) still has turn detection on."""
        config = self.client.model.session_config or {}
        audio = config.get("audio")
        if isinstance(audio, Mapping):
            inp = audio.get("input")
            if isinstance(inp, Mapping) and "turn_detection" in inp:
                return inp["turn_detection"] is not None
        return "turn_detection" in config and config["turn_detection"] is not None

    async def press(self) -> None:
        """``input_audio_buffer.clear``, then open the microphone. Pressing twice is a no-op."""
        if self.pressed:
            return
        if self.server_vad:
            logger.warning("push-to-talk with server VAD on: send turn_detection=None first")
        await self.client.send_raw({"type": "input_audio_buffer.clear"})
        self.client.enable_microphone()
        self.pressed = True

    async def release(self) -> None:
        """Close the microphone, ``input_audio_buffer.commit``, then ``response.create`` through
        the sequencer (queued if a response is still active). Releasing unpressed is a no-op."""
        if not self.pressed:
            return
        self.pressed = False
        self.client.disable_microphone()
        await self.client.send_raw({"type": "input_audio_buffer.commit"})
        await self.client.send_response(self.response)
