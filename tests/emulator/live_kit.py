"""Helpers of the GPT-Live emulator tests: the official client's connection, driven by audio."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import pydantic
from openai.types.live import ConnectServerEvent, ServerEvent

from realtime_sdk.emulator.audio import synthesize
from tests.emulator.test_fidelity import unknown_fields

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ServerEvent)
CONNECT_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ConnectServerEvent)
MS_PER_CHAR = 12.0
CHUNK = 2400  # 100 ms at 24 kHz


def assert_valid(events: list[dict[str, Any]], adapter: pydantic.TypeAdapter[Any]) -> set[str]:
    """Every event parses as the official package's model, with no undeclared field."""
    seen: set[str] = set()
    for event in events:
        parsed = adapter.validate_python(event)
        assert parsed.type == event["type"]
        assert unknown_fields(parsed) == [], event
        seen.add(event["type"])
    return seen


def speech(text: str, silence_ms: int = 700) -> np.ndarray:
    """The user saying ``text`` (synthesised), then enough silence to end the utterance."""
    tail = np.zeros(24 * silence_ms, dtype=np.int16)
    return np.concatenate([synthesize(text, ms_per_char=MS_PER_CHAR), tail])


class LiveWs:
    """An official ``client.live`` connection (primary or sideband) that keeps every raw event
    and keeps the session timeline moving (silence) while it waits, as a Live client must."""

    def __init__(self, conn: Any, *, pump: bool = True) -> None:
        self.conn = conn
        self.pump = pump
        self.events: list[dict[str, Any]] = []
        self._read = 0

    async def send_audio(self, pcm: np.ndarray) -> None:
        for offset in range(0, pcm.size, CHUNK):
            chunk = pcm[offset : offset + CHUNK].astype("<i2").tobytes()
            await self.conn.session.input_audio.append(audio=base64.b64encode(chunk).decode())

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                try:
                    raw = await asyncio.wait_for(self.conn.recv_bytes(), 0.05)
                except TimeoutError:
                    if self.pump:
                        await self.send_audio(np.zeros(CHUNK, dtype=np.int16))
                    continue
                event: dict[str, Any] = json.loads(raw)
                self.events.append(event)
                return event

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The next event of ``event_type`` (earlier events are kept in ``events``)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                if event["type"] == event_type:
                    return event

    async def until_said(self, text: str) -> None:
        """Wait until the assistant's transcript so far contains ``text``."""
        while text not in self.said():
            await self.wait_for("session.output_transcript.delta")

    async def close_session(self) -> dict[str, Any]:
        """``session.close``, its ``session.closed``, then the socket."""
        await self.conn.session.close()
        closed = await self.wait_for("session.closed")
        await self.conn.close()
        return closed

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def said(self, event_type: str = "session.output_transcript.delta") -> str:
        return "".join(e["delta"] for e in self.of(event_type))
