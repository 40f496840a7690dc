"""Client-side pacing so syncbot stays under Patchworks' per-minute request budget."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["Pacer"]

# Patchworks counts requests per minute; a little slack covers network jitter between our send
# times and the server's arrival times, so a window we think is full never looks overfull there.
_WINDOW_SECONDS = 60.5
# Float rounding can leave a refill a hair short of a whole token; do not sleep for that.
_EPSILON = 1e-9


class Pacer:
    """Token bucket for smooth spacing, plus a sliding window that caps any minute at the budget."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._sleep = sleep
        # A tenth of the budget may go out at once; after that requests are spaced evenly.
        self._capacity = max(1.0, requests_per_minute / 10)
        self._rate = requests_per_minute / 60.0
        self._tokens = self._capacity
        self._updated = clock()
        # The bucket alone allows capacity + budget in one minute; the window forbids that.
        self._sent: deque[float] = deque(maxlen=requests_per_minute)
        self._lock = asyncio.Lock()
        self.waited = 0.0

    def _wait_needed(self, now: float) -> float:
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        wait = 0.0
        if self._tokens < 1.0:
            wait = (1.0 - self._tokens) / self._rate
        if len(self._sent) == self._sent.maxlen:
            wait = max(wait, self._sent[0] + _WINDOW_SECONDS - now)
        return wait

    async def acquire(self) -> None:
        """Wait until one more request fits the budget, then count it as sent."""
        # Holding the lock while sleeping keeps concurrent callers first-come, first-served.
        async with self._lock:
            while (wait := self._wait_needed(self._clock())) > _EPSILON:
                self.waited += wait
                await self._sleep(wait)
            self._tokens -= 1.0
            self._sent.append(self._updated)
