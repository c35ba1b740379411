"""Identifier factory: OpenAI-shaped ids (``event_…``, ``item_…``, ``resp_…``)."""

from __future__ import annotations

import os
import random
import string

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Makes ids shaped like OpenAI's: a prefix and 21 base62 characters.

    Pass ``seed`` for reproducible ids (scripted tests); by default ids are random.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed if seed is not None else os.urandom(16))

    def make(self, prefix: str, length: int = 21) -> str:
        return prefix + "_" + "".join(self._rng.choices(_ALPHABET, k=length))

    def event(self) -> str:
        return self.make("event")

    def webrtc_event(self) -> str:
        """WebRTC-layer events (``output_audio_buffer.*``) use ``event_<16 hex>`` ids."""
        return "event_" + "".join(self._rng.choices("0123456789abcdef", k=16))

    def item(self) -> str:
        return self.make("item")

    def response(self) -> str:
        return self.make("resp")

    def call(self) -> str:
        return self.make("call", 16)

    def session(self) -> str:
        return self.make("sess")

    def conversation(self) -> str:
        return self.make("conv")

    def rtc(self) -> str:
        return self.make("rtc")

    def ephemeral_key(self) -> str:
        return self.make("ek", 32)
