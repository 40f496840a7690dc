"""Migrations: whatever a database started from (nothing, any revision, a schema version from before
Alembic), `Store.open` leaves it at the newest revision, with its data, and exactly the schema of
bot/store/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from support.harness import pg_database

from bot.store import Store, migrations
from bot.store.tables import metadata

T = TypeVar("T")
NewDatabase = Callable[[], Awaitable[str]]

HEAD = migrations.head()

# ---- the schema as the code before Alembic created it -----------------------------------------
# A frozen copy of the tables of that time (bot/store.py and bot/tables.py, schema versions 1-3),
# created the way the old steps did: `table.create(checkfirst=True)`, then the schema_version row.

_legacy = sa.MetaData()
L_META = sa.Table(
    "syncbot_meta",
    _legacy,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
L_MESSAGES = sa.Table(
    "digest_messages",
    _legacy,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("ts", sa.String(32), nullable=True),
    sa.Column("poll_id", sa.String(40), nullable=False, index=True),
    sa.Column("part", sa.Integer, nullable=False, default=1),
    sa.Column("parts", sa.Integer, nullable=False, default=1),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("overflow", sa.Integer, nullable=False, default=0),
    sa.Column("overflow_flows", sa.Text, nullable=False, default="[]"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("posting_at", sa.DateTime, nullable=True),
    sa.Column("posted_at", sa.DateTime, nullable=True),
)
L_ENTRIES = sa.Table(
    "entries",
    _legacy,
    sa.Column("run_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("current_run_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("flow_name", sa.String(255), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("placement", sa.String(16), nullable=False, index=True),
    sa.Column("poll_id", sa.String(40), nullable=True, index=True),
    sa.Column("message_id", sa.Integer, nullable=True, index=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("by_user", sa.String(32), nullable=True),
    sa.Column("state_at", sa.DateTime, nullable=True),
    sa.Column("new_run_id", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
L_RESYNCS = sa.Table(
    "resyncs",
    _legacy,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("entry_run_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("requested_by", sa.String(32), nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("new_run_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("outcome", sa.String(16), nullable=False, index=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("finished_at", sa.DateTime, nullable=True),
)
L_AUDIT = sa.Table(
    "audit_log",
    _legacy,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("run_ids", sa.Text, nullable=False),
    sa.Column("result", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
)
L_LEASES = sa.Table(
    "leases",
    _legacy,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)
L_EFFECTS = sa.Table(
    "slack_effects",
    _legacy,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("message_id", sa.Integer, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=True),
)
LEGACY_STEPS = (
    (L_META, L_MESSAGES, L_ENTRIES, L_RESYNCS),  # 1: digests and resyncs
    (L_AUDIT, L_LEASES),  # 2: audit log and the poller lease
    (L_EFFECTS,),  # 3: the outbox of Slack effects
)


def build_legacy(conn: Connection, version: int) -> None:
    """What `Store.migrate` did before Alembic, for a database it brought to `version`."""
    L_META.create(conn, checkfirst=True)
    for step in LEGACY_STEPS[:version]:
        for table in step:
            table.create(conn, checkfirst=True)
    conn.execute(sa.insert(L_META).values(key="schema_version", value=str(version)))


# ---- data that must survive every upgrade ------------------------------------------------------

AT = datetime(2026, 11, 27, 10, 0, 0)  # stored naive, in UTC
SAMPLE: dict[sa.Table, dict[str, Any]] = {
    L_META: {"key": "watermark", "value": "2026-11-27T10:00:00+00:00"},
    L_MESSAGES: {
        "channel": "C0SYNCBOT",
        "ts": "1700000000.000100",
        "poll_id": "poll-1",
        "part": 1,
        "parts": 1,
        "state": "posted",
        "attempts": 1,
        "overflow": 0,
        "overflow_flows": "[]",
        "created_at": AT,
        "posted_at": AT,
    },
    L_ENTRIES: {
        "run_id": 7,
        "current_run_id": 7,
        "flow_name": "Old flow",
        "placement": "message",
        "poll_id": "poll-1",
        "message_id": 1,
        "position": 0,
        "snapshot": "{}",
        "state": "failed",
        "created_at": AT,
    },
    L_RESYNCS: {
        "run_id": 7,
        "entry_run_id": 7,
        "requested_by": "U1",
        "requested_at": AT,
        "outcome": "queued",
    },
    L_AUDIT: {"at": AT, "user_id": "U1", "action": "resync", "run_ids": "[7]", "result": "queued"},
    L_LEASES: {"name": "poller", "holder": "replica-a", "expires_at": AT},
    L_EFFECTS: {"kind": "rewrite", "message_id": 1, "state": "pending", "attempts": 0, "created_at": AT},
}


def syncbot_tables(conn: Connection) -> set[str]:
    return set(sa.inspect(conn).get_table_names()) & set(metadata.tables)


def put_sample(conn: Connection) -> set[str]:
    """One row in each table the database has; returns those tables."""
    present = syncbot_tables(conn)
    for table, row in SAMPLE.items():
        if table.name in present:
            conn.execute(sa.insert(table).values(**row))
    return present


def assert_sample_kept(conn: Connection, tables: set[str]) -> None:
    for table, row in SAMPLE.items():
        if table.name in tables:
            found = conn.execute(sa.select(*(table.c[name] for name in row))).mappings().all()
            assert row in [dict(found_row) for found_row in found], table.name


# ---- the schema, compared ----------------------------------------------------------------------


def schema_diff(conn: Connection, target: sa.MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, target))


def describe(conn: Connection) -> dict[str, Any]:
    """Everything reflection sees of syncbot's tables: what `compare_metadata` checks and more
    (column order, server defaults such as PostgreSQL's SERIAL sequences, constraint names)."""
    inspector = sa.inspect(conn)
    shape: dict[str, Any] = {}
    for name in sorted(syncbot_tables(conn)):
        shape[name] = {
            "columns": [
                (col["name"], str(col["type"]), col["nullable"], col.get("default"), col.get("autoincrement"))
                for col in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name),
            "indexes": sorted(
                (index["name"] or "", tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(name)
            ),
            "unique": sorted(
                (constraint["name"] or "", tuple(constraint["column_names"]))
                for constraint in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": inspector.get_foreign_keys(name),
        }
    return shape


async def on(url: str, work: Callable[[Connection], T]) -> T:
    """Run `work` on a sync connection to `url`, in one committed transaction."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


async def reference(new_db: NewDatabase) -> dict[str, Any]:
    """The schema `metadata.create_all` gives, on the same kind of database."""
    url = await new_db()
    await on(url, metadata.create_all)
    return await on(url, describe)


def at_revision(revision: str) -> Callable[[Connection], None]:
    return lambda conn: command.upgrade(migrations.config(conn), revision)


# ---- fixtures ----------------------------------------------------------------------------------

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
async def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[NewDatabase]:
    """Makes empty databases of one kind (SQLite files, or PostgreSQL databases dropped afterwards)."""
    numbers = itertools.count()
    async with AsyncExitStack() as stack:

        async def make() -> str:
            if request.param == "sqlite":
                return f"sqlite+aiosqlite:///{tmp_path / f'db{next(numbers)}.sqlite'}"
            return await stack.enter_async_context(pg_database())

        yield make


@pytest.fixture
async def url(new_db: NewDatabase) -> str:
    return await new_db()


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """A copy of the migrations, to add revisions to."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def starting_with(monkeypatch: pytest.MonkeyPatch, chain: Path) -> None:
    """Make `Store.open` migrate with the revisions in `chain`."""
    monkeypatch.setattr(migrations, "upgrade", functools.partial(migrations.upgrade, script_location=chain))


async def open_and_check(url: str, new_db: NewDatabase, tables: set[str]) -> None:
    """`Store.open` brings the database to the newest revision with its data and the tables' schema."""
    store = await Store.open(url)
    try:
        async with store.unit_of_work() as uow:  # the repositories work on the upgraded schema
            await uow.audit.append(user_id="U2", action="resync", run_ids=[8], result="queued")
            assert await uow.leases.acquire("migrations-test", "me", datetime.now(UTC) + timedelta(seconds=5))
            assert await uow.meta.get("schema_version") == migrations.LEGACY_FENCE
    finally:
        await store.close()

    def check(conn: Connection) -> dict[str, Any]:
        assert migrations.current(conn) == (HEAD,)
        assert_sample_kept(conn, tables)
        assert schema_diff(conn) == []
        return describe(conn)

    assert await on(url, check) == await reference(new_db)


# ---- the tests ---------------------------------------------------------------------------------


async def test_an_empty_database_is_migrated_to_exactly_the_tables(url: str, new_db: NewDatabase) -> None:
    store = await Store.open(url)
    try:
        assert await store.migrate() == HEAD  # a second run finds nothing to do
    finally:
        await store.close()
    assert await on(url, schema_diff) == []
    assert await on(url, describe) == await reference(new_db)


@pytest.mark.parametrize("revision", migrations.revisions())
async def test_a_database_at_any_revision_is_upgraded_and_keeps_its_data(
    url: str, new_db: NewDatabase, revision: str
) -> None:
    await on(url, at_revision(revision))
    tables = await on(url, put_sample)
    await open_and_check(url, new_db, tables)


@pytest.mark.parametrize("version", sorted(migrations.LEGACY_REVISIONS))
async def test_a_database_from_before_alembic_is_adopted_and_keeps_its_data(
    url: str, new_db: NewDatabase, version: int
) -> None:
    def build(conn: Connection) -> set[str]:
        build_legacy(conn, version)
        return put_sample(conn)

    tables = await on(url, build)
    assert tables == {table.name for step in LEGACY_STEPS[:version] for table in step}
    await open_and_check(url, new_db, tables)


def test_each_legacy_version_matches_its_revision() -> None:
    # The revision a legacy database is stamped at creates exactly the tables that version had.
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        for version, revision in sorted(migrations.LEGACY_REVISIONS.items()):
            command.upgrade(migrations.config(conn), revision)
            assert syncbot_tables(conn) == {table.name for step in LEGACY_STEPS[:version] for table in step}
    engine.dispose()


async def open_together(urls: list[str]) -> None:
    # Without the locks this does not fail cleanly: it can hang, hence the limit.
    stores = await asyncio.wait_for(asyncio.gather(*(Store.open(url) for url in urls)), 60)
    for store in stores:
        await store.close()


async def test_replicas_starting_together_migrate_once(url: str) -> None:
    await open_together([url] * 4)

    def versions(conn: Connection) -> list[str]:
        return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))

    assert await on(url, versions) == [HEAD]


async def test_stores_opened_together_in_one_process_each_migrate(new_db: NewDatabase) -> None:
    # Alembic's state is global to the process: migrations of different databases must not interleave.
    urls = [await new_db() for _ in range(3)]
    await open_together(urls)
    for url in urls:
        assert await on(url, migrations.current) == (HEAD,)
        assert await on(url, schema_diff) == []


async def test_a_database_migrated_by_a_newer_syncbot_is_refused(url: str) -> None:
    await (await Store.open(url)).close()
    await on(
        url, lambda conn: conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    )
    with pytest.raises(RuntimeError, match=r"revision 9999_future is newer than this syncbot"):
        await Store.open(url)
    assert await on(url, migrations.current) == ("9999_future",)  # left alone


async def test_a_newer_schema_version_from_before_alembic_is_refused(url: str) -> None:
    await on(url, lambda conn: build_legacy(conn, max(migrations.LEGACY_REVISIONS) + 1))
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(url)
    assert await on(url, migrations.current) == ()


async def test_syncbot_tables_without_any_version_are_refused(url: str) -> None:
    # e.g. the first start of a syncbot from before Alembic, stopped between its CREATE TABLEs
    # and its schema_version row: guessing could lose a table.
    await on(url, lambda conn: L_META.create(conn))
    with pytest.raises(RuntimeError, match=r"syncbot tables \(syncbot_meta\) but no schema version"):
        await Store.open(url)


async def test_a_failing_migration_leaves_the_database_as_it_was(
    url: str, chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await on(url, at_revision(HEAD))
    tables = await on(url, put_sample)
    failing = int(HEAD) + 1
    (chain / "versions" / f"{failing:04d}_fails_halfway.py").write_text(
        f'"""Creates a table, then fails."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{failing:04d}"\ndown_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))\n'
        '    op.add_column("leases", sa.Column("note", sa.Text(), nullable=True))\n'
        '    raise RuntimeError("the migration broke")\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    starting_with(monkeypatch, chain)
    with pytest.raises(RuntimeError, match="the migration broke"):
        await Store.open(url)

    def check(conn: Connection) -> None:
        assert migrations.current(conn) == (HEAD,)
        assert "half_done" not in sa.inspect(conn).get_table_names()
        assert "note" not in {column["name"] for column in sa.inspect(conn).get_columns("leases")}
        assert_sample_kept(conn, tables)

    await on(url, check)


def test_the_revisions_form_one_line_and_never_import_the_models() -> None:
    chain = migrations.revisions()  # raises unless each revision revises the one before
    assert chain[: len(migrations.LEGACY_REVISIONS)] == ["0001", "0002", "0003"]
    assert chain == [f"{number:04d}" for number in range(1, len(chain) + 1)]
    files = sorted((migrations.SCRIPT_LOCATION / "versions").glob("[0-9]*.py"))
    assert [path.name[:4] for path in files] == chain
    for path in files:
        # Written out, not derived from bot/store/tables.py: a later change to the tables must
        # not change what an old revision creates.
        assert not re.search(r"^\s*(from|import)\s+bot\b", path.read_text(), re.MULTILINE), path.name


async def test_a_new_revision_is_written_from_the_tables_and_applied_at_start_up(
    url: str, chain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(url)  # a deployment at today's newest revision
    await store.close()

    changed = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["leases"].append_column(sa.Column("note", sa.Text(), nullable=True))
    sa.Index("ix_leases_holder", changed.tables["leases"].c.holder)
    written = migrations.new_revision("lease note", script_location=chain, target_metadata=changed)

    following = f"{int(HEAD) + 1:04d}"
    assert written == chain / "versions" / f"{following}_lease_note.py"
    source = written.read_text()
    assert "op.add_column('leases', sa.Column('note', sa.Text(), nullable=True))" in source
    assert f"down_revision: str | None = '{HEAD}'" in source
    assert migrations.revisions(chain)[-1] == following

    starting_with(monkeypatch, chain)
    store = await Store.open(url)
    try:
        assert await store.migrate() == following
    finally:
        await store.close()

    def check(conn: Connection) -> None:
        assert migrations.current(conn) == (following,)
        assert schema_diff(conn, changed) == []

    await on(url, check)


async def test_every_revision_downgrades_to_an_empty_database(url: str) -> None:
    await (await Store.open(url)).close()

    def down(conn: Connection) -> set[str]:
        command.downgrade(migrations.config(conn), "base")
        return syncbot_tables(conn)

    assert await on(url, down) == set()
