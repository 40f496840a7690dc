"""The demo stack in a thread, for the demo's process and browser tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from syncbot_sandbox.demo import DemoOptions, DemoStack


class DemoThread:
    """The demo stack in a background thread with its own event loop, as `syncbot-sandbox demo` runs it."""

    def __init__(self, data_dir: Path, options: DemoOptions) -> None:
        self._data_dir = data_dir
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.stack: DemoStack | None = None
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            try:
                self.stack = await DemoStack.start(0, self._data_dir, self._options)
            finally:
                self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.stack.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self) -> DemoStack:
        """Start and return the running stack (or raise what stopped it)."""
        self._thread.start()
        self._ready.wait(30)
        if self.stack is None:
            raise RuntimeError("the demo did not start") from self._error
        return self.stack

    def stop(self) -> None:
        """Stop the stack and wait for the thread; raise what went wrong in it."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the demo did not stop"
        if self._error is not None:
            raise self._error
