"""What App Home reads: open causes with their digest, owners and snoozes, the last resyncs; and
who opened Home lately, and which daily summaries were claimed and posted (the summary's own reads
of its 24 hours are bot.store.summary).

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
from bot.patchworks.models import SyncEntry
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
    """Reads for App Home, and the two small tables of Home views and daily summaries."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    # ---- causes ---------------------------------------------------------------------------

    async def open_causes(self, *, shown: int) -> OpenCauses:
        """Causes with a run still failed in a digest, most open runs first; `shown` in full.

        By channel: a cause routed to two channels (by status, say) is open in each, with its
        own count and digest there.
        """
        m = messages_table.c
        groups = (
            await self._conn.execute(
                select(_e.cause_id, func.max(_e.message_id), func.count(), func.max(_e.started_at))
                .join(messages_table, m.id == _e.message_id)
                .where(and_(_e.state.in_(OPEN_STATES), _e.cause_id.is_not(None)))
                .group_by(_e.cause_id, m.channel)
                .order_by(func.count().desc(), _e.cause_id, m.channel)
            )
        ).all()
        message_ids = {int(message_id) for _, message_id, _, _ in groups}
        messages: dict[int, tuple[str, str | None]] = {}
        for chunk in _chunks(sorted(message_ids), 500):
            rows = (
                await self._conn.execute(
                    select(m.id, m.channel, m.ts, m.part, m.poll_id).where(m.id.in_(chunk))
                )
            ).all()
            # A part after the first is a reply in part 1's thread: link to part 1, which Slack
            # opens in the channel (a reply's bare permalink does not reliably show its thread).
            # One poll makes a digest per routed channel: a part's root is part 1 of its channel.
            polls = sorted({str(poll_id) for _, _, _, part, poll_id in rows if part != 1 and poll_id})
            roots: dict[tuple[str, str], str | None] = {}
            for poll_chunk in _chunks(polls, 500):
                roots.update(
                    ((str(poll_id), str(channel)), ts)
                    for poll_id, channel, ts in await self._conn.execute(
                        select(m.poll_id, m.channel, m.ts).where(and_(m.poll_id.in_(poll_chunk), m.part == 1))
                    )
                )
            for message_id, channel, ts, part, poll_id in rows:
                root = ts if part == 1 else roots.get((str(poll_id), str(channel)))
                messages[int(message_id)] = (str(channel), root)
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
