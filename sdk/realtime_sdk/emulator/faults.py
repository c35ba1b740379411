"""Faults the emulator can inject, per emulator or per call, for testing clients."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

FAULTS_HEADER = "X-Emulator-Faults"


@dataclass
class Faults:
    """What should go wrong. All off by default.

    ``refuse_token``: HTTP status for ``POST /v1/realtime/client_secrets`` (e.g. 401, 500).
    ``calls_status``: HTTP status for ``POST /v1/realtime/calls`` (e.g. 500, 503).
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
        data: Any = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("X-Emulator-Faults must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(base or cls(), **data)
