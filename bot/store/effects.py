"""Slack effects waiting in the outbox: digest rewrites and thread replies (see bot/effects.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.states import EffectKind, EffectState
from bot.store.rows import EffectRow, cut, effect_row
from bot.store.tables import effects_table

__all__ = ["EffectRepo"]


class EffectRepo:
    """Add effects with a state change; claim and finish them when delivering."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def refresh_later(self, message_id: int) -> None:
        """Rewrite this digest from the store once the transaction has committed."""
        await self._effect(EffectKind.REFRESH, message_id, None)

    async def reply_later(self, message_id: int, text: str, blocks: list[dict[str, Any]] | None) -> None:
        """Post this note in the digest's thread once the transaction has committed."""
        await self._effect(EffectKind.REPLY, message_id, json.dumps({"text": text, "blocks": blocks}))

    async def claim(self, limit: int, stale_before: datetime) -> list[EffectRow]:
        """Take up to `limit` pending effects for this process to deliver, oldest first.

        Effects another process claimed before `stale_before` are taken back first: that
        process died between claiming and finishing them.
        """
        await self._conn.execute(
            update(effects_table)
            .where(
                and_(
                    effects_table.c.state == EffectState.DELIVERING.value,
                    effects_table.c.claimed_at < stale_before,
                )
            )
            .values(state=EffectState.PENDING.value)
        )
        oldest = (
            select(effects_table.c.id)
            .where(effects_table.c.state == EffectState.PENDING.value)
            .order_by(effects_table.c.id)
            .limit(limit)
            # Concurrent deliverers (replicas) take disjoint batches instead of waiting on each
            # other's rows; SQLite has one writer at a time and ignores this.
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await self._conn.execute(
            update(effects_table)
            .where(and_(effects_table.c.id.in_(oldest), effects_table.c.state == EffectState.PENDING.value))
            .values(
                state=EffectState.DELIVERING.value,
                claimed_at=self._now,
                attempts=effects_table.c.attempts + 1,
            )
            .returning(*effects_table.c)
        )
        return sorted((effect_row(row) for row in claimed), key=lambda effect: effect.id)

    async def finish(self, ids: Sequence[int], state: EffectState, error: str | None = None) -> None:
        """Mark claimed effects delivered, failed for good, or pending for another try."""
        if ids:
            await self._conn.execute(
                update(effects_table)
                .where(effects_table.c.id.in_(list(ids)))
                .values(state=state.value, last_error=cut(error), claimed_at=None)
            )

    async def _effect(self, kind: EffectKind, message_id: int, body: str | None) -> None:
        await self._conn.execute(
            insert(effects_table).values(
                kind=kind.value,
                message_id=message_id,
                body=body,
                state=EffectState.PENDING.value,
                attempts=0,
                created_at=self._now,
            )
        )
