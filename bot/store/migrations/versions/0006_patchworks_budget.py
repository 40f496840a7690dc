"""The Patchworks request budget shared by replicas: patchworks_budget, one row per account with the
send times of the last window and the end of a 429 pause.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "patchworks_budget",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("sent", sa.Text(), nullable=False),
        sa.Column("paused_until_ms", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("patchworks_budget")
