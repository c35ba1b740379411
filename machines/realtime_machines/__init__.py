"""realtime_machines: the formal model of an OpenAI Realtime session (pure, no I/O)."""

from __future__ import annotations

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__: list[str] = []
