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

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.rows import AuditRow, Claim, EffectRow, EntryRow, MessageRow, ResyncRow, utcnow
from bot.store.tables import MIGRATIONS, SCHEMA_VERSION, meta_table
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

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self, now: datetime | None = None) -> AsyncIterator[UnitOfWork]:
        """One transaction: everything done through the yielded object commits together."""
        async with self._engine.begin() as conn:
            yield UnitOfWork(conn, now or utcnow())

    async def migrate(self) -> int:
        """Apply the migrations this database has not seen; returns the version it is at."""
        async with self._engine.begin() as conn:
            if self.is_postgres:
                # Replicas starting together must not migrate twice.
                await conn.execute(text("SELECT pg_advisory_xact_lock(727401)"))
            await conn.run_sync(lambda sync: meta_table.create(sync, checkfirst=True))
            found = await conn.scalar(select(meta_table.c.value).where(meta_table.c.key == "schema_version"))
            version = int(found) if found else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema version {version} is newer than this syncbot ({SCHEMA_VERSION})"
                )
            for step in MIGRATIONS[version:]:
                await conn.run_sync(step)
            if found is None:
                await conn.execute(insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif version != SCHEMA_VERSION:
                await conn.execute(
                    update(meta_table)
                    .where(meta_table.c.key == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )
        return SCHEMA_VERSION
