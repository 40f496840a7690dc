"""Who is waiting for a Patchworks call, and what is left of the account's budget.

Every Patchworks request spends one request of the account's per-minute budget. When the
budget is spent, the call a person is waiting for goes before background work: callers wrap
their work in `patchworks_lane(...)` and every Patchworks call made inside it (in this task and
in tasks it starts) waits in that lane. Without a lane, a call is background work (POLL).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

__all__ = ["Budget", "Lane", "current_lane", "lane_outranks", "patchworks_lane"]


class Lane(StrEnum):
    """Who waits for a call, highest priority first. When a slot of the budget frees, the first
    call of the highest non-empty lane goes; within a lane, calls go in the order they came.

    A lower lane waits for as long as higher lanes have calls waiting: polls may wait while
    people act (there are never many people acting at once, and each action is a few calls).
    """

    RESYNC = "resync"  # a person's single resync: the retry and the reads that check it first
    DETAILS = "details"  # a person opening Details
    BULK = "bulk"  # a person's bulk resync: many calls, so below a single click
    POLL = "poll"  # polls, backfills, listings' Patchworks reads, follow-ups: nobody is watching


_RANK: Mapping[Lane, int] = {lane: rank for rank, lane in enumerate(Lane)}

# Lanes whose calls may use the slots kept free for people acting one click at a time.
INTERACTIVE = frozenset({Lane.RESYNC, Lane.DETAILS})


def lane_outranks(lane: Lane, other: Lane) -> bool:
    """Whether `lane` goes before `other`."""
    return _RANK[lane] < _RANK[other]


_lane: ContextVar[Lane] = ContextVar("patchworks_lane")


def current_lane() -> Lane:
    """The lane Patchworks calls made here wait in (POLL unless a caller chose one)."""
    return _lane.get(Lane.POLL)


@contextmanager
def patchworks_lane(lane: Lane, *, unless_chosen: bool = False) -> Iterator[Lane]:
    """Make the Patchworks calls in this block wait in `lane`.

    With `unless_chosen`, a lane an enclosing block chose wins (a bulk job's single resyncs stay
    bulk work). Yields the lane in effect.
    """
    if unless_chosen and (chosen := _lane.get(None)) is not None:
        yield chosen
        return
    token = _lane.set(lane)
    try:
        yield lane
    finally:
        _lane.reset(token)


@dataclass(frozen=True)
class Budget:
    """The Patchworks request budget as syncbot spends it, for metrics and App Home."""

    limit: int  # requests allowed in any window (PATCHWORKS_REQUESTS_PER_MINUTE)
    used_in_window: int  # requests sent in the last window
    reserve: int  # slots of the window only RESYNC and DETAILS may use
    window_seconds: float
    paused_for: float = 0.0  # seconds left of a pause Patchworks asked for (429 + Retry-After)
    paused_until: datetime | None = None  # when that pause ends (UTC), None when not paused
    waiting: Mapping[Lane, int] = field(default_factory=lambda: MappingProxyType({}))  # calls queued
    shared_reads: int = 0  # identical reads in flight now, each sent once for all its waiters

    @property
    def available(self) -> int:
        """Requests that could go at once (to a person's lane), ignoring a pause."""
        return max(0, self.limit - self.used_in_window)
