"""App Home and the daily summary: home_views (who opened the Home tab, refreshed after each poll
for an hour) and summaries (one daily summary per channel and day, whichever replica claims it).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_views",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_home_views_opened_at", "home_views", ["opened_at"])
    op.create_table(
        "summaries",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("summaries")
    op.drop_index("ix_home_views_opened_at", table_name="home_views")
    op.drop_table("home_views")
