"""Flows snoozed from Details: one row per snoozed flow, by flow name.

A flow snooze holds every new failure of the flow, whatever its cause: the failure is recorded as
usual but left unplaced (bot.store.messages) until `snoozed_until` has passed; the first placement
after that deletes the row and places what it held. Nothing is dropped, and there is no "forever".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import FlowSnoozeView
from bot.states import Placement
from bot.store.dialect import insert_ignoring_conflicts
from bot.store.entries import stored_flow_name
from bot.store.tables import entries_table, flow_snoozes_table

__all__ = ["FlowSnooze", "FlowSnoozeRepo"]

_f = flow_snoozes_table.c
_e = entries_table.c


@dataclass(frozen=True)
class FlowSnooze:
    """A flow's snooze as stored, with the failures it holds back."""

    flow_name: str
    snoozed_until: datetime
    snoozed_by: str
    held: int = 0

    def view(self) -> FlowSnoozeView:
        """As Block Kit builders take it."""
        return FlowSnoozeView(
            flow=self.flow_name, until=self.snoozed_until, by_user=self.snoozed_by, held=self.held
        )


def _snooze(row: Any, held: int = 0) -> FlowSnooze:
    return FlowSnooze(
        flow_name=str(row.flow_name),
        snoozed_until=row.snoozed_until,
        snoozed_by=str(row.snoozed_by),
        held=held,
    )


class FlowSnoozeRepo:
    """Snooze and unsnooze flows; read what placement, digests, Details and Home need."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def snooze(self, flow_name: str, user: str, until: datetime) -> None:
        """Snooze the flow until `until` (a later snooze replaces an earlier one)."""
        flow_name = stored_flow_name(flow_name)
        values = {"snoozed_until": until, "snoozed_by": user, "updated_at": self._now}
        updated = await self._conn.execute(
            update(flow_snoozes_table).where(_f.flow_name == flow_name).values(**values)
        )
        if not updated.rowcount:
            await self._conn.execute(
                insert_ignoring_conflicts(
                    self._conn, flow_snoozes_table, ["flow_name"], {"flow_name": flow_name, **values}
                )
            )

    async def unsnooze(self, flow_name: str) -> bool:
        """End the flow's snooze now; False when it was not snoozed."""
        flow_name = stored_flow_name(flow_name)
        result = await self._conn.execute(
            delete(flow_snoozes_table).where(and_(_f.flow_name == flow_name, _f.snoozed_until > self._now))
        )
        return result.rowcount == 1

    async def get(self, flow_name: str) -> FlowSnooze | None:
        """The flow's snooze while it lasts, with what it holds; None when not snoozed."""
        found = await self.active([flow_name])
        return found[0] if found else None

    async def active(self, flow_names: Iterable[str] | None = None) -> list[FlowSnooze]:
        """Snoozes lasting now (of these flows, when given), soonest expiry first, with what each holds."""
        where = [_f.snoozed_until > self._now]
        if flow_names is not None:
            wanted = list(dict.fromkeys(stored_flow_name(name) for name in flow_names))
            if not wanted:
                return []
            where.append(_f.flow_name.in_(wanted))
        rows = (
            await self._conn.execute(
                select(flow_snoozes_table).where(and_(*where)).order_by(_f.snoozed_until, _f.flow_name)
            )
        ).all()
        held = await self.held([str(row.flow_name) for row in rows])
        return [_snooze(row, held.get(str(row.flow_name), 0)) for row in rows]

    async def snoozed(self) -> set[str]:
        """Names of the flows snoozed now."""
        rows = await self._conn.execute(select(_f.flow_name).where(_f.snoozed_until > self._now))
        return {str(name) for (name,) in rows}

    async def end_expired(self) -> list[str]:
        """Delete every snooze that has passed; returns the flows whose snooze ended."""
        rows = await self._conn.execute(select(_f.flow_name).where(_f.snoozed_until <= self._now))
        ended = [str(name) for (name,) in rows]
        if ended:
            await self._conn.execute(
                delete(flow_snoozes_table).where(and_(_f.flow_name.in_(ended), _f.snoozed_until <= self._now))
            )
        return ended

    async def newly_held(self) -> list[str]:
        """Snoozed flows with failures recorded since their row last changed (the digests' "N
        snoozed" is out of date); marks them seen."""
        newer = (
            select(_e.run_id)
            .where(
                and_(
                    _e.flow_name == _f.flow_name,
                    _e.placement == Placement.UNASSIGNED.value,
                    _e.created_at > _f.updated_at,
                )
            )
            .exists()
        )
        rows = await self._conn.execute(select(_f.flow_name).where(and_(_f.snoozed_until > self._now, newer)))
        flows = [str(name) for (name,) in rows]
        if flows:
            await self._conn.execute(
                update(flow_snoozes_table).where(_f.flow_name.in_(flows)).values(updated_at=self._now)
            )
        return flows

    async def held(self, flow_names: Iterable[str]) -> dict[str, int]:
        """Failures recorded but not placed, by flow: what the snoozes hold back."""
        wanted = list(dict.fromkeys(stored_flow_name(name) for name in flow_names))
        if not wanted:
            return {}
        rows = await self._conn.execute(
            select(_e.flow_name, func.count())
            .where(and_(_e.placement == Placement.UNASSIGNED.value, _e.flow_name.in_(wanted)))
            .group_by(_e.flow_name)
        )
        return {str(name): int(count) for name, count in rows}

    async def messages_showing(self, flow_names: Iterable[str]) -> list[int]:
        """Digest messages holding runs of these flows, or of a cause these flows' held failures
        belong to: what to rewrite when a flow's snooze changes."""
        wanted = list(dict.fromkeys(stored_flow_name(name) for name in flow_names))
        if not wanted:
            return []
        held_causes = select(_e.cause_id).where(
            and_(
                _e.flow_name.in_(wanted), _e.placement == Placement.UNASSIGNED.value, _e.cause_id.is_not(None)
            )
        )
        rows = await self._conn.execute(
            select(_e.message_id)
            .where(
                and_(
                    _e.placement == Placement.MESSAGE.value,
                    _e.message_id.is_not(None),
                    or_(_e.flow_name.in_(wanted), _e.cause_id.in_(held_causes)),
                )
            )
            .distinct()
            .order_by(_e.message_id)
        )
        return [int(message_id) for (message_id,) in rows]
