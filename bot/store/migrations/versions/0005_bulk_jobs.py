"""Bulk resyncs as durable jobs: bulk_jobs (one per confirmation) and bulk_job_runs (its runs).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("cancelled_by", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_bulk_jobs_state", "bulk_jobs", ["state"])
    op.create_index("ix_bulk_jobs_message_id", "bulk_jobs", ["message_id"])
    op.create_table(
        "bulk_job_runs",
        sa.Column("job_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("new_run_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_bulk_job_runs_job_state_position", "bulk_job_runs", ["job_id", "state", "position"])


def downgrade() -> None:
    op.drop_table("bulk_job_runs")
    op.drop_table("bulk_jobs")
