"""LocalPlayback: what was actually played, not what was received, is what gets truncated."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import av
import numpy as np
import pydantic
import pytest
from openai.types.realtime import RealtimeClientEvent

from realtime_sdk.audio_convert import encode_pcm16
from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.playback import ChunkSink, Cut, LocalPlayback, SpeakerSink
from realtime_sdk.transports import ConnectContext, TransportEvents, WebSocketTransport
from tests.sdk.conftest import Pulse

Runner = Any
CLIENT_EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)
MS = 24  # samples per millisecond at 24 kHz


class FakeSink:
    """A sink whose play position the test advances."""

    def __init__(self) -> None:
        self.written: list[np.ndarray] = []
        self._written = 0
        self._position = 0
        self.stops = 0

    @property
    def position(self) -> int:
        return self._position

    @property
    def queued(self) -> int:
        return self._written - self._position

    def write(self, pcm: np.ndarray) -> None:
        self.written.append(pcm.copy())
        self._written += pcm.size

    def stop(self) -> None:
        self.stops += 1
        self._written = self._position

    def play(self, ms: int) -> None:
        """The device consumes ``ms`` (never more than it holds)."""
        self._position += min(ms * MS, self.queued)


def tone(ms: int, value: int = 1000) -> np.ndarray:
    return np.full(ms * MS, value, dtype=np.int16)


def delta(response_id: str, item_id: str, pcm: np.ndarray) -> dict[str, Any]:
    return {
        "type": "response.output_audio.delta",
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": encode_pcm16(pcm),
    }


def play(playback: LocalPlayback, sink: FakeSink, ms: int, step: int = 20) -> None:
    for _ in range(ms // step):
        sink.play(step)
        playback.pump()


class Audibility:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, bool | None]] = []

    def started(self, response_id: str) -> None:
        self.log.append(("started", response_id, None))

    def stopped(self, response_id: str, cleared: bool) -> None:
        self.log.append(("stopped", response_id, cleared))


def test_cut_reports_what_was_played_not_what_was_received() -> None:
    sink = FakeSink()
    playback = LocalPlayback(sink, lead_ms=100)
    for _ in range(10):  # 1 s arrives at once, as the server sends faster than real time
        playback.feed_event(delta("resp_1", "item_1", tone(100)))
    assert playback.received_ms("item_1") == 1000
    assert sink.queued == 100 * MS  # only lead_ms ahead of the device
    play(playback, sink, 260)
    assert playback.played_ms("item_1") == 260
    cut = playback.cut()
    assert cut == Cut("resp_1", "item_1", 0, 260)
    assert sink.stops == 1
    assert sink.queued == 0
    assert playback.queued_ms == 0
    event = cut.truncate_event()
    assert CLIENT_EVENTS.validate_python(event).type == "conversation.item.truncate"
    assert event["audio_end_ms"] == 260


def test_nothing_heard_yet_is_zero_even_with_audio_in_the_sink() -> None:
    sink = FakeSink()
    playback = LocalPlayback(sink, lead_ms=100)
    playback.feed("resp_1", "item_1", 0, encode_pcm16(tone(500)))
    assert sink.queued == 100 * MS  # written, but the device has played none of it
    assert playback.cut() == Cut("resp_1", "item_1", 0, 0)


def test_everything_played_leaves_nothing_to_truncate() -> None:
    sink = FakeSink()
    playback = LocalPlayback(sink)
    playback.feed("resp_1", "item_1", 0, encode_pcm16(tone(200)))
    play(playback, sink, 300)
    assert playback.played_ms("item_1") == 200
    assert playback.cut() is None


def test_items_of_two_responses_are_counted_apart_and_audibility_reported() -> None:
    sink = FakeSink()
    seen = Audibility()
    playback = LocalPlayback(sink, lead_ms=60, on_started=seen.started, on_stopped=seen.stopped)
    playback.feed_event(delta("resp_a", "item_a", tone(300)))
    playback.finish("resp_a")
    playback.feed_event(delta("resp_b", "item_b", tone(500, 2000)))
    assert seen.log == []  # nothing consumed yet: not audible
    play(playback, sink, 400)
    assert playback.played_ms("item_a") == 300
    assert playback.played_ms("item_b") == 100
    assert seen.log == [
        ("started", "resp_a", None),
        ("stopped", "resp_a", False),
        ("started", "resp_b", None),
    ]
    # the samples written are the items' own, in order: 300 ms of 1000 then 2000s
    written = np.concatenate(sink.written)
    assert (written[: 300 * MS] == 1000).all()
    assert (written[300 * MS :] == 2000).all()
    assert playback.cut() == Cut("resp_b", "item_b", 0, 100)
    assert seen.log[-1] == ("stopped", "resp_b", True)
    assert not playback.playing


def test_stopped_only_when_drained_and_finished() -> None:
    sink = FakeSink()
    seen = Audibility()
    playback = LocalPlayback(sink, on_started=seen.started, on_stopped=seen.stopped)
    playback.feed_event(delta("resp_1", "item_1", tone(100)))
    play(playback, sink, 200)  # drained, but more audio may come (an underrun)
    assert seen.log == [("started", "resp_1", None)]
    assert playback.playing
    playback.finish("resp_1")
    assert seen.log[-1] == ("stopped", "resp_1", False)
    assert not playback.playing


def test_deltas_in_flight_for_a_cut_response_are_dropped() -> None:
    sink = FakeSink()
    playback = LocalPlayback(sink)
    playback.feed_event(delta("resp_1", "item_1", tone(500)))
    play(playback, sink, 100)
    assert playback.cut() == Cut("resp_1", "item_1", 0, 100)
    playback.feed_event(delta("resp_1", "item_1", tone(100)))  # already sent by the server
    assert playback.dropped_deltas == 1
    assert playback.received_ms("item_1") == 500
    assert sink.queued == 0
    playback.feed_event(delta("resp_2", "item_2", tone(100)))  # the next response plays
    play(playback, sink, 40)
    assert playback.played_ms("item_2") == 40
    assert playback.played_ms("item_1") == 100


def test_bad_audio_is_refused_with_a_sentence() -> None:
    playback = LocalPlayback(FakeSink())
    with pytest.raises(ValueError, match="not valid base64"):
        playback.feed("r", "i", 0, "not base64!")
    with pytest.raises(ValueError, match="even number"):
        playback.feed("r", "i", 0, "AA==")  # one byte
    assert playback.feed_event({"type": "response.output_text.delta"}) is False


def test_the_app_as_the_sink_takes_chunks_and_what_it_took_counts(run: Runner) -> None:
    async def main() -> None:
        async with LocalPlayback(lead_ms=100) as playback:
            assert isinstance(playback.sink, ChunkSink)
            playback.feed("resp_1", "item_1", 0, encode_pcm16(tone(1000)))
            taken = 0
            async for chunk in playback.chunks():
                taken += len(chunk) // 2
                if taken >= 250 * MS:
                    break
            cut = playback.cut()
            assert cut is not None
            assert cut.audio_end_ms == taken // MS
            assert cut.audio_end_ms < 1000

    run(main())


class FakeSpeaker:
    """The parts of audio.Speaker that SpeakerSink uses; the test plays its queue."""

    def __init__(self) -> None:
        self.frames: list[av.AudioFrame] = []
        self.queued = 0
        self.samples_played = 0
        self.silence_skipped = 0
        self.frames_discarded = 0
        self.skip_next = False

    def __call__(self, frame: av.AudioFrame) -> None:
        if self.skip_next:
            self.silence_skipped += 1
            self.skip_next = False
            return
        self.frames.append(frame)
        self.queued += frame.samples

    def stop(self) -> None:
        self.queued = 0

    def play(self, samples48: int) -> None:
        take = min(samples48, self.queued)
        self.queued -= take
        self.samples_played += take


def test_speaker_sink_maps_48k_consumption_onto_wire_samples() -> None:
    speaker = FakeSpeaker()
    sink = SpeakerSink(speaker)
    playback = LocalPlayback(sink, lead_ms=100)
    ramp = (np.arange(500 * MS) % 2000).astype(np.int16)
    playback.feed("resp_1", "item_1", 0, encode_pcm16(ramp))
    frame = speaker.frames[0]
    assert frame.sample_rate == 48000
    assert frame.samples == 2 * 100 * MS
    up = frame.to_ndarray().reshape(-1)
    assert (up[1::2] == ramp[: 100 * MS]).all()  # every wire sample kept, midpoints between
    speaker.play(2 * 150 * MS)
    playback.pump()
    speaker.play(2 * 30 * MS)
    assert playback.played_ms("item_1") == 100 + 30  # what was queued, and then consumed
    speaker.skip_next = True  # the speaker drops the next write: it counts as passed
    speaker.play(2 * 70 * MS)
    playback.pump()
    assert playback.played_ms("item_1") >= 200
    cut = playback.cut()
    assert cut is not None
    assert cut.audio_end_ms == playback.played_ms("item_1") < 500
    assert speaker.queued == 0


def test_barge_in_over_websocket_truncates_what_was_played(run: Runner) -> None:
    async def main() -> None:
        async with Emulator(config=EmulatorConfig(ms_per_char=10.0)) as emu:
            events: list[dict[str, Any]] = []
            changed = asyncio.Event()
            sink = FakeSink()
            playback = LocalPlayback(sink, lead_ms=100)

            def on_message(text: str) -> None:
                event = json.loads(text)
                events.append(event)
                playback.feed_event(event)
                changed.set()

            async def wait_for(kind: str) -> dict[str, Any]:
                async with asyncio.timeout(10):
                    while not any(e["type"] == kind for e in events):
                        changed.clear()
                        await changed.wait()
                return next(e for e in events if e["type"] == kind)

            transport = WebSocketTransport()
            context = ConnectContext(
                base_url=emu.base_url,
                token=emu.api_key,
                model="gpt-realtime",
                events=TransportEvents(on_message=on_message, on_lost=lambda reason: None),
            )
            for step in transport.steps:
                await transport.run_step(step.state, context)
            await transport.send(
                json.dumps(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Tell me a long story."}],
                        },
                    }
                )
            )
            await transport.send(json.dumps({"type": "response.create"}))
            done = await wait_for("response.done")
            item_id = next(e for e in events if e["type"] == "response.output_audio.delta")[
                "item_id"
            ]
            received = playback.received_ms(item_id)
            assert received > 250
            play(playback, sink, 200)  # the user heard 200 ms, then spoke
            cut = playback.cut()
            assert cut == Cut(done["response"]["id"], item_id, 0, 200)
            await transport.send(json.dumps(cut.truncate_event()))
            truncated = await wait_for("conversation.item.truncated")
            assert truncated["item_id"] == item_id
            assert truncated["audio_end_ms"] == 200
            assert "error" not in [e["type"] for e in events]
            await transport.close()

    run(main())


def loud_ms(samples48: np.ndarray, threshold: float = 0.05) -> int:
    """Milliseconds (1 ms windows at 48 kHz) louder than ``threshold`` RMS."""
    usable = samples48[: samples48.size // 48 * 48].astype(np.float64) / 32768
    levels = np.sqrt(np.mean(usable.reshape(-1, 48) ** 2, axis=1))
    return int(np.count_nonzero(levels > threshold))


def test_real_speaker_cut_reports_what_the_device_played(run: Runner, pulseaudio: Pulse) -> None:
    from realtime_sdk.audio import Speaker

    async def scenario() -> None:
        recording = pulseaudio.record_monitor()
        t = np.arange(3 * 24000) / 24000
        sent = (0.3 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)  # 3 s
        with Speaker(stop_hold_ms=0) as speaker:
            async with LocalPlayback(SpeakerSink(speaker)) as playback:
                for start in range(0, sent.size, 2400):  # all 3 s arrive at once
                    playback.feed("resp_1", "item_1", 0, encode_pcm16(sent[start : start + 2400]))
                async with asyncio.timeout(10):
                    while playback.played_ms("item_1") < 600:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                cut = playback.cut()
                await asyncio.sleep(0.3)  # let the monitor catch the tail
            assert speaker.frames_dropped == 0  # paced: 3 s never sat in its 1 s buffer
        heard = recording.stop()
        assert cut is not None
        assert 600 <= cut.audio_end_ms < 3000
        # the device plays at most one block (10 ms) after stop(); the monitor's capture can
        # start a few ms late: what was heard is what was reported, within 30 ms
        assert abs(loud_ms(heard) - cut.audio_end_ms) <= 30, (loud_ms(heard), cut)

    run(scenario())
