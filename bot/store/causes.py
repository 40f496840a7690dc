"""Causes as a digest message shows them: counted and summarised in SQL, a few runs loaded.

A message holds every run of its causes (placement MESSAGE): a cause of 5,000 runs costs a few
aggregate queries and its newest runs, never 5,000 parsed snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from blocks.model import CauseView, DigestItem, EntryState, FlowSnoozeView
from bot.patchworks.causes import cause_of, classify, next_step
from bot.patchworks.models import Health, SystemHealth
from bot.states import Placement
from bot.store.cause_states import CauseStateRepo
from bot.store.flow_snoozes import FlowSnoozeRepo
from bot.store.jobs import JobRepo
from bot.store.rows import entry_row
from bot.store.tables import entries_table, messages_table

__all__ = ["OPEN_STATES", "CauseRepo"]

_e = entries_table.c
# States of an entry whose run is still failed: what "Resync all" covers and "resolved" waits for.
OPEN_STATES = (EntryState.FAILED.value, EntryState.FAILED_AGAIN.value, EntryState.ERROR.value)


class CauseRepo:
    """Read the causes of a digest message, and the runs "Resync all" of one of them covers."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def views(
        self, message_id: int, *, items: int, health: Mapping[str, SystemHealth]
    ) -> list[CauseView]:
        """The message's causes, most runs first, each with its newest `items` runs."""
        in_message = and_(_e.message_id == message_id, _e.placement == Placement.MESSAGE.value)
        not_ok = case((_e.state != EntryState.OK.value, 1), else_=0)
        retryable = case((and_(_e.resyncable == 1, _e.state.in_(OPEN_STATES)), 1), else_=0)
        groups = await self._conn.execute(
            select(
                _e.cause_id,
                func.count(),
                func.min(_e.started_at),
                func.max(_e.started_at),
                func.sum(not_ok),
                func.sum(retryable),
            )
            .where(in_message)
            .group_by(_e.cause_id)
            .order_by(func.count().desc(), _e.cause_id)
        )
        views: list[CauseView] = []
        jobs = JobRepo(self._conn, self._now)
        grouped = groups.all()
        cause_ids = [str(row[0]) for row in grouped if row[0]]
        cause_states = CauseStateRepo(self._conn, self._now)
        states = await cause_states.states(cause_ids)
        # Whatever is unplaced past a placement is held by a snooze, of the cause or of a flow;
        # a message counts what would be posted to its own channel.
        channel = await self._conn.scalar(
            select(messages_table.c.channel).where(messages_table.c.id == message_id)
        )
        held = await cause_states.held(cause_ids, channel=None if channel is None else str(channel))
        flow_snoozes = FlowSnoozeRepo(self._conn, self._now)
        for cause_id, count, first, last, open_runs, can_retry in grouped:
            state = states.get(cause_id) if cause_id else None
            snooze = state is not None and state.snoozed_at(self._now)
            of_cause = and_(in_message, _e.cause_id == cause_id if cause_id else _e.cause_id.is_(None))
            flows = await self._conn.execute(
                select(_e.flow_name, func.count())
                .where(of_cause)
                .group_by(_e.flow_name)
                .order_by(func.count().desc(), _e.flow_name)
            )
            rows = await self._conn.execute(
                select(entries_table)
                .where(of_cause)
                .order_by(_e.started_at.desc(), _e.run_id.desc())
                .limit(items)
            )
            shown = [entry_row(row) for row in rows]
            newest = shown[0].entry if shown else None
            key = cause_of(newest) if newest is not None else None
            # The newest run's systems in their order (source → destination); the key sorts them.
            systems = newest.systems if newest is not None else ()
            job = await jobs.latest_for_cause(message_id, cause_id) if cause_id else None
            views.append(
                CauseView(
                    cause_id=cause_id or "0" * 16,
                    example=newest.error_summary if newest is not None else "",
                    next_step=next_step(classify(key.signature)) if key is not None else "",
                    count=int(count),
                    open_runs=int(open_runs or 0),
                    retryable=int(can_retry or 0),
                    flows=tuple((str(name), int(n)) for name, n in flows.all()),
                    systems=systems,
                    health=tuple(
                        health[system]
                        for system in systems
                        if system in health and health[system].health is not Health.OPERATIONAL
                    ),
                    first_seen=first,
                    last_seen=last,
                    items=tuple(DigestItem(entry=row.entry, outcome=row.outcome) for row in shown),
                    bulk=await jobs.progress(job) if job is not None else None,
                    owner=state.owner if state is not None else None,
                    owner_since=state.owner_since if state is not None else None,
                    snoozed_until=state.snoozed_until if state is not None and snooze else None,
                    snoozed_by=state.snoozed_by if state is not None and snooze else None,
                    held=held.get(cause_id, 0) if cause_id else 0,
                    snoozed_flows=await self._flow_snoozes(flow_snoozes, cause_id, in_message),
                )
            )
        return views

    async def _flow_snoozes(
        self, flow_snoozes: FlowSnoozeRepo, cause_id: str | None, in_message: ColumnElement[bool]
    ) -> tuple[FlowSnoozeView, ...]:
        """Snoozes of the flows the cause's runs in the message, or held for it, belong to."""
        if cause_id is None:
            return ()
        held_here = _e.placement == Placement.UNASSIGNED.value
        names = await self._conn.scalars(
            select(_e.flow_name).where(and_(_e.cause_id == cause_id, or_(in_message, held_here))).distinct()
        )
        return tuple(snooze.view() for snooze in await flow_snoozes.active(names))

    async def open_runs(self, message_id: int, cause_id: str) -> list[int]:
        """Current run ids of the cause's runs in the message that are still failed, oldest first."""
        rows = await self._conn.execute(
            select(_e.current_run_id)
            .where(
                and_(
                    _e.message_id == message_id,
                    _e.placement == Placement.MESSAGE.value,
                    _e.cause_id == cause_id,
                    _e.state.in_(OPEN_STATES),
                )
            )
            .order_by(_e.started_at, _e.run_id)
        )
        return [int(run_id) for (run_id,) in rows]

    async def in_message(self, message_id: int, cause_id: str) -> bool:
        """Whether the message holds runs of the cause (a button's value is checked against it)."""
        found = await self._conn.scalar(
            select(_e.run_id)
            .where(
                and_(
                    _e.message_id == message_id,
                    _e.placement == Placement.MESSAGE.value,
                    _e.cause_id == cause_id,
                )
            )
            .limit(1)
        )
        return found is not None

    async def messages_showing(self, cause_ids: Sequence[str]) -> list[int]:
        """Every digest message holding runs of these causes: what to rewrite when one changes."""
        if not cause_ids:
            return []
        rows = await self._conn.execute(
            select(_e.message_id)
            .where(
                and_(
                    _e.placement == Placement.MESSAGE.value,
                    _e.cause_id.in_(list(cause_ids)),
                    _e.message_id.is_not(None),
                )
            )
            .distinct()
            .order_by(_e.message_id)
        )
        return [int(message_id) for (message_id,) in rows]

    async def updated_at(self, message_id: int) -> datetime | None:
        """When runs last joined the message."""
        value = await self._conn.scalar(select(func.max(_e.created_at)).where(_e.message_id == message_id))
        return value if isinstance(value, datetime) else None
