"""Fixtures of the model's tests (pure: no event loop, no I/O besides reading fixtures).

The helpers live in ``tests/machines/kit.py`` and ``strategies.py`` and are imported as
``tests.machines.kit`` (the module name ``mypy --strict`` gives them with explicit package
bases); the repository root is put on ``sys.path`` so that also works under a bare ``pytest``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.machines.kit import FIXTURE_NAMES  # noqa: E402


@pytest.fixture(params=FIXTURE_NAMES)
def fixture_name(request: pytest.FixtureRequest) -> str:
    """The name of each recorded session in turn."""
    name: str = request.param
    return name
