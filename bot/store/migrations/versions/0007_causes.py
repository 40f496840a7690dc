"""Causes: entries.cause_id (what a digest groups by) and entries.resyncable (what "Resync all N"
counts), and bulk_jobs.cause_id (the cause a job was started for).

Existing entries keep a NULL cause here: the signature rule lives in the product, which revisions
never import; the running app fills them in (bot.poller, at its first poll).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("cause_id", sa.String(16), nullable=True))
    op.add_column("entries", sa.Column("resyncable", sa.Integer(), nullable=True))
    op.create_index("ix_entries_cause_id", "entries", ["cause_id"])
    op.add_column("bulk_jobs", sa.Column("cause_id", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("bulk_jobs", "cause_id")
    op.drop_index("ix_entries_cause_id", table_name="entries")
    op.drop_column("entries", "resyncable")
    op.drop_column("entries", "cause_id")
