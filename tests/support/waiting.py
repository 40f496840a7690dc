"""Waiting for what happens in another process or task, and a free port to start one on."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable


async def eventually(check: Callable[[], object], timeout: float = 8.0) -> None:
    """Wait in the event loop until `check()` is truthy."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def wait_until(check: Callable[[], object], seconds: float = 20.0, what: str = "the condition") -> float:
    """Block until `check()` is truthy (a real process is doing the work); returns the time taken."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
