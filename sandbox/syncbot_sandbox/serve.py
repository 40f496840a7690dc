"""Serve an ASGI app on a free local port from a background thread (tests, demo)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


class BackgroundServer:
    """uvicorn serving `app` on `host` at a free port in a daemon thread; a context manager."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1") -> None:
        # Port 0: the OS picks a free port, so parallel test runs never collide.
        config = uvicorn.Config(app, host=host, port=0, log_level="warning", ws="none", lifespan="off")
        self.server = uvicorn.Server(config)
        self.url = ""
        self._thread = threading.Thread(target=self.server.run, name="sandbox-server", daemon=True)

    def start(self, timeout: float = 5.0) -> str:
        """Start serving and return the base URL, e.g. "http://127.0.0.1:54321"."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the background server did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
