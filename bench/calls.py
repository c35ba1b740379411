"""Calls: concurrent emulated SIP calls held by one call-server process, each with a tool round.

    PYTHONPATH=machines:sdk .venv/bin/python bench/calls.py [--ramp 1,50,100,200,300,400]
        [--rate 25] [--hold 5] [--multi 40] [--timeout 30] [--quick] [--profile DIR]

Everything runs on 127.0.0.1. **This process** is the emulator: it stands in for OpenAI (the
call control endpoints, the sideband WebSockets, the engine and its deterministic brain) and
for its SIP connector and the phones (``emu.sip``: signed webhooks retried on 5xx, the callers'
speech fed as fast as possible — ``realtime=False`` — and the assistant's speech played out in
real time on a 20 ms grid, as a phone hears it; a phone with nothing to play waits for speech
instead of pulling silent frames). **The measured process** is the call server: ``realtime
call-server`` run as a child process (``python -m realtime_sdk.cli call-server``) with a
greeting and one tool (``order_status``, in a module written to a temporary directory), its
log lines (INFO, several per call) going to a file, as a deployment would keep them.

1. Concurrency. For each N of ``--ramp``, a fresh call server, warmed up by one call that is
   not counted (its lazy imports, its first connections); then N calls arrive at ``--rate`` a
   second (0: all at once). Each call: the webhook is posted and answered; the server accepts
   the call and attaches its sideband; the sideband's greeting is heard by the caller; the
   caller asks ``Where is my order? order_status {"order": "A<i>"}`` (the emulator's
   deterministic brain calls the tool), the tool runs in the call server, its output goes back
   on the sideband, and the spoken answer (``Tool result: order A<i> ...``, a different one per
   call) is played out to the caller. No caller hangs up before all N have had their tool
   round; then all are held ``--hold`` seconds more, then all hang up, and the server must
   forget them. N=1 is run 10 times in a row (one call at a time), for a CPU figure above
   /proc's 10 ms resolution. Per N: calls accepted, tool rounds completed, answers heard,
   failures by kind, the live calls the server listed (``GET /calls``) while all were held;
   the call server's CPU seconds (``/proc/<pid>/stat``, user + system, from the first call to
   the last one forgotten) and its peak RSS (``VmHWM``), the CPU per call and the RSS per
   concurrent call as ratios against N=1's, the CPU fraction of holding the calls idle (during
   ``--hold``); the webhook answer time (the emulator's delivery, from sending the POST to the
   answer read, first attempt), the accept-to-first-audio time (from the emulator taking the
   accept request to the phone playing the first audible frame of the greeting: the sideband
   attaching, its ``response.create``, the first 20 ms frame) and the tool round time (from
   the server VAD hearing the question end, ``input_audio_buffer.speech_stopped``, to the
   answer's first audible frame: transcription, the function call, the tool on the sideband,
   its output, the follow-up response), each as median and p99. Also the emulator's own CPU
   fraction over the same window and how late its event loop ran, and how long each main
   thread waited for a CPU while ready to run (``/proc/<pid>/schedstat``): an emulator, or a
   machine shared with other work, that is the bottleneck shows as such (every latency is
   measured in this process).

2. Multi-process. Two call servers sharing a Redis replay store (a private ``redis-server``);
   the emulator posts each call's webhook to them in turn (round robin), and every 4th
   delivery to both at once (the same ``webhook-id``, as a retry after a lost answer would
   be). Every call must be accepted exactly once (one accept request, one tool output), the
   duplicate answered ``duplicate`` by the other process.

Prints a report and exits 0 (a setup failure raises). Not a test: no figure is a pass/fail
line; the output states whether the goal (≥ 200 concurrent calls, each with a tool round) was
met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from realtime_sdk.emulator import Emulator, EmulatorConfig
from realtime_sdk.emulator.brain import item_text
from realtime_sdk.emulator.sip import SimulatedCall
from realtime_sdk.webhooks import DEFAULT_PATH
from realtime_sdk.webhooks.local_redis import LocalRedis

GREETING = "Greet the caller."
TOOLS_MODULE = '''
def order_status(order: str) -> str:
    """Where an order is.

    Args:
        order: The order's number.
    """
    return f"order {order} left the warehouse"


TOOLS = [order_status]
'''
MS_PER_CHAR = 6.0
Place = Callable[[int, SimulatedCall], Awaitable[None]]
"""``place(index, line)``: deliver the webhook of caller ``index``."""
START_TIMEOUT = 30.0
GOAL = 200
#: N=1 is run this many times in a row (one call at a time), for a CPU figure above the
#: 10 ms resolution of /proc.
SOLO_ROUNDS = 10


def question(index: int) -> str:
    return f'Where is my order? order_status {{"order": "A{index}"}}'


def expected_answer(index: int) -> str:
    return f"order A{index} left the warehouse"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median_p99(values: Sequence[float], scale: float = 1000.0) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values) * scale:.0f} / {percentile(values, 0.99) * scale:.0f}"


# ------------------------------------------------------------------------------------------
# The measured process
# ------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory(pid: int) -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` (peak RSS) of a process in MB, from /proc."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found


def runqueue_wait(pid: int | str = "self") -> float:
    """Seconds the process's main thread (its event loop) has waited for a CPU while ready
    to run (``/proc/<pid>/schedstat``): how much the machine's other work delayed it."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


class CallServerProcess:
    """``realtime call-server`` as a child process; its base URL from its first line."""

    #: Run each call server under cProfile, its stats written here (``--profile DIR``).
    profile_dir: Path | None = None

    def __init__(self, process: asyncio.subprocess.Process, url: str, log: Path) -> None:
        self.process = process
        self.pid = process.pid
        self.url = url
        self.hook = url + DEFAULT_PATH
        self.log = log

    @classmethod
    async def start(cls, emu: Emulator, workdir: Path, name: str, *argv: str) -> CallServerProcess:
        import realtime_machines
        import realtime_sdk

        roots = [
            str(workdir),
            str(Path(realtime_sdk.__file__).parents[1]),
            str(Path(realtime_machines.__file__).parents[1]),
        ]
        env = {
            **os.environ,
            "OPENAI_API_KEY": emu.api_key,
            "OPENAI_WEBHOOK_SECRET": emu.config.webhook_secret,
            "PYTHONPATH": os.pathsep.join(roots),
        }
        log = workdir / f"{name}.log"
        profile: list[str] = []
        if cls.profile_dir is not None:
            profile = ["-m", "cProfile", "-o", str(cls.profile_dir / f"{name}.prof")]
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *profile, "-m", "realtime_sdk.cli", "call-server", "--port", "0",
                "--base-url", emu.base_url, "--tools", "bench_call_tools:TOOLS",
                "--greeting", GREETING, *argv,
                env=env, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
        url = line.decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            process.kill()
            await process.wait()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the call server did not start: {line!r}\n{tail}")
        return cls(process, url, log)

    async def get(self, http: aiohttp.ClientSession, path: str = "/calls") -> dict[str, Any]:
        async with http.get(self.url + path) as response:
            answer: dict[str, Any] = await response.json()
            return answer

    async def stop(self) -> int | None:
        """SIGTERM, then wait (bounded) for the graceful stop; its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        assert self.process.stdout is not None
        await self.process.stdout.read()
        return self.process.returncode


# ------------------------------------------------------------------------------------------
# One caller
# ------------------------------------------------------------------------------------------


@dataclass
class Caller:
    """One emulated phone call, with what happened to it and when (``time.monotonic()``)."""

    index: int
    line: SimulatedCall
    failure: str | None = None
    greeted: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    asked_at: float | None = None
    #: When the server VAD heard the question end (``input_audio_buffer.speech_stopped``).
    question_end_at: float | None = None
    answer_heard_at: float | None = None
    tool_outputs: int = 0
    tool_round: bool = False
    heard_answer: bool = False
    _answer_ids: set[str] = field(default_factory=set)
    _stopped_ids: set[str] = field(default_factory=set)

    def listen(self, event: dict[str, Any]) -> None:
        """An engine listener: the greeting played out; the tool's output added; the answer
        (the response after it that says this caller's tool result) played out."""
        kind = event.get("type")
        if kind == "input_audio_buffer.speech_stopped":
            if self.greeted.is_set() and not self.tool_outputs:
                self.question_end_at = time.monotonic()
        elif kind == "conversation.item.added":
            if (event.get("item") or {}).get("type") == "function_call_output":
                self.tool_outputs += 1
        elif kind == "output_audio_buffer.started":
            if self.tool_outputs and self.answer_heard_at is None:
                self.answer_heard_at = time.monotonic()
        elif kind == "output_audio_buffer.stopped":
            if not self.tool_outputs:
                self.greeted.set()
            else:
                self._stopped_ids.add(str(event.get("response_id")))
        elif kind == "response.done":
            response = event.get("response") or {}
            if any(
                expected_answer(self.index) in item_text(item)
                for item in response.get("output") or []
            ):
                self._answer_ids.add(str(response.get("id")))
        if self._answer_ids & self._stopped_ids:
            self.answered.set()


class Countdown:
    """``done`` is set once :meth:`count` has been called ``n`` times."""

    def __init__(self, n: int) -> None:
        self.remaining = n
        self.done = asyncio.Event()
        if n <= 0:
            self.done.set()

    def count(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set()


async def wait_for(event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def run_caller(
    caller: Caller,
    place: Place,
    all_asked: Countdown,
    hang_up: asyncio.Event,
    timeout: float,  # noqa: ASYNC109
) -> None:
    """Ring, be greeted, ask, hear the answer, wait for ``hang_up``, hang up."""
    line = caller.line
    try:
        await place(caller.index, line)
        if line.webhook_attempts[-1:] != [200]:
            caller.failure = f"webhook answered {line.webhook_attempts}"
            return
        if not await wait_for(line.accepted, timeout):
            caller.failure = f"not accepted ({line.status} {line.reject_status or ''})".strip()
            return
        if not await wait_for(caller.greeted, timeout):
            caller.failure = "no greeting heard"
            return
        if line.status != "accepted":
            caller.failure = f"ended early ({line.end_reason})"
            return
        await line.say(question(caller.index), wait_answer=False)
        caller.asked_at = time.monotonic()
        answered = await wait_for(caller.answered, timeout)
        caller.tool_round = caller.tool_outputs >= 1
        caller.heard_answer = answered and line.frames_heard > 0
        if not caller.tool_round:
            caller.failure = "no tool round"
        elif not caller.heard_answer:
            caller.failure = "answer not heard"
        elif caller.tool_outputs != 1:
            caller.failure = f"{caller.tool_outputs} tool outputs"
    except Exception as exc:
        caller.failure = f"{type(exc).__name__}: {exc}"
    finally:
        all_asked.count()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout * 4):
                await hang_up.wait()
        if line.status == "accepted":
            with contextlib.suppress(Exception):
                await line.hang_up()
        elif caller.failure is None and line.status != "accepted":
            caller.failure = f"dropped before the hang-up ({line.end_reason})"


async def run_calls(
    emu: Emulator,
    n: int,
    place: Place,
    *,
    rate: float,
    timeout: float,  # noqa: ASYNC109
    while_held: Callable[[], Awaitable[None]] | None = None,
    first: int = 0,
) -> tuple[list[Caller], float]:
    """``n`` callers (numbered from ``first``) arriving at ``rate`` a second; once all have
    had their tool round (or failed), ``while_held()``; then all hang up. The callers and
    how long the arrivals took."""
    all_asked, hang_up = Countdown(n), asyncio.Event()
    callers: list[Caller] = []
    tasks = []
    start = time.monotonic()
    for i in range(n):
        line = emu.sip.create(f"+1425{first + i:07d}", realtime=False)
        caller = Caller(first + i, line)
        line.engine.listeners.append(caller.listen)
        callers.append(caller)
        tasks.append(asyncio.ensure_future(run_caller(caller, place, all_asked, hang_up, timeout)))
        if rate > 0 and i + 1 < n:
            await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    arrivals = time.monotonic() - start
    try:
        await wait_for(all_asked.done, timeout * 4)
        if while_held is not None:
            await while_held()
    finally:
        hang_up.set()
        await asyncio.gather(*tasks)
    return callers, arrivals


# ------------------------------------------------------------------------------------------
# 1. One call server, N calls
# ------------------------------------------------------------------------------------------


@dataclass
class Step:
    n: int
    callers: list[Caller]
    held: int
    counts: dict[str, int]
    webhooks: dict[str, int]
    cpu_s: float
    hold_cpu: float
    peak_mb: float
    idle_mb: float
    forgotten: bool
    ramp_s: float
    emulator_cpu: float
    emulator_cpu_s: float
    loop_lag_ms: float
    server_wait_s: float
    emulator_wait_s: float
    exit_status: int | None

    def failures(self) -> Counter[str]:
        return Counter(c.failure.split(" (")[0] for c in self.callers if c.failure)


class LoopLag:
    """How late this process's event loop runs a 10 ms sleep (the emulator's load)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - before - 0.01)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def poll(condition: Callable[[], Any], timeout: float, every: float = 0.2) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(every)
    return False


async def one_step(
    emu: Emulator,
    workdir: Path,
    n: int,
    rate: float,
    hold: float,
    timeout: float,  # noqa: ASYNC109
) -> Step:
    server = await CallServerProcess.start(
        emu, workdir, f"call-server-{n}", "--max-calls", str(max(100, 2 * n))
    )
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def place(_index: int, line: SimulatedCall) -> None:
        await emu.sip.deliver(line, server.hook)  # the emulator's delivery, retries and timing

    async def forgotten() -> bool:
        return not (await server.get(http))["calls"]

    held = 0
    hold_cpu = 0.0

    async def while_held() -> None:
        nonlocal held, hold_cpu
        listed = await server.get(http)
        held = sum(1 for c in listed["calls"] if c["state"] == "active")
        cpu0, t0 = proc_cpu(server.pid), time.monotonic()
        await asyncio.sleep(hold)
        hold_cpu = (proc_cpu(server.pid) - cpu0) / (time.monotonic() - t0)

    try:
        # One call first, not counted: the server's lazy imports and first connections.
        await run_calls(emu, 1, place, rate=0, timeout=timeout, first=10**6)
        await poll(forgotten, timeout)
        await asyncio.sleep(0.5)  # settle: the loop idle
        idle_mb = proc_memory(server.pid)["VmRSS"]
        cpu0, emu0, wall0 = proc_cpu(server.pid), self_cpu(), time.monotonic()
        waits0 = runqueue_wait(server.pid), runqueue_wait()
        callers: list[Caller] = []
        rounds = SOLO_ROUNDS if n == 1 else 1
        with LoopLag() as lag:
            for r in range(rounds):
                got, ramp_s = await run_calls(
                    emu,
                    n,
                    place,
                    rate=rate,
                    timeout=timeout,
                    while_held=while_held if r == rounds - 1 else None,
                    first=r * n,
                )
                callers += got
                gone = await poll(forgotten, timeout)
            cpu = proc_cpu(server.pid) - cpu0
            server_wait_s = runqueue_wait(server.pid) - waits0[0]
            emulator_wait_s = runqueue_wait() - waits0[1]
            emulator_cpu_s = self_cpu() - emu0
            emulator_cpu = emulator_cpu_s / (time.monotonic() - wall0)
        final = await server.get(http)
        peak_mb = proc_memory(server.pid)["VmHWM"]
    finally:
        await http.close()
        exit_status = await server.stop()
    return Step(
        n=n,
        callers=callers,
        held=held,
        counts=final["counts"],
        webhooks=final["webhooks"],
        cpu_s=cpu,
        hold_cpu=hold_cpu,
        peak_mb=peak_mb,
        idle_mb=idle_mb,
        forgotten=gone,
        ramp_s=ramp_s,
        emulator_cpu=emulator_cpu,
        emulator_cpu_s=emulator_cpu_s,
        loop_lag_ms=lag.worst * 1000,
        server_wait_s=server_wait_s,
        emulator_wait_s=emulator_wait_s,
        exit_status=exit_status,
    )


def report_step(step: Step, base: Step | None) -> None:
    callers = step.callers
    accepted = sum(1 for c in callers if c.line.accepted_at is not None)
    rounds = sum(1 for c in callers if c.tool_round)
    heard = sum(1 for c in callers if c.heard_answer)
    webhook = [c.line.webhook_seconds[0] for c in callers if c.line.webhook_seconds]
    first_audio = [
        c.line.first_heard_at - c.line.accepted_at
        for c in callers
        if c.line.first_heard_at is not None and c.line.accepted_at is not None
    ]
    tool_round = [
        c.answer_heard_at - c.question_end_at
        for c in callers
        if c.answer_heard_at is not None and c.question_end_at is not None
    ]
    per_call_cpu = step.cpu_s / len(step.callers)
    per_call_mb = (step.peak_mb - step.idle_mb) / step.n
    solo = f" ({len(callers)} calls one after another)" if len(callers) > step.n else ""
    retried = sum(1 for c in callers if len(c.line.webhook_attempts) > 1)
    print(
        f"N={step.n}{solo}: arrivals over {step.ramp_s:.1f} s; accepted {accepted}, tool rounds "
        f"{rounds}, answers heard {heard}, live at once {step.held}; "
        f"failures {dict(step.failures()) or 'none'}; webhooks retried {retried}"
    )
    ratio_cpu = ratio_mb = ""
    if base is not None:
        ratio_cpu = f" (x{per_call_cpu / (base.cpu_s / len(base.callers)):.2f} of N={base.n})"
        base_mb = (base.peak_mb - base.idle_mb) / base.n
        ratio_mb = f" (x{per_call_mb / base_mb:.2f} of N={base.n})" if base_mb > 0 else ""
    print(
        f"  call server: CPU {step.cpu_s:.2f} s, {per_call_cpu * 1000:.1f} ms a call{ratio_cpu};"
        f" peak RSS {step.peak_mb:.0f} MB (idle {step.idle_mb:.0f} MB), "
        f"{per_call_mb * 1024:.0f} KB a call{ratio_mb}; holding them idle "
        f"{step.hold_cpu:.3f} of a core; forgot them all: {step.forgotten}; "
        f"exit {step.exit_status}"
    )
    print(
        f"  median / p99 (ms): webhook answer {median_p99(webhook)}; accept -> first audio "
        f"{median_p99(first_audio)}; tool round (question's end heard -> answer's first audio) "
        f"{median_p99(tool_round)}"
    )
    print(
        f"  server counts {step.counts}; webhooks {step.webhooks}; emulator (this process) "
        f"CPU {step.emulator_cpu_s:.2f} s, {step.emulator_cpu:.2f} of a core, its loop at worst "
        f"{step.loop_lag_ms:.0f} ms late"
    )
    print(
        f"  waiting for a CPU while ready to run (the machine's other work): call server "
        f"{step.server_wait_s:.2f} s, emulator {step.emulator_wait_s:.2f} s"
    )


# ------------------------------------------------------------------------------------------
# 2. Two call servers, one Redis replay store
# ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A private redis-server's URL while the block runs; ``None`` when none is installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with LocalRedis(binary, start_timeout=10) as server:
        yield server.url


async def multi_process(emu: Emulator, workdir: Path, calls: int, timeout: float) -> None:  # noqa: ASYNC109
    with redis_server() as url:
        if url is None:
            print("two processes: not run (no redis-server on this machine)")
            return
        servers = await asyncio.gather(
            *(
                CallServerProcess.start(
                    emu, workdir, f"shared-{i}", "--redis", url, "--max-calls", str(2 * calls)
                )
                for i in range(2)
            )
        )
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

        async def place(index: int, line: SimulatedCall) -> None:
            urls = [servers[index % 2].hook]  # round robin
            if index % 4 == 3:  # the same delivery (one webhook-id) to both at once
                urls.append(servers[1 - index % 2].hook)
            webhook_id = emu.ids.make("wh", 24)
            await asyncio.gather(*(emu.sip.deliver(line, u, webhook_id=webhook_id) for u in urls))

        try:
            callers, _ = await run_calls(emu, calls, place, rate=0, timeout=timeout)

            async def forgotten() -> bool:
                listed = [await s.get(http) for s in servers]
                return not any(answer["calls"] for answer in listed)

            await poll(forgotten, timeout)
            finals = [await s.get(http) for s in servers]
        finally:
            await http.close()
            statuses = await asyncio.gather(*(s.stop() for s in servers))
    counts = [f["counts"] for f in finals]
    hooks = [f["webhooks"] for f in finals]
    duplicated = sum(1 for i in range(calls) if i % 4 == 3)
    once = sum(
        1
        for c in callers
        if c.line.accepted_at is not None and c.tool_outputs == 1 and c.failure is None
    )
    print(
        f"two processes, one Redis replay store: {calls} calls round robin, {duplicated} "
        f"deliveries posted to both at once"
    )
    print(
        f"  accepted per process {[c.get('accepted', 0) for c in counts]} "
        f"(sum {sum(c.get('accepted', 0) for c in counts)} of {calls}); duplicates answered "
        f"{[h.get('duplicate', 0) for h in hooks]}; failed control "
        f"requests {sum(c.get('failed', 0) for c in counts)}; calls handled exactly once "
        f"with their tool round: {once} of {calls}; failures "
        f"{dict(Counter(c.failure for c in callers if c.failure)) or 'none'}; "
        f"exit {list(statuses)}"
    )


# ------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rt-bench-calls-"))
    (workdir / "bench_call_tools.py").write_text(TOOLS_MODULE, encoding="utf-8")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        CallServerProcess.profile_dir = args.profile.resolve()
    config = EmulatorConfig(ms_per_char=MS_PER_CHAR, sip_ring_timeout_s=args.timeout * 2)
    try:
        async with Emulator(config=config) as emu:
            steps: list[Step] = []
            for n in args.ramp:
                step = await one_step(emu, workdir, n, args.rate, args.hold, args.timeout)
                report_step(step, steps[0] if steps else None)
                steps.append(step)
                await asyncio.sleep(0.5)
            held = [
                s.n for s in steps if not s.failures() and all(c.heard_answer for c in s.callers)
            ]
            best = max(held, default=0)
            verdict = "met" if best >= GOAL else "NOT met"
            if max(args.ramp) < GOAL:
                verdict = f"not tried: the ramp stops at {max(args.ramp)}"
            print(
                f"largest N held with every tool round done and answer heard: {best} "
                f"(goal >= {GOAL} on this machine: {verdict})"
            )
            if args.multi:
                await multi_process(emu, workdir, args.multi, args.timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def parse_ramp(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"each N must be at least 1: {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--ramp", type=parse_ramp, default=[1, 50, 100, 200, 300, 400], metavar="N,N,..."
    )
    parser.add_argument(
        "--rate", type=float, default=25.0, help="calls arriving a second (0: all at once)"
    )
    parser.add_argument("--hold", type=float, default=5.0, help="seconds all calls are held idle")
    parser.add_argument("--multi", type=int, default=40, help="calls over two processes (0: skip)")
    parser.add_argument("--timeout", type=float, default=30.0, help="bound of each wait (s)")
    parser.add_argument("--quick", action="store_true", help="a small run (< 30 s)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="run the call servers under cProfile"
    )
    return parser


def cli(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = parser().parse_args(argv)
    if args.quick:
        args.ramp, args.rate, args.hold, args.multi, args.timeout = [1, 20], 40.0, 1.0, 8, 15.0
    return args


if __name__ == "__main__":
    options = cli()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    status = asyncio.run(main(options))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sys.exit(status)
