"""The public API is declared once, sorted, and every name exists."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["realtime_machines", "realtime_sdk"])
def test_all_is_sorted_unique_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names))
    constants = [n for n in names if n.isupper()]
    classes = [n for n in names if n[:1].isupper() and not n.isupper()]
    functions = [n for n in names if n[:1].islower()]
    assert names == sorted(constants) + sorted(classes) + sorted(functions)
    for name in names:
        assert hasattr(module, name), name


def test_machines_import_nothing_with_effects() -> None:
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("realtime_machines").__file__ or "").parent
    allowed_roots = {"statemachine", "__future__"}
    forbidden = {"asyncio", "aiortc", "aiohttp", "numpy", "sounddevice", "socket", "threading"}
    import sys

    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top not in forbidden, f"{path.name} imports {module}"
                assert top in allowed_roots or top in sys.stdlib_module_names, (
                    f"{path.name} imports {module}"
                )
