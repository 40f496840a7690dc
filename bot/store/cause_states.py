"""Who is on a cause ("I'm on it") and until when it is snoozed: one row per cause, global to it.

Taking a cause is one conditional UPDATE (`… WHERE owner IS NULL`): when two people click at once,
the database lets exactly one of them through, on SQLite (one writer at a time) and PostgreSQL
(the second UPDATE waits for the first's row lock, then finds the owner set).

A snoozed cause's new failures are recorded as usual but left unplaced (bot.store.messages) until
`snoozed_until` has passed; the first placement after that ends the snooze (`end_expired`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.states import Placement
from bot.store.dialect import insert_ignoring_conflicts
from bot.store.tables import cause_states_table, entries_table

__all__ = ["CauseState", "CauseStateRepo"]

_s = cause_states_table.c


@dataclass(frozen=True)
class CauseState:
    """One cause's owner and snooze, as stored (a snooze may have passed already)."""

    cause_id: str
    owner: str | None = None
    owner_since: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None

    def snoozed_at(self, now: datetime) -> bool:
        """Whether the cause is snoozed at `now`."""
        return self.snoozed_until is not None and self.snoozed_until > now


def _state(row: Any) -> CauseState:
    return CauseState(
        cause_id=str(row.cause_id),
        owner=row.owner,
        owner_since=row.owner_since,
        snoozed_until=row.snoozed_until,
        snoozed_by=row.snoozed_by,
    )


class CauseStateRepo:
    """Take, hand back, snooze and unsnooze causes; read what placement and rendering need."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def _ensure(self, cause_id: str) -> None:
        await self._conn.execute(
            insert_ignoring_conflicts(
                self._conn, cause_states_table, ["cause_id"], {"cause_id": cause_id, "updated_at": self._now}
            )
        )

    async def get(self, cause_id: str) -> CauseState | None:
        """The cause's state, or None when nobody ever took or snoozed it."""
        found = await self.states([cause_id])
        return found.get(cause_id)

    async def states(self, cause_ids: Iterable[str]) -> dict[str, CauseState]:
        """The states of these causes that have one, by cause id."""
        wanted = list(dict.fromkeys(cause_ids))
        if not wanted:
            return {}
        rows = await self._conn.execute(select(cause_states_table).where(_s.cause_id.in_(wanted)))
        return {row.cause_id: _state(row) for row in rows}

    async def take(self, cause_id: str, user: str) -> tuple[bool, str | None]:
        """Make `user` the cause's owner unless someone has it: (taken now, the owner after)."""
        await self._ensure(cause_id)
        result = await self._conn.execute(
            update(cause_states_table)
            .where(and_(_s.cause_id == cause_id, _s.owner.is_(None)))
            .values(owner=user, owner_since=self._now, updated_at=self._now)
        )
        if result.rowcount == 1:
            return True, user
        owner = await self._conn.scalar(select(_s.owner).where(_s.cause_id == cause_id))
        return False, None if owner is None else str(owner)

    async def hand_back(self, cause_id: str) -> str | None:
        """Leave the cause without an owner; returns who had it (None: nobody, nothing changed)."""
        owner = await self._conn.scalar(select(_s.owner).where(_s.cause_id == cause_id))
        if owner is None:
            return None
        result = await self._conn.execute(
            update(cause_states_table)
            .where(and_(_s.cause_id == cause_id, _s.owner == owner))
            .values(owner=None, owner_since=None, updated_at=self._now)
        )
        return str(owner) if result.rowcount == 1 else None

    async def snooze(self, cause_id: str, user: str, until: datetime) -> None:
        """Snooze the cause until `until` (a later snooze replaces an earlier one)."""
        await self._ensure(cause_id)
        await self._conn.execute(
            update(cause_states_table)
            .where(_s.cause_id == cause_id)
            .values(snoozed_until=until, snoozed_by=user, updated_at=self._now)
        )

    async def unsnooze(self, cause_id: str) -> bool:
        """End the cause's snooze now; False when it was not snoozed."""
        result = await self._conn.execute(
            update(cause_states_table)
            .where(and_(_s.cause_id == cause_id, _s.snoozed_until > self._now))
            .values(snoozed_until=None, snoozed_by=None, updated_at=self._now)
        )
        return result.rowcount == 1

    async def snoozed(self) -> set[str]:
        """Causes snoozed now."""
        rows = await self._conn.execute(select(_s.cause_id).where(_s.snoozed_until > self._now))
        return {str(cause_id) for (cause_id,) in rows}

    async def end_expired(self) -> list[str]:
        """Clear every snooze that has passed; returns the causes whose snooze ended."""
        rows = await self._conn.execute(
            select(_s.cause_id).where(and_(_s.snoozed_until.is_not(None), _s.snoozed_until <= self._now))
        )
        ended = [str(cause_id) for (cause_id,) in rows]
        if ended:
            await self._conn.execute(
                update(cause_states_table)
                .where(and_(_s.cause_id.in_(ended), _s.snoozed_until <= self._now))
                .values(snoozed_until=None, snoozed_by=None, updated_at=self._now)
            )
        return ended

    async def newly_held(self) -> list[str]:
        """Snoozed causes with failures recorded since their state last changed (their digests'
        "N snoozed" is out of date); marks them seen."""
        e = entries_table.c
        newer = (
            select(e.run_id)
            .where(
                and_(
                    e.cause_id == _s.cause_id,
                    e.placement == Placement.UNASSIGNED.value,
                    e.created_at > _s.updated_at,
                )
            )
            .exists()
        )
        rows = await self._conn.execute(select(_s.cause_id).where(and_(_s.snoozed_until > self._now, newer)))
        causes = [str(cause_id) for (cause_id,) in rows]
        if causes:
            await self._conn.execute(
                update(cause_states_table).where(_s.cause_id.in_(causes)).values(updated_at=self._now)
            )
        return causes

    async def held(self, cause_ids: Iterable[str], *, channel: str | None = None) -> dict[str, int]:
        """Failures recorded but not placed, by cause: what a snooze is holding back (of those
        routed to `channel`, when given; an entry recorded before routing counts everywhere)."""
        wanted = list(dict.fromkeys(cause_ids))
        if not wanted:
            return {}
        e = entries_table.c
        where = [e.placement == Placement.UNASSIGNED.value, e.cause_id.in_(wanted)]
        if channel is not None:
            where.append(or_(e.channel == channel, e.channel.is_(None)))
        rows = await self._conn.execute(
            select(e.cause_id, func.count()).where(and_(*where)).group_by(e.cause_id)
        )
        return {str(cause_id): int(count) for cause_id, count in rows}

    async def owned(self) -> list[CauseState]:
        """Every cause someone is on, longest-held first (App Home, the daily summary)."""
        rows = await self._conn.execute(
            select(cause_states_table).where(_s.owner.is_not(None)).order_by(_s.owner_since, _s.cause_id)
        )
        return [_state(row) for row in rows]
