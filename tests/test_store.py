"""The store: schema versions, upgrades of older databases, idempotent claims, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from support.store import claim

from bot.patchworks.models import Flow, RunStatus, SyncEntry
from bot.store import Store
from bot.store.tables import MIGRATIONS, SCHEMA_VERSION, entries_table, meta_table


def entry(run_id: int) -> SyncEntry:
    return SyncEntry(
        run_id=run_id, status=RunStatus.FAILURE, flow=Flow(id=1, name="Shopify > NetSuite: Orders")
    )


async def test_a_database_written_by_an_older_version_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(url)
    async with engine.begin() as conn:  # what version 1 of syncbot left behind
        await conn.run_sync(MIGRATIONS[0])
        await conn.execute(insert(meta_table).values(key="schema_version", value="1"))
        await conn.execute(
            insert(entries_table).values(
                run_id=7,
                current_run_id=7,
                flow_name="Old flow",
                placement="overflow",
                snapshot=entry(7).model_dump_json(),
                state="failed",
                created_at=datetime.now(UTC),
            )
        )
    await engine.dispose()

    store = await Store.open(url)
    try:
        async with store.unit_of_work() as uow:
            assert await uow.meta.get("schema_version") == str(SCHEMA_VERSION)
            assert await uow.entries.known_run_ids([7, 8]) == {7}
            await uow.audit.append(user_id="U1", action="resync", run_ids=[7], result="queued")
        async with store.unit_of_work() as uow:
            assert len(await uow.audit.since(datetime.now(UTC) - timedelta(minutes=1))) == 1
    finally:
        await store.close()


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
    store = await Store.open(url)
    async with store.unit_of_work() as uow:
        await uow.meta.set("schema_version", str(SCHEMA_VERSION + 1))
    await store.close()
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(url)
