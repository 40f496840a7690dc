"""Routing: entries.channel, the channel whose digests show the entry (SYNCBOT_ROUTES).

Existing entries keep NULL: they belong to SYNCBOT_CHANNEL, where they were posted.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("channel", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("entries", "channel")
