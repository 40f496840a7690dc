"""Bulk resync jobs: proposed with their runs, started once, worked run by run, finished once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import BulkProgress, JobState
from bot.states import JobRunState
from bot.store.rows import cut
from bot.store.tables import bulk_job_runs_table, bulk_jobs_table

__all__ = ["JobRepo", "JobRow", "JobRunRow"]

_jobs = bulk_jobs_table
_runs = bulk_job_runs_table
# Rows inserted per statement: well under SQLite's and asyncpg's bound-parameter limits.
_INSERT_CHUNK = 500


@dataclass(frozen=True)
class JobRow:
    """A bulk resync job."""

    id: int
    state: JobState
    user_id: str
    message_id: int | None
    channel: str | None
    total: int
    cancelled_by: str | None
    cause_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobRunRow:
    """One run of a job, and how the job ended with it."""

    run_id: int
    position: int
    state: JobRunState
    reason: str | None
    new_run_id: int | None


def _job(row: Any) -> JobRow:
    return JobRow(
        id=row.id,
        state=JobState(row.state),
        user_id=row.user_id,
        message_id=row.message_id,
        channel=row.channel,
        total=row.total,
        cancelled_by=row.cancelled_by,
        cause_id=row.cause_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _run(row: Any) -> JobRunRow:
    return JobRunRow(
        run_id=row.run_id,
        position=row.position,
        state=JobRunState(row.state),
        reason=row.reason,
        new_run_id=row.new_run_id,
    )


class JobRepo:
    """Create, start, work and read bulk resync jobs."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def propose(
        self,
        user_id: str,
        run_ids: Sequence[int],
        *,
        message_id: int | None,
        channel: str | None,
        cause_id: str | None = None,
    ) -> int:
        """A new job for `run_ids` (in order, no duplicates) that runs once it is started."""
        runs = list(dict.fromkeys(run_ids))
        job_id = await self._conn.scalar(
            insert(_jobs)
            .values(
                state=JobState.PROPOSED.value,
                user_id=user_id,
                message_id=message_id,
                channel=channel,
                cause_id=cause_id,
                total=len(runs),
                created_at=self._now,
            )
            .returning(_jobs.c.id)
        )
        assert job_id is not None
        rows = [
            {"job_id": job_id, "run_id": run_id, "position": position, "state": JobRunState.PENDING.value}
            for position, run_id in enumerate(runs)
        ]
        for start in range(0, len(rows), _INSERT_CHUNK):
            await self._conn.execute(insert(_runs), rows[start : start + _INSERT_CHUNK])
        return int(job_id)

    async def get(self, job_id: int) -> JobRow | None:
        """One job."""
        row = (await self._conn.execute(select(_jobs).where(_jobs.c.id == job_id))).first()
        return _job(row) if row is not None else None

    async def start(self, job_id: int, user_id: str) -> bool:
        """Start a proposed job of `user_id`; False when it was started already or is not theirs.

        One atomic UPDATE: a confirmation Slack delivers twice starts the job once.
        """
        started = await self._conn.execute(
            update(_jobs)
            .where(
                and_(
                    _jobs.c.id == job_id,
                    _jobs.c.user_id == user_id,
                    _jobs.c.state == JobState.PROPOSED.value,
                )
            )
            .values(state=JobState.RUNNING.value, started_at=self._now)
        )
        return bool(started.rowcount)

    async def cancel(self, job_id: int, by_user: str) -> bool:
        """Stop a running job: its runs not retried yet are never retried. False when not running."""
        cancelled = await self._conn.execute(
            update(_jobs)
            .where(and_(_jobs.c.id == job_id, _jobs.c.state == JobState.RUNNING.value))
            .values(state=JobState.CANCELLED.value, cancelled_by=by_user, finished_at=self._now)
        )
        if not cancelled.rowcount:
            return False
        await self._conn.execute(
            update(_runs)
            .where(and_(_runs.c.job_id == job_id, _runs.c.state == JobRunState.PENDING.value))
            .values(state=JobRunState.CANCELLED.value)
        )
        return True

    async def finish(self, job_id: int) -> bool:
        """Mark a running job done once none of its runs is pending; False otherwise."""
        pending = await self._conn.scalar(
            select(func.count())
            .select_from(_runs)
            .where(and_(_runs.c.job_id == job_id, _runs.c.state == JobRunState.PENDING.value))
        )
        if pending:
            return False
        done = await self._conn.execute(
            update(_jobs)
            .where(and_(_jobs.c.id == job_id, _jobs.c.state == JobState.RUNNING.value))
            .values(state=JobState.DONE.value, finished_at=self._now)
        )
        return bool(done.rowcount)

    async def running(self) -> list[JobRow]:
        """Jobs started and not finished, oldest first."""
        rows = await self._conn.execute(
            select(_jobs).where(_jobs.c.state == JobState.RUNNING.value).order_by(_jobs.c.id)
        )
        return [_job(row) for row in rows]

    async def pending(self, job_id: int, *, after: int, limit: int | None) -> list[JobRunRow]:
        """The job's pending runs past position `after`, in order (all of them with no limit)."""
        rows = await self._conn.execute(
            select(_runs)
            .where(
                and_(
                    _runs.c.job_id == job_id,
                    _runs.c.state == JobRunState.PENDING.value,
                    _runs.c.position > after,
                )
            )
            .order_by(_runs.c.position)
            .limit(limit)
        )
        return [_run(row) for row in rows]

    async def runs(self, job_id: int) -> list[JobRunRow]:
        """Every run of a job, in order."""
        rows = await self._conn.execute(
            select(_runs).where(_runs.c.job_id == job_id).order_by(_runs.c.position)
        )
        return [_run(row) for row in rows]

    async def settle_run(
        self,
        job_id: int,
        run_id: int,
        state: JobRunState,
        *,
        reason: str | None = None,
        new_run_id: int | None = None,
    ) -> None:
        """Record how the job ended with one run (a retry in flight when the job was cancelled
        still records what really happened to it)."""
        await self._conn.execute(
            update(_runs)
            .where(and_(_runs.c.job_id == job_id, _runs.c.run_id == run_id))
            .values(state=state.value, reason=cut(reason), new_run_id=new_run_id)
        )

    async def includes(self, run_id: int) -> bool:
        """Whether a bulk job retried this run."""
        found = await self._conn.scalar(
            select(_runs.c.job_id)
            .where(and_(_runs.c.run_id == run_id, _runs.c.state == JobRunState.QUEUED.value))
            .limit(1)
        )
        return found is not None

    async def progress(self, job: JobRow) -> BulkProgress:
        """How far a job got, counted from its runs."""
        rows = await self._conn.execute(
            select(_runs.c.state, func.count()).where(_runs.c.job_id == job.id).group_by(_runs.c.state)
        )
        counts = {JobRunState(state): int(count) for state, count in rows}
        return BulkProgress(
            job_id=job.id,
            state=job.state,
            by_user=job.user_id,
            total=job.total,
            queued=counts.get(JobRunState.QUEUED, 0),
            skipped=counts.get(JobRunState.SKIPPED, 0),
            failed=counts.get(JobRunState.FAILED, 0),
            cancelled_by=job.cancelled_by,
        )

    async def latest_for_cause(self, message_id: int, cause_id: str) -> JobRow | None:
        """The newest job started for a cause of a digest message (proposals not counted)."""
        row = (
            await self._conn.execute(
                select(_jobs)
                .where(
                    and_(
                        _jobs.c.message_id == message_id,
                        _jobs.c.cause_id == cause_id,
                        _jobs.c.state != JobState.PROPOSED.value,
                    )
                )
                .order_by(_jobs.c.id.desc())
                .limit(1)
            )
        ).first()
        return _job(row) if row is not None else None

    async def latest_for_message(self, message_id: int) -> JobRow | None:
        """The newest job of selected entries started from a digest message (not a cause's)."""
        row = (
            await self._conn.execute(
                select(_jobs)
                .where(
                    and_(
                        _jobs.c.message_id == message_id,
                        _jobs.c.cause_id.is_(None),
                        _jobs.c.state != JobState.PROPOSED.value,
                    )
                )
                .order_by(_jobs.c.id.desc())
                .limit(1)
            )
        ).first()
        return _job(row) if row is not None else None

    async def prune_proposals(self, before: datetime) -> int:
        """Forget confirmations opened before `before` and never submitted; returns how many."""
        stale = select(_jobs.c.id).where(
            and_(_jobs.c.state == JobState.PROPOSED.value, _jobs.c.created_at < before)
        )
        await self._conn.execute(delete(_runs).where(_runs.c.job_id.in_(stale)))
        deleted = await self._conn.execute(delete(_jobs).where(_jobs.c.id.in_(stale)))
        return int(deleted.rowcount)
