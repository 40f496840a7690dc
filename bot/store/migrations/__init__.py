"""syncbot's schema migrations (Alembic), applied by `Store.open` at start-up.

Each schema change is one revision in `versions/`, written out as explicit operations and never
derived from the live tables at run time: a database created by any release and upgraded ends up
the same as one created today. To change the schema, edit bot/store/tables.py, then run

    .venv/bin/python -m bot.store.migrations revision -m "what changes"

It writes versions/NNNN_what_changes.py from the difference between a database at the newest
revision and the tables. Review it (every existing database will run it), `ruff format` it;
tests/test_migrations.py checks that the migrated schema matches the tables on SQLite and PostgreSQL.

Databases created before Alembic (a `schema_version` row 1, 2 or 3 in syncbot_meta, no
alembic_version table) are stamped at the revision that created the same tables, then upgraded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.store.tables import metadata

__all__ = [
    "LEGACY_FENCE",
    "LEGACY_REVISIONS",
    "SCRIPT_LOCATION",
    "config",
    "current",
    "head",
    "new_revision",
    "one_at_a_time",
    "revisions",
    "upgrade",
]

SCRIPT_LOCATION: Final = Path(__file__).resolve().parent

# The `schema_version` a syncbot from before Alembic recorded, and the revision that creates
# exactly the tables it had created.
LEGACY_REVISIONS: Final = {1: "0001", 2: "0002", 3: "0003"}
# What `schema_version` says once Alembic owns the database: a syncbot from before Alembic reads
# it as newer than itself and refuses to start rather than run on a schema it does not know.
LEGACY_FENCE: Final = str(max(LEGACY_REVISIONS) + 1)

_VERSION_KEY: Final = "schema_version"
# Alembic keeps the migration it is running in module globals (`alembic.context`, `alembic.op`):
# two migrations interleaving in one process, on any databases, in any threads, would run each
# other's steps. This lets one run at a time.
_running = threading.Lock()
_meta = sa.table("syncbot_meta", sa.column("key", sa.String()), sa.column("value", sa.Text()))


def config(
    connection: Connection | None = None,
    *,
    script_location: Path = SCRIPT_LOCATION,
    target_metadata: sa.MetaData | None = None,
) -> Config:
    """Alembic's configuration, built in code: migrations run on `connection` (see env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    if target_metadata is not None:
        cfg.attributes["target_metadata"] = target_metadata
    return cfg


@asynccontextmanager
async def one_at_a_time() -> AsyncIterator[None]:
    """Hold this around `upgrade` (before any database lock): no other migration in this process
    runs meanwhile. Waiting for it does not block the event loop, and can be cancelled."""
    # A threading lock, polled: the holder may be another thread's event loop, which no asyncio
    # primitive can be awaited across.
    while not _running.acquire(blocking=False):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        _running.release()


def revisions(script_location: Path = SCRIPT_LOCATION) -> list[str]:
    """Every revision, oldest first; refuses a chain that is not one straight line."""
    script = ScriptDirectory.from_config(config(script_location=script_location))
    chain = list(reversed(list(script.walk_revisions())))
    for previous, revision in zip([None, *chain], chain, strict=False):
        expected = None if previous is None else previous.revision
        if revision.down_revision != expected or revision.branch_labels or revision.dependencies:
            raise RuntimeError(
                f"migration {revision.revision} revises {revision.down_revision!r}, expected {expected!r}: "
                "syncbot's migrations must form one line"
            )
    return [revision.revision for revision in chain]


def head(script_location: Path = SCRIPT_LOCATION) -> str:
    """The newest revision."""
    return revisions(script_location)[-1]


def current(connection: Connection) -> tuple[str, ...]:
    """The revisions the database is stamped at (empty before the first migration)."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade(connection: Connection, *, script_location: Path = SCRIPT_LOCATION) -> str:
    """Bring the database to the newest revision within `connection`'s transaction and return that
    revision. The caller holds `one_at_a_time()` and the database's migration lock.

    Raises RuntimeError for a database a newer syncbot migrated, or one it cannot place."""
    known = revisions(script_location)
    cfg = config(connection, script_location=script_location)
    stamped = current(connection)
    if stamped:
        unknown = [revision for revision in stamped if revision not in known]
        if unknown:
            raise RuntimeError(
                f"database schema revision {', '.join(unknown)} is newer than this syncbot "
                f"(it knows up to {known[-1]}): run the release that migrated it, or a newer one"
            )
    else:
        legacy = _legacy_version(connection)
        if legacy is not None:
            command.stamp(cfg, LEGACY_REVISIONS[legacy])
    command.upgrade(cfg, "head")
    _fence(connection)
    return known[-1]


def new_revision(
    message: str, *, script_location: Path = SCRIPT_LOCATION, target_metadata: sa.MetaData | None = None
) -> Path:
    """Write the next revision: what turns a database at the newest revision into `target_metadata`
    (the tables in bot/store/tables.py by default). Returns the new file."""
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            newest = upgrade(conn, script_location=script_location)
            cfg = config(conn, script_location=script_location, target_metadata=target_metadata)
            next_id = f"{int(newest) + 1:04d}"
            written = command.revision(cfg, message=message, autogenerate=True, rev_id=next_id)
    finally:
        engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    paths = [Path(script.path) for script in scripts if script is not None]
    if len(paths) != 1:
        raise RuntimeError(f"expected one new revision, alembic wrote {paths}")
    return paths[0]


def _legacy_version(connection: Connection) -> int | None:
    """The schema version a syncbot from before Alembic recorded, or None for an empty database."""
    present = sorted(set(sa.inspect(connection).get_table_names()) & set(metadata.tables))
    if not present:
        return None
    raw = None
    if _meta.name in present:
        raw = connection.scalar(sa.select(_meta.c.value).where(_meta.c.key == _VERSION_KEY))
    if raw is None:
        raise RuntimeError(
            f"the database has syncbot tables ({', '.join(present)}) but no schema version: "
            "point DATABASE_URL at an empty database, or restore one syncbot created"
        )
    try:
        version = int(raw)
    except ValueError:
        raise RuntimeError(f"unreadable database schema version {raw!r}") from None
    newest = max(LEGACY_REVISIONS)
    if version > newest:
        raise RuntimeError(
            f"database schema version {version} is newer than this syncbot: it reads versions up to "
            f"{newest} (before Alembic), and this database has no alembic_version table"
        )
    if version not in LEGACY_REVISIONS:
        raise RuntimeError(f"unknown database schema version {version}")
    return version


def _fence(connection: Connection) -> None:
    found = connection.scalar(sa.select(_meta.c.value).where(_meta.c.key == _VERSION_KEY))
    if found is None:
        connection.execute(sa.insert(_meta).values(key=_VERSION_KEY, value=LEGACY_FENCE))
    elif found != LEGACY_FENCE:
        connection.execute(sa.update(_meta).where(_meta.c.key == _VERSION_KEY).values(value=LEGACY_FENCE))
