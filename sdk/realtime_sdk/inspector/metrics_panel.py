"""The metrics panel's one link to the turn metrics: an adapter that asks whatever is there.

Turn metrics are derived from the transition record by ``realtime_machines.metrics`` (when the
installed version has it): a live client may expose them as ``client.metrics``, and
``turn_metrics(record)`` computes them from any record, a replayed trace's included. This
module tries those in that order and turns the answer into plain JSON; when none is there (or
it fails) the panel says "metrics unavailable" instead of breaking the page. A protocol without
turn metrics (GPT-Live) gives the adapter a ``note``: it asks nothing, and the panel shows the
note.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from realtime_machines.record import Transition

__all__ = ["MetricsAdapter", "jsonable"]

logger = logging.getLogger("realtime_sdk.inspector")

METRICS_MODULE = "realtime_machines.metrics"
_DEPTH = 8


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON values: ``to_json()`` / ``summary()`` when it has one,
    dataclasses and mappings as objects, sequences as lists, non-finite floats as ``None``."""
    if depth > _DEPTH:
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    for method in ("to_json", "as_dict", "to_dict"):
        converter = getattr(value, method, None)
        if callable(converter):
            return jsonable(converter(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes):
        return [jsonable(v, depth + 1) for v in value]
    return repr(value)


class MetricsAdapter:
    """Turn metrics for the page, or ``None`` when this install cannot give them.

    ``owner`` is what may carry live metrics (a client's ``metrics`` attribute); ``compute``
    overrides the record → metrics function (default: ``turn_metrics`` from
    ``realtime_machines.metrics`` if importable). ``note`` says why there are none to show
    (a GPT-Live session): then neither is asked, and the panel shows the note.
    """

    def __init__(
        self,
        owner: object | None = None,
        *,
        compute: Callable[[Sequence[Transition]], object] | None = None,
        note: str | None = None,
    ) -> None:
        if note is not None and (owner is not None or compute is not None):
            raise ValueError("a MetricsAdapter with a note computes nothing: no owner or compute")
        self.note = note
        self.owner = owner
        self._compute = None if note is not None else compute or _turn_metrics_function()
        self._failed = False

    @property
    def available(self) -> bool:
        # Asked of the owner's class: a ``metrics`` property is not computed just to ask.
        live = self.owner is not None and hasattr(type(self.owner), "metrics")
        return not self._failed and self.note is None and (self._compute is not None or live)

    def metrics(self, record: Sequence[Transition]) -> Any:
        """The metrics as JSON (live ones first, else computed from ``record``), or ``None``."""
        if self._failed or self.note is not None:
            return None
        try:
            live = getattr(self.owner, "metrics", None) if self.owner is not None else None
            if live is not None:
                return jsonable(live)
            if self._compute is not None:
                return jsonable(self._compute(record))
        except Exception:  # a panel must not break the page (nor the session it watches)
            logger.exception("inspector: the turn metrics failed; the panel shows none")
            self._failed = True
        return None


def _turn_metrics_function() -> Callable[[Sequence[Transition]], object] | None:
    try:
        module = importlib.import_module(METRICS_MODULE)
    except ImportError:
        return None
    function = getattr(module, "turn_metrics", None)
    return function if callable(function) else None
