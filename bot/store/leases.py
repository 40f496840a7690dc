"""Named leases: which replica polls, which works a job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.dialect import insert_ignoring_conflicts
from bot.store.tables import leases_table

__all__ = ["LeaseRepo"]


class LeaseRepo:
    """Take, renew and give up leases; a lease is held until it expires or is released."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def acquire(self, name: str, holder: str, until: datetime) -> bool:
        """Take or renew a lease; False while another holder's lease is unexpired."""
        renewed = await self._conn.execute(
            update(leases_table)
            .where(
                and_(
                    leases_table.c.name == name,
                    or_(leases_table.c.holder == holder, leases_table.c.expires_at < self._now),
                )
            )
            .values(holder=holder, expires_at=until)
        )
        if renewed.rowcount:
            return True
        taken = await self._conn.execute(
            insert_ignoring_conflicts(
                self._conn, leases_table, ["name"], {"name": name, "holder": holder, "expires_at": until}
            )
        )
        return bool(taken.rowcount)

    async def release(self, name: str, holder: str) -> None:
        """Give a lease up so another replica can take it at once."""
        await self._conn.execute(
            delete(leases_table).where(and_(leases_table.c.name == name, leases_table.c.holder == holder))
        )
