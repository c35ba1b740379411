"""``logging.basicConfig(level=INFO)`` does not flood the screen with aioice/aiortc lines: the
SDK sets those loggers to WARNING unless the user gave them a level."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from realtime_machines import AssistantCompleted
from realtime_sdk.emulator import Emulator
from tests.sdk.test_client import make_client, wait_for

Runner = Callable[..., Any]

LEVELS = """
import logging, sys
{before}
import realtime_sdk
print(logging.getLevelName(logging.getLogger("aioice").level),
      logging.getLevelName(logging.getLogger("aiortc").level),
      logging.getLogger("aioice.ice").isEnabledFor(logging.INFO))
"""


def levels_after_import(before: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", LEVELS.format(before=before)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_basic_config_info_leaves_aioice_and_aiortc_at_warning() -> None:
    assert levels_after_import("logging.basicConfig(level=logging.INFO)") == [
        "WARNING",
        "WARNING",
        "False",
    ]


def test_a_level_the_user_gave_is_kept() -> None:
    before = 'logging.basicConfig(level=logging.INFO); logging.getLogger("aioice").setLevel(10)'
    assert levels_after_import(before) == ["DEBUG", "WARNING", "True"]


def test_a_session_at_info_logs_no_aioice_line(
    run: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu)
            async with client:
                await client.send_text_message("hello")
                await wait_for(client, AssistantCompleted)

    run(scenario())
    third_party = [r for r in caplog.records if r.name.split(".")[0] in ("aioice", "aiortc")]
    assert third_party == []
