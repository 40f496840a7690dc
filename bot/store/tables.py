"""syncbot's tables. A change here needs a migration too: see bot/store/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "audit_table",
    "bulk_job_runs_table",
    "bulk_jobs_table",
    "cause_states_table",
    "effects_table",
    "entries_table",
    "flow_snoozes_table",
    "home_views_table",
    "leases_table",
    "messages_table",
    "meta_table",
    "metadata",
    "patchworks_budget_table",
    "resyncs_table",
    "summaries_table",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData()

meta_table = Table(
    "syncbot_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

messages_table = Table(
    "digest_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=True),
    Column("poll_id", String(40), nullable=False, index=True),
    Column("part", Integer, nullable=False, default=1),
    Column("parts", Integer, nullable=False, default=1),
    Column("state", String(16), nullable=False, index=True),  # pending, posting, posted, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("overflow", Integer, nullable=False, default=0),
    Column("overflow_flows", Text, nullable=False, default="[]"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("posting_at", UTCDateTime, nullable=True),
    Column("posted_at", UTCDateTime, nullable=True),
)

entries_table = Table(
    "entries",
    metadata,
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),  # the run first alerted on
    Column("current_run_id", BigInteger, nullable=False, unique=True),  # latest run of its resyncs
    Column("flow_name", String(255), nullable=False, index=True),  # flow snoozes match on it
    Column("started_at", UTCDateTime, nullable=True, index=True),  # listings read windows of it
    Column("placement", String(16), nullable=False, index=True),  # unassigned, message, overflow, mirror
    Column("poll_id", String(40), nullable=True, index=True),
    Column("message_id", Integer, nullable=True, index=True),
    Column("position", Integer, nullable=False, default=0),
    Column("snapshot", Text, nullable=False),  # SyncEntry JSON of the current run
    Column("state", String(16), nullable=False),
    Column("by_user", String(32), nullable=True),
    Column("state_at", UTCDateTime, nullable=True),
    Column("new_run_id", BigInteger, nullable=True),
    Column("detail", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # What `/failed-syncs` filters on besides flow and run, copied from the current run's snapshot.
    Column("reference", String(255), nullable=True),
    Column("systems", Text, nullable=True),  # SyncEntry.systems, one per line
    # The cause the first failure belongs to (bot.patchworks.causes.cause_id): a digest groups by it.
    Column("cause_id", String(16), nullable=True, index=True),
    # Whether the run could be resynced when it was recorded: "Resync all N" counts these.
    Column("resyncable", Integer, nullable=True),
    # The channel whose digests show it (SYNCBOT_ROUTES); NULL: the default channel.
    Column("channel", String(32), nullable=True),
)

resyncs_table = Table(
    "resyncs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One row per retried run: the unique constraint is what makes a resync idempotent across
    # double clicks, Slack retries, two users and several replicas.
    Column("run_id", BigInteger, nullable=False, unique=True),
    Column("entry_run_id", BigInteger, nullable=True, index=True),
    Column("requested_by", String(32), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("new_run_id", BigInteger, nullable=True, index=True),
    Column("outcome", String(16), nullable=False, index=True),  # requested, queued, ok, failed, error
    Column("detail", Text, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
)

audit_table = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("user_id", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("run_ids", Text, nullable=False),
    Column("result", String(32), nullable=False),
    Column("detail", Text, nullable=True),
)

leases_table = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# The Slack side of a state change (rewrite a digest, reply in its thread), written in the same
# transaction as the change and delivered afterwards, so a crash in between loses nothing.
effects_table = Table(
    "slack_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # EffectKind
    Column("message_id", Integer, nullable=False, index=True),
    Column("body", Text, nullable=True),  # a reply's text and blocks, as JSON
    Column("state", String(16), nullable=False, index=True),  # EffectState
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=True),
)

# A bulk resync as a durable job: proposed when its confirmation opens, running once confirmed,
# worked by one replica at a time (the lease `bulk:<id>`), resumed after a restart.
bulk_jobs_table = Table(
    "bulk_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(16), nullable=False, index=True),  # JobState
    Column("user_id", String(32), nullable=False),  # who asked, and whose resyncs they are
    Column("message_id", Integer, nullable=True, index=True),  # the digest showing its progress
    Column("channel", String(32), nullable=True),  # where a listing's summary is shown
    Column("total", Integer, nullable=False),
    Column("cancelled_by", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("cause_id", String(16), nullable=True),  # the cause whose "Resync all" started it
)

bulk_job_runs_table = Table(
    "bulk_job_runs",
    metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=False),
    Column("run_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # JobRunState
    Column("reason", Text, nullable=True),  # why it was skipped or failed
    Column("new_run_id", BigInteger, nullable=True),
    Index("ix_bulk_job_runs_job_state_position", "job_id", "state", "position"),
)

# The Patchworks request budget as every replica on this database spends it: per account (a hash
# of the API key, never the key), the send times of the last window and the end of a 429 pause.
# One row per account, locked while a send is added, so replicas never overspend it together.
patchworks_budget_table = Table(
    "patchworks_budget",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("sent", Text, nullable=False),  # JSON list of epoch seconds, oldest first
    Column("paused_until_ms", BigInteger, nullable=True),  # epoch milliseconds; None: never paused
)

# Who looked at syncbot's App Home lately: their Home is refreshed after each poll for an hour.
home_views_table = Table(
    "home_views",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("opened_at", UTCDateTime, nullable=False, index=True),
)

# One daily summary per channel and day (in SYNCBOT_TIMEZONE): the replica whose insert wins posts.
summaries_table = Table(
    "summaries",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("ts", String(32), nullable=True),  # the posted message; None until posted (or never)
)

# Who is on a cause and whether it is snoozed: global to the cause, whichever digest shows it. A
# snoozed cause's new failures are recorded but not placed until `snoozed_until` has passed.
cause_states_table = Table(
    "cause_states",
    metadata,
    Column("cause_id", String(16), primary_key=True),
    Column("owner", String(32), nullable=True),  # Slack user ID of whoever clicked "I'm on it"
    Column("owner_since", UTCDateTime, nullable=True),
    Column("snoozed_until", UTCDateTime, nullable=True),
    Column("snoozed_by", String(32), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Flows snoozed from Details: a snoozed flow's new failures, whatever their cause, are recorded but
# not placed until `snoozed_until` has passed. Keyed by name: routes and people know flows by name.
flow_snoozes_table = Table(
    "flow_snoozes",
    metadata,
    Column("flow_name", String(255), primary_key=True),
    Column("snoozed_until", UTCDateTime, nullable=False),
    Column("snoozed_by", String(32), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
