"""Counts for GET /metrics, read from the store at scrape time: a few aggregate queries, no rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import JobState
from bot.states import Placement, ResyncOutcome
from bot.store.causes import OPEN_STATES
from bot.store.tables import bulk_jobs_table, entries_table, resyncs_table

__all__ = ["StatsRepo"]

_e = entries_table.c
_OUTCOMES = frozenset(outcome.value for outcome in ResyncOutcome)
_JOB_STATES = frozenset(state.value for state in JobState)


class StatsRepo:
    """Aggregates over the mirror: open causes, resyncs by outcome, bulk jobs by state."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def open_causes(self) -> int:
        """Causes shown in a digest that still have a failed run (failed, failed again or error)."""
        count = await self._conn.scalar(
            select(func.count(func.distinct(_e.cause_id))).where(
                and_(
                    _e.placement == Placement.MESSAGE.value,
                    _e.state.in_(OPEN_STATES),
                    _e.cause_id.is_not(None),
                )
            )
        )
        return int(count or 0)

    async def resyncs_by_outcome(self) -> dict[ResyncOutcome, int]:
        """Resynced runs by where they are now; every outcome is present, 0 when none."""
        rows = await self._conn.execute(
            select(resyncs_table.c.outcome, func.count()).group_by(resyncs_table.c.outcome)
        )
        counts = dict.fromkeys(ResyncOutcome, 0)
        for outcome, count in rows.all():
            if outcome in _OUTCOMES:  # a value from a newer version is not this version's to show
                counts[ResyncOutcome(outcome)] = int(count)
        return counts

    async def bulk_jobs_by_state(self) -> dict[JobState, int]:
        """Bulk resync jobs by state; every state is present, 0 when none."""
        rows = await self._conn.execute(
            select(bulk_jobs_table.c.state, func.count()).group_by(bulk_jobs_table.c.state)
        )
        counts = dict.fromkeys(JobState, 0)
        for state, count in rows.all():
            if state in _JOB_STATES:
                counts[JobState(state)] = int(count)
        return counts
