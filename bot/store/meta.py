"""Key/value facts about the whole bot: the poll watermark, the mirror's start, the outage state."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.tables import meta_table

__all__ = ["MetaRepo"]

_WATERMARK = "watermark"
_MIRROR_SINCE = "mirror_since"


class MetaRepo:
    """Named values, one row each."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, key: str) -> str | None:
        """A stored value, or None."""
        value = await self._conn.scalar(select(meta_table.c.value).where(meta_table.c.key == key))
        return None if value is None else str(value)

    async def set(self, key: str, value: str | None) -> None:
        """Store (or with None, forget) a value."""
        await self._conn.execute(delete(meta_table).where(meta_table.c.key == key))
        if value is not None:
            await self._conn.execute(insert(meta_table).values(key=key, value=value))

    async def watermark(self) -> datetime | None:
        """Start of the last poll whose digests were all posted."""
        raw = await self.get(_WATERMARK)
        return None if raw is None else datetime.fromisoformat(raw)

    async def move_watermark(self, when: datetime) -> None:
        """Move the watermark forward (never backwards)."""
        current = await self.watermark()
        if current is None or when > current:
            await self.set(_WATERMARK, when.astimezone(UTC).isoformat())

    async def mirror_since(self) -> datetime | None:
        """From when the stored entries mirror every failed run Patchworks reported (None: not yet)."""
        raw = await self.get(_MIRROR_SINCE)
        return None if raw is None else datetime.fromisoformat(raw)

    async def extend_mirror(self, since: datetime) -> None:
        """The mirror now reaches back to `since` (never moves forwards)."""
        current = await self.mirror_since()
        if current is None or since < current:
            await self.set(_MIRROR_SINCE, since.astimezone(UTC).isoformat())
