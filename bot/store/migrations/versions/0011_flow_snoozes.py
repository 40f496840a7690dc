"""Flow snoozes: a flow snoozed from Details holds its new failures, whatever their cause.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flow_snoozes",
        sa.Column("flow_name", sa.String(255), primary_key=True),
        sa.Column("snoozed_until", sa.DateTime(), nullable=False),
        sa.Column("snoozed_by", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flow_snoozes")
