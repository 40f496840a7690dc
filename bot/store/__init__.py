"""What syncbot remembers, in SQLite by default or PostgreSQL for replicas.

The store is repositories (entries, digest messages, resyncs, audit, leases, meta, Slack effects)
over one unit of work: `async with store.unit_of_work() as uow:` opens a transaction, and every
read and write made through `uow` commits together at the end of the block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store import migrations
from bot.store.budget import BudgetWindow, account_key
from bot.store.rows import AuditRow, Claim, EffectRow, EntryRow, MessageRow, ResyncRow, utcnow
from bot.store.uow import UnitOfWork

__all__ = [
    "AuditRow",
    "Claim",
    "EffectRow",
    "EntryRow",
    "MessageRow",
    "ResyncRow",
    "Store",
    "UnitOfWork",
]


class Store:
    """The database: opened once, used through units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            # Several tasks share one file: wait for the writer instead of failing at once.
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_async_engine(url, **kwargs)
        store = cls(engine)
        try:
            await store.migrate()
        except BaseException:
            await engine.dispose()
            raise
        return store

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL, where replicas may share the database."""
        return self._engine.dialect.name == "postgresql"

    def patchworks_budget(self, api_key: str) -> BudgetWindow:
        """The Patchworks account's request window as every replica on this database spends it."""
        return BudgetWindow(self._engine, account_key(api_key))

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self, now: datetime | None = None) -> AsyncIterator[UnitOfWork]:
        """One transaction: everything done through the yielded object commits together."""
        async with self._engine.begin() as conn:
            yield UnitOfWork(conn, now or utcnow())

    async def migrate(self) -> str:
        """Apply the migrations this database has not seen; returns the revision it is at.

        One transaction: a migration that fails leaves the database as it was. Replicas starting
        together take turns, and whoever comes second finds nothing left to do."""
        async with migrations.one_at_a_time(), self._engine.begin() as conn:
            if self.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(727401)"))
            elif conn.dialect.name == "sqlite":
                # The driver leaves DDL outside transactions unless one is open: open it now, and
                # with it the write lock a second process on the same file waits for.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            return await conn.run_sync(migrations.upgrade)
