"""What syncbot remembers: entries it alerted on, the digest messages holding them (an outbox),
resync requests, the audit log and the poll watermark. SQLite by default, PostgreSQL for replicas.

Record-then-post: a poll first writes its new entries and the digest messages that will show
them (state `pending`) in one transaction, then posts. A message is marked `posting` before the
Slack call and `posted` with its ts after; a `posting` message found at start-up is looked up in
the channel by its metadata before it is posted again, so a crash between the post and the save
shows nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from blocks.model import Attempt, Digest, DigestItem, EntryState, Outcome
from bot.patchworks.models import SyncEntry

__all__ = [
    "SCHEMA_VERSION",
    "AuditRow",
    "Claim",
    "EntryRow",
    "MessageRow",
    "ResyncRow",
    "Store",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

meta_table = Table(
    "syncbot_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

messages_table = Table(
    "digest_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=True),
    Column("poll_id", String(40), nullable=False, index=True),
    Column("part", Integer, nullable=False, default=1),
    Column("parts", Integer, nullable=False, default=1),
    Column("state", String(16), nullable=False, index=True),  # pending, posting, posted, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("overflow", Integer, nullable=False, default=0),
    Column("overflow_flows", Text, nullable=False, default="[]"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("posting_at", UTCDateTime, nullable=True),
    Column("posted_at", UTCDateTime, nullable=True),
)

entries_table = Table(
    "entries",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),  # the run first alerted on
    Column("current_run_id", BigInteger, nullable=False, unique=True),  # latest run of its resyncs
    Column("flow_name", String(255), nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("placement", String(16), nullable=False, index=True),  # unassigned, message, overflow
    Column("poll_id", String(40), nullable=True, index=True),
    Column("message_id", Integer, nullable=True, index=True),
    Column("position", Integer, nullable=False, default=0),
    Column("snapshot", Text, nullable=False),  # SyncEntry JSON of the current run
    Column("state", String(16), nullable=False),
    Column("by_user", String(32), nullable=True),
    Column("state_at", UTCDateTime, nullable=True),
    Column("new_run_id", BigInteger, nullable=True),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

resyncs_table = Table(
    "resyncs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One row per retried run: the unique constraint is what makes a resync idempotent across
    # double clicks, Slack retries, two users and several replicas.
    Column("run_id", BigInteger, nullable=False, unique=True),
    Column("entry_run_id", BigInteger, nullable=True, index=True),
    Column("requested_by", String(32), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("new_run_id", BigInteger, nullable=True, index=True),
    Column("outcome", String(16), nullable=False, index=True),  # requested, queued, ok, failed, error
    Column("detail", Text, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
)

audit_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("user_id", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("run_ids", Text, nullable=False),
    Column("result", String(32), nullable=False),
    Column("detail", Text, nullable=True),
)

leases_table = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)


def _create(*tables: Table) -> Any:
    def migrate(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return migrate


# Each step upgrades the schema by one version; a database written by any older version is
# brought forward at start-up. Never edit a released step: add a new one.
MIGRATIONS = (
    _create(meta_table, messages_table, entries_table, resyncs_table),  # 1: digests and resyncs
    _create(audit_table, leases_table),  # 2: audit log and the poller lease
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class MessageRow:
    """A digest message in the outbox."""

    id: int
    channel: str
    ts: str | None
    state: str
    attempts: int
    last_error: str | None
    posting_at: datetime | None


@dataclass(frozen=True)
class EntryRow:
    """An entry syncbot alerted on, with where it is shown and what happened to it."""

    run_id: int
    current_run_id: int
    message_id: int | None
    placement: str
    entry: SyncEntry
    outcome: Outcome


@dataclass(frozen=True)
class ResyncRow:
    """One resync request."""

    id: int
    run_id: int
    entry_run_id: int | None
    requested_by: str
    requested_at: datetime
    new_run_id: int | None
    outcome: str
    detail: str | None


@dataclass(frozen=True)
class Claim:
    """The result of claiming a run for resync: ours, or someone else's earlier request."""

    created: bool
    resync: ResyncRow


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    at: datetime
    user_id: str
    action: str
    run_ids: tuple[int, ...]
    result: str
    detail: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _entry_row(row: Any) -> EntryRow:
    entry = SyncEntry.model_validate_json(row.snapshot)
    outcome = Outcome(
        state=EntryState(row.state),
        by_user=row.by_user,
        at=row.state_at,
        new_run_id=row.new_run_id,
        detail=row.detail,
    )
    return EntryRow(
        run_id=row.run_id,
        current_run_id=row.current_run_id,
        message_id=row.message_id,
        placement=row.placement,
        entry=entry,
        outcome=outcome,
    )


def _resync_row(row: Any) -> ResyncRow:
    return ResyncRow(
        id=row.id,
        run_id=row.run_id,
        entry_run_id=row.entry_run_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        new_run_id=row.new_run_id,
        outcome=row.outcome,
        detail=row.detail,
    )


def _message_row(row: Any) -> MessageRow:
    return MessageRow(
        id=row.id,
        channel=row.channel,
        ts=row.ts,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        posting_at=row.posting_at,
    )


class Store:
    """Async access to syncbot's database."""

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
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as conn:
            yield conn

    async def migrate(self) -> int:
        """Apply the migrations this database has not seen; returns the version it is at."""
        async with self._tx() as conn:
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

    # -- key/value ---------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """A stored value, or None."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(meta_table.c.value).where(meta_table.c.key == key))
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str | None) -> None:
        """Store (or with None, forget) a value."""
        async with self._tx() as conn:
            await conn.execute(delete(meta_table).where(meta_table.c.key == key))
            if value is not None:
                await conn.execute(insert(meta_table).values(key=key, value=value))

    async def watermark(self) -> datetime | None:
        """Start of the last poll whose digests were all posted."""
        raw = await self.get_meta("watermark")
        return None if raw is None else datetime.fromisoformat(raw)

    async def set_watermark(self, when: datetime) -> None:
        """Move the watermark (never backwards)."""
        current = await self.watermark()
        if current is None or when > current:
            await self.set_meta("watermark", when.astimezone(UTC).isoformat())

    # -- polling -----------------------------------------------------------------------------

    async def known_run_ids(self, run_ids: Sequence[int]) -> set[int]:
        """Which of these runs syncbot already tracks (alerted on, or created by a resync)."""
        if not run_ids:
            return set()
        ids = list(run_ids)
        async with self._engine.connect() as conn:
            alerted = await conn.execute(
                select(entries_table.c.run_id, entries_table.c.current_run_id).where(
                    or_(entries_table.c.run_id.in_(ids), entries_table.c.current_run_id.in_(ids))
                )
            )
            known = {rid for row in alerted for rid in (row.run_id, row.current_run_id)}
            created = await conn.execute(
                select(resyncs_table.c.new_run_id).where(resyncs_table.c.new_run_id.in_(ids))
            )
            known.update(row.new_run_id for row in created)
        return known & set(ids)

    async def add_entries(self, entries: Iterable[SyncEntry]) -> int:
        """Record new failed entries as not yet placed in a message; returns how many were new."""
        now = _now()
        rows: list[dict[str, Any]] = [
            {
                "run_id": entry.run_id,
                "current_run_id": entry.run_id,
                "flow_name": entry.flow_name[:255],
                "started_at": entry.started_at,
                "placement": "unassigned",
                "snapshot": entry.model_dump_json(),
                "state": EntryState.FAILED.value,
                "created_at": now,
            }
            for entry in entries
        ]
        if not rows:
            return 0
        known = await self.known_run_ids([row["run_id"] for row in rows])
        rows = [row for row in rows if row["run_id"] not in known]
        if not rows:
            return 0
        async with self._tx() as conn:
            await conn.execute(insert(entries_table), rows)
        return len(rows)

    async def assign_unassigned(
        self, *, channel: str, poll_id: str, per_message: int, max_messages: int
    ) -> list[int]:
        """Place every unassigned entry: the first ones into new pending messages, the rest in
        those messages' "+N more" overflow. Returns the new message ids (possibly none)."""
        async with self._tx() as conn:
            total = await conn.scalar(
                select(func.count())
                .select_from(entries_table)
                .where(entries_table.c.placement == "unassigned")
            )
            if not total:
                return []
            shown_ids = list(
                await conn.scalars(
                    select(entries_table.c.run_id)
                    .where(entries_table.c.placement == "unassigned")
                    .order_by(entries_table.c.flow_name, entries_table.c.started_at, entries_table.c.run_id)
                    .limit(per_message * max_messages)
                )
            )
            parts = -(-len(shown_ids) // per_message)
            overflow = int(total) - len(shown_ids)
            overflow_flows: list[tuple[str, int]] = []
            if overflow:
                grouped = await conn.execute(
                    select(entries_table.c.flow_name, func.count())
                    .where(
                        and_(
                            entries_table.c.placement == "unassigned",
                            entries_table.c.run_id.not_in(shown_ids),
                        )
                    )
                    .group_by(entries_table.c.flow_name)
                    .order_by(func.count().desc())
                )
                overflow_flows = [(str(name), int(count)) for name, count in grouped]
            now = _now()
            message_ids: list[int] = []
            for part in range(1, parts + 1):
                last = part == parts
                result = await conn.execute(
                    insert(messages_table).values(
                        channel=channel,
                        poll_id=poll_id,
                        part=part,
                        parts=parts,
                        state="pending",
                        attempts=0,
                        overflow=overflow if last else 0,
                        overflow_flows=json.dumps(overflow_flows if last else []),
                        created_at=now,
                    )
                )
                message_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                message_ids.append(message_id)
                chunk = shown_ids[(part - 1) * per_message : part * per_message]
                for position, run_id in enumerate(chunk):
                    await conn.execute(
                        update(entries_table)
                        .where(entries_table.c.run_id == run_id)
                        .values(
                            placement="message", message_id=message_id, position=position, poll_id=poll_id
                        )
                    )
            if overflow:
                await conn.execute(
                    update(entries_table)
                    .where(entries_table.c.placement == "unassigned")
                    .values(placement="overflow", message_id=None, poll_id=poll_id)
                )
        return message_ids

    async def unposted_messages(self, channel: str) -> list[MessageRow]:
        """Messages written to the outbox but not (known to be) posted yet, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(messages_table)
                .where(
                    and_(
                        messages_table.c.channel == channel,
                        messages_table.c.state.in_(("pending", "posting")),
                    )
                )
                .order_by(messages_table.c.id)
            )
            return [_message_row(row) for row in rows]

    async def message(self, message_id: int) -> MessageRow | None:
        """One digest message."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(messages_table).where(messages_table.c.id == message_id))
            ).first()
        return None if row is None else _message_row(row)

    async def mark_posting(self, message_id: int) -> None:
        """Note that a post is about to be sent (see the module docstring)."""
        async with self._tx() as conn:
            await conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(state="posting", posting_at=_now(), attempts=messages_table.c.attempts + 1)
            )

    async def mark_posted(self, message_id: int, ts: str) -> None:
        """Record where a message landed."""
        async with self._tx() as conn:
            await conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(state="posted", ts=ts, posted_at=_now(), last_error=None)
            )

    async def mark_unposted(self, message_id: int, error: str, *, give_up: bool = False) -> None:
        """Keep a message for a later retry (or park it as failed) with the reason."""
        async with self._tx() as conn:
            await conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(state="failed" if give_up else "pending", last_error=error[:2000])
            )

    async def load_digest(self, message_id: int) -> Digest | None:
        """Everything needed to (re)render one digest message."""
        async with self._engine.connect() as conn:
            message = (
                await conn.execute(select(messages_table).where(messages_table.c.id == message_id))
            ).first()
            if message is None:
                return None
            rows = await conn.execute(
                select(entries_table)
                .where(and_(entries_table.c.message_id == message_id, entries_table.c.placement == "message"))
                .order_by(entries_table.c.position)
            )
            items = tuple(
                DigestItem(entry=row.entry, outcome=row.outcome) for row in (_entry_row(r) for r in rows)
            )
        flows = tuple((str(name), int(count)) for name, count in json.loads(message.overflow_flows))
        return Digest(
            message_id=message.id,
            part=message.part,
            parts=message.parts,
            created_at=message.created_at,
            items=items,
            overflow=message.overflow,
            overflow_flows=flows,
        )

    # -- entries -----------------------------------------------------------------------------

    async def entry_for_run(self, run_id: int) -> EntryRow | None:
        """The tracked entry whose original or current run is this one."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(entries_table).where(
                        or_(entries_table.c.run_id == run_id, entries_table.c.current_run_id == run_id)
                    )
                )
            ).first()
        return None if row is None else _entry_row(row)

    async def entries_for_runs(self, run_ids: Sequence[int]) -> dict[int, EntryRow]:
        """Tracked entries keyed by their current run id."""
        if not run_ids:
            return {}
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(entries_table).where(
                    or_(
                        entries_table.c.current_run_id.in_(list(run_ids)),
                        entries_table.c.run_id.in_(list(run_ids)),
                    )
                )
            )
            found = [_entry_row(row) for row in rows]
        return {row.current_run_id: row for row in found}

    async def set_outcome(
        self,
        entry_run_id: int,
        outcome: Outcome,
        *,
        current: SyncEntry | None = None,
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
        async with self._tx() as conn:
            await conn.execute(
                update(entries_table).where(entries_table.c.run_id == entry_run_id).values(**values)
            )

    # -- resyncs -----------------------------------------------------------------------------

    async def claim_resync(self, run_id: int, user_id: str, entry_run_id: int | None) -> Claim:
        """Claim a run for resync. Only the first claim of a run wins, whoever and wherever."""
        try:
            async with self._tx() as conn:
                result = await conn.execute(
                    insert(resyncs_table).values(
                        run_id=run_id,
                        entry_run_id=entry_run_id,
                        requested_by=user_id,
                        requested_at=_now(),
                        outcome="requested",
                    )
                )
                new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                row = (await conn.execute(select(resyncs_table).where(resyncs_table.c.id == new_id))).one()
                return Claim(created=True, resync=_resync_row(row))
        except IntegrityError:
            pass
        async with self._tx() as conn:
            # A claim whose request ended in error may be taken again; of several racing
            # claimers only one deletes the row, so only one retries.
            retired = await conn.execute(
                delete(resyncs_table).where(
                    and_(resyncs_table.c.run_id == run_id, resyncs_table.c.outcome == "error")
                )
            )
        if retired.rowcount:
            return await self.claim_resync(run_id, user_id, entry_run_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(resyncs_table).where(resyncs_table.c.run_id == run_id))).one()
        return Claim(created=False, resync=_resync_row(row))

    async def resync_for_run(self, run_id: int) -> ResyncRow | None:
        """The resync request for a run, if anyone made one."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(resyncs_table).where(resyncs_table.c.run_id == run_id))).first()
        return None if row is None else _resync_row(row)

    async def release_claim(self, resync_id: int) -> None:
        """Forget a claim whose request never reached Patchworks, so it can be tried again."""
        async with self._tx() as conn:
            await conn.execute(delete(resyncs_table).where(resyncs_table.c.id == resync_id))

    async def update_resync(
        self, resync_id: int, *, outcome: str, new_run_id: int | None = None, detail: str | None = None
    ) -> None:
        """Record a resync's progress: queued with its new run, then ok, failed or error."""
        values: dict[str, Any] = {"outcome": outcome, "detail": detail}
        if new_run_id is not None:
            values["new_run_id"] = new_run_id
        if outcome in ("ok", "failed", "error"):
            values["finished_at"] = _now()
        async with self._tx() as conn:
            await conn.execute(update(resyncs_table).where(resyncs_table.c.id == resync_id).values(**values))

    async def queued_resyncs(self, limit: int = 500) -> list[ResyncRow]:
        """Resyncs whose new run has not ended yet, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(resyncs_table)
                .where(resyncs_table.c.outcome == "queued")
                .order_by(resyncs_table.c.id)
                .limit(limit)
            )
            return [_resync_row(row) for row in rows]

    async def attempts(self, entry_run_id: int) -> list[Attempt]:
        """Resync history of an entry, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(resyncs_table)
                .where(resyncs_table.c.entry_run_id == entry_run_id)
                .order_by(resyncs_table.c.id)
            )
            states = {
                "requested": EntryState.QUEUED,
                "queued": EntryState.QUEUED,
                "ok": EntryState.OK,
                "failed": EntryState.FAILED_AGAIN,
                "error": EntryState.ERROR,
            }
            return [
                Attempt(
                    run_id=row.run_id,
                    new_run_id=row.new_run_id,
                    by_user=row.requested_by,
                    at=row.requested_at,
                    state=states.get(row.outcome, EntryState.ERROR),
                )
                for row in rows
            ]

    # -- audit -------------------------------------------------------------------------------

    async def audit(
        self, *, user_id: str, action: str, run_ids: Sequence[int], result: str, detail: str | None = None
    ) -> None:
        """Append one line to the audit log."""
        async with self._tx() as conn:
            await conn.execute(
                insert(audit_table).values(
                    at=_now(),
                    user_id=user_id,
                    action=action,
                    run_ids=",".join(str(run) for run in run_ids),
                    result=result,
                    detail=None if detail is None else detail[:2000],
                )
            )

    async def audit_since(self, since: datetime) -> list[AuditRow]:
        """Audit lines since a time, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(audit_table).where(audit_table.c.at >= since).order_by(audit_table.c.id)
            )
            return [
                AuditRow(
                    at=row.at,
                    user_id=row.user_id,
                    action=row.action,
                    run_ids=tuple(int(run) for run in row.run_ids.split(",") if run),
                    result=row.result,
                    detail=row.detail,
                )
                for row in rows
            ]

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, until: datetime) -> bool:
        """Take or renew a named lease; False while another holder's lease is unexpired."""
        now = _now()
        async with self._tx() as conn:
            renewed = await conn.execute(
                update(leases_table)
                .where(
                    and_(
                        leases_table.c.name == name,
                        or_(leases_table.c.holder == holder, leases_table.c.expires_at < now),
                    )
                )
                .values(holder=holder, expires_at=until)
            )
            if renewed.rowcount:
                return True
        try:
            async with self._tx() as conn:
                await conn.execute(insert(leases_table).values(name=name, holder=holder, expires_at=until))
            return True
        except IntegrityError:
            return False

    async def release_lease(self, name: str, holder: str) -> None:
        """Give a lease up so another replica can take it at once."""
        async with self._tx() as conn:
            await conn.execute(
                delete(leases_table).where(and_(leases_table.c.name == name, leases_table.c.holder == holder))
            )
