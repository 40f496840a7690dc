"""Shared in-flight reads: identical GETs in flight at once are one request with many waiters.

The first caller starts the read in its own task; callers asking for the same key while it is in
flight wait for that task instead of sending their own request. Everyone gets the same answer,
or the same error. Nothing is kept after the read completes: the next caller sends a new one.

A waiter of a higher lane lifts the read's turn to its lane (Turn.raise_to), so a person joining
a poll's read that is still queued is not stuck behind the poll lane. The read goes on while any
waiter still wants it; when the last one is cancelled, it is cancelled too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from bot.patchworks._pacer import Turn
from bot.patchworks.lanes import Lane

__all__ = ["SharedReads"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("task", "turn", "waiters")

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.waiters = 0
        self.task: asyncio.Task[T] | None = None


class SharedReads(Generic[T]):
    """Single-flight by key: one read for all concurrent callers of the same key."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        """Reads in flight now."""
        return len(self._flights)

    async def read(self, key: Hashable, lane: Lane, fetch: Callable[[Turn], Awaitable[T]]) -> T:
        """`fetch(turn)`'s result, shared with every caller of `key` while it is in flight."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight[T](Turn(lane))
            self._flights[key] = flight
            flight.task = asyncio.create_task(self._lead(key, flight, fetch))
        else:
            flight.turn.raise_to(lane)
        task = flight.task
        assert task is not None
        flight.waiters += 1
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                flight.waiters -= 1
                if flight.waiters == 0:
                    # Nobody wants it any more; a later caller starts afresh.
                    self._forget(key, flight)
                    task.cancel()
            raise

    async def _lead(self, key: Hashable, flight: _Flight[T], fetch: Callable[[Turn], Awaitable[T]]) -> T:
        try:
            return await fetch(flight.turn)
        finally:
            # Forgotten as it completes, inside the task: no caller can join a finished read.
            self._forget(key, flight)

    def _forget(self, key: Hashable, flight: _Flight[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
