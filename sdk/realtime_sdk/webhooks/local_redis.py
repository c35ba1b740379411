"""A private ``redis-server`` on 127.0.0.1 for the tests and benchmarks of the Redis replay
store: a free port, no persistence, stopped by :meth:`LocalRedis.stop` (or the ``with`` block).

    with LocalRedis(shutil.which("redis-server")) as redis:
        store = RedisReplayStore(redis.url)
"""

from __future__ import annotations

import socket
import subprocess
import time
from types import TracebackType
from typing import Any, Final

__all__ = ["LocalRedis", "free_port", "terminate"]

START_TIMEOUT: Final = 15.0
"""Seconds a new server has to answer ``PING``."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def terminate(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 5 s; wait for the end."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class LocalRedis:
    """``binary`` (a ``redis-server``) started on a free 127.0.0.1 port without persistence;
    returns once it answers ``PING``, else stops it and raises ``RuntimeError`` (it exited, or
    did not answer within ``start_timeout`` seconds)."""

    def __init__(self, binary: str, *, start_timeout: float = START_TIMEOUT) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + start_timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def answers(self) -> bool:
        """True when the server answers ``PING``."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (:func:`terminate`) if it still runs."""
        if self.process.poll() is None:
            terminate(self.process)

    def __enter__(self) -> LocalRedis:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalRedis {self.url} {'running' if self.process.poll() is None else 'ended'}>"
