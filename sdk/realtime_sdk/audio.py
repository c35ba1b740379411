"""Local audio through sounddevice + numpy: a microphone track and a speaker sink.

* :class:`MicrophoneTrack` is an aiortc audio track fed by a sounddevice ``InputStream``:
  48 kHz mono s16, 20 ms frames, paced by the device's own clock (``recv()`` waits for the
  next captured block; it never sleeps). ``muted = True`` sends zeros on the same track, so
  muting never renegotiates. The queue between the device thread and ``recv()`` is bounded:
  when the consumer lags, the oldest frame is dropped and counted (``frames_dropped``).
  :func:`microphone_factory` makes one per connect for ``RealtimeClient(microphone=...)``.
* :class:`Speaker` is an ``audio_sink`` for :class:`~realtime_sdk.client.RealtimeClient`:
  it takes every remote ``av.AudioFrame`` without blocking (the peer's drain never waits on
  the device), converts it to 48 kHz mono s16, and plays it through an ``OutputStream`` from a
  small jitter buffer (60 ms target, bounded). ``stop()`` (the client calls it on the
  ``StopPlayback`` effect, i.e. at barge-in) drops everything queued: the next device block
  (10 ms) is silence. ``level`` and ``playing`` describe what is being played.
* :func:`list_devices` is what ``realtime devices`` prints.

sounddevice is imported lazily, on first use, never by ``import realtime_sdk``: PortAudio
enumerates the devices when sounddevice is imported, and a missing PortAudio raises at import.
Both failures become an :class:`AudioError` whose message says what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from .audio_convert import MonoResampler
from .errors import RealtimeError

__all__ = [
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "AudioDevice",
    "AudioDeviceError",
    "AudioError",
    "AudioUnavailable",
    "EchoGuard",
    "EchoMode",
    "MicrophoneFactory",
    "MicrophoneTrack",
    "PlayedAudio",
    "Speaker",
    "list_devices",
    "load_sounddevice",
    "microphone_factory",
    "rms",
]

logger = logging.getLogger("realtime_sdk.audio")

SAMPLE_RATE = 48000
"""Both directions run at 48 kHz, Opus's native rate (no resampling in aiortc)."""
FRAME_SAMPLES = 960
"""20 ms at 48 kHz: one WebRTC audio frame."""
SPEAKER_BLOCK = 480
"""The speaker's device block (10 ms): how late ``stop()`` can be heard at most, device aside."""
HISTORY_BLOCKS = 200
"""How many device blocks of played levels :class:`Speaker` keeps (2 s) for the echo guard."""
STRETCH_GAP = 0.3
"""Silence (seconds) after which audible playback counts as a new stretch (``audible_since``)."""
QUIET = 1e-3
"""RMS (full scale 1.0) under which a block counts as silence (about -60 dBFS)."""

PORTAUDIO_MISSING = (
    "PortAudio is not installed: install the system package libportaudio2 "
    "(apt-get install libportaudio2) to use a microphone or speaker."
)
SOUNDDEVICE_MISSING = (
    "the Python package sounddevice is not installed: pip install sounddevice "
    "(and the system package libportaudio2)."
)

Int16Array = npt.NDArray[np.int16]
Device = int | str | None
Kind = Literal["input", "output"]


class AudioError(RealtimeError):
    """Local audio cannot be used (base class)."""


class AudioUnavailable(AudioError):
    """PortAudio (the system library) or sounddevice (the Python package) is missing."""


class AudioDeviceError(AudioError):
    """No audio device matches what was asked for, or it cannot be opened."""


def load_sounddevice() -> Any:
    """Import sounddevice now; raise :class:`AudioUnavailable` with one sentence if it cannot."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError("PortAudio library not found")
        raise AudioUnavailable(PORTAUDIO_MISSING) from exc
    except ImportError as exc:
        raise AudioUnavailable(SOUNDDEVICE_MISSING) from exc
    return sounddevice


def rms(samples: npt.NDArray[Any]) -> float:
    """Root mean square of int16 samples, scaled so that full scale is 1.0 (0.0 when empty)."""
    if samples.size == 0:
        return 0.0
    x = samples.astype(np.float32)
    return min(1.0, float(np.sqrt(np.mean(x * x))) / 32768.0)


@dataclass(frozen=True, slots=True)
class AudioDevice:
    """One PortAudio device as ``realtime devices`` lists it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool
    default_output: bool


def list_devices() -> list[AudioDevice]:
    """Every PortAudio device (possibly none); :class:`AudioUnavailable` without PortAudio."""
    sd = load_sounddevice()
    hostapis = [str(api["name"]) for api in sd.query_hostapis()]
    default_in, default_out = _default_indices(sd)
    devices = []
    for info in sd.query_devices():
        index = int(info["index"])
        hostapi = int(info["hostapi"])
        devices.append(
            AudioDevice(
                index=index,
                name=str(info["name"]),
                hostapi=hostapis[hostapi] if 0 <= hostapi < len(hostapis) else "?",
                max_input_channels=int(info["max_input_channels"]),
                max_output_channels=int(info["max_output_channels"]),
                default_samplerate=float(info["default_samplerate"]),
                default_input=index == default_in,
                default_output=index == default_out,
            )
        )
    return devices


def _default_indices(sd: Any) -> tuple[int, int]:
    default = sd.default.device
    try:
        return int(default[0]), int(default[1])
    except (TypeError, ValueError, IndexError):
        return -1, -1


def _resolve_device(sd: Any, device: Device, kind: Kind) -> dict[str, Any]:
    """PortAudio's info for ``device`` (index, name substring or ``None`` for the default)."""
    count = len(sd.query_devices())
    try:
        info = sd.query_devices(device, kind=kind)
    except ValueError as exc:  # no match, several matches, or not an input/output device
        raise AudioDeviceError(
            f"no audio {kind} device matching {device!r}: {exc} "
            "(`realtime devices` lists the devices)."
        ) from None
    except sd.PortAudioError as exc:
        if device is None:
            raise AudioDeviceError(
                f"no default audio {kind} device: PortAudio found {count} device(s) ({exc}); "
                "on a machine without a sound card, run PulseAudio and "
                "`realtime devices --virtual` (see `realtime docs voice`)."
            ) from None
        raise AudioDeviceError(
            f"no audio {kind} device {device!r}: {exc} (`realtime devices` lists the devices)."
        ) from None
    return dict(info)


def _open_stream(factory: Callable[..., Any], kind: Kind, info: dict[str, Any], **kw: Any) -> Any:
    try:
        stream = factory(
            samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=info["index"], **kw
        )
        stream.start()
    except Exception as exc:
        raise AudioDeviceError(
            f"cannot open audio {kind} device {info['index']} ({info['name']!r}) "
            f"at {SAMPLE_RATE} Hz mono: {exc}"
        ) from exc
    return stream


def _close_stream(stream: Any) -> None:
    try:
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)
    except Exception:  # closing must never raise out of stop()
        logger.debug("closing an audio stream failed", exc_info=True)


# ---------------------------------------------------------------------------------------------
# Microphone
# ---------------------------------------------------------------------------------------------

LevelListener = Callable[[float | None], None]
"""Called on the event loop with each captured frame's RMS (0..1), or ``None`` when capture ends."""


class MicrophoneTrack(MediaStreamTrack):
    """An aiortc audio track that captures from a sounddevice input device.

    Create it with an event loop running (the client's factory call does): the device thread
    hands each 20 ms block to that loop. ``device`` is a PortAudio index, a name substring or
    ``None`` for the default input. Raises :class:`AudioUnavailable` / :class:`AudioDeviceError`.
    """

    kind = "audio"

    def __init__(
        self,
        device: Device = None,
        *,
        max_queued_frames: int = 10,
        stall_timeout: float = 2.0,
        echo_guard: EchoGuard | None = None,
    ) -> None:
        super().__init__()
        if max_queued_frames < 1:
            raise ValueError("max_queued_frames must be at least 1")
        sd = load_sounddevice()
        self.device: dict[str, Any] = _resolve_device(sd, device, "input")
        try:
            self._capture_loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "MicrophoneTrack needs a running event loop: create it inside async code "
                "(RealtimeClient calls the microphone factory there)"
            ) from None
        self._queue: deque[Int16Array] = deque()
        self._max_queued = max_queued_frames
        self._ready = asyncio.Event()
        self._stall_timeout = stall_timeout
        self._listeners: list[LevelListener] = []
        self._muted = False
        self._pts = 0
        self.echo_guard = echo_guard
        """Decides per frame whether the speaker's echo is masked (see :class:`EchoGuard`)."""
        self.frames_gated = 0
        """Frames sent as zeros because the echo guard masked them."""
        self.level = 0.0
        """RMS (0..1) of the last frame sent: 0.0 while muted or masked by the echo guard."""
        self.frames_captured = 0
        self.frames_dropped = 0
        self.overflows = 0
        self.last_frame_at: float | None = None
        self._stream = _open_stream(
            sd.InputStream, "input", self.device, blocksize=FRAME_SAMPLES, callback=self._callback
        )

    def __repr__(self) -> str:
        return (
            f"<MicrophoneTrack {self.device['name']!r} {self.readyState}"
            f"{' muted' if self._muted else ''} captured={self.frames_captured} "
            f"dropped={self.frames_dropped}>"
        )

    # -- public -----------------------------------------------------------------------------
    @property
    def muted(self) -> bool:
        """While muted the track keeps its pace but sends zeros (no renegotiation)."""
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        muting = bool(value) and not self._muted
        self._muted = bool(value)
        if muting and self.readyState == "live":  # listeners hear "silent" now, not next frame
            self.level = 0.0
            self._notify(0.0)

    @property
    def is_capturing(self) -> bool:
        """Live, not muted, and the device stream is running."""
        return self.readyState == "live" and not self._muted and bool(self._stream.active)

    def add_level_listener(self, listener: LevelListener) -> Callable[[], None]:
        """Call ``listener(level)`` on the loop for every captured frame; return an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def recv(self) -> av.AudioFrame:
        """The next captured 20 ms frame (48 kHz mono s16), as soon as the device delivers it."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), self._stall_timeout)
            except TimeoutError:
                logger.warning(
                    "microphone %r delivered nothing for %.1f s; stopping the track",
                    self.device["name"],
                    self._stall_timeout,
                )
                self.stop()
                raise MediaStreamError from None
        if self.readyState != "live":
            raise MediaStreamError
        samples = self._queue.popleft()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += samples.size
        return frame

    def stop(self) -> None:
        """End the track and close the device stream (idempotent)."""
        was_live = self.readyState == "live"
        super().stop()
        _close_stream(self._stream)
        self._queue.clear()
        self._ready.set()
        if was_live:
            self.level = 0.0
            self._notify(None)

    # -- device thread → loop ---------------------------------------------------------------
    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        block = np.array(indata[:, 0], dtype=np.int16)
        # RuntimeError: the loop is closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._capture_loop.call_soon_threadsafe(self._deliver, block)

    def _deliver(self, block: Int16Array) -> None:
        if self.readyState != "live":
            return
        if self._muted:
            block = np.zeros_like(block)
            self.level = 0.0
        else:
            self.level = rms(block)
            guard = self.echo_guard
            if guard is not None and not guard.admit(self.level):
                block = np.zeros_like(block)
                self.level = 0.0
                self.frames_gated += 1
        self.frames_captured += 1
        self.last_frame_at = time.monotonic()
        if len(self._queue) >= self._max_queued:
            self._queue.popleft()
            self.frames_dropped += 1
        self._queue.append(block)
        self._ready.set()
        self._notify(self.level)

    def _notify(self, level: float | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(level)
            except Exception:
                logger.exception("microphone level listener failed")


class MicrophoneFactory:
    """``RealtimeClient(microphone=...)``: opens a :class:`MicrophoneTrack` on each connect.

    ``track`` is the last one opened; ``on_open`` listeners (e.g.
    :meth:`~realtime_sdk.activity.MicrophoneActivity.follow`) hear about every new track, so a
    reconnect's fresh track is followed too.
    """

    def __init__(self, device: Device = None, **options: Any) -> None:
        self.device = device
        self.options = options
        self.track: MicrophoneTrack | None = None
        self._on_open: list[Callable[[MicrophoneTrack], None]] = []

    def __call__(self) -> MicrophoneTrack:
        track = MicrophoneTrack(self.device, **self.options)
        self.track = track
        for listener in list(self._on_open):
            listener(track)
        return track

    def on_open(self, listener: Callable[[MicrophoneTrack], None]) -> Callable[[], None]:
        self._on_open.append(listener)
        if self.track is not None and self.track.readyState == "live":
            listener(self.track)

        def unsubscribe() -> None:
            if listener in self._on_open:
                self._on_open.remove(listener)

        return unsubscribe


def microphone_factory(device: Device = None, **options: Any) -> MicrophoneFactory:
    """A factory for ``RealtimeClient(microphone=...)`` that opens ``device`` on each connect.

    When the device cannot be opened the factory raises :class:`AudioError`; with
    ``allow_connect_without_mic`` (the default) the client then connects receive-only.
    """
    return MicrophoneFactory(device, **options)


# ---------------------------------------------------------------------------------------------
# Speaker
# ---------------------------------------------------------------------------------------------


class Speaker:
    """An ``audio_sink`` that plays remote audio through a sounddevice output device.

    ``speaker(frame)`` never blocks: the frame is converted and queued, and the device thread
    plays from the queue. Playback starts once ``jitter_ms`` are queued (or the stream pauses);
    the queue holds at most ``max_buffer_ms`` (oldest audio dropped, counted), and silent frames
    are skipped while more than ``3 × jitter_ms`` are queued so latency cannot creep up.

    ``stop()`` drops everything queued: the next device block is silence. Audio that still
    arrives right after it (already in flight when the server cut the response) is discarded
    until a quiet frame or a pause, at most ``stop_hold_ms``. ``close()`` releases the device.
    """

    def __init__(
        self,
        device: Device = None,
        *,
        jitter_ms: float = 60.0,
        max_buffer_ms: float = 1000.0,
        stop_hold_ms: float = 500.0,
        blocksize: int = SPEAKER_BLOCK,
    ) -> None:
        if jitter_ms < 0 or max_buffer_ms <= jitter_ms:
            raise ValueError("need 0 <= jitter_ms < max_buffer_ms")
        sd = load_sounddevice()
        self.device: dict[str, Any] = _resolve_device(sd, device, "output")
        self._lock = threading.Lock()
        self._chunks: deque[Int16Array] = deque()
        self._offset = 0
        self._buffered = 0
        self._primed = False
        self._target = int(SAMPLE_RATE * jitter_ms / 1000)
        self._high_water = 3 * self._target
        self._max = int(SAMPLE_RATE * max_buffer_ms / 1000)
        self._stop_hold = stop_hold_ms / 1000
        self._hold_until = 0.0
        self._stopped_at = 0.0
        self._last_put = 0.0
        self._resampler = MonoResampler(SAMPLE_RATE)
        self.level = 0.0
        """RMS (0..1) of the last device block played."""
        self.playing = False
        """True while the last device block carried audible queued audio."""
        self.audible_since: float | None = None
        """``time.monotonic()`` of the first audible block after a silence of ``STRETCH_GAP``."""
        self.last_audible_at = 0.0
        """``time.monotonic()`` of the last audible device block (0.0: never)."""
        self._history: deque[tuple[float, float]] = deque(maxlen=HISTORY_BLOCKS)
        self.frames_received = 0
        self.frames_dropped = 0
        self.frames_discarded = 0
        self.silence_skipped = 0
        self.underruns = 0
        self.samples_played = 0
        self.stops = 0
        self._stream = _open_stream(
            sd.OutputStream,
            "output",
            self.device,
            blocksize=blocksize,
            latency="low",
            callback=self._callback,
        )

    def __repr__(self) -> str:
        return (
            f"<Speaker {self.device['name']!r} buffered={self.buffered_ms:.0f}ms "
            f"playing={self.playing} received={self.frames_received}>"
        )

    @property
    def buffered_ms(self) -> float:
        return self._buffered * 1000 / SAMPLE_RATE

    @property
    def latency(self) -> float:
        """The output stream's latency as PortAudio reports it, in seconds."""
        return float(self._stream.latency)

    # -- the sink ---------------------------------------------------------------------------
    def __call__(self, frame: av.AudioFrame) -> None:
        """Queue one remote frame for playback (any format/rate/layout; never blocks)."""
        self.frames_received += 1
        samples = self._convert(frame)
        if samples.size == 0:
            return
        now = time.monotonic()
        quiet = rms(samples) < QUIET
        with self._lock:
            if self._hold_until:
                paused = now - max(self._last_put, self._stopped_at) > 0.1
                if now < self._hold_until and not quiet and not paused:
                    self._last_put = now
                    self.frames_discarded += 1
                    return
                self._hold_until = 0.0
            self._last_put = now
            if quiet and self._primed and self._buffered >= self._high_water:
                self.silence_skipped += 1
                return
            self._chunks.append(samples)
            self._buffered += samples.size
            while self._buffered > self._max and len(self._chunks) > 1:
                dropped = self._chunks.popleft()
                self._buffered -= dropped.size - self._offset
                self._offset = 0
                self.frames_dropped += 1

    def stop(self) -> None:
        """Stop playback now: drop everything queued (the device stream keeps running)."""
        with self._lock:
            self._chunks.clear()
            self._offset = 0
            self._buffered = 0
            self._primed = False
            self._stopped_at = time.monotonic()
            self._hold_until = self._stopped_at + self._stop_hold
            self.stops += 1
        self.playing = False
        self.level = 0.0

    def close(self) -> None:
        """Stop playback and release the output device (idempotent)."""
        self.stop()
        _close_stream(self._stream)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- conversion -------------------------------------------------------------------------
    def _convert(self, frame: av.AudioFrame) -> Int16Array:
        channels = len(frame.layout.channels)
        if frame.sample_rate == SAMPLE_RATE and frame.format.name == "s16":
            # packed s16: interleaved samples
            data = np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1, channels)
            mixed: Int16Array = (
                data[:, 0].copy()
                if channels == 1
                else (data.astype(np.int32).sum(axis=1) // channels).astype(np.int16)
            )
            return mixed
        return self._resampler.samples(frame)

    # -- device thread ----------------------------------------------------------------------
    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        out = outdata[:, 0]
        with self._lock:
            if (
                not self._primed
                and self._buffered
                and (
                    self._buffered >= self._target
                    or time.monotonic() - self._last_put > self._target / SAMPLE_RATE
                )
            ):
                self._primed = True
            n = self._read_into(out, frames) if self._primed else 0
            if self._primed and n < frames:
                self._primed = False
                self.underruns += 1
            self.samples_played += n
        out[n:] = 0
        level = rms(out[:n])
        now = time.monotonic()
        audible = level >= QUIET
        with self._lock:
            self._history.append((now, level))
        if audible:
            if now - self.last_audible_at > STRETCH_GAP:  # not a pause between syllables
                self.audible_since = now
            self.last_audible_at = now
        self.level = level
        self.playing = audible

    def recent_level(self, window: float) -> float:
        """The loudest device block (RMS 0..1) played within the last ``window`` seconds."""
        since = time.monotonic() - window
        with self._lock:
            return max((level for at, level in self._history if at >= since), default=0.0)

    def _read_into(self, out: Any, frames: int) -> int:
        n = 0
        while n < frames and self._chunks:
            chunk = self._chunks[0]
            take = min(frames - n, chunk.size - self._offset)
            out[n : n + take] = chunk[self._offset : self._offset + take]
            n += take
            self._offset += take
            if self._offset >= chunk.size:
                self._chunks.popleft()
                self._offset = 0
        self._buffered -= n
        return n


# ---------------------------------------------------------------------------------------------
# Echo guard
# ---------------------------------------------------------------------------------------------

EchoMode = Literal["gate", "half_duplex", "off"]


class PlayedAudio(Protocol):
    """What :class:`EchoGuard` reads from the speaker (a :class:`Speaker` provides it)."""

    audible_since: float | None
    last_audible_at: float

    def recent_level(self, window: float) -> float: ...


class EchoGuard:
    """Keeps the assistant's own voice, played on open speakers, out of the microphone.

    The server's VAD cannot tell the user from the assistant's echo: an echo loud enough to be
    "speech" interrupts the assistant (barge-in on itself). The guard decides, for every
    captured frame, whether the microphone track sends it or zeros (the pace goes on):

    * ``mode="gate"`` (default): while the assistant is audible or its echo may still be in
      the room (``tail_ms`` after the last audible block), a frame passes only when its RMS is
      above ``margin × coupling × loudest block played in the last tail_ms``. ``coupling`` is
      how loud the echo is relative to what is played (1.0: a loopback, the worst case; real
      speakers and a laptop mic are typically 0.1–0.5). For the first ``warmup_ms`` of each
      stretch of playback every frame is masked, whatever its level: the echo's delay is not
      known yet and the first syllable must not interrupt itself.
    * ``mode="half_duplex"``: every frame is masked while the assistant is audible and for
      ``tail_ms`` after it; the user can interrupt only between turns. The safe fallback for
      loud speakers next to the microphone.
    * ``mode="off"``: nothing is masked.

    ``speaker`` is the :class:`Speaker` playing the assistant (anything with ``recent_level``,
    ``audible_since`` and ``last_audible_at`` will do). ``masked`` counts masked frames.
    """

    def __init__(
        self,
        speaker: PlayedAudio,
        *,
        mode: EchoMode = "gate",
        warmup_ms: float = 250.0,
        margin: float = 2.0,
        coupling: float = 1.0,
        tail_ms: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("gate", "half_duplex", "off"):
            raise ValueError(f"mode must be 'gate', 'half_duplex' or 'off', not {mode!r}")
        if warmup_ms < 0 or tail_ms < 0 or margin <= 0 or coupling < 0:
            raise ValueError("need warmup_ms >= 0, tail_ms >= 0, margin > 0, coupling >= 0")
        self.speaker = speaker
        self.mode: EchoMode = mode
        self.warmup = warmup_ms / 1000
        self.margin = margin
        self.coupling = coupling
        self.tail = tail_ms / 1000
        self._clock = clock
        self.masked = 0

    def __repr__(self) -> str:
        return f"<EchoGuard {self.mode} margin={self.margin} masked={self.masked}>"

    def expected_echo(self) -> float:
        """The loudest echo (RMS 0..1) the microphone may be hearing now."""
        return self.coupling * self.speaker.recent_level(self.tail)

    def admit(self, level: float) -> bool:
        """Whether a captured frame of RMS ``level`` is sent (``False``: zeros are sent)."""
        if self.mode == "off":
            return True
        now = self._clock()
        last = self.speaker.last_audible_at
        if not last or now - last > self.tail:
            return True  # nothing played recently: no echo to fear
        if self.mode == "half_duplex":
            self.masked += 1
            return False
        since = self.speaker.audible_since
        if since is not None and now - since < self.warmup:
            self.masked += 1
            return False
        if level > self.margin * self.expected_echo():
            return True
        self.masked += 1
        return False
