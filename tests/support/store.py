"""Reading the store the way tests check it: short helpers over one unit of work each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.store import AuditRow, Claim, ResyncRow, Store
from support.harness import pg_database

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


@asynccontextmanager
async def open_store(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store on SQLite or on a fresh PostgreSQL database ("sqlite" or "postgres")."""
    async with AsyncExitStack() as stack:
        if backend == "postgres":
            url = await stack.enter_async_context(pg_database())
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        store = await Store.open(url)
        try:
            yield store
        finally:
            await store.close()
