"""Reading the store the way tests check it: short helpers over one unit of work each."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store import AuditRow, Claim, ResyncRow, Store

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


async def audit_rows(store: Store, since: datetime = LONG_AGO) -> list[AuditRow]:
    """Every audit line since `since`, oldest first."""
    async with store.unit_of_work() as uow:
        return await uow.audit.since(since)


async def resync_of(store: Store, run_id: int) -> ResyncRow | None:
    """The resync request of a run, if any."""
    async with store.unit_of_work() as uow:
        return await uow.resyncs.for_run(run_id)


async def claim(store: Store, run_id: int, user_id: str) -> Claim:
    """Claim a run for resync in a transaction of its own."""
    async with store.unit_of_work() as uow:
        return await uow.resyncs.claim(run_id, user_id, run_id)
