"""Entries: the failed runs syncbot alerted on, where each is shown and what became of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import EntryState, Outcome
from bot.patchworks.models import SyncEntry
from bot.states import Placement
from bot.store.rows import EntryRow, entry_row
from bot.store.tables import entries_table, resyncs_table

__all__ = ["EntryRepo"]


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

    async def add(self, entries: Iterable[SyncEntry]) -> int:
        """Record new failed entries, not yet placed in a message; returns how many were new."""
        fresh = {entry.run_id: entry for entry in entries}
        for run_id in await self.known_run_ids(list(fresh)):
            del fresh[run_id]
        if not fresh:
            return 0
        rows: list[dict[str, Any]] = [
            {
                "run_id": entry.run_id,
                "current_run_id": entry.run_id,
                "flow_name": entry.flow_name[:255],
                "started_at": entry.started_at,
                "placement": Placement.UNASSIGNED.value,
                "snapshot": entry.model_dump_json(),
                "state": EntryState.FAILED.value,
                "created_at": self._now,
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
        await self._conn.execute(
            update(entries_table).where(entries_table.c.run_id == entry_run_id).values(**values)
        )
