"""Digest messages, an outbox: recorded `pending` with their entries, then posted.

A message is marked `posting` before the Slack call and `posted` with its ts after; a `posting`
message found later is looked up in the channel by its metadata before it is posted again, so a
crash between the post and the save shows nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from blocks.model import Digest
from bot.patchworks.models import SystemHealth
from bot.states import MessageState, Placement
from bot.store.cause_states import CauseStateRepo
from bot.store.causes import CauseRepo
from bot.store.effects import EffectRepo
from bot.store.flow_snoozes import FlowSnoozeRepo
from bot.store.jobs import JobRepo
from bot.store.rows import MessageRow, cut, message_row
from bot.store.tables import entries_table, messages_table

__all__ = ["MessageRepo", "Placed"]


@dataclass
class Placed:
    """What placing a poll's new entries did: digests to post, and digests they joined."""

    new: list[int] = field(default_factory=list)  # new message ids, part 1 first
    joined: dict[int, int] = field(default_factory=dict)  # message id -> runs added to it
    # Of those runs, the ones a snooze held (recorded before `held_before`), by message id.
    released: dict[int, int] = field(default_factory=dict)


class MessageRepo:
    """Place entries into digest messages and track each message's delivery."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def place_unassigned(
        self,
        *,
        channel: str,
        poll_id: str,
        reopen_since: datetime,
        causes_per_message: int,
        max_messages: int,
        held_before: datetime | None = None,
    ) -> Placed:
        """Place every unassigned entry by cause (module docstring of blocks.digest).

        A cause already in a digest of this channel created since `reopen_since` joins it (that
        message is rewritten, not posted again). The other causes, most runs first, go into one
        new digest: part 1 in the channel, further parts in its thread, at most `max_messages`
        parts (the last takes whatever does not fit and says how many causes it does not show).

        A snoozed cause's entries, and a snoozed flow's, stay unassigned (recorded and counted,
        not posted) until the snooze has passed; the placement after that ends the snooze, places
        them as usual and rewrites the digests that showed it snoozed.
        """
        e = entries_table.c
        states = CauseStateRepo(self._conn, self._now)
        flows = FlowSnoozeRepo(self._conn, self._now)
        # Digests showing a snooze that ended, or whose "N snoozed" grew: rewritten.
        changed = await states.end_expired() + await states.newly_held()
        stale = set(await CauseRepo(self._conn, self._now).messages_showing(changed))
        stale.update(await flows.messages_showing(await flows.end_expired() + await flows.newly_held()))
        for message_id in sorted(stale):
            await EffectRepo(self._conn, self._now).refresh_later(message_id)
        snoozed = await states.snoozed()
        snoozed_flows = await flows.snoozed()
        placed = Placed()
        routed = await self._conn.scalars(
            select(func.coalesce(e.channel, channel))
            .where(e.placement == Placement.UNASSIGNED.value)
            .distinct()
        )
        for target in sorted(set(routed)):
            await self._place_channel(
                target,
                default=channel,
                snoozed=snoozed,
                snoozed_flows=snoozed_flows,
                poll_id=poll_id,
                reopen_since=reopen_since,
                causes_per_message=causes_per_message,
                max_messages=max_messages,
                held_before=held_before,
                placed=placed,
            )
        return placed

    async def _place_channel(
        self,
        channel: str,
        *,
        default: str,
        snoozed: Set[str],
        snoozed_flows: Set[str],
        poll_id: str,
        reopen_since: datetime,
        causes_per_message: int,
        max_messages: int,
        held_before: datetime | None,
        placed: Placed,
    ) -> None:
        """Place the unassigned entries routed to `channel` (SYNCBOT_ROUTES): one digest each."""
        e, m = entries_table.c, messages_table.c
        # Routed here and not held by a flow snooze (a snoozed cause is left out by its group).
        eligible = func.coalesce(e.channel, default) == channel
        if snoozed_flows:
            eligible = and_(eligible, e.flow_name.not_in(sorted(snoozed_flows)))
        unassigned = and_(e.placement == Placement.UNASSIGNED.value, eligible)
        groups = [
            (cause_id, count)
            for cause_id, count in (
                await self._conn.execute(
                    select(e.cause_id, func.count())
                    .where(unassigned)
                    .group_by(e.cause_id)
                    .order_by(func.count().desc(), e.cause_id)
                )
            ).all()
            if cause_id is None or cause_id not in snoozed
        ]
        fresh: list[str | None] = []
        for cause_id, count in groups:
            recent = None
            if cause_id is not None:
                recent = await self._conn.scalar(
                    select(e.message_id)
                    .join(messages_table, m.id == e.message_id)
                    .where(
                        and_(
                            e.cause_id == cause_id,
                            e.placement == Placement.MESSAGE.value,
                            m.channel == channel,
                            m.created_at >= reopen_since,
                            m.state != MessageState.FAILED.value,
                        )
                    )
                    .order_by(m.created_at.desc(), m.id.desc())
                    .limit(1)
                )
            if recent is None:
                fresh.append(cause_id)
                continue
            if held_before is not None:
                held = await self._conn.scalar(
                    select(func.count()).where(
                        and_(unassigned, e.cause_id == cause_id, e.created_at < held_before)
                    )
                )
                if held:
                    placed.released[int(recent)] = placed.released.get(int(recent), 0) + int(held)
            await self._assign(cause_id, int(recent), poll_id, eligible)
            placed.joined[int(recent)] = placed.joined.get(int(recent), 0) + int(count)
        if not fresh:
            return
        chunks = [fresh[i : i + causes_per_message] for i in range(0, len(fresh), causes_per_message)]
        if len(chunks) > max_messages:
            rest = [cause for chunk in chunks[max_messages - 1 :] for cause in chunk]
            chunks = [*chunks[: max_messages - 1], rest]
        for part, causes in enumerate(chunks, start=1):
            result = await self._conn.execute(
                insert(messages_table).values(
                    channel=channel,
                    poll_id=poll_id,
                    part=part,
                    parts=len(chunks),
                    state=MessageState.PENDING.value,
                    attempts=0,
                    overflow=0,
                    overflow_flows="[]",
                    created_at=self._now,
                )
            )
            message_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            placed.new.append(message_id)
            for cause_id in causes:
                await self._assign(cause_id, message_id, poll_id, eligible)

    async def _assign(
        self, cause_id: str | None, message_id: int, poll_id: str, eligible: ColumnElement[bool]
    ) -> None:
        e = entries_table.c
        of_cause = e.cause_id == cause_id if cause_id is not None else e.cause_id.is_(None)
        await self._conn.execute(
            update(entries_table)
            .where(and_(e.placement == Placement.UNASSIGNED.value, of_cause, eligible))
            .values(placement=Placement.MESSAGE.value, message_id=message_id, poll_id=poll_id)
        )

    async def root(self, message_id: int) -> MessageRow | None:
        """Part 1 of the digest a message belongs to: the message in the channel its thread hangs on."""
        message = (
            await self._conn.execute(select(messages_table).where(messages_table.c.id == message_id))
        ).first()
        if message is None:
            return None
        if message.part == 1:
            return message_row(message)
        row = (
            await self._conn.execute(
                select(messages_table).where(
                    and_(
                        messages_table.c.poll_id == message.poll_id,
                        # One poll makes a digest per routed channel, each with its own part 1.
                        messages_table.c.channel == message.channel,
                        messages_table.c.part == 1,
                    )
                )
            )
        ).first()
        return None if row is None else message_row(row)

    async def unposted(self, channel: str | None = None) -> list[MessageRow]:
        """Messages recorded but not (known to be) posted yet, in `channel` or in any, oldest first."""
        waiting = messages_table.c.state.in_((MessageState.PENDING.value, MessageState.POSTING.value))
        where = waiting if channel is None else and_(messages_table.c.channel == channel, waiting)
        rows = await self._conn.execute(select(messages_table).where(where).order_by(messages_table.c.id))
        return [message_row(row) for row in rows]

    async def get(self, message_id: int) -> MessageRow | None:
        """One digest message."""
        row = (
            await self._conn.execute(select(messages_table).where(messages_table.c.id == message_id))
        ).first()
        return None if row is None else message_row(row)

    async def mark_posting(self, message_id: int) -> None:
        """Note that a post is about to be sent (see the module docstring)."""
        await self._conn.execute(
            update(messages_table)
            .where(messages_table.c.id == message_id)
            .values(
                state=MessageState.POSTING.value, posting_at=self._now, attempts=messages_table.c.attempts + 1
            )
        )

    async def mark_posted(self, message_id: int, ts: str) -> None:
        """Record where a message landed."""
        await self._conn.execute(
            update(messages_table)
            .where(messages_table.c.id == message_id)
            .values(state=MessageState.POSTED.value, ts=ts, posted_at=self._now, last_error=None)
        )

    async def mark_unposted(self, message_id: int, error: str, *, give_up: bool = False) -> None:
        """Keep a message for a later retry (or park it as failed) with the reason."""
        state = MessageState.FAILED if give_up else MessageState.PENDING
        await self._conn.execute(
            update(messages_table)
            .where(messages_table.c.id == message_id)
            .values(state=state.value, last_error=cut(error))
        )

    async def digest(
        self, message_id: int, *, items: int, health: Mapping[str, SystemHealth] | None = None
    ) -> Digest | None:
        """Everything needed to (re)render one digest message: its causes with `items` runs each."""
        message = (
            await self._conn.execute(select(messages_table).where(messages_table.c.id == message_id))
        ).first()
        if message is None:
            return None
        causes = CauseRepo(self._conn, self._now)
        views = await causes.views(message.id, items=items, health=health or {})
        jobs = JobRepo(self._conn, self._now)
        job = await jobs.latest_for_message(message.id)
        return Digest(
            message_id=message.id,
            part=message.part,
            parts=message.parts,
            created_at=message.created_at,
            causes=tuple(views),
            updated_at=await causes.updated_at(message.id),
            bulk=await jobs.progress(job) if job is not None else None,
        )
