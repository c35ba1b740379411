"""The project's unforgiving test harness.

* Under ``CI=true`` (or ``CI=1``, any case) a skipped test fails the session: the skips are
  listed with their reasons and the exit status becomes non-zero. Locally a skip stays a skip.
* Under ``CI`` the property tests try the same examples every run: hypothesis loads its own
  ``ci`` profile (derandomized, no example database), so a stop is judged on the code, not on
  the examples a run drew. Local runs draw new examples every time and keep the failing ones in
  ``.hypothesis/``; an example found that way becomes a test of its own.
* A test that leaves a non-daemon thread running which was not there before it fails.
* ``run(coro, timeout=20)`` runs a coroutine on a fresh event loop with a hard timeout, and
  fails the test if the coroutine leaves tasks behind (peers not closed, servers not stopped).

Warnings are errors and every test has a timeout: see ``[tool.pytest.ini_options]``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

# Test helpers are imported as ``tests.<module>`` (the names mypy gives them): the repository
# root must be importable under a bare ``pytest`` too.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.aio import run_async  # noqa: E402

pytest_plugins = ["pytester"]

THREAD_GRACE_S = 1.0
"""How long a test's leftover threads get to finish before they count as leaked."""


def ci_enabled() -> bool:
    """True when the ``CI`` environment variable says ``true`` or ``1``."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


class SkipsFailUnderCI:
    """Plugin (registered only under CI) that turns any skip into a failed session."""

    def __init__(self) -> None:
        self.skips: list[tuple[str, str]] = []

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skips.append((report.nodeid, reason.removeprefix("Skipped: ")))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skips and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skips:
            return
        terminalreporter.section("CI=true: skipped tests fail the run", red=True, bold=True)
        for nodeid, reason in self.skips:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    if ci_enabled():
        config.pluginmanager.register(SkipsFailUnderCI(), "skips-fail-under-ci")


def _new_live_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads behind (after a short grace period)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    leaked = _new_live_threads(before)
    while leaked and time.monotonic() < deadline:
        leaked[0].join(timeout=deadline - time.monotonic())
        leaked = _new_live_threads(before)
    if leaked:
        names = ", ".join(repr(t.name) for t in leaked)
        pytest.fail(f"test left non-daemon threads running: {names}", pytrace=False)


@pytest.fixture
def run() -> Callable[..., Any]:
    """``run(coro, timeout=20)``: run a coroutine on a fresh loop; leaked tasks fail the test."""

    def runner(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        return run_async(coro, timeout)

    return runner
