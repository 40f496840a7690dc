"""Alembic's environment for syncbot: always run on a connection syncbot hands over.

`bot.store.migrations.upgrade` puts the connection (already in the transaction that holds the
migration lock) in `config.attributes["connection"]`; there is no offline (`--sql`) mode.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from bot.store.tables import UTCDateTime, metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes UTCDateTime as the column type it stores: revisions never import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(
            "syncbot's migrations run on a connection given by bot.store.migrations "
            "(at start-up in Store.open, or `python -m bot.store.migrations`)"
        )
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata", metadata),
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
