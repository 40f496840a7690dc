"""An index on entries.flow_name: placement and snooze reads look entries up by flow every poll
while a flow is snoozed.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_entries_flow_name", "entries", ["flow_name"])


def downgrade() -> None:
    op.drop_index("ix_entries_flow_name", table_name="entries")
