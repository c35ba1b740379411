"""Faults the emulator can inject, per emulator or per call, for testing clients."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from dataclasses import dataclass
from typing import Any

from .session import parse_json

FAULTS_HEADER = "X-Emulator-Faults"
_STATUSES = ("refuse_token", "calls_status")


@dataclass
class Faults:
    """What should go wrong. All off by default.

    ``refuse_token``: HTTP error status (400–599) for ``POST /v1/realtime/client_secrets``
      (e.g. 401, 500).
    ``calls_status``: HTTP error status (400–599) for ``POST /v1/realtime/calls`` (e.g. 500, 503).
    ``stall_calls``: ``POST /v1/realtime/calls`` never answers (until the emulator stops).
    ``close_mid_response``: close the DataChannel / WebSocket after the first delta of a response.
    ``vanish_mid_response``: after the first delta, go silent without closing anything: no more
      events, no more audio, client events ignored (a peer that disappeared).
    ``nonjson_frame``: send a non-JSON text frame right after ``session.created``.
    ``oversized_frame_bytes``: right after ``session.created``, send a valid JSON event of an
      unknown type padded to this many bytes.
    ``response_delay_s``: delay between ``response.create`` and ``response.created``.
    ``delta_delay_s``: delay between streamed deltas.
    ``reject_session_update``: every ``session.update`` gets an ``error`` (nothing applied).
    ``stall_call_control``: the SIP call-control endpoints (``/accept``, ``/reject``,
      ``/refer``) never answer (until the emulator stops).
    ``max_message_size``: the ``a=max-message-size`` the WebRTC answer advertises instead of
      OpenAI's 1073741823 (a peer that accepts only small DataChannel messages).
    """

    refuse_token: int | None = None
    calls_status: int | None = None
    stall_calls: bool = False
    close_mid_response: bool = False
    vanish_mid_response: bool = False
    nonjson_frame: bool = False
    oversized_frame_bytes: int | None = None
    response_delay_s: float = 0.0
    delta_delay_s: float = 0.0
    reject_session_update: bool = False
    max_message_size: int | None = None
    stall_call_control: bool = False

    def __post_init__(self) -> None:
        """Refuse values the emulator cannot act on: ``ValueError`` with a sentence."""
        for name, (kind, optional) in _field_kinds().items():
            value = getattr(self, name)
            if value is None and optional:
                continue
            accepted = (int, float) if kind is float else kind
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, accepted):
                raise ValueError(
                    f"fault {name!r} must be {_KIND_NAMES.get(kind, kind.__name__)}, not {value!r}"
                )
            if kind is bool:
                continue
            number = float(typing.cast(float, value))
            if name in _STATUSES and not 400 <= number <= 599:
                # A refusal is an error status: a 1xx is interim (the client waits for the final
                # answer that never comes) and a 2xx/3xx with an error body is no refusal.
                raise ValueError(
                    f"fault {name!r} must be an HTTP error status between 400 and 599, "
                    f"not {value!r}"
                )
            if not 0 <= number < math.inf:
                raise ValueError(f"fault {name!r} must be a finite number >= 0, not {value!r}")

    def to_header(self) -> str:
        """Serialise the non-default fields for the ``X-Emulator-Faults`` request header."""
        default = Faults()
        return json.dumps(
            {
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)
            }
        )

    @classmethod
    def from_header(cls, value: str, base: Faults | None = None) -> Faults:
        """Parse the header (a JSON object of field names), layered over ``base``."""
        try:
            data: Any = parse_json(value)
        except ValueError as exc:
            raise ValueError(f"{FAULTS_HEADER} is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{FAULTS_HEADER} must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(base or cls(), **data)


_KIND_NAMES: dict[type, str] = {bool: "a boolean", int: "an integer", float: "a number"}


@functools.cache
def _field_kinds() -> dict[str, tuple[type, bool]]:
    """Each field's value type and whether it may be ``None`` (``int | None`` → ``int, True``)."""
    kinds: dict[str, tuple[type, bool]] = {}
    for name, hint in typing.get_type_hints(Faults).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        kinds[name] = (args[0], True) if args else (hint, False)
    return kinds
