"""The one documented, reversible setting that keeps aiortc on 127.0.0.1.

aioice drops 127.0.0.1 from its host candidates, so two aiortc peers on loopback (or a peer on
a machine with only ``lo``) never connect; and aiortc with no ``iceServers`` silently adds a
public STUN server. For the emulator and tests — never for production traffic to OpenAI:

* :func:`rtc_configuration` — ``RTCConfiguration(iceServers=[])``;
* :func:`enable_loopback_ice` / :func:`disable_loopback_ice` — patch / restore
  ``aioice.ice.get_host_addresses`` so host candidates are exactly ``["127.0.0.1"]``.
  Enabling is reference counted (nested emulators and test clients share it); the original
  function is restored when the last user disables it. :func:`loopback_ice` is the context
  manager form.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration

LOOPBACK = "127.0.0.1"

_lock = threading.Lock()
_users = 0
_original: Callable[..., Any] | None = None


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


def rtc_configuration() -> RTCConfiguration:
    """``iceServers=[]``: no STUN/TURN (aiortc's default adds Google's public STUN server)."""
    return RTCConfiguration(iceServers=[])


def enable_loopback_ice() -> None:
    """Restrict aioice host candidates to 127.0.0.1 (reference counted)."""
    global _users, _original
    with _lock:
        if _users == 0:
            _original = aioice.ice.get_host_addresses
            aioice.ice.get_host_addresses = _loopback_host_addresses
        _users += 1


def disable_loopback_ice() -> None:
    """Undo one :func:`enable_loopback_ice`; the last one restores aioice."""
    global _users, _original
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _original is not None:
            aioice.ice.get_host_addresses = _original
            _original = None


def loopback_ice_enabled() -> bool:
    return bool(aioice.ice.get_host_addresses is _loopback_host_addresses)


@contextmanager
def loopback_ice() -> Iterator[None]:
    enable_loopback_ice()
    try:
        yield
    finally:
        disable_loopback_ice()
