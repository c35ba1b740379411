"""Fixtures for the emulator tests (the leak-checking ``run`` runner is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_sdk.emulator.testing import realtime_emulator  # noqa: F401  (the public fixture)

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"

Runner = Callable[..., Any]


@pytest.fixture
def recorded() -> Path:
    return RECORDED
