"""The harness in tests/conftest.py, checked by running small test sessions with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
# The inner sessions need no hypothesis, and its plugin is slow to load.
INNER_ARGS = ("-p", "no:hypothesispytest")

SKIPPING_SESSION = """
import pytest

def test_passes():
    pass

@pytest.mark.skip(reason="needs a sound card")
def test_skipped():
    pass
"""


@pytest.fixture
def session_with_a_skip(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_session=SKIPPING_SESSION)
    return pytester


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_a_skip_fails_the_run_under_ci(
    session_with_a_skip: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    result = session_with_a_skip.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*CI=true: skipped tests fail the run*",
            "SKIPPED test_session.py::test_skipped: needs a sound card",
        ]
    )


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_skip_is_only_a_skip_without_ci(
    session_with_a_skip: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    result = session_with_a_skip.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*skipped tests fail the run*")


def test_a_module_level_skip_fails_the_run_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a="def test_a():\n    pass\n",
        test_b="import pytest\npytest.skip('no PortAudio', allow_module_level=True)\n",
    )
    result = pytester.runpytest(*INNER_ARGS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED test_b.py: no PortAudio"])


def test_no_tests_collected_stays_exit_5_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_none="")
    assert pytester.runpytest(*INNER_ARGS).ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_leaked_thread_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    impatient = CONFTEST.replace("THREAD_GRACE_S = 1.0", "THREAD_GRACE_S = 0.1")
    assert impatient != CONFTEST
    pytester.makeconftest(impatient)
    pytester.makepyfile(
        test_threads="""
import threading

stop = threading.Event()

def test_leaks_a_thread():
    threading.Thread(target=stop.wait, name="leaky", daemon=False).start()

def test_daemon_and_finished_threads_are_fine():
    threading.Thread(target=stop.wait, daemon=True).start()
    t = threading.Thread(target=lambda: None)
    t.start()

def test_zz_release():
    stop.set()
"""
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test left non-daemon threads running: 'leaky'*"])


def test_property_tests_try_the_same_examples_under_ci() -> None:
    """The suite relies on hypothesis' own ``ci`` profile: with ``CI`` set, every run draws the
    same examples (a stop is judged on the code); without it, each run draws new ones."""
    code = "import hypothesis; print(hypothesis.settings.default.derandomize)"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env=env if ci is None else {**env, "CI": ci},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for ci in ("true", None)
    ]
    assert outputs == ["True", "False"]
