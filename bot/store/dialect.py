"""The one statement the two databases spell differently."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["insert_ignoring_conflicts"]


def insert_ignoring_conflicts(
    conn: AsyncConnection, table: Table, keys: Sequence[str], values: Mapping[str, Any]
) -> Any:
    """INSERT … ON CONFLICT (keys) DO NOTHING: the result's rowcount says whether the row was new."""
    builder = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return builder(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
