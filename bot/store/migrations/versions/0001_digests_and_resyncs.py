"""Digests and resyncs: syncbot_meta, digest_messages, entries, resyncs (schema version 1 before Alembic).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "syncbot_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )

    op.create_table(
        "digest_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.Column("poll_id", sa.String(40), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("overflow", sa.Integer(), nullable=False),
        sa.Column("overflow_flows", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("posting_at", sa.DateTime(), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_digest_messages_poll_id", "digest_messages", ["poll_id"])
    op.create_index("ix_digest_messages_state", "digest_messages", ["state"])

    op.create_table(
        "entries",
        sa.Column("run_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("current_run_id", sa.BigInteger(), nullable=False),
        sa.Column("flow_name", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("placement", sa.String(16), nullable=False),
        sa.Column("poll_id", sa.String(40), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("by_user", sa.String(32), nullable=True),
        sa.Column("state_at", sa.DateTime(), nullable=True),
        sa.Column("new_run_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("current_run_id"),
    )
    op.create_index("ix_entries_placement", "entries", ["placement"])
    op.create_index("ix_entries_poll_id", "entries", ["poll_id"])
    op.create_index("ix_entries_message_id", "entries", ["message_id"])

    op.create_table(
        "resyncs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("entry_run_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("new_run_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("run_id"),
    )
    op.create_index("ix_resyncs_entry_run_id", "resyncs", ["entry_run_id"])
    op.create_index("ix_resyncs_new_run_id", "resyncs", ["new_run_id"])
    op.create_index("ix_resyncs_outcome", "resyncs", ["outcome"])


def downgrade() -> None:
    op.drop_table("resyncs")
    op.drop_table("entries")
    op.drop_table("digest_messages")
    op.drop_table("syncbot_meta")
