"""The store: idempotent claims, leases, a schema newer than the code (more in test_migrations.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support.store import claim

from bot.store import Store


async def test_only_one_of_many_concurrent_claims_wins(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        claims = await asyncio.gather(*(claim(store, 42, f"U{i}") for i in range(10)))
        winners = [claim for claim in claims if claim.created]
        assert len(winners) == 1
        assert {claim.resync.requested_by for claim in claims} == {winners[0].resync.requested_by}
    finally:
        await store.close()


async def test_a_lease_is_held_by_one_holder_until_it_expires(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}")
    now = datetime.now(UTC)
    try:
        async with store.unit_of_work() as uow:
            assert await uow.leases.acquire("poller", "a", now + timedelta(seconds=30))
            assert not await uow.leases.acquire("poller", "b", now + timedelta(seconds=30))
            assert await uow.leases.acquire("poller", "a", now + timedelta(seconds=60))  # renewal
            await uow.leases.release("poller", "a")
            assert await uow.leases.acquire("poller", "b", now + timedelta(seconds=30))
    finally:
        await store.close()


async def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    await (await Store.open(url)).close()
    engine = create_async_engine(url)
    async with engine.begin() as conn:  # as a newer syncbot would leave it
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    await engine.dispose()
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(url)
