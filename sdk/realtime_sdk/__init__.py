"""realtime_sdk: the shell that runs the realtime_machines model against the world.

So far: the ``realtime`` command (:mod:`realtime_sdk.cli`), chart diagrams
(:mod:`realtime_sdk.diagrams`) and the local Realtime emulator (:mod:`realtime_sdk.emulator`).
"""

from __future__ import annotations

import logging

from .diagrams import chart_mermaid, stale_diagrams, write_diagrams

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["chart_mermaid", "stale_diagrams", "write_diagrams"]
