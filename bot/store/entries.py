"""Entries: the failed runs syncbot alerted on, where each is shown and what became of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from blocks.model import EntryState, Outcome
from bot.patchworks.causes import cause_of
from bot.patchworks.health import derive_health
from bot.patchworks.models import SyncEntry, SystemHealth
from bot.states import Placement
from bot.store.rows import EntryRow, entry_row
from bot.store.tables import (
    cause_states_table,
    entries_table,
    flow_snoozes_table,
    messages_table,
    resyncs_table,
)

__all__ = ["FLOW_NAME_CHARS", "EntryPage", "EntryRepo", "stored_flow_name"]

FLOW_NAME_CHARS = 255  # entries.flow_name and flow_snoozes.flow_name


@dataclass(frozen=True)
class EntryPage:
    """One page of stored entries in a window, newest first, and how many match in all."""

    rows: tuple[EntryRow, ...]
    total: int


def _filtered(entry: SyncEntry) -> dict[str, Any]:
    """The columns a listing filters on, besides flow name and run ids, from the current run."""
    return {
        "reference": entry.reference[:255] if entry.reference else None,
        "systems": "\n".join(entry.systems) or None,
    }


def _grouped(entry: SyncEntry) -> dict[str, Any]:
    """The columns a digest groups and counts by: the run's cause, and whether it can be resynced."""
    return {"cause_id": cause_of(entry).id, "resyncable": int(entry.resyncability.allowed)}


def _matching(query: str) -> ColumnElement[bool] | None:
    """SQL for `bot.listing.matches`: the filter is in the flow name, a run id, the reference or a
    system, ignoring case and leading `#`. (SQLite's lower() folds ASCII letters only.)"""
    needle = query.lower().lstrip("#")
    if not needle:
        return None
    c = entries_table.c

    def has(column: Any) -> ColumnElement[bool]:
        return func.lower(func.ltrim(column, "#")).contains(needle, autoescape=True)

    return or_(
        has(c.flow_name),
        has(cast(c.run_id, String)),
        has(cast(c.current_run_id, String)),
        has(c.reference),
        # One system per line: a needle (typed on one line) matches within one system.
        func.lower(c.systems).contains(needle, autoescape=True),
    )


def stored_flow_name(name: str) -> str:
    """A flow's name as the store keeps it (cut to its column): the key a flow snooze matches."""
    return name[:FLOW_NAME_CHARS]


class EntryRepo:
    """Read and write entries."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def known_run_ids(self, run_ids: Sequence[int]) -> set[int]:
        """Which of these runs syncbot already tracks (alerted on, or created by a resync)."""
        if not run_ids:
            return set()
        ids = list(run_ids)
        alerted = await self._conn.execute(
            select(entries_table.c.run_id, entries_table.c.current_run_id).where(
                or_(entries_table.c.run_id.in_(ids), entries_table.c.current_run_id.in_(ids))
            )
        )
        known = {rid for row in alerted for rid in (row.run_id, row.current_run_id)}
        created = await self._conn.execute(
            select(resyncs_table.c.new_run_id).where(resyncs_table.c.new_run_id.in_(ids))
        )
        known.update(row.new_run_id for row in created)
        return known & set(ids)

    async def add(
        self,
        entries: Iterable[SyncEntry],
        placement: Placement = Placement.UNASSIGNED,
        *,
        channel_of: Callable[[SyncEntry], str] | None = None,
    ) -> int:
        """Record new failed entries, by default not yet placed in a message (MIRROR: never to be
        posted); returns how many were new. Runs already tracked are skipped."""
        fresh = {entry.run_id: entry for entry in entries}
        for run_id in await self.known_run_ids(list(fresh)):
            del fresh[run_id]
        # A retry syncbot sent is followed through its resync, even when the poll sees it failed
        # before the resync's answer was recorded (or a crash lost that answer).
        retried = {entry.retry_of for entry in fresh.values() if entry.retry_of is not None}
        if retried:
            ours = set(
                await self._conn.scalars(
                    select(resyncs_table.c.run_id).where(resyncs_table.c.run_id.in_(retried))
                )
            )
            fresh = {run_id: e for run_id, e in fresh.items() if e.retry_of is None or e.retry_of not in ours}
        if not fresh:
            return 0
        rows: list[dict[str, Any]] = [
            {
                "run_id": entry.run_id,
                "current_run_id": entry.run_id,
                "flow_name": stored_flow_name(entry.flow_name),
                "started_at": entry.started_at,
                "placement": placement.value,
                "snapshot": entry.model_dump_json(),
                "state": EntryState.FAILED.value,
                "created_at": self._now,
                **_filtered(entry),
                **_grouped(entry),
                "channel": channel_of(entry) if channel_of is not None else None,
            }
            for entry in fresh.values()
        ]
        await self._conn.execute(insert(entries_table), rows)
        return len(rows)

    async def for_run(self, run_id: int) -> EntryRow | None:
        """The tracked entry whose original or current run is this one."""
        found = await self._conn.execute(
            select(entries_table).where(
                or_(entries_table.c.run_id == run_id, entries_table.c.current_run_id == run_id)
            )
        )
        row = found.first()
        return None if row is None else entry_row(row)

    async def for_runs(self, run_ids: Sequence[int]) -> dict[int, EntryRow]:
        """Tracked entries keyed by their current run id."""
        if not run_ids:
            return {}
        ids = list(run_ids)
        rows = await self._conn.execute(
            select(entries_table).where(
                or_(entries_table.c.current_run_id.in_(ids), entries_table.c.run_id.in_(ids))
            )
        )
        found = [entry_row(row) for row in rows]
        return {row.current_run_id: row for row in found}

    async def set_outcome(
        self, entry_run_id: int, outcome: Outcome, *, current: SyncEntry | None = None
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
            values.update(_filtered(current))
            values["resyncable"] = int(current.resyncability.allowed)
        await self._conn.execute(
            update(entries_table).where(entries_table.c.run_id == entry_run_id).values(**values)
        )

    async def page(
        self, query: str, since: datetime, *, offset: int, limit: int, until: datetime | None = None
    ) -> EntryPage:
        """Entries started in [since, until) matching `query`, newest first: `limit` from `offset`."""
        c = entries_table.c
        where = [c.started_at >= since]
        if until is not None:
            where.append(c.started_at < until)
        if (matching := _matching(query)) is not None:
            where.append(matching)
        condition = and_(*where)
        total = await self._conn.scalar(select(func.count()).select_from(entries_table).where(condition))
        rows = await self._conn.execute(
            select(entries_table)
            .where(condition)
            .order_by(c.started_at.desc(), c.current_run_id.desc())
            .offset(offset)
            .limit(limit)
        )
        return EntryPage(rows=tuple(entry_row(row) for row in rows), total=int(total or 0))

    async def recent_health(self, window: timedelta, *, sample: int = 200) -> dict[str, SystemHealth]:
        """Derived health of every system with failures in the last `window`, from the mirror
        (its newest `sample` failures: two report pages' worth)."""
        recent = await self.page("", self._now - window, offset=0, limit=sample)
        return derive_health([row.entry for row in recent.rows], now=self._now, window=window)

    async def matching_runs(self, query: str, since: datetime) -> list[int]:
        """Current run ids of every entry started since `since` matching `query`, newest first."""
        c = entries_table.c
        where = [c.started_at >= since]
        if (matching := _matching(query)) is not None:
            where.append(matching)
        rows = await self._conn.execute(
            select(c.current_run_id)
            .where(and_(*where))
            .order_by(c.started_at.desc(), c.current_run_id.desc())
        )
        return [int(run_id) for (run_id,) in rows]

    async def known_flows(self) -> list[tuple[str, tuple[str, ...]]]:
        """Each flow (and its systems) syncbot has recorded failures of, by name."""
        rows = await self._conn.execute(
            select(entries_table.c.flow_name, entries_table.c.systems)
            .distinct()
            .order_by(entries_table.c.flow_name, entries_table.c.systems)
        )
        flows: dict[str, tuple[str, ...]] = {}
        for name, systems in rows:
            flows.setdefault(str(name), tuple((systems or "").splitlines()))
        return list(flows.items())

    async def fill_causes(self, limit: int = 1000) -> int:
        """Give entries recorded before causes existed their cause; returns how many were filled."""
        rows = await self._conn.execute(
            select(entries_table.c.run_id, entries_table.c.snapshot)
            .where(entries_table.c.cause_id.is_(None))
            .limit(limit)
        )
        filled = 0
        for run_id, snapshot in rows.all():
            entry = SyncEntry.model_validate_json(snapshot)
            await self._conn.execute(
                update(entries_table).where(entries_table.c.run_id == run_id).values(**_grouped(entry))
            )
            filled += 1
        return filled

    async def released(self, held_before: datetime) -> list[EntryRow]:
        """Entries recorded before `held_before` and still unplaced that no snooze holds now: what
        snoozes that ended (or were lifted) held back, which this poll places."""
        c = entries_table.c
        snoozed_causes = select(cause_states_table.c.cause_id).where(
            cause_states_table.c.snoozed_until > self._now
        )
        snoozed_flows = select(flow_snoozes_table.c.flow_name).where(
            flow_snoozes_table.c.snoozed_until > self._now
        )
        rows = await self._conn.execute(
            select(entries_table).where(
                and_(
                    c.placement == Placement.UNASSIGNED.value,
                    c.created_at < held_before,
                    or_(c.cause_id.is_(None), c.cause_id.not_in(snoozed_causes)),
                    c.flow_name.not_in(snoozed_flows),
                )
            )
        )
        return [entry_row(row) for row in rows]

    async def keep_unposted(self, run_ids: Sequence[int]) -> None:
        """Keep these unplaced entries as mirror rows: listed by `/failed-syncs`, never posted."""
        c = entries_table.c
        for chunk in (list(run_ids)[i : i + 500] for i in range(0, len(run_ids), 500)):
            await self._conn.execute(
                update(entries_table)
                .where(and_(c.run_id.in_(chunk), c.placement == Placement.UNASSIGNED.value))
                .values(placement=Placement.MIRROR.value)
            )

    async def prune(self, before: datetime) -> int:
        """Forget entries started before `before`, except those of a digest created since then
        (shown in one of its messages or counted in its "+N more"), so every digest that may
        still be re-rendered keeps its entries. Returns how many were forgotten."""
        c = entries_table.c
        m = messages_table.c
        recent = select(m.id).where(m.created_at >= before)
        recent_polls = select(m.poll_id).where(m.created_at >= before)
        result = await self._conn.execute(
            delete(entries_table).where(
                and_(
                    c.started_at < before,
                    # What a snooze holds is posted when it ends, however old it is by then.
                    c.placement != Placement.UNASSIGNED.value,
                    or_(c.message_id.is_(None), c.message_id.not_in(recent)),
                    or_(c.poll_id.is_(None), c.poll_id.not_in(recent_polls)),
                )
            )
        )
        return int(result.rowcount or 0)
