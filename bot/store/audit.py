"""The audit log: who tried to resync what, and what came of it. Append-only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.rows import AuditRow, cut
from bot.store.tables import audit_table

__all__ = ["AuditRepo"]


class AuditRepo:
    """Lines of the audit log."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self._conn = conn
        self._now = now

    async def append(
        self, *, user_id: str, action: str, run_ids: Sequence[int], result: str, detail: str | None = None
    ) -> None:
        """Append one line."""
        await self._conn.execute(
            insert(audit_table).values(
                at=self._now,
                user_id=user_id,
                action=action,
                run_ids=",".join(str(run) for run in run_ids),
                result=result,
                detail=cut(detail),
            )
        )

    async def since(self, since: datetime) -> list[AuditRow]:
        """Lines since a time, oldest first."""
        rows = await self._conn.execute(
            select(audit_table).where(audit_table.c.at >= since).order_by(audit_table.c.id)
        )
        return [
            AuditRow(
                at=row.at,
                user_id=row.user_id,
                action=row.action,
                run_ids=tuple(int(run) for run in row.run_ids.split(",") if run),
                result=row.result,
                detail=row.detail,
            )
            for row in rows
        ]
