"""RealtimeClient lifecycle: repeated connects leak nothing, every stop and fault ends cleanly.

Against the emulator over real loopback WebRTC. Complements ``test_client.py`` (which covers a
refused token, a failing and a stalled ``/calls`` and a non-JSON frame): here, 200 connect /
disconnect cycles, a disconnect during each connect step, and the remaining emulator faults.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from realtime_machines import AssistantCompleted, ErrorNotice, Transition
from realtime_sdk.client import RealtimeClient
from realtime_sdk.config import DEFAULTS
from realtime_sdk.emulator import Emulator, Faults
from realtime_sdk.errors import ConnectError, ErrorEvent
from tests.sdk.test_client import make_client, on_every_transport, status, wait_for

Runner = Callable[..., Any]

CYCLES = 200
WARMUP = 50
RSS_GROWTH_BOUND_MB = 15.0
"""RSS growth allowed over the last ``CYCLES - WARMUP`` cycles (client AND emulator, one process).

Measured on the 2-core CI machine: +4.8 to +5.3 MB over those 150 cycles (≈ 35 KB per cycle).
tracemalloc puts ~1.2 MB of it in the Python heap: the client's transition record (bounded by
``record_limit``, then compacted: ~20 transitions per cycle, the offer SDP among their data)
and the emulator's per-call bookkeeping (its ids and counters; ended calls leave
``Emulator.engines``); the rest is allocator fragmentation. Holding on to each cycle's closed
peer connection (a leaked peer) measured +32 MB over the same 150 cycles, so 15 MB has ~3x
headroom over what is normal and still fails on a leaked peer per call."""

SETTLE_S = 3.0
"""How long closed peers get to finish tearing down (aiortc closes transports in tasks)."""


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


POOL = "lifecycle-pool"
"""Thread name prefix of the default executor these tests give their loop (``own_executor``)."""


def own_executor() -> ThreadPoolExecutor:
    """Give the running loop a default executor whose threads the tests can tell apart.

    aiortc encodes every outgoing audio frame in the loop's default executor (as does
    ``loop.getaddrinfo``). A ``ThreadPoolExecutor`` starts another worker when a job arrives
    while no worker counts as idle, and a worker counts itself idle only after the future it
    completed has woken the loop: on a loaded machine the loop's next job often comes first, so
    the pool grows (up to ``max_workers``) and keeps its threads for reuse. A pool is not a
    per-call leak, so ``Resources`` leaves its threads out and ``drained()`` checks them
    instead: shut down, every one of them must finish its job and exit."""
    executor = ThreadPoolExecutor(thread_name_prefix=POOL)
    asyncio.get_running_loop().set_default_executor(executor)
    return executor


def pool_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"{POOL}_")]


async def drained(executor: ThreadPoolExecutor) -> list[str]:
    """Shut ``executor`` down and wait (bounded: ``SETTLE_S``) for its threads to exit; return
    those still running (a job stuck in the pool keeps its thread): ``[]`` when drained."""
    executor.shutdown(wait=False)
    for _ in range(int(SETTLE_S / 0.02)):
        if not pool_threads():
            break
        await asyncio.sleep(0.02)
    return pool_threads()


@dataclass(frozen=True)
class Resources:
    fds: int
    threads: frozenset[str]
    """Every thread but the default executor's pool (``own_executor``)."""
    tasks: int

    @classmethod
    def now(cls) -> Resources:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        names = {t.name for t in threading.enumerate()}
        return cls(
            fds=len(os.listdir("/proc/self/fd")),
            threads=frozenset(names.difference(pool_threads())),
            tasks=len(tasks),
        )


async def settled(baseline: Resources, emu: Emulator | None = None) -> Resources:
    """Poll (bounded: ``SETTLE_S``) until fds, threads and tasks are back at ``baseline`` and
    the emulator holds no call; return what is there either way, for the assertion to show."""
    now = Resources.now()
    for _ in range(int(SETTLE_S / 0.02)):
        if now == baseline and not (emu is not None and emu.calls):
            break
        await asyncio.sleep(0.02)
        now = Resources.now()
    return now


def leftovers() -> list[str]:
    current = asyncio.current_task()
    return [repr(t) for t in asyncio.all_tasks() if t is not current and not t.done()]


def connection_steps(
    client: RealtimeClient, chart: str = "connection"
) -> list[tuple[str | None, str, str | None]]:
    return [(s.source, s.event, s.target) for s in client.record if s.chart == chart]


# -------------------------------------------------------------------------------------------
# 200 cycles
# -------------------------------------------------------------------------------------------
def test_200_connect_disconnect_cycles_leak_no_task_thread_fd_or_memory(run: Runner) -> None:
    async def scenario() -> None:
        executor = own_executor()
        async with Emulator() as emu:
            client = make_client(emu)
            # One cycle first: it starts what lives as long as the loop, not per call.
            await client.connect()
            await client.disconnect()
            baseline = await settled(Resources.now(), emu)
            call_ids: set[str] = set()
            rss_after_warmup = 0.0
            started = time.monotonic()
            for cycle in range(CYCLES):
                await client.connect()
                assert status(client) == "connected"
                assert client.call_id is not None
                call_ids.add(client.call_id)
                await client.disconnect()
                assert status(client) == "disconnected"
                assert client.peer_connection is None
                if cycle == WARMUP - 1:
                    gc.collect()
                    rss_after_warmup = rss_mb()
            elapsed = time.monotonic() - started
            after = await settled(baseline, emu)
            gc.collect()
            growth = rss_mb() - rss_after_warmup

            assert len(call_ids) == CYCLES  # every cycle was a new call
            assert emu.ended_calls == CYCLES + 1
            assert emu.calls == {}
            assert emu.engines == []
            assert after.fds == baseline.fds, "file descriptors leaked"
            assert after.threads == baseline.threads, "threads leaked"
            assert after.tasks == baseline.tasks, "asyncio tasks leaked"
            assert client._tasks == set()
            assert client._step_tasks == {}
            assert client._timers == {}
            assert client._closing == set()
            assert growth < RSS_GROWTH_BOUND_MB, f"RSS grew {growth:.1f} MB"
            print(f"{CYCLES} cycles in {elapsed:.1f} s; RSS +{growth:.2f} MB after warm-up")
        assert await drained(executor) == [], "executor threads still busy"

    run(scenario(), timeout=90)


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
def test_ended_calls_leave_the_emulators_engines(run: Runner, transport: str) -> None:
    """A long-running emulator keeps no engine of a call that ended (memory stays flat)."""

    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, transport)
            for _ in range(3):
                await client.connect()
                assert len(emu.engines) == 1
                with pytest.raises(TimeoutError, match=r"not idle after 0.05 s: .* 1 session"):
                    await emu.wait_idle(0.05)
                await client.disconnect()
                await emu.wait_idle()
                assert emu.engines == []

    run(scenario())


# -------------------------------------------------------------------------------------------
# Disconnect during each connect step
# -------------------------------------------------------------------------------------------
CONNECT_STEPS = [
    "fetching_token",
    "opening_microphone",
    "creating_peer",
    "creating_offer",
    "posting_offer",
    "applying_answer",
    "opening_channel",
]


@pytest.mark.parametrize("step", CONNECT_STEPS)
def test_disconnect_during_a_connect_step_lands_in_disconnected(run: Runner, step: str) -> None:
    """``disconnect()`` is called the moment the chart enters ``step``; the token provider and
    the microphone never answer (so those two steps are really in progress), and the other steps
    take milliseconds of real work (the disconnect task is scheduled before the step's).

    Resources are compared with the emulator stopped: a call abandoned before DTLS is up is
    only noticed by the emulator at its ICE consent timeout (~30 s), and its sockets are the
    emulator's, not the client's."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        executor = own_executor()
        baseline = Resources.now()
        async with Emulator() as emu:
            never = asyncio.Event()
            api_key = emu.api_key
            first_attempt = [True]  # blocks only the first connect

            async def token() -> str:
                if step == "fetching_token" and first_attempt[0]:
                    await never.wait()
                return api_key

            async def microphone() -> None:
                if step == "opening_microphone" and first_attempt[0]:
                    await never.wait()

            client = make_client(emu, microphone=microphone)
            client.set_token_provider(token)
            stopping: list[asyncio.Task[None]] = []

            def observe(t: Transition) -> None:
                if t.chart in ("connection", "handshake") and t.target == step and not stopping:
                    stopping.append(loop.create_task(client.disconnect()))

            unsubscribe = client.model.subscribe(observe)
            with pytest.raises(ConnectError) as info:
                await asyncio.wait_for(client.connect(), 10)
            assert info.value.stage == "hangup"
            await asyncio.wait_for(stopping[0], 10)
            unsubscribe()

            assert client.status == "disconnected"
            if step in ("fetching_token", "opening_microphone"):
                assert (step, "disconnect", "disconnecting") in connection_steps(client)
            else:  # a handshake step: the handshake chart is cancelled in that step
                assert ("handshaking", "disconnect", "disconnecting") in connection_steps(client)
                assert (step, "cancel", "cancelled") in connection_steps(client, "handshake")
            last = ("disconnecting", "transport_closed", "disconnected")
            assert connection_steps(client)[-1] == last
            assert client.peer_connection is None
            assert client.local_track is None
            assert client._tasks == set()
            assert client._step_tasks == {}
            assert client._timers == {}
            assert client._closing == set()
            assert client._consumer is None
            assert client._watchdog is None
            # And the client is usable again.
            first_attempt[0] = False
            await client.connect()
            assert status(client) == "connected"
            await client.disconnect()
        assert await settled(baseline) == baseline, leftovers()
        assert await drained(executor) == [], "executor threads still busy"

    run(scenario())


# -------------------------------------------------------------------------------------------
# Emulator faults (refuse_token, calls_status, stall_calls, nonjson_frame: test_client.py)
# -------------------------------------------------------------------------------------------
async def wait_status(client: RealtimeClient, status: str, limit: float) -> float:
    """Seconds until ``client.status == status``; fails after ``limit`` seconds."""
    started = time.monotonic()
    while client.status != status:
        assert time.monotonic() - started < limit, f"still {client.status!r} after {limit} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_liveness_timeout_defaults_to_ten_seconds() -> None:
    client = RealtimeClient(token_provider=lambda: "ek_test")
    assert client.options["liveness_timeout"] == 10.0
    assert DEFAULTS["liveness_timeout"] == 10.0


@pytest.mark.parametrize(
    ("faults", "liveness", "noticed_within"),
    [
        # The channel closes: aiortc reports it at once.
        (Faults(close_mid_response=True), 10.0, 2.0),
        # Silence without a close (ICE consent would take ~30 s): the liveness check.
        (Faults(vanish_mid_response=True), 1.0, 1.0 + 1.0),
    ],
    ids=["close_mid_response", "vanish_mid_response"],
)
@on_every_transport
def test_a_call_lost_mid_response_lands_in_error_peer_connection(
    run: Runner, faults: Faults, liveness: float, noticed_within: float, transport: str
) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        async with Emulator(faults=faults) as emu:
            client = make_client(
                emu, transport, on_error=reported.append, liveness_timeout=liveness
            )
            deltas: list[str] = []
            first_delta = asyncio.Event()

            def on_delta(notice: Any) -> None:
                deltas.append(notice.delta)
                first_delta.set()

            client.on("assistant:delta", on_delta)
            await client.connect()
            await client.send_text_message("hello")
            await asyncio.wait_for(first_delta.wait(), 10)
            # noticed_within: the liveness limit (checked at that deadline) + slack.
            took = await wait_status(client, "error", noticed_within)
            assert client.model.connection.error_stage == "peer_connection"
            assert [(e.stage, e.severity, e.recoverable) for e in reported] == [
                ("peer_connection", "critical", False)
            ]
            assert client.peer_connection is None  # entering error released the peer
            assert took < noticed_within
            await client.disconnect()
            assert client.status == "disconnected"

    run(scenario())


def test_a_vanished_peer_is_noticed_by_the_default_liveness_check(run: Runner) -> None:
    """With the default 10 s: noticed after 10 s of silence, well before ICE consent (~30 s)."""

    async def scenario() -> None:
        async with Emulator(faults=Faults(vanish_mid_response=True)) as emu:
            client = make_client(emu)
            first_delta = asyncio.Event()
            client.on("assistant:delta", lambda _n: first_delta.set())
            await client.connect()
            await client.send_text_message("hello")
            await asyncio.wait_for(first_delta.wait(), 10)
            took = await wait_status(client, "error", 12.0)
            assert took > 9.0  # not before the limit (less its 0.1 s lead) since the last inbound
            assert client.model.connection.error_stage == "peer_connection"
            await client.disconnect()

    run(scenario(), timeout=30)


def test_an_oversized_unknown_event_is_ignored_and_the_session_goes_on(run: Runner) -> None:
    async def scenario() -> None:
        reported: list[ErrorEvent] = []
        raw: list[int] = []
        async with Emulator(faults=Faults(oversized_frame_bytes=200_000)) as emu:
            client = make_client(
                emu,
                on_error=reported.append,
                on_event=lambda e: raw.append(len(str(e))),
            )
            async with client:
                await client.send_text_message("still there?")
                completed = await wait_for(client, AssistantCompleted)
                assert completed.status == "done"
                assert client.status == "connected"
            assert max(raw) >= 200_000  # the big event did arrive, whole
            assert reported == []

    run(scenario())


def test_a_delayed_response_is_waited_for(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(response_delay_s=0.5)) as emu:
            client = make_client(emu)
            async with client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                await client.send_text_message("hello")
                assert client.model.response.state == "create_requested"
                completed = await wait_for(client, AssistantCompleted)
                assert loop.time() - started >= 0.5
                assert completed.status == "done"
                assert client.chat[-1].text == "You said: hello"

    run(scenario())


def test_a_rejected_session_update_is_a_server_error_notice_not_a_disconnect(
    run: Runner,
) -> None:
    async def scenario() -> None:
        async with Emulator(faults=Faults(reject_session_update=True)) as emu:
            client = make_client(emu)
            errors: list[ErrorNotice] = []
            got_error = asyncio.Event()

            def on_error(notice: ErrorNotice) -> None:
                errors.append(notice)
                got_error.set()

            client.on("error", on_error)
            async with client:
                await asyncio.wait_for(got_error.wait(), 5)
                [notice] = errors
                assert notice.scope == "server"
                assert notice.error["param"] == "session"
                assert client.status == "connected"
                assert client.model.session_config is None or (
                    client.model.session_config.get("output_modalities") != ["text"]
                )
                await client.send_text_message("hello")
                completed = await wait_for(client, AssistantCompleted)
                assert completed.status == "done"

    run(scenario())
