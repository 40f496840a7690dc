"""The store as the mirror `/failed-syncs` lists from: entries.reference and entries.systems (what
the filter matches besides flow and run id) and an index on entries.started_at (the window).

Existing rows are backfilled from their snapshot JSON here, so a listing finds them at once; the
system names are a frozen copy of bot.patchworks.models' rule of this release (revisions never
import the product).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_entries = sa.table(
    "entries",
    sa.column("run_id", sa.BigInteger()),
    sa.column("snapshot", sa.Text()),
    sa.column("reference", sa.String(255)),
    sa.column("systems", sa.Text()),
)


_SYSTEMS = (
    "Shopify",
    "NetSuite",
    "Brightpearl",
    "Peoplevox",
    "Magento",
    "BigCommerce",
    "Veeqo",
    "SEKO",
    "Lightspeed",
    "TikTok",
    "Virtualstock",
    "Descartes",
    "Amazon",
    "Xero",
)
_PATTERN = re.compile("|".join(re.escape(name) for name in _SYSTEMS), re.IGNORECASE)
_CANONICAL = {name.lower(): name for name in _SYSTEMS}


def systems_in(*texts: str | None) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for text in texts:
        for match in _PATTERN.finditer(text or ""):
            found.setdefault(_CANONICAL[match.group(0).lower()], None)
    return tuple(found)


def upgrade() -> None:
    op.add_column("entries", sa.Column("reference", sa.String(255), nullable=True))
    op.add_column("entries", sa.Column("systems", sa.Text(), nullable=True))
    op.create_index("ix_entries_started_at", "entries", ["started_at"])
    bind = op.get_bind()
    rows = bind.execute(sa.select(_entries.c.run_id, _entries.c.snapshot)).all()
    for run_id, snapshot in rows:
        reference, systems = _filtered_fields(snapshot)
        bind.execute(
            sa.update(_entries)
            .where(_entries.c.run_id == run_id)
            .values(reference=reference, systems=systems)
        )


def downgrade() -> None:
    op.drop_index("ix_entries_started_at", table_name="entries")
    op.drop_column("entries", "systems")
    op.drop_column("entries", "reference")


def _filtered_fields(snapshot: str) -> tuple[str | None, str | None]:
    """(reference, systems one per line) of a SyncEntry snapshot, read as plain JSON."""
    try:
        data = json.loads(snapshot)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    reference = data.get("reference")
    flow = data.get("flow")
    flow_name = flow.get("name") if isinstance(flow, dict) else None
    steps = [line.get("step") for line in data.get("errors") or () if isinstance(line, dict)]
    systems = systems_in(
        flow_name if isinstance(flow_name, str) else None, *(step for step in steps if isinstance(step, str))
    )
    return (str(reference)[:255] if reference else None), ("\n".join(systems) or None)
