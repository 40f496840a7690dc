"""Resync requests: one row per retried run, claimed once, then followed to its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import Attempt
from bot.states import ResyncOutcome
from bot.store.dialect import insert_ignoring_conflicts
from bot.store.rows import Claim, ResyncRow, cut, resync_row
from bot.store.tables import resyncs_table

__all__ = ["ResyncRepo"]


class ResyncRepo:
    """Claim, record and read resync requests."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def claim(self, run_id: int, user_id: str, entry_run_id: int | None) -> Claim:
        """Claim a run for resync: only one claimer wins, whoever and wherever they are.

        A run nobody claimed gets a new row; a run whose last attempt ended in error is taken
        over by one atomic UPDATE, so of many racing claimers exactly one sees a changed row.
        """
        values = {
            "run_id": run_id,
            "entry_run_id": entry_run_id,
            "requested_by": user_id,
            "requested_at": self._now,
            "outcome": ResyncOutcome.REQUESTED.value,
        }
        created = await self._conn.execute(
            insert_ignoring_conflicts(self._conn, resyncs_table, ["run_id"], values)
        )
        won = bool(created.rowcount)
        if not won:
            taken = await self._conn.execute(
                update(resyncs_table)
                .where(
                    and_(
                        resyncs_table.c.run_id == run_id,
                        resyncs_table.c.outcome == ResyncOutcome.ERROR.value,
                    )
                )
                .values(**values, new_run_id=None, detail=None, finished_at=None)
            )
            won = bool(taken.rowcount)
        row = await self.for_run(run_id)
        if row is None:
            # Only a concurrent release between our two statements can get here: nobody holds it.
            return await self.claim(run_id, user_id, entry_run_id)
        return Claim(created=won, resync=row)

    async def for_run(self, run_id: int) -> ResyncRow | None:
        """The resync request for a run, if anyone made one."""
        found = await self._conn.execute(select(resyncs_table).where(resyncs_table.c.run_id == run_id))
        row = found.first()
        return None if row is None else resync_row(row)

    async def for_runs(self, run_ids: Sequence[int]) -> dict[int, ResyncRow]:
        """The resync requests of these runs, keyed by run id."""
        if not run_ids:
            return {}
        rows = await self._conn.execute(
            select(resyncs_table).where(resyncs_table.c.run_id.in_(list(run_ids)))
        )
        return {row.run_id: row for row in (resync_row(r) for r in rows)}

    async def record(
        self,
        run_id: int,
        outcome: ResyncOutcome,
        *,
        new_run_id: int | None = None,
        detail: str | None = None,
        user_id: str | None = None,
        entry_run_id: int | None = None,
    ) -> None:
        """Write what became of a run's resync; Patchworks' word wins even over a freed claim."""
        values: dict[str, Any] = {"outcome": outcome.value, "detail": cut(detail)}
        if new_run_id is not None:
            values["new_run_id"] = new_run_id
        values["finished_at"] = self._now if outcome.finished else None
        changed = await self._conn.execute(
            update(resyncs_table).where(resyncs_table.c.run_id == run_id).values(**values)
        )
        if not changed.rowcount:
            # The claim was freed meanwhile (a reconcile found no retry yet, then the answer came).
            await self._conn.execute(
                insert(resyncs_table).values(
                    run_id=run_id,
                    entry_run_id=entry_run_id,
                    requested_by=user_id or "unknown",
                    requested_at=self._now,
                    **values,
                )
            )

    async def settle(
        self, run_id: int, outcome: ResyncOutcome, *, new_run_id: int | None, detail: str | None
    ) -> bool:
        """Move a claim still `requested` to `outcome`; False when someone settled it first."""
        settled = await self._conn.execute(
            update(resyncs_table)
            .where(
                and_(
                    resyncs_table.c.run_id == run_id,
                    resyncs_table.c.outcome == ResyncOutcome.REQUESTED.value,
                )
            )
            .values(
                outcome=outcome.value,
                new_run_id=new_run_id,
                detail=cut(detail),
                finished_at=self._now if outcome.finished else None,
            )
        )
        return bool(settled.rowcount)

    async def release(self, run_id: int) -> bool:
        """Free a claim whose retry never ran, so the run can be resynced again."""
        released = await self._conn.execute(
            delete(resyncs_table).where(
                and_(
                    resyncs_table.c.run_id == run_id,
                    resyncs_table.c.outcome == ResyncOutcome.REQUESTED.value,
                )
            )
        )
        return bool(released.rowcount)

    async def requested_before(self, older_than: datetime, limit: int = 100) -> list[ResyncRow]:
        """Claims still `requested` since before `older_than`: their process died or gave up."""
        rows = await self._conn.execute(
            select(resyncs_table)
            .where(
                and_(
                    resyncs_table.c.outcome == ResyncOutcome.REQUESTED.value,
                    resyncs_table.c.requested_at < older_than,
                )
            )
            .order_by(resyncs_table.c.id)
            .limit(limit)
        )
        return [resync_row(row) for row in rows]

    async def queued(self, limit: int = 500) -> list[ResyncRow]:
        """Resyncs whose new run has not ended yet, oldest first."""
        rows = await self._conn.execute(
            select(resyncs_table)
            .where(resyncs_table.c.outcome == ResyncOutcome.QUEUED.value)
            .order_by(resyncs_table.c.id)
            .limit(limit)
        )
        return [resync_row(row) for row in rows]

    async def attempts(self, entry_run_id: int) -> list[Attempt]:
        """Resync history of an entry, oldest first."""
        rows = await self._conn.execute(
            select(resyncs_table)
            .where(resyncs_table.c.entry_run_id == entry_run_id)
            .order_by(resyncs_table.c.id)
        )
        return [
            Attempt(
                run_id=row.run_id,
                new_run_id=row.new_run_id,
                by_user=row.requested_by,
                at=row.requested_at,
                state=ResyncOutcome(row.outcome).entry_state,
            )
            for row in rows
        ]
