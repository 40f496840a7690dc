"""The Patchworks request budget as every replica on one database spends it.

Patchworks counts requests per account, whichever replica sends them. One row per account holds
the send times of the last window and the end of a 429 pause. A send is taken in one transaction:
the row is locked (SELECT … FOR UPDATE on PostgreSQL), pruned, checked against the caller's
ceiling and written back with the new send, so two replicas never both take the last slot.
Times are epoch seconds from each replica's wall clock: monotonic clocks differ between processes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.dialect import insert_ignoring_conflicts
from bot.store.tables import patchworks_budget_table as budget_table

__all__ = ["BudgetWindow", "account_key"]

# A wait handed back is never shorter: 0 means "taken", and a wait of a few nanoseconds left by
# float rounding must not read as that.
_MIN_WAIT = 0.001
_EPSILON = 1e-9


def account_key(api_key: str) -> str:
    """The row of an API key's account: a hash, so the key itself is never stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


class BudgetWindow:
    """One account's sliding window of sends and its 429 pause, shared through the database."""

    def __init__(self, engine: AsyncEngine, account: str) -> None:
        self._engine = engine
        self._account = account
        self._paused_until = -math.inf

    def paused_until(self) -> float:
        """End of the latest pause this replica read or wrote (epoch seconds; -inf when none)."""
        return self._paused_until

    async def take(self, lane_ceiling: int, now_epoch: float, window: float) -> float:
        """Record one send at `now_epoch` if the window holds fewer than `lane_ceiling` and no pause
        runs: returns 0; otherwise records nothing and returns the seconds to wait before asking again."""
        async with self._engine.begin() as conn:
            await _write_lock(conn)
            sent, paused_until = await self._locked(conn)
            self._seen(paused_until)
            if paused_until > now_epoch:
                return max(_MIN_WAIT, paused_until - now_epoch)
            # Sends stamped after `now_epoch` (a replica that took the lock first) stay in: counting
            # them only makes this one wait longer, never lets a window overfill.
            kept = [at for at in sent if at + window > now_epoch + _EPSILON]
            if len(kept) >= lane_ceiling:
                # Room for this lane once the send `lane_ceiling` places back ages out.
                return max(_MIN_WAIT, kept[len(kept) - lane_ceiling] + window - now_epoch)
            bisect.insort(kept, now_epoch)
            await conn.execute(
                update(budget_table)
                .where(budget_table.c.account == self._account)
                .values(sent=json.dumps(kept))
            )
            return 0.0

    async def pause(self, until_epoch: float) -> None:
        """Pause every replica's sends until `until_epoch` (a pause never gets shorter)."""
        async with self._engine.begin() as conn:
            await _write_lock(conn)
            _, paused_until = await self._locked(conn)
            if until_epoch > paused_until:
                # Rounded up: a pause cut short by a millisecond could meet the same 429 again.
                await conn.execute(
                    update(budget_table)
                    .where(budget_table.c.account == self._account)
                    .values(paused_until_ms=math.ceil(until_epoch * 1000))
                )
            self._seen(max(paused_until, until_epoch))

    async def _locked(self, conn: AsyncConnection) -> tuple[list[float], float]:
        """The account's sends (oldest first) and pause end, with its row locked until commit."""
        query = (
            select(budget_table.c.sent, budget_table.c.paused_until_ms)
            .where(budget_table.c.account == self._account)
            .with_for_update()
        )
        row = (await conn.execute(query)).one_or_none()
        if row is None:
            # The first send of the account: whoever inserts second finds the row and waits for it.
            await conn.execute(
                insert_ignoring_conflicts(
                    conn,
                    budget_table,
                    ["account"],
                    {"account": self._account, "sent": "[]", "paused_until_ms": None},
                )
            )
            row = (await conn.execute(query)).one()
        paused = -math.inf if row.paused_until_ms is None else row.paused_until_ms / 1000
        return _times(row.sent), paused

    def _seen(self, paused_until: float) -> None:
        self._paused_until = max(self._paused_until, paused_until)


def _times(raw: str) -> list[float]:
    """Send times from the row's JSON, sorted; an unreadable log starts over rather than jam every send."""
    try:
        times = json.loads(raw)
        return sorted(float(at) for at in times if math.isfinite(float(at)))
    except (TypeError, ValueError):
        return []


async def _write_lock(conn: AsyncConnection) -> None:
    """On SQLite, take the write lock up front: FOR UPDATE does not exist there, and a read that
    later wants to write can fail at once instead of waiting when another writer got in between."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
