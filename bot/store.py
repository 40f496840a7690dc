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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from blocks.model import Attempt, Digest, DigestItem, EntryState
from bot.patchworks.models import SyncEntry
from bot.rows import (
    AuditRow,
    Claim,
    EntryRow,
    MessageRow,
    ResyncRow,
    entry_row,
    message_row,
    resync_row,
    utcnow,
)
from bot.states import ResyncOutcome
from bot.tables import (
    MIGRATIONS,
    SCHEMA_VERSION,
    audit_table,
    entries_table,
    leases_table,
    messages_table,
    meta_table,
    resyncs_table,
)
from bot.unit_of_work import UnitOfWork

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AuditRow",
    "Claim",
    "EntryRow",
    "MessageRow",
    "ResyncRow",
    "Store",
    "entries_table",
    "meta_table",
]


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

    @asynccontextmanager
    async def unit_of_work(self, now: datetime | None = None) -> AsyncIterator[UnitOfWork]:
        """One transaction: everything written through the yielded object commits together."""
        async with self._engine.begin() as conn:
            yield UnitOfWork(conn, now or utcnow())

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
        now = utcnow()
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
            now = utcnow()
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
            return [message_row(row) for row in rows]

    async def message(self, message_id: int) -> MessageRow | None:
        """One digest message."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(messages_table).where(messages_table.c.id == message_id))
            ).first()
        return None if row is None else message_row(row)

    async def mark_posting(self, message_id: int) -> None:
        """Note that a post is about to be sent (see the module docstring)."""
        async with self._tx() as conn:
            await conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(state="posting", posting_at=utcnow(), attempts=messages_table.c.attempts + 1)
            )

    async def mark_posted(self, message_id: int, ts: str) -> None:
        """Record where a message landed."""
        async with self._tx() as conn:
            await conn.execute(
                update(messages_table)
                .where(messages_table.c.id == message_id)
                .values(state="posted", ts=ts, posted_at=utcnow(), last_error=None)
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
                DigestItem(entry=row.entry, outcome=row.outcome) for row in (entry_row(r) for r in rows)
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
        return None if row is None else entry_row(row)

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
            found = [entry_row(row) for row in rows]
        return {row.current_run_id: row for row in found}

    # -- resyncs -----------------------------------------------------------------------------

    async def claim_resync(self, run_id: int, user_id: str, entry_run_id: int | None) -> Claim:
        """Claim a run for resync in a transaction of its own (see `UnitOfWork.claim_resync`)."""
        async with self.unit_of_work() as uow:
            return await uow.claim_resync(run_id, user_id, entry_run_id)

    async def resync_for_run(self, run_id: int) -> ResyncRow | None:
        """The resync request for a run, if anyone made one."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(resyncs_table).where(resyncs_table.c.run_id == run_id))).first()
        return None if row is None else resync_row(row)

    async def requested_resyncs(self, older_than: datetime, limit: int = 100) -> list[ResyncRow]:
        """Claims still `requested` since before `older_than`: their process died or gave up."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(resyncs_table)
                .where(
                    and_(
                        resyncs_table.c.outcome == ResyncOutcome.REQUESTED.value,
                        resyncs_table.c.requested_at < older_than,
                    )
                )
                .order_by(resyncs_table.c.id)
                .limit(limit)
            )
            return [resync_row(row) for row in rows]

    async def queued_resyncs(self, limit: int = 500) -> list[ResyncRow]:
        """Resyncs whose new run has not ended yet, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(resyncs_table)
                .where(resyncs_table.c.outcome == ResyncOutcome.QUEUED.value)
                .order_by(resyncs_table.c.id)
                .limit(limit)
            )
            return [resync_row(row) for row in rows]

    async def attempts(self, entry_run_id: int) -> list[Attempt]:
        """Resync history of an entry, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(resyncs_table)
                .where(resyncs_table.c.entry_run_id == entry_run_id)
                .order_by(resyncs_table.c.id)
            )
            return [
                Attempt(
                    run_id=row.run_id,
                    new_run_id=row.new_run_id,
                    by_user=row.requested_by,
                    at=row.requested_at,
                    state=ResyncOutcome(row.outcome).entry_state,
                )
                for row in rows
            ]

    # -- audit -------------------------------------------------------------------------------

    async def audit(
        self, *, user_id: str, action: str, run_ids: Sequence[int], result: str, detail: str | None = None
    ) -> None:
        """Append one line to the audit log, in a transaction of its own."""
        async with self.unit_of_work() as uow:
            await uow.audit(user_id=user_id, action=action, run_ids=run_ids, result=result, detail=detail)

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
        now = utcnow()
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
