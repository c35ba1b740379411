"""Names a package exports but imports on first use (PEP 562 module ``__getattr__``).

The package root and ``realtime_sdk.transports`` export classes whose modules pull in aiortc,
aiohttp, av or the emulator, which ``realtime replay`` and ``realtime diagrams`` never need.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each exported name to the
    relative module that defines it; the value is imported on first access and cached in the
    package's namespace (so ``__getattr__`` is not called for it again)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
