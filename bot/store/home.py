"""What App Home and the daily summary read: open causes with their digest, owners and snoozes,
the last resyncs, the last 24 hours; and who opened Home lately, and which summaries were posted.

Aggregates in SQL; only the causes shown load a snapshot (one each), so 5,000 open causes cost a
grouped query and a few dozen rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.home import HomeCause, HomeResync
from blocks.summary import OldestFailure, SummaryCause, SummarySnooze
from bot.patchworks.models import SyncEntry
from bot.states import ResyncOutcome
from bot.store import tables
from bot.store.causes import OPEN_STATES
from bot.store.dialect import insert_ignoring_conflicts
from bot.store.tables import entries_table, home_views_table, messages_table, resyncs_table, summaries_table

__all__ = ["HomeRepo", "OpenCauses"]

_e = entries_table.c
_r = resyncs_table.c


def _cause_states() -> Table | None:
    """The cause_states table (owner, snooze) when this version has it."""
    table = getattr(tables, "cause_states_table", None)
    return table if isinstance(table, Table) else None


class OpenCauses:
    """Open causes: the shown ones in full, and counts for all of them."""

    def __init__(self, shown: list[HomeCause], total: int, by_channel: list[tuple[str, int]]) -> None:
        self.shown = shown
        self.total = total
        self.by_channel = by_channel


class HomeRepo:
    """Reads for App Home and the daily summary, and their two small tables."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    # ---- causes ---------------------------------------------------------------------------

    async def open_causes(self, *, shown: int) -> OpenCauses:
        """Causes with a run still failed in a digest, most open runs first; `shown` in full."""
        groups = (
            await self._conn.execute(
                select(_e.cause_id, func.max(_e.message_id), func.count(), func.max(_e.started_at))
                .where(and_(_e.message_id.is_not(None), _e.state.in_(OPEN_STATES), _e.cause_id.is_not(None)))
                .group_by(_e.cause_id)
                .order_by(func.count().desc(), _e.cause_id)
            )
        ).all()
        message_ids = {int(message_id) for _, message_id, _, _ in groups}
        messages: dict[int, tuple[str, str | None]] = {}
        for chunk in _chunks(sorted(message_ids), 500):
            rows = await self._conn.execute(
                select(messages_table.c.id, messages_table.c.channel, messages_table.c.ts).where(
                    messages_table.c.id.in_(chunk)
                )
            )
            messages.update({int(i): (str(channel), ts) for i, channel, ts in rows})
        per_channel: dict[str, int] = {}
        for _, message_id, _, _ in groups:
            channel = messages.get(int(message_id), ("?", None))[0]
            per_channel[channel] = per_channel.get(channel, 0) + 1
        states = await self.cause_states([str(cause_id) for cause_id, _, _, _ in groups[:shown]])
        causes: list[HomeCause] = []
        for cause_id, message_id, count, last in groups[:shown]:
            channel, ts = messages.get(int(message_id), ("?", None))
            newest = await self._newest(str(cause_id))
            owner, until, by = states.get(str(cause_id), (None, None, None))
            causes.append(
                HomeCause(
                    cause_id=str(cause_id),
                    channel=channel,
                    ts=ts,
                    example=newest.error_summary if newest else "",
                    flow=newest.flow_name if newest else "",
                    systems=newest.systems if newest else (),
                    open_runs=int(count),
                    last_seen=last,
                    owner=owner,
                    snoozed_until=until,
                    snoozed_by=by,
                )
            )
        by_channel = sorted(per_channel.items(), key=lambda item: (-item[1], item[0]))
        return OpenCauses(causes, len(groups), by_channel)

    async def _newest(self, cause_id: str) -> SyncEntry | None:
        snapshot = await self._conn.scalar(
            select(_e.snapshot)
            .where(and_(_e.cause_id == cause_id, _e.state.in_(OPEN_STATES)))
            .order_by(_e.started_at.desc(), _e.run_id.desc())
            .limit(1)
        )
        return SyncEntry.model_validate_json(snapshot) if snapshot else None

    async def cause_states(
        self, cause_ids: Sequence[str]
    ) -> dict[str, tuple[str | None, datetime | None, str | None]]:
        """(owner, snoozed_until, snoozed_by) of each cause that has a state; {} without the table."""
        table = _cause_states()
        if table is None or not cause_ids:
            return {}
        found: dict[str, tuple[str | None, datetime | None, str | None]] = {}
        for chunk in _chunks(list(cause_ids), 500):
            rows = await self._conn.execute(select(table).where(table.c.cause_id.in_(chunk)))
            for row in rows.mappings():
                found[str(row["cause_id"])] = _state(row)
        return found

    async def snoozes(self, *, until: datetime | None = None, limit: int = 50) -> list[HomeCause]:
        """Causes snoozed now (ending before `until`, when given), soonest expiry first."""
        table = _cause_states()
        if table is None or "snoozed_until" not in table.c:
            return []
        where = [table.c.snoozed_until > self._now]
        if until is not None:
            where.append(table.c.snoozed_until <= until)
        rows = await self._conn.execute(
            select(table).where(and_(*where)).order_by(table.c.snoozed_until).limit(limit)
        )
        snoozed: list[HomeCause] = []
        for row in rows.mappings():
            cause_id = str(row["cause_id"])
            newest = await self._newest(cause_id)
            owner, at, by = _state(row)
            snoozed.append(
                HomeCause(
                    cause_id=cause_id,
                    channel="",
                    example=newest.error_summary if newest else "",
                    flow=newest.flow_name if newest else "",
                    owner=owner,
                    snoozed_until=at,
                    snoozed_by=by,
                )
            )
        return snoozed

    # ---- resyncs --------------------------------------------------------------------------

    async def last_resyncs(self, limit: int) -> list[HomeResync]:
        """The newest resyncs, newest first."""
        rows = await self._conn.execute(
            select(_r.run_id, _r.new_run_id, _r.requested_by, _r.requested_at, _r.outcome)
            .order_by(_r.requested_at.desc(), _r.id.desc())
            .limit(limit)
        )
        return [
            HomeResync(run_id=int(run), new_run_id=new, by_user=str(by), at=at, outcome=str(outcome))
            for run, new, by, at, outcome in rows
        ]

    # ---- the daily summary's window -------------------------------------------------------

    async def failures_since(self, since: datetime) -> int:
        """Failed runs recorded since `since`."""
        return int(await self._conn.scalar(select(func.count()).where(_e.created_at >= since)) or 0)

    async def resyncs_since(self, since: datetime) -> list[tuple[str, int]]:
        """Resyncs requested since `since`, by outcome (every outcome that occurred)."""
        rows = await self._conn.execute(
            select(_r.outcome, func.count()).where(_r.requested_at >= since).group_by(_r.outcome)
        )
        order = [outcome.value for outcome in ResyncOutcome]
        counts = [(str(outcome), int(count)) for outcome, count in rows]
        return sorted(counts, key=lambda item: order.index(item[0]) if item[0] in order else len(order))

    async def top_causes_since(self, since: datetime, limit: int) -> list[SummaryCause]:
        """The causes with the most failures recorded since `since`."""
        rows = await self._conn.execute(
            select(_e.cause_id, func.count())
            .where(and_(_e.created_at >= since, _e.cause_id.is_not(None)))
            .group_by(_e.cause_id)
            .order_by(func.count().desc(), _e.cause_id)
            .limit(limit)
        )
        top: list[SummaryCause] = []
        for cause_id, count in rows.all():
            snapshot = await self._conn.scalar(
                select(_e.snapshot)
                .where(_e.cause_id == cause_id)
                .order_by(_e.started_at.desc(), _e.run_id.desc())
                .limit(1)
            )
            newest = SyncEntry.model_validate_json(snapshot) if snapshot else None
            top.append(
                SummaryCause(
                    cause_id=str(cause_id),
                    example=newest.error_summary if newest else "",
                    flow=newest.flow_name if newest else "",
                    runs=int(count),
                )
            )
        return top

    async def oldest_unresolved(self) -> OldestFailure | None:
        """The failure that has been unresolved longest (posted or not)."""
        snapshot = await self._conn.scalar(
            select(_e.snapshot)
            .where(and_(_e.state.in_(OPEN_STATES), _e.started_at.is_not(None)))
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

    async def snoozes_ending(self, until: datetime) -> list[SummarySnooze]:
        """Snoozes that end between now and `until`."""
        return [
            SummarySnooze(
                cause_id=cause.cause_id,
                example=cause.example,
                until=cause.snoozed_until,
                by_user=cause.snoozed_by,
            )
            for cause in await self.snoozes(until=until)
            if cause.snoozed_until is not None
        ]

    # ---- home_views -----------------------------------------------------------------------

    async def opened(self, user_id: str) -> None:
        """Note that `user_id` opened Home now."""
        updated = await self._conn.execute(
            update(home_views_table).where(home_views_table.c.user_id == user_id).values(opened_at=self._now)
        )
        if not updated.rowcount:
            await self._conn.execute(
                insert_ignoring_conflicts(
                    self._conn, home_views_table, ["user_id"], {"user_id": user_id, "opened_at": self._now}
                )
            )

    async def viewers_since(self, since: datetime) -> list[str]:
        """Users who opened Home since `since`; forgets older ones."""
        await self._conn.execute(delete(home_views_table).where(home_views_table.c.opened_at < since))
        rows = await self._conn.execute(
            select(home_views_table.c.user_id).order_by(home_views_table.c.user_id)
        )
        return [str(user) for (user,) in rows]

    # ---- summaries ------------------------------------------------------------------------

    async def claim_summary(self, channel: str, day: str) -> bool:
        """Claim the day's summary of `channel`: True for the one caller whose insert wins."""
        taken = await self._conn.execute(
            insert_ignoring_conflicts(
                self._conn,
                summaries_table,
                ["channel", "day"],
                {"channel": channel, "day": day, "claimed_at": self._now},
            )
        )
        return bool(taken.rowcount)

    async def summary_posted(self, channel: str, day: str, ts: str) -> None:
        """Record the posted summary's ts."""
        await self._conn.execute(
            update(summaries_table)
            .where(and_(summaries_table.c.channel == channel, summaries_table.c.day == day))
            .values(ts=ts)
        )


def _state(row: Any) -> tuple[str | None, datetime | None, str | None]:
    def get(key: str) -> Any:
        try:
            return row[key]
        except KeyError:
            return None

    owner, until, by = get("owner"), get("snoozed_until"), get("snoozed_by")
    return (
        str(owner) if owner else None,
        until if isinstance(until, datetime) else None,
        str(by) if by else None,
    )


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
