"""Digest messages, an outbox: recorded `pending` with their entries, then posted.

A message is marked `posting` before the Slack call and `posted` with its ts after; a `posting`
message found later is looked up in the channel by its metadata before it is posted again, so a
crash between the post and the save shows nothing twice.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import Digest, DigestItem
from bot.states import MessageState, Placement
from bot.store.jobs import JobRepo
from bot.store.rows import MessageRow, cut, entry_row, message_row
from bot.store.tables import entries_table, messages_table

__all__ = ["MessageRepo"]


class MessageRepo:
    """Place entries into digest messages and track each message's delivery."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def place_unassigned(
        self, *, channel: str, poll_id: str, per_message: int, max_messages: int
    ) -> list[int]:
        """Place every unassigned entry: the first ones into new pending messages, the rest in
        those messages' "+N more" overflow. Returns the new message ids (possibly none)."""
        unassigned = entries_table.c.placement == Placement.UNASSIGNED.value
        total = await self._conn.scalar(select(func.count()).select_from(entries_table).where(unassigned))
        if not total:
            return []
        shown_ids = list(
            await self._conn.scalars(
                select(entries_table.c.run_id)
                .where(unassigned)
                .order_by(entries_table.c.flow_name, entries_table.c.started_at, entries_table.c.run_id)
                .limit(per_message * max_messages)
            )
        )
        parts = -(-len(shown_ids) // per_message)
        overflow = int(total) - len(shown_ids)
        overflow_flows: list[tuple[str, int]] = []
        if overflow:
            grouped = await self._conn.execute(
                select(entries_table.c.flow_name, func.count())
                .where(and_(unassigned, entries_table.c.run_id.not_in(shown_ids)))
                .group_by(entries_table.c.flow_name)
                .order_by(func.count().desc())
            )
            overflow_flows = [(str(name), int(count)) for name, count in grouped]
        message_ids: list[int] = []
        for part in range(1, parts + 1):
            last = part == parts
            result = await self._conn.execute(
                insert(messages_table).values(
                    channel=channel,
                    poll_id=poll_id,
                    part=part,
                    parts=parts,
                    state=MessageState.PENDING.value,
                    attempts=0,
                    overflow=overflow if last else 0,
                    overflow_flows=json.dumps(overflow_flows if last else []),
                    created_at=self._now,
                )
            )
            message_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            message_ids.append(message_id)
            chunk = shown_ids[(part - 1) * per_message : part * per_message]
            for position, run_id in enumerate(chunk):
                await self._conn.execute(
                    update(entries_table)
                    .where(entries_table.c.run_id == run_id)
                    .values(
                        placement=Placement.MESSAGE.value,
                        message_id=message_id,
                        position=position,
                        poll_id=poll_id,
                    )
                )
        if overflow:
            await self._conn.execute(
                update(entries_table)
                .where(unassigned)
                .values(placement=Placement.OVERFLOW.value, message_id=None, poll_id=poll_id)
            )
        return message_ids

    async def unposted(self, channel: str) -> list[MessageRow]:
        """Messages recorded but not (known to be) posted yet, oldest first."""
        waiting = (MessageState.PENDING.value, MessageState.POSTING.value)
        rows = await self._conn.execute(
            select(messages_table)
            .where(and_(messages_table.c.channel == channel, messages_table.c.state.in_(waiting)))
            .order_by(messages_table.c.id)
        )
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

    async def digest(self, message_id: int) -> Digest | None:
        """Everything needed to (re)render one digest message."""
        message = (
            await self._conn.execute(select(messages_table).where(messages_table.c.id == message_id))
        ).first()
        if message is None:
            return None
        rows = await self._conn.execute(
            select(entries_table)
            .where(
                and_(
                    entries_table.c.message_id == message_id,
                    entries_table.c.placement == Placement.MESSAGE.value,
                )
            )
            .order_by(entries_table.c.position)
        )
        items = tuple(
            DigestItem(entry=row.entry, outcome=row.outcome) for row in (entry_row(r) for r in rows)
        )
        flows = tuple((str(name), int(count)) for name, count in json.loads(message.overflow_flows))
        overflow_since: datetime | None = None
        if message.overflow:
            # Only the poll's last message carries its overflow: "List them" reaches back to it.
            overflow_since = await self._conn.scalar(
                select(func.min(entries_table.c.started_at)).where(
                    and_(
                        entries_table.c.placement == Placement.OVERFLOW.value,
                        entries_table.c.poll_id == message.poll_id,
                    )
                )
            )
        job = await JobRepo(self._conn, self._now).latest_for_message(message.id)
        bulk = await JobRepo(self._conn, self._now).progress(job) if job is not None else None
        return Digest(
            message_id=message.id,
            part=message.part,
            parts=message.parts,
            created_at=message.created_at,
            items=items,
            overflow=message.overflow,
            overflow_flows=flows,
            overflow_since=overflow_since,
            bulk=bulk,
        )
