"""Client-side playback with honest truncation, for transports that deliver the assistant's audio
as ``response.output_audio.delta`` events (WebSocket, in-memory).

On WebRTC the server plays the audio and truncates the item itself on barge-in. Over WebSocket
the server generates audio faster than real time and the *client* plays it, so on barge-in the
client must stop playing at once and send ``conversation.item.truncate`` with ``audio_end_ms`` =
what the user actually heard, not what was received (the peers' most-reported bug).

:class:`LocalPlayback` keeps the received audio itself and feeds a :class:`PlaybackSink` only
``lead_ms`` ahead of what the sink has consumed, so a cut drops at most that much from the
sink and everything else from its own queue. Per item it tracks the samples the sink has
*consumed* (its play position), and :meth:`LocalPlayback.cut` returns them as a :class:`Cut`::

    from realtime_sdk.playback import LocalPlayback, SpeakerSink

    async with LocalPlayback(SpeakerSink(speaker), on_started=..., on_stopped=...) as playback:
        playback.feed_event(event)  # each response.output_audio.delta
        playback.finish(response_id)  # on response.done: no more audio for it
        cut = playback.cut()  # on barge-in (input_audio_buffer.speech_started)
        if cut is not None:
            await client.send(cut.truncate_event())

Without a sink the app takes the audio itself (PCM16 mono 24 kHz bytes); what it has taken
counts as played::

    async with LocalPlayback() as playback:
        async for chunk in playback.chunks():
            phone_line.write(chunk)

``on_started(response_id)`` / ``on_stopped(response_id, cleared)`` report the start and end of
audibility, like ``output_audio_buffer.started`` / ``stopped`` / ``cleared`` on WebRTC (the
Playback chart's events): started when the sink consumes the response's first samples;
stopped when everything received was consumed and :meth:`LocalPlayback.finish` was called for
it; cleared (``cleared=True``) on :meth:`LocalPlayback.cut`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol

import av
import numpy as np
import numpy.typing as npt

from .audio_convert import WIRE_RATE, decode_pcm16

__all__ = [
    "ChunkSink",
    "Cut",
    "LocalPlayback",
    "PlaybackSink",
    "SpeakerSink",
]

log = logging.getLogger("realtime_sdk.playback")

Int16Array = npt.NDArray[np.int16]
AUDIO_DELTA_TYPES: Final = frozenset({"response.output_audio.delta", "response.audio.delta"})


@dataclass(frozen=True)
class Cut:
    """What was actually played of the item cut by barge-in: the ``conversation.item.truncate``
    arguments. ``audio_end_ms`` is 0 when the user heard none of it."""

    response_id: str
    item_id: str
    content_index: int
    audio_end_ms: int

    def truncate_event(self) -> dict[str, Any]:
        """The ``conversation.item.truncate`` client event."""
        return {
            "type": "conversation.item.truncate",
            "item_id": self.item_id,
            "content_index": self.content_index,
            "audio_end_ms": self.audio_end_ms,
        }


class PlaybackSink(Protocol):
    """Where :class:`LocalPlayback` sends audio; it plays at its own pace."""

    def write(self, pcm: Int16Array) -> None:
        """Queue PCM16 mono 24 kHz samples (never blocks)."""

    @property
    def position(self) -> int:
        """Samples (24 kHz) consumed (played) since the sink was made; never goes back."""

    def stop(self) -> None:
        """Drop everything queued now: :attr:`position` stops where it is."""


@dataclass
class _Item:
    response_id: str
    received: int = 0
    played: int = 0
    cut: bool = False


@dataclass
class _Segment:
    start: int  # the sink position at which its first sample is played
    key: tuple[str, int]
    offset: int  # the item's sample index of its first sample
    size: int


class LocalPlayback:
    """Plays ``response.output_audio.delta`` audio through a sink, counting what was heard.

    ``sink``: a :class:`PlaybackSink` (``None``: a :class:`ChunkSink` for :meth:`chunks`).
    ``lead_ms``: how far ahead of the sink's position audio is written (what a cut drops from
    the sink; keep it above the sink's own jitter target). ``tick_ms``: how often the
    background pump (started by ``async with`` or :meth:`start`) refills the sink.
    """

    def __init__(
        self,
        sink: PlaybackSink | None = None,
        *,
        lead_ms: float = 120.0,
        tick_ms: float = 10.0,
        on_started: Callable[[str], None] | None = None,
        on_stopped: Callable[[str, bool], None] | None = None,
    ) -> None:
        if lead_ms <= 0 or tick_ms <= 0:
            raise ValueError("lead_ms and tick_ms must be positive")
        self.sink: PlaybackSink = sink if sink is not None else ChunkSink()
        self.lead = int(WIRE_RATE * lead_ms / 1000)
        self.tick = tick_ms / 1000
        self.on_started = on_started
        self.on_stopped = on_stopped
        self._items: dict[tuple[str, int], _Item] = {}
        self._pending: deque[tuple[tuple[str, int], Int16Array, int]] = deque()
        self._segments: deque[_Segment] = deque()
        self._cursor = self.sink.position
        self._finished: set[str] = set()
        self._cut_responses: set[str] = set()
        self._audible: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped_deltas = 0
        """Deltas ignored because their response had been cut (already in flight)."""

    def __repr__(self) -> str:
        return (
            f"<LocalPlayback audible={self._audible!r} queued_ms={self.queued_ms:.0f} "
            f"items={len(self._items)}>"
        )

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, response_id: str, item_id: str, content_index: int, delta: str) -> None:
        """Queue one delta's base64 PCM16 mono 24 kHz audio. ``ValueError`` (with a sentence)
        for audio that is not base64 PCM16; audio of a response already cut is dropped."""
        if response_id in self._cut_responses:
            self.dropped_deltas += 1
            return
        self.feed_samples(response_id, item_id, content_index, decode_pcm16(delta))

    def feed_samples(
        self, response_id: str, item_id: str, content_index: int, samples: Int16Array
    ) -> None:
        """:meth:`feed` of audio already decoded: PCM16 mono 24 kHz samples (GPT-Live's
        output audio, decoded once from the session's format)."""
        if response_id in self._cut_responses:
            self.dropped_deltas += 1
            return
        key = (item_id, content_index)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = _Item(response_id)
        if samples.size:
            self._pending.append((key, samples, item.received))
            item.received += samples.size
        self.pump()

    def feed_event(self, event: Mapping[str, Any]) -> bool:
        """:meth:`feed` from a ``response.output_audio.delta`` event (or the beta
        ``response.audio.delta``); ``False`` for any other event."""
        if event.get("type") not in AUDIO_DELTA_TYPES:
            return False
        self.feed(
            str(event.get("response_id", "")),
            str(event.get("item_id", "")),
            int(event.get("content_index", 0)),
            str(event.get("delta", "")),
        )
        return True

    def finish(self, response_id: str) -> None:
        """No more audio will come for ``response_id`` (``response.done``): once it has all
        been played, ``on_stopped(response_id, False)`` fires."""
        self._finished.add(response_id)
        self.pump()

    # -- state ------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """Whether some response is audible (between ``on_started`` and ``on_stopped``)."""
        return self._audible is not None

    @property
    def queued_ms(self) -> float:
        """Audio received and not played yet (in the sink or waiting), in ms."""
        waiting = sum(samples.size for _, samples, _ in self._pending)
        in_sink = max(0, self._cursor - self.sink.position)
        return (waiting + in_sink) * 1000 / WIRE_RATE

    def played_ms(self, item_id: str, content_index: int = 0) -> int:
        """Milliseconds of the item the sink has consumed (rounded down)."""
        self._account(self.sink.position)
        item = self._items.get((item_id, content_index))
        return 0 if item is None else item.played * 1000 // WIRE_RATE

    def unplayed_ms(self, response_id: str) -> int:
        """Milliseconds of ``response_id``'s audio received and not played yet (0 once it was
        all played, or cut)."""
        self._account(self.sink.position)
        samples = sum(
            item.received - item.played
            for item in self._items.values()
            if item.response_id == response_id and not item.cut
        )
        return samples * 1000 // WIRE_RATE

    def received_ms(self, item_id: str, content_index: int = 0) -> int:
        """Milliseconds of the item's audio received (rounded down)."""
        item = self._items.get((item_id, content_index))
        return 0 if item is None else item.received * 1000 // WIRE_RATE

    # -- the pump ---------------------------------------------------------------------------
    def pump(self) -> None:
        """Count what the sink consumed, report audibility, write up to ``lead_ms`` ahead.
        The background task calls it every ``tick_ms``; :meth:`feed` and :meth:`finish` too."""
        position = self.sink.position
        self._account(position)
        while self._pending and self._cursor - position < self.lead:
            key, samples, offset = self._pending[0]
            take = min(samples.size, self.lead - (self._cursor - position))
            if take < samples.size:
                self._pending[0] = (key, samples[take:], offset + take)
                samples = samples[:take]
            else:
                self._pending.popleft()
            self.sink.write(samples)
            self._segments.append(_Segment(self._cursor, key, offset, samples.size))
            self._cursor += samples.size
        self._check_drained(position)

    def _account(self, position: int) -> None:
        while self._segments:
            segment = self._segments[0]
            if position <= segment.start:
                return
            item = self._items[segment.key]
            heard = min(position - segment.start, segment.size)
            item.played = max(item.played, segment.offset + heard)
            self._heard(item.response_id)
            if heard < segment.size:
                return
            self._segments.popleft()

    def _heard(self, response_id: str) -> None:
        if self._audible == response_id:
            return
        if self._audible is not None:
            self._stopped(self._audible, cleared=False)
        self._audible = response_id
        if self.on_started is not None:
            try:
                self.on_started(response_id)
            except Exception:
                log.exception("on_started failed")

    def _stopped(self, response_id: str, *, cleared: bool) -> None:
        self._audible = None
        if self.on_stopped is not None:
            try:
                self.on_stopped(response_id, cleared)
            except Exception:
                log.exception("on_stopped failed")

    def _check_drained(self, position: int) -> None:
        audible = self._audible
        if (
            audible is not None
            and audible in self._finished
            and position >= self._cursor
            and not any(self._items[key].response_id == audible for key, _, _ in self._pending)
        ):
            self._stopped(audible, cleared=False)

    # -- barge-in ---------------------------------------------------------------------------
    def cut(self) -> Cut | None:
        """Stop at once: the sink drops what it holds, the queue is emptied, and deltas still
        in flight for the responses cut are ignored. Returns what was actually played of the
        first item with audio not yet played (``None``: everything received had been played,
        nothing to truncate)."""
        self._account(self.sink.position)
        self.sink.stop()
        position = self.sink.position
        self._account(position)
        first: tuple[str, int] | None = None
        if self._segments:
            first = self._segments[0].key
        elif self._pending:
            first = self._pending[0][0]
        for key in {s.key for s in self._segments} | {k for k, _, _ in self._pending}:
            item = self._items[key]
            item.cut = True
            if item.response_id not in self._finished:
                self._cut_responses.add(item.response_id)
        self._segments.clear()
        self._pending.clear()
        self._cursor = position
        if self._audible is not None:
            self._stopped(self._audible, cleared=True)
        if first is None:
            return None
        item = self._items[first]
        return Cut(item.response_id, first[0], first[1], item.played * 1000 // WIRE_RATE)

    def drop(self) -> None:
        """Drop everything queued as if it had been played (muting the assistant): unlike
        :meth:`cut`, nothing counts as cut, so there is nothing to truncate, and a finished
        response reports ``on_stopped(response_id, False)``."""
        self._account(self.sink.position)
        self.sink.stop()
        for segment in self._segments:
            item = self._items[segment.key]
            item.played = max(item.played, segment.offset + segment.size)
        for key, samples, offset in self._pending:
            item = self._items[key]
            item.played = max(item.played, offset + samples.size)
        self._segments.clear()
        self._pending.clear()
        self._cursor = self.sink.position
        self._check_drained(self._cursor)

    # -- the app as the sink ----------------------------------------------------------------
    async def chunks(self) -> AsyncIterator[bytes]:
        """PCM16 mono 24 kHz chunks for the app to play, as they may be played (at most
        ``lead_ms`` ahead of what the app has taken). Only without a sink of your own. Ends
        when the playback is closed."""
        sink = self.sink
        if not isinstance(sink, ChunkSink):
            raise TypeError("chunks() is for a LocalPlayback made without a sink")
        while not sink.closed:
            chunk = sink.take()
            if chunk is not None:
                yield chunk
                self.pump()
                continue
            await sink.wait(self.tick * 10)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background pump (needs a running loop; idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="playback-pump")

    async def aclose(self) -> None:
        """Stop the pump; ``chunks()`` ends. Queued audio is dropped (not a cut: no callback)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if isinstance(self.sink, ChunkSink):
            self.sink.close()

    async def __aenter__(self) -> LocalPlayback:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.pump()
            except Exception:
                log.exception("playback pump failed; it keeps running")


class ChunkSink:
    """The app as the sink: :meth:`LocalPlayback.chunks` hands it the audio, and what it has
    taken counts as played (an app with its own buffer should write its own sink instead)."""

    def __init__(self) -> None:
        self._queue: deque[Int16Array] = deque()
        self._position = 0
        self._ready = asyncio.Event()
        self.closed = False

    @property
    def position(self) -> int:
        return self._position

    def write(self, pcm: Int16Array) -> None:
        self._queue.append(pcm)
        self._ready.set()

    def stop(self) -> None:
        self._queue.clear()

    def take(self) -> bytes | None:
        """The next chunk (counted as played), or ``None``."""
        if not self._queue:
            self._ready.clear()
            return None
        chunk = self._queue.popleft()
        self._position += chunk.size
        return chunk.astype("<i2", copy=False).tobytes()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until something is written or ``timeout`` seconds pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    def close(self) -> None:
        self.closed = True
        self._queue.clear()
        self._ready.set()


class SpeakerSink:
    """A :class:`~realtime_sdk.audio.Speaker` as a :class:`PlaybackSink`.

    The 24 kHz audio is upsampled 2× (linear, continuous across writes) to the speaker's
    48 kHz, so its consumed-sample counter maps exactly onto the wire's samples. Audio the
    speaker does not queue (silence skipped, or discarded right after a ``stop()``) counts as
    passed at once. Make the speaker with ``stop_hold_ms=0``: the hold is for WebRTC's frames
    in flight; here a cut already drops the rest of the response.
    """

    def __init__(self, speaker: Any) -> None:
        self.speaker = speaker
        self._skipped = 0
        self._last = 0.0
        self._pts = 0

    @property
    def position(self) -> int:
        return int(self.speaker.samples_played) // 2 + self._skipped

    def write(self, pcm: Int16Array) -> None:
        if pcm.size == 0:
            return
        x = pcm.astype(np.float64)
        before = np.concatenate(([self._last], x[:-1]))
        up = np.empty(2 * x.size, dtype=np.float64)
        up[0::2] = (before + x) / 2
        up[1::2] = x
        self._last = float(x[-1])
        frame = av.AudioFrame.from_ndarray(
            up.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = 2 * WIRE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 2 * WIRE_RATE)
        self._pts += up.size
        speaker = self.speaker
        lost = int(speaker.silence_skipped) + int(speaker.frames_discarded)
        speaker(frame)
        if int(speaker.silence_skipped) + int(speaker.frames_discarded) != lost:
            self._skipped += pcm.size

    def stop(self) -> None:
        self.speaker.stop()
        self._last = 0.0
