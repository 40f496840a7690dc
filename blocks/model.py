"""What the builders render: Patchworks entries plus what syncbot did to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.patchworks.models import SyncEntry, SystemHealth

__all__ = [
    "Attempt",
    "BulkPlan",
    "BulkProgress",
    "DetailsModel",
    "Digest",
    "DigestItem",
    "EntryState",
    "JobState",
    "Listing",
    "Outcome",
    "Skipped",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class EntryState(StrEnum):
    """Where an entry stands from syncbot's point of view."""

    FAILED = "failed"
    QUEUED = "queued"
    OK = "ok"
    FAILED_AGAIN = "failed_again"
    ERROR = "error"  # the resync request itself was refused or could not be sent


class Outcome(_Frozen):
    """What happened to an entry after it was posted: who resynced it, when, and how it ended."""

    state: EntryState = EntryState.FAILED
    by_user: str | None = None  # Slack user ID
    at: datetime | None = None
    new_run_id: int | None = None
    detail: str | None = None  # first error line when failed again, or why the request failed


class DigestItem(_Frozen):
    """One entry in a digest or listing. `entry` is the current run (the retry, once failed again)."""

    entry: SyncEntry
    outcome: Outcome = Outcome()


class Digest(_Frozen):
    """One Slack message of a digest: a part of one poll's new failures."""

    message_id: int
    part: int = 1
    parts: int = 1
    created_at: datetime
    items: tuple[DigestItem, ...]
    overflow: int = 0  # failures of this poll not shown in any message (see /failed-syncs)
    overflow_flows: tuple[tuple[str, int], ...] = ()  # (flow name, count) of the overflow
    # Start of the oldest overflow failure (None without overflow, or when no start is known):
    # "List them" opens a listing window reaching back to it.
    overflow_since: datetime | None = None
    bulk: BulkProgress | None = None  # the newest bulk resync started from this message


class Listing(_Frozen):
    """One page of the slash command's listing."""

    items: tuple[DigestItem, ...]
    query: str
    minutes: int  # the window, as typed: 30m, 2h, 3d …
    page: int
    pages: int
    total: int
    # How fresh it is: what the listing read was complete as of `as_of` (the last poll), seen at
    # `now` ("as of 10:05, 2 min ago"). None: no freshness line.
    as_of: datetime | None = None
    now: datetime | None = None
    # Plain text (escaped when rendered): why part of the window could not be listed.
    notice: str | None = None


class JobState(StrEnum):
    """Where a bulk resync job is."""

    PROPOSED = "proposed"  # its confirmation is open: nothing runs until it is submitted
    RUNNING = "running"
    CANCELLED = "cancelled"  # someone clicked Cancel: what was not retried yet stays unretried
    DONE = "done"

    @property
    def finished(self) -> bool:
        """Whether nothing more will be retried for this job."""
        return self in (JobState.CANCELLED, JobState.DONE)


class BulkProgress(_Frozen):
    """A bulk resync job as its digest shows it: "⏳ 120/200 queued · 3 skipped · Cancel"."""

    job_id: int
    state: JobState
    by_user: str
    total: int
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled_by: str | None = None

    @property
    def done(self) -> int:
        """Runs the job has finished with, whatever their outcome."""
        return self.queued + self.skipped + self.failed


class Skipped(_Frozen):
    """An entry a bulk resync will not run, and why."""

    entry: SyncEntry
    reason: str


class BulkPlan(_Frozen):
    """What a bulk resync will do, shown in its confirmation modal before anything runs."""

    message_id: int | None
    to_resync: tuple[SyncEntry, ...]
    skipped: tuple[Skipped, ...] = ()
    channel: str | None = None  # where to answer when there is no digest (a listing)
    job_id: int | None = None  # the proposed bulk job the confirmation starts


class Attempt(_Frozen):
    """One resync of an entry, as syncbot recorded it."""

    run_id: int
    new_run_id: int | None
    by_user: str
    at: datetime
    state: EntryState


class DetailsModel(_Frozen):
    """Everything the Details modal shows."""

    entry: SyncEntry
    outcome: Outcome = Outcome()
    health: tuple[SystemHealth, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    message_id: int | None = None
    # One line on top, e.g. what a resync just requested did: syncbot's own mrkdwn (a resync
    # result's message), shown as is, so untrusted parts must already be escaped.
    notice: str | None = None
