"""A sliding-window rate limiter, per API key, like Laravel's throttle middleware."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["Decision", "SlidingWindow"]

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, what is left, and (when refused) seconds until a slot frees."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0


class SlidingWindow:
    """Counts admitted requests per key over the last 60 seconds; refused requests do not count."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float, limit: int) -> Decision:
        """Admit one request for `key` at `now` if fewer than `limit` passed in the window."""
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= limit:
            # The slot frees when the oldest hit inside the window ages out.
            oldest = hits[len(hits) - limit] if limit > 0 else now
            wait = max(1, math.ceil(oldest + WINDOW_S - now))
            return Decision(False, limit, 0, wait)
        hits.append(now)
        return Decision(True, limit, limit - len(hits))
