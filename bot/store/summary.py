"""What the daily summary reads: the last 24 hours of one channel, or of all of them.

A failure belongs to the channel its digests go to: `entries.channel`, NULL for SYNCBOT_CHANNEL
(the `default` every method takes with `channel`). Causes and their owners and snoozes are global
(bot.store.cause_states); a channel sees those of causes with a failure routed to it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from blocks.model import FlowSnoozeView
from blocks.summary import OldestFailure, SummaryCause, SummaryOwner, SummarySnooze
from bot.patchworks.models import SyncEntry
from bot.states import Placement, ResyncOutcome
from bot.store.causes import OPEN_STATES
from bot.store.flow_snoozes import FlowSnoozeRepo
from bot.store.tables import cause_states_table, entries_table, flow_snoozes_table, resyncs_table

__all__ = ["SummaryRepo"]

_e = entries_table.c
_r = resyncs_table.c
_s = cause_states_table.c
_f = flow_snoozes_table.c
# Bounds the rows (and example reads) one summary loads; beyond it, "+N more" counts only these.
_SNOOZES_READ = 50


def _routed(channel: str | None, default: str | None) -> ColumnElement[bool]:
    """Entries whose digests go to `channel`; every entry when `channel` is None."""
    if channel is None:
        return true()
    if default is None:
        return _e.channel == channel
    return func.coalesce(_e.channel, default) == channel


class SummaryRepo:
    """Reads for one channel's daily summary (`channel=None`: every channel's together)."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def failures_since(
        self, since: datetime, *, channel: str | None = None, default: str | None = None
    ) -> int:
        """Failed runs that started since `since` (not when syncbot recorded them: a first poll's
        lookback or a catch-up after downtime records older failures)."""
        where = and_(_e.started_at >= since, _routed(channel, default))
        return int(await self._conn.scalar(select(func.count()).where(where)) or 0)

    async def resyncs_since(
        self, since: datetime, *, channel: str | None = None, default: str | None = None
    ) -> list[tuple[str, int]]:
        """Resyncs requested since `since` of runs routed to the channel, by outcome."""
        # A resync whose entry is gone (pruned, or a run retried before syncbot recorded it) has
        # no route left: the outer join gives it a NULL channel, which counts for the default
        # channel like any unrouted failure. Leaving it out would drop a person's resync from
        # every summary, and with no SYNCBOT_ROUTES the one channel keeps counting them all.
        joined = resyncs_table.outerjoin(
            entries_table, _e.run_id == func.coalesce(_r.entry_run_id, _r.run_id)
        )
        rows = await self._conn.execute(
            select(_r.outcome, func.count())
            .select_from(joined)
            .where(and_(_r.requested_at >= since, _routed(channel, default)))
            .group_by(_r.outcome)
        )
        order = [outcome.value for outcome in ResyncOutcome]
        counts = [(str(outcome), int(count)) for outcome, count in rows]
        return sorted(counts, key=lambda item: order.index(item[0]) if item[0] in order else len(order))

    async def top_causes_since(
        self, since: datetime, limit: int, *, channel: str | None = None, default: str | None = None
    ) -> list[SummaryCause]:
        """The causes with the most failures started since `since`."""
        routed = _routed(channel, default)
        rows = await self._conn.execute(
            select(_e.cause_id, func.count())
            .where(and_(_e.started_at >= since, _e.cause_id.is_not(None), routed))
            .group_by(_e.cause_id)
            .order_by(func.count().desc(), _e.cause_id)
            .limit(limit)
        )
        top: list[SummaryCause] = []
        for cause_id, count in rows.all():
            newest = await self._newest(str(cause_id), routed)
            top.append(
                SummaryCause(
                    cause_id=str(cause_id),
                    example=newest.error_summary if newest else "",
                    flow=newest.flow_name if newest else "",
                    runs=int(count),
                )
            )
        return top

    async def oldest_unresolved(
        self, *, channel: str | None = None, default: str | None = None
    ) -> OldestFailure | None:
        """The failure that has been unresolved longest (posted, or held by a snooze).

        Not a mirror row: one read for a listing or found fixed when a snooze ended, whose state
        syncbot does not follow, so "unresolved" would be a guess.
        """
        snapshot = await self._conn.scalar(
            select(_e.snapshot)
            .where(
                and_(
                    _e.state.in_(OPEN_STATES),
                    _e.placement != Placement.MIRROR.value,
                    _e.started_at.is_not(None),
                    _routed(channel, default),
                )
            )
            .order_by(_e.started_at, _e.run_id)
            .limit(1)
        )
        if not snapshot:
            return None
        entry = SyncEntry.model_validate_json(snapshot)
        assert entry.started_at is not None
        return OldestFailure(
            run_id=entry.run_id, flow=entry.flow_name, started_at=entry.started_at, url=entry.url
        )

    async def snoozes_ending(
        self, until: datetime, *, channel: str | None = None, default: str | None = None
    ) -> list[SummarySnooze]:
        """Snoozes that end between now and `until`, of causes with failures routed to the channel."""
        routed = _routed(channel, default)
        rows = await self._conn.execute(
            select(_s.cause_id, _s.snoozed_until, _s.snoozed_by)
            .where(and_(_s.snoozed_until > self._now, _s.snoozed_until <= until, self._has_entries(routed)))
            .order_by(_s.snoozed_until, _s.cause_id)
            .limit(_SNOOZES_READ)
        )
        snoozes: list[SummarySnooze] = []
        for cause_id, snoozed_until, by in rows.all():
            newest = await self._newest(str(cause_id), routed)
            snoozes.append(
                SummarySnooze(
                    cause_id=str(cause_id),
                    example=newest.error_summary if newest else "",
                    until=snoozed_until,
                    by_user=str(by) if by else None,
                )
            )
        return snoozes

    async def flow_snoozes_ending(
        self, until: datetime, *, channel: str | None = None, default: str | None = None
    ) -> list[FlowSnoozeView]:
        """Flow snoozes that end between now and `until`, of flows with failures routed to the channel."""
        has_entries = select(_e.run_id).where(and_(_e.flow_name == _f.flow_name, _routed(channel, default)))
        rows = await self._conn.execute(
            select(_f.flow_name)
            .where(and_(_f.snoozed_until > self._now, _f.snoozed_until <= until, has_entries.exists()))
            .order_by(_f.snoozed_until, _f.flow_name)
            .limit(_SNOOZES_READ)
        )
        names = [str(name) for (name,) in rows]
        snoozes = await FlowSnoozeRepo(self._conn, self._now).active(names)
        return [snooze.view() for snooze in snoozes]

    async def owners(
        self, limit: int, *, channel: str | None = None, default: str | None = None
    ) -> tuple[list[SummaryOwner], int]:
        """Causes someone is on ("I'm on it"), longest-held first: the first `limit`, and how many."""
        routed = _routed(channel, default)
        owned = and_(_s.owner.is_not(None), self._has_entries(routed))
        total = int(
            await self._conn.scalar(select(func.count()).select_from(cause_states_table).where(owned)) or 0
        )
        rows = await self._conn.execute(
            select(_s.cause_id, _s.owner, _s.owner_since)
            .where(owned)
            .order_by(_s.owner_since, _s.cause_id)
            .limit(limit)
        )
        shown: list[SummaryOwner] = []
        for cause_id, owner, since in rows.all():
            newest = await self._newest(str(cause_id), routed)
            shown.append(
                SummaryOwner(
                    cause_id=str(cause_id),
                    owner=str(owner),
                    since=since,
                    example=newest.error_summary if newest else "",
                    flow=newest.flow_name if newest else "",
                )
            )
        return shown, total

    @staticmethod
    def _has_entries(routed: ColumnElement[bool]) -> ColumnElement[bool]:
        """The cause state's cause has a failure among `routed`."""
        return select(_e.run_id).where(and_(_e.cause_id == _s.cause_id, routed)).exists()

    async def _newest(self, cause_id: str, routed: ColumnElement[bool]) -> SyncEntry | None:
        snapshot = await self._conn.scalar(
            select(_e.snapshot)
            .where(and_(_e.cause_id == cause_id, routed))
            .order_by(_e.started_at.desc(), _e.run_id.desc())
            .limit(1)
        )
        return SyncEntry.model_validate_json(snapshot) if snapshot else None
