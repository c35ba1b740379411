"""The client's own playback on the transports that deliver audio as events (WebSocket and
in-memory, each against the emulator's engine): the local player feeds the Playback chart,
a barge-in cuts it and truncates the item at what was actually played, exactly once, and the
app's audio goes in as ``input_audio_buffer.append``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from realtime_machines import AssistantCompleted, SpeechActivity
from realtime_sdk.client import RealtimeClient, _playback_sink
from realtime_sdk.emulator import Emulator, Engine, Faults, Say, ScriptedBrain, synthesize
from realtime_sdk.playback import SpeakerSink
from realtime_sdk.transports import MemoryTransport
from tests.sdk.test_client import connection_path, wait_for
from tests.sdk.test_transport_websocket import FakeMicrophone, upsample
from tests.sdk.test_transports import until

Runner = Callable[..., Any]

AUDIO_SESSION = {"type": "realtime", "output_modalities": ["audio"]}
ANSWER = "A long spoken answer, long enough to be cut somewhere in its middle."


@contextlib.asynccontextmanager
async def audio_client(
    kind: str, brain: ScriptedBrain, faults: Faults | None = None, **options: Any
) -> AsyncIterator[tuple[RealtimeClient, Callable[[], Engine]]]:
    """A client on ``kind`` ("websocket" or "memory") against an engine scripted by ``brain``
    (with ``faults``), and a way to reach that engine (the server side of the call)."""
    options.setdefault("greet_enabled", False)
    options.setdefault("session", AUDIO_SESSION)
    if kind == "memory":
        transport = MemoryTransport(brain=brain, faults=faults)
        client = RealtimeClient(token_provider=lambda: "ek_test", transport=transport, **options)

        def memory_engine() -> Engine:
            current = client.transport
            assert isinstance(current, MemoryTransport)
            assert current.engine is not None
            return current.engine

        yield client, memory_engine
        return
    async with Emulator(brain=brain, faults=faults) as emu:
        client = RealtimeClient(
            api_key=emu.api_key,
            base_url=emu.base_url,
            transport="websocket",
            **options,
        )

        def ws_engine() -> Engine:
            return emu.engines[-1]

        yield client, ws_engine


def sink_client(
    kind: str, sink: Any, transmitted: list[dict[str, Any]], faults: Faults | None = None
) -> contextlib.AbstractAsyncContextManager[tuple[RealtimeClient, Callable[[], Engine]]]:
    """:func:`audio_client` playing through ``sink``, answering ``ANSWER`` then "Yes?", with
    what the client transmits appended to ``transmitted``."""
    brain = ScriptedBrain([[Say(ANSWER)], [Say("Yes?")]])
    return audio_client(
        kind, brain, faults, audio_sink=sink, outgoing_middleware=[transmitted.append]
    )


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``coro`` as a task for the block (the app's audio listener), cancelled after."""
    task = asyncio.get_running_loop().create_task(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def speech_pcm() -> bytes:
    silence = np.zeros(24_000, dtype=np.int16)  # 1 s: the VAD's turn ends in it
    return np.concatenate([silence, synthesize("Wait, stop."), silence]).astype("<i2").tobytes()


TRANSPORTS = pytest.mark.parametrize("kind", ["websocket", "memory"])


class PausingApp:
    """An app playing ``audio_chunks()``: it takes ``pause_after`` bytes (250 ms), then takes
    nothing more until ``resume`` is set."""

    def __init__(self, client: RealtimeClient, pause_after: int = 24_000 * 2 // 4) -> None:
        self.client = client
        self.pause_after = pause_after
        self.taken: list[bytes] = []
        self.paused, self.resume = asyncio.Event(), asyncio.Event()

    @property
    def played_ms(self) -> int:
        return sum(map(len, self.taken)) // 48

    async def listen(self) -> None:
        async for chunk in self.client.audio_chunks():
            self.taken.append(chunk)
            if not self.paused.is_set() and sum(map(len, self.taken)) >= self.pause_after:
                self.paused.set()
                await self.resume.wait()


@TRANSPORTS
def test_barge_in_truncates_at_what_the_app_took_exactly_once(run: Runner, kind: str) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[Say(ANSWER)], [Say("Yes?")]])
        transmitted: list[dict[str, Any]] = []

        def outgoing(event: dict[str, Any]) -> dict[str, Any]:
            transmitted.append(event)
            return event

        async with audio_client(kind, brain, outgoing_middleware=[outgoing]) as (client, engine):
            app = PausingApp(client)
            async with background(app.listen()), client:
                await client.send_response()
                await asyncio.wait_for(app.paused.wait(), 10)
                assert client.model.playback.state == "playing"
                played_ms = app.played_ms
                await client.send_audio(speech_pcm())  # the user barges in
                await until(
                    lambda: any(
                        e.get("type") == "conversation.item.truncated" for e in engine().sent
                    )
                )
                truncates = [e for e in transmitted if e["type"] == "conversation.item.truncate"]
                assert len(truncates) == 1
                [truncate] = truncates
                assert truncate["audio_end_ms"] == played_ms
                assert connection_path(client.model, "playback")[:3] == [
                    ("silent", "started", "playing"),  # the player was heard
                    ("playing", "barge_in", "interrupted"),  # speech_started: StopPlayback
                    ("interrupted", "cleared", "silent"),  # the player was cut
                ]
                # The engine cut the item's transcript where the user stopped hearing it.
                item = next(i for i in engine().items if i["id"] == truncate["item_id"])
                transcript = item["content"][0]["transcript"]
                assert 0 < len(transcript) < len(ANSWER)
                assert ANSWER.startswith(transcript)
                # The client's chat row for it is marked cut.
                await until(
                    lambda: any(
                        row.item_id == truncate["item_id"] and row.status == "canceled"
                        for row in client.chat
                    )
                )
                # The VAD's own response to the barge-in completes once it was played.
                completed = asyncio.get_running_loop().create_task(
                    wait_for(client, AssistantCompleted)
                )
                app.resume.set()
                await completed
                assert (
                    len([e for e in transmitted if e["type"] == "conversation.item.truncate"]) == 1
                )

    run(scenario())


@TRANSPORTS
def test_a_response_completes_once_the_player_has_played_it(run: Runner, kind: str) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[Say("Short and spoken.")]])
        async with audio_client(kind, brain) as (client, _engine):
            taken: list[bytes] = []
            first, release = asyncio.Event(), asyncio.Event()

            async def listen() -> None:
                async for chunk in client.audio_chunks():
                    taken.append(chunk)
                    first.set()
                    await release.wait()  # then the app takes nothing more for a while

            completed: list[AssistantCompleted] = []
            client.on(AssistantCompleted.name, completed.append)
            activity = SpeechActivity()
            activity.follow(client.model)
            speaking: list[bool] = []
            activity.on_change(lambda snap: speaking.append(snap.is_assistant_speaking))
            async with background(listen()), client:
                await client.send_response()
                await asyncio.wait_for(first.wait(), 10)
                assert activity.is_assistant_speaking  # speech activity follows the player
                await until(lambda: "completed" in client.model.responses.values())
                # response.done came while the player still held its audio: not yet heard
                # to its end, so not completed (as on WebRTC until output_audio_buffer.stopped)
                assert client.model.playback.state == "playing"
                assert completed == []
                release.set()
                await wait_for(client, AssistantCompleted)
                assert client.model.playback.state == "silent"
                assert connection_path(client.model, "playback") == [
                    ("silent", "started", "playing"),
                    ("playing", "stopped", "silent"),
                ]
                assert sum(map(len, taken)) > 24_000  # > 0.5 s of audio was taken
                assert speaking == [True, False]  # audible while played, quiet after

    run(scenario())


@TRANSPORTS
def test_no_truncate_when_everything_received_was_played(run: Runner, kind: str) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[Say(ANSWER)], [Say("Yes?")]])
        transmitted: list[dict[str, Any]] = []
        record = audio_client(kind, brain, outgoing_middleware=[transmitted.append])
        async with record as (client, _engine):  # noqa: SIM117 - the client comes from it
            # The app "plays" everything at once: whatever is received has been played.
            async with background(drain(client)), client:
                await client.send_response()
                await until(lambda: "completed" in client.model.responses.values())
                await until(lambda: client.model.playback.state == "silent")
                await client.send_audio(speech_pcm())  # nothing left to cut
                await wait_for(client, AssistantCompleted)
                assert [e for e in transmitted if e["type"] == "conversation.item.truncate"] == []

    run(scenario())


async def drain(client: RealtimeClient) -> None:
    async for _chunk in client.audio_chunks():
        pass


class SpeechTrack(FakeMicrophone):
    """A microphone saying ``pcm`` (PCM16 24 kHz) as fast as it is read, then ending."""

    def __init__(self, pcm: bytes) -> None:
        super().__init__(upsample(np.frombuffer(pcm, dtype="<i2")))

    def stop(self) -> None:
        """The client stops its microphone on disconnect (nothing to release here)."""


def appended(engine: Engine) -> bytes:
    """The audio the engine received as ``input_audio_buffer.append``, in order."""
    return b"".join(
        base64.b64decode(e["audio"])
        for e in engine.received
        if e.get("type") == "input_audio_buffer.append"
    )


@TRANSPORTS
@pytest.mark.parametrize("muted", [False, True])
def test_the_microphone_is_pumped_as_appends_and_mutes(run: Runner, kind: str, muted: bool) -> None:
    async def scenario() -> None:
        pcm = speech_pcm()
        track = SpeechTrack(pcm)
        seen: list[str] = []
        async with audio_client(
            kind,
            ScriptedBrain([[Say("Heard.")]]),
            microphone=lambda: track,
            on_event=lambda event: seen.append(event["type"]),
        ) as (client, engine):
            if muted:
                client.disable_microphone()  # before connecting: it starts muted
            async with client:
                await until(lambda: not track.frames)
                await until(lambda: len(appended(engine())) >= len(pcm) * 0.95)
                audio = np.frombuffer(appended(engine()), dtype="<i2")
                if muted:
                    assert not audio.any()  # zeros at the microphone's pace
                    await asyncio.sleep(0.1)
                    assert "input_audio_buffer.speech_started" not in seen
                else:
                    assert np.abs(audio).max() > 1000  # the speech went out
                    await until(lambda: "input_audio_buffer.committed" in seen)
                    assert "input_audio_buffer.speech_started" in seen
                    assert client.model.chat[0].role == "user"  # the VAD's turn

    run(scenario())


class ClockSink:
    """A :class:`~realtime_sdk.playback.PlaybackSink` that plays only when told (``advance``)."""

    def __init__(self) -> None:
        self.queued = 0
        self.position = 0
        self.stops = 0

    def write(self, pcm: Any) -> None:
        self.queued += int(pcm.size)

    def advance(self, samples: int) -> None:
        played = min(samples, self.queued)
        self.position += played
        self.queued -= played

    def stop(self) -> None:
        self.stops += 1
        self.queued = 0


@TRANSPORTS
def test_an_audio_sink_plays_and_is_cut_at_its_position(run: Runner, kind: str) -> None:
    async def scenario() -> None:
        sink = ClockSink()
        transmitted: list[dict[str, Any]] = []
        async with sink_client(kind, sink, transmitted) as (client, _engine), client:
            await client.send_response()
            await until(lambda: sink.queued > 0)
            target = 24_000 * 3 // 10  # the device plays 300 ms, 10 ms at a time
            async with asyncio.timeout(10):
                while sink.position < target:
                    sink.advance(min(240, target - sink.position))
                    await asyncio.sleep(0.005)  # the player refills the sink (lead_ms ahead)
            await until(lambda: client.model.playback.state == "playing")
            await client.send_audio(speech_pcm())
            await until(lambda: any(e["type"] == "conversation.item.truncate" for e in transmitted))
            [truncate] = [e for e in transmitted if e["type"] == "conversation.item.truncate"]
            assert truncate["audio_end_ms"] == 300
            assert sink.stops >= 1  # StopPlayback reached the sink

    run(scenario())


def test_an_audio_sink_the_local_player_cannot_use_is_refused() -> None:
    with pytest.raises(TypeError, match="Speaker or a PlaybackSink"):
        RealtimeClient(transport="websocket", audio_sink=lambda frame: None)
    RealtimeClient(transport="webrtc", audio_sink=lambda frame: None)  # frames: fine there


def test_a_speaker_is_played_through_a_speaker_sink() -> None:
    class SpeakerLike:  # what SpeakerSink reads of a realtime_sdk.audio.Speaker
        samples_played = silence_skipped = frames_discarded = 0

        def __call__(self, frame: Any) -> None: ...

        def stop(self) -> None: ...

    assert isinstance(_playback_sink(SpeakerLike()), SpeakerSink)
    sink = ClockSink()
    assert _playback_sink(sink) is sink  # a PlaybackSink as it is


def test_audio_chunks_without_a_call_leaves_no_player_running(run: Runner) -> None:
    async def scenario() -> None:
        client = RealtimeClient(token_provider=lambda: "ek_test", transport=MemoryTransport())

        async def listen() -> None:
            async for _chunk in client.audio_chunks():
                pass

        waiting = asyncio.get_running_loop().create_task(listen())
        await asyncio.sleep(0.05)  # the player is made and its pump runs
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        # the harness fails the test if the player's pump task were left behind

    run(scenario())


@contextlib.asynccontextmanager
async def answer_heard_in_part(
    kind: str,
) -> AsyncIterator[tuple[RealtimeClient, Callable[[], Engine], PausingApp, list[dict[str, Any]]]]:
    """A connected client on ``kind`` whose app has taken 250 ms of a long spoken answer and
    paused; with what the client transmitted."""
    transmitted: list[dict[str, Any]] = []
    brain = ScriptedBrain([[Say(ANSWER)]])
    record = audio_client(kind, brain, outgoing_middleware=[transmitted.append])
    async with record as (client, engine):
        app = PausingApp(client)
        async with background(app.listen()), client:
            await client.send_response()
            await asyncio.wait_for(app.paused.wait(), 10)
            yield client, engine, app, transmitted


@TRANSPORTS
def test_cancel_response_cuts_the_player_and_truncates_at_what_was_played(
    run: Runner, kind: str
) -> None:
    async def scenario() -> None:
        async with answer_heard_in_part(kind) as (client, engine, app, transmitted):
            await client.cancel_response()  # the app stops the answer itself
            await until(
                lambda: any(e.get("type") == "conversation.item.truncated" for e in engine().sent)
            )
            [truncate] = [e for e in transmitted if e["type"] == "conversation.item.truncate"]
            assert truncate["audio_end_ms"] == app.played_ms
            assert client.model.playback.state == "silent"

    run(scenario())


@TRANSPORTS
def test_muting_remote_audio_drops_the_players_audio_without_truncating(
    run: Runner, kind: str
) -> None:
    async def scenario() -> None:
        async with answer_heard_in_part(kind) as (client, _engine, app, transmitted):
            heard = app.played_ms
            client.set_remote_audio_enabled(False)
            completed = await wait_for(client, AssistantCompleted)
            assert completed.status == "done"  # played out (muted), not cut
            assert client.model.playback.state == "silent"
            assert not [e for e in transmitted if e["type"] == "conversation.item.truncate"]
            app.resume.set()
            await asyncio.sleep(0.05)
            assert app.played_ms == heard  # nothing more reached the app once muted

    run(scenario())


class StalledSink:
    """A :class:`~realtime_sdk.playback.PlaybackSink` that has played nothing yet (a device
    still starting): what it is given stays unheard."""

    def __init__(self) -> None:
        self.written = 0
        self.stops = 0

    @property
    def position(self) -> int:
        return 0

    def write(self, pcm: Any) -> None:
        self.written += int(pcm.size)

    def stop(self) -> None:
        self.stops += 1


@TRANSPORTS
@pytest.mark.parametrize("stop", ["cancel_response", "barge_in"])
def test_an_answer_received_but_not_heard_yet_is_cut_too(run: Runner, kind: str, stop: str) -> None:
    """The answer's audio reached the player, none of it heard, and the answer is still
    streaming (slow deltas), so the Playback chart is silent: a cancel, or the user starting to
    speak, must keep that audio from being heard later, and the item is truncated at 0 ms
    (nothing of it was heard)."""

    async def scenario() -> None:
        sink = StalledSink()
        transmitted: list[dict[str, Any]] = []
        slow = Faults(delta_delay_s=0.2)
        async with sink_client(kind, sink, transmitted, slow) as (client, _engine), client:
            await client.send_response()
            await until(lambda: sink.written > 0)
            assert client.model.playback.state == "silent"
            answer = client.model.response.response_id
            assert answer is not None
            if stop == "cancel_response":
                await client.cancel_response()
            else:
                await client.send_audio(speech_pcm())
            await until(lambda: sink.stops > 0)
            player = client._player
            assert player is not None
            assert player.unplayed_ms(answer) == 0  # nothing of it left to hear
            [truncate] = [e for e in transmitted if e["type"] == "conversation.item.truncate"]
            assert truncate["audio_end_ms"] == 0
            heard = [t for t in client.record if t.chart == "playback" and t.event == "started"]
            assert answer not in [t.data.get("response_id") for t in heard]  # never heard

    run(scenario())
