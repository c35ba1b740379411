"""Shared helpers of the emulator's tests."""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection

from realtime_sdk.emulator import rtc_configuration


async def offer_sdp() -> str:
    """A real aiortc offer (audio + the ``oai-events`` channel) whose offerer is already closed:
    the emulator can answer it, but nothing will ever connect to the answer."""
    pc = RTCPeerConnection(rtc_configuration())
    try:
        pc.createDataChannel("oai-events")
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def user_text(text: str) -> dict[str, Any]:
    """A ``conversation.item.create`` of a user's text message."""
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }
