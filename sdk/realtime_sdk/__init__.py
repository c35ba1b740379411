"""realtime_sdk: the shell that runs the realtime_machines model against the world."""

from __future__ import annotations

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__: list[str] = []
