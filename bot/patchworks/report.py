"""The one port between syncbot and a sync report. The Core API adapter implements it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.patchworks.models import ErrorLine, Flow, SyncEntry

__all__ = ["SyncReport", "pages_around"]

# Margin around a batch's start times when it is re-read: Patchworks' filters are in milliseconds.
_EDGE = timedelta(seconds=1)


class SyncReport(Protocol):
    """Read failed entries, their details, and resync them."""

    def failed_pages(
        self, since: datetime, *, until: datetime | None = None, search: str | None = None
    ) -> AsyncIterator[list[SyncEntry]]:
        """Failed entries started at or after `since`, oldest first, one page at a time."""
        ...

    async def entry(self, run_id: int) -> SyncEntry:
        """One entry with its flow and error lines, read fresh."""
        ...

    async def error_lines(self, run_id: int) -> list[ErrorLine]:
        """All error and warning lines of a run's log."""
        ...

    async def flow(self, flow_id: int) -> Flow:
        """A flow's name and whether it is enabled."""
        ...

    async def resync(self, run_id: int) -> int:
        """Retry a run; returns the id of the new run."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def pages_around(report: SyncReport, starts: Sequence[datetime]) -> AsyncIterator[list[SyncEntry]]:
    """The failed-run report across these start times (not empty), one page at a time: one read
    re-checks a batch of runs, about a request per 100 of them."""
    return report.failed_pages(min(starts) - _EDGE, until=max(starts) + _EDGE)
