"""One transaction over the store: a state change and the Slack effects it causes commit together.

    async with store.unit_of_work() as uow:
        await uow.record_resync(run_id, ResyncOutcome.QUEUED, new_run_id=new_run)
        await uow.set_outcome(entry_run_id, outcome)
        await uow.refresh_later(message_id)

Either all of it is in the database after the block, or none of it is; the effects are then
delivered from the outbox (`bot.effects`), by this process or, after a crash, by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import Outcome
from bot.patchworks.models import SyncEntry
from bot.rows import Claim, EffectRow, EntryRow, ResyncRow, effect_row, resync_row
from bot.states import EffectKind, EffectState, ResyncOutcome
from bot.tables import audit_table, effects_table, entries_table, resyncs_table

__all__ = ["UnitOfWork"]

# Audit details and error texts are kept whole up to this size; longer ones are cut.
_DETAIL_CHARS = 2000


class UnitOfWork:
    """The writes of one state change, on one open transaction."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self.now = now

    # -- resync claims -----------------------------------------------------------------------

    async def claim_resync(self, run_id: int, user_id: str, entry_run_id: int | None) -> Claim:
        """Claim a run for resync: only one claimer wins, whoever and wherever they are.

        A run nobody claimed gets a new row; a run whose last attempt ended in error is taken
        over by one atomic UPDATE, so of many racing claimers exactly one sees a changed row.
        """
        values = {
            "run_id": run_id,
            "entry_run_id": entry_run_id,
            "requested_by": user_id,
            "requested_at": self.now,
            "outcome": ResyncOutcome.REQUESTED.value,
        }
        created = await self._conn.execute(self._insert_if_absent(values))
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
        row = await self.resync_for_run(run_id)
        if row is None:
            # Only a concurrent release between our two statements can get here: nobody holds it.
            return await self.claim_resync(run_id, user_id, entry_run_id)
        return Claim(created=won, resync=row)

    def _insert_if_absent(self, values: dict[str, Any]) -> Any:
        dialect = self._conn.dialect.name
        builder = pg_insert if dialect == "postgresql" else sqlite_insert
        return builder(resyncs_table).values(**values).on_conflict_do_nothing(index_elements=["run_id"])

    async def resync_for_run(self, run_id: int) -> ResyncRow | None:
        """The resync request for a run, if anyone made one."""
        found = await self._conn.execute(select(resyncs_table).where(resyncs_table.c.run_id == run_id))
        row = found.first()
        return None if row is None else resync_row(row)

    async def record_resync(
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
        values: dict[str, Any] = {"outcome": outcome.value, "detail": _cut(detail)}
        if new_run_id is not None:
            values["new_run_id"] = new_run_id
        values["finished_at"] = self.now if outcome.finished else None
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
                    requested_at=self.now,
                    **values,
                )
            )

    async def settle_claim(
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
                detail=_cut(detail),
                finished_at=self.now if outcome.finished else None,
            )
        )
        return bool(settled.rowcount)

    async def release_claim(self, run_id: int) -> bool:
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

    # -- entries -----------------------------------------------------------------------------

    async def set_outcome(
        self, entry_run_id: int, outcome: Outcome, *, current: SyncEntry | None = None
    ) -> None:
        """Write what happened to an entry; `current` replaces its run when it failed again."""
        values: dict[str, Any] = {
            "state": outcome.state.value,
            "by_user": outcome.by_user,
            "state_at": outcome.at,
            "new_run_id": outcome.new_run_id,
            "detail": outcome.detail,
        }
        if current is not None:
            values["current_run_id"] = current.run_id
            values["snapshot"] = current.model_dump_json()
        await self._conn.execute(
            update(entries_table).where(entries_table.c.run_id == entry_run_id).values(**values)
        )

    async def show_outcome(
        self,
        entry: EntryRow,
        outcome: ResyncOutcome,
        *,
        by_user: str,
        new_run_id: int | None,
        detail: str | None,
        current: SyncEntry | None = None,
    ) -> Outcome:
        """Write a resync's outcome into its entry and rewrite the digest showing it; returns it."""
        shown = Outcome(
            state=outcome.entry_state, by_user=by_user, at=self.now, new_run_id=new_run_id, detail=detail
        )
        await self.set_outcome(entry.run_id, shown, current=current)
        if entry.message_id is not None:
            await self.refresh_later(entry.message_id)
        return shown

    # -- audit -------------------------------------------------------------------------------

    async def audit(
        self, *, user_id: str, action: str, run_ids: Sequence[int], result: str, detail: str | None = None
    ) -> None:
        """Append one line to the audit log."""
        await self._conn.execute(
            insert(audit_table).values(
                at=self.now,
                user_id=user_id,
                action=action,
                run_ids=",".join(str(run) for run in run_ids),
                result=result,
                detail=_cut(detail),
            )
        )

    # -- Slack effects -----------------------------------------------------------------------

    async def refresh_later(self, message_id: int) -> None:
        """Rewrite this digest from the store once the transaction has committed."""
        await self._effect(EffectKind.REFRESH, message_id, None)

    async def reply_later(self, message_id: int, text: str, blocks: list[dict[str, Any]] | None) -> None:
        """Post this note in the digest's thread once the transaction has committed."""
        await self._effect(EffectKind.REPLY, message_id, json.dumps({"text": text, "blocks": blocks}))

    async def claim_effects(self, limit: int, stale_before: datetime) -> list[EffectRow]:
        """Take up to `limit` pending effects for this process to deliver, oldest first.

        Effects another process claimed before `stale_before` are taken back first: that
        process died between claiming and finishing them.
        """
        await self._conn.execute(
            update(effects_table)
            .where(
                and_(
                    effects_table.c.state == EffectState.DELIVERING.value,
                    effects_table.c.claimed_at < stale_before,
                )
            )
            .values(state=EffectState.PENDING.value)
        )
        oldest = (
            select(effects_table.c.id)
            .where(effects_table.c.state == EffectState.PENDING.value)
            .order_by(effects_table.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        claimed = await self._conn.execute(
            update(effects_table)
            .where(and_(effects_table.c.id.in_(oldest), effects_table.c.state == EffectState.PENDING.value))
            .values(
                state=EffectState.DELIVERING.value,
                claimed_at=self.now,
                attempts=effects_table.c.attempts + 1,
            )
            .returning(*effects_table.c)
        )
        return sorted((effect_row(row) for row in claimed), key=lambda effect: effect.id)

    async def finish_effects(self, ids: Sequence[int], state: EffectState, error: str | None = None) -> None:
        """Mark claimed effects delivered, failed for good, or pending for another try."""
        if ids:
            await self._conn.execute(
                update(effects_table)
                .where(effects_table.c.id.in_(list(ids)))
                .values(state=state.value, last_error=_cut(error), claimed_at=None)
            )

    async def _effect(self, kind: EffectKind, message_id: int, body: str | None) -> None:
        await self._conn.execute(
            insert(effects_table).values(
                kind=kind.value,
                message_id=message_id,
                body=body,
                state=EffectState.PENDING.value,
                attempts=0,
                created_at=self.now,
            )
        )


def _cut(text: str | None) -> str | None:
    return None if text is None else text[:_DETAIL_CHARS]
