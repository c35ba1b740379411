"""docs/modules.md is a one-line-per-module map of machines/ and sdk/; keep it current."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_MAP = ROOT / "docs" / "modules.md"
PACKAGE_DIRS = ("machines", "sdk")
PY_PATH = re.compile(r"`([^`\s]+\.py)`")


def modules_on_disk() -> set[str]:
    """Every .py file under machines/ and sdk/, as a repository-relative POSIX path."""
    found: set[str] = set()
    for top in PACKAGE_DIRS:
        for path in (ROOT / top).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                found.add(relative.as_posix())
    return found


def modules_in_map() -> list[str]:
    """The backquoted ``*.py`` paths named in docs/modules.md, in order."""
    return PY_PATH.findall(MODULE_MAP.read_text(encoding="utf-8"))


def test_the_map_finds_the_modules() -> None:
    assert "machines/realtime_machines/__init__.py" in modules_on_disk()
    assert "machines/realtime_machines/__init__.py" in modules_in_map()


def test_every_module_is_in_the_map() -> None:
    missing = sorted(modules_on_disk() - set(modules_in_map()))
    lines = "".join(f"\n- `{name}` — ..." for name in missing)
    assert not missing, f"docs/modules.md needs one line per module; add:{lines}"


def test_the_map_names_only_existing_modules() -> None:
    stale = sorted({name for name in modules_in_map() if not (ROOT / name).is_file()})
    assert not stale, f"docs/modules.md names files that do not exist: {stale}"


def test_each_module_has_one_line() -> None:
    repeated = sorted(name for name, count in Counter(modules_in_map()).items() if count > 1)
    assert not repeated, f"docs/modules.md names these more than once: {repeated}"
