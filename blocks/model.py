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
    "CauseView",
    "DetailsModel",
    "Digest",
    "DigestItem",
    "EntryState",
    "FlowSnoozeView",
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


class FlowSnoozeView(_Frozen):
    """A flow snoozed from Details: who snoozed it, until when, and the failures it holds back."""

    flow: str  # untrusted: the flow's name as Patchworks gives it
    until: datetime
    by_user: str
    held: int = 0


class CauseView(_Frozen):
    """One cause in a digest: what failed, how often, where, what to do, and a few of its runs."""

    cause_id: str
    example: str  # the newest run's first error line, exactly as Patchworks wrote it
    next_step: str  # syncbot's suggestion, in its own words
    count: int  # runs of this cause the digest holds
    open_runs: int  # of those, not resynced OK yet
    retryable: int  # of those, what "Resync all N…" would resync
    flows: tuple[tuple[str, int], ...] = ()  # (flow name, runs), most first
    systems: tuple[str, ...] = ()
    health: tuple[SystemHealth, ...] = ()  # derived health of its systems, when not operational
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    items: tuple[DigestItem, ...] = ()  # its newest runs, shown with their actions
    bulk: BulkProgress | None = None  # the newest "Resync all" job of this cause
    owner: str | None = None  # Slack user ID of whoever said "I'm on it"
    owner_since: datetime | None = None
    snoozed_until: datetime | None = None  # set only while the snooze lasts
    snoozed_by: str | None = None
    held: int = 0  # new failures a snooze (of the cause or a flow) holds back: recorded, not placed
    snoozed_flows: tuple[FlowSnoozeView, ...] = ()  # its flows snoozed now, soonest end first

    @property
    def resolved(self) -> bool:
        """Every run of the cause was resynced OK."""
        return self.open_runs == 0


class Digest(_Frozen):
    """One Slack message of a digest: some causes of an outage (part 1 in the channel, the
    parts after it in its thread)."""

    message_id: int
    part: int = 1
    parts: int = 1
    created_at: datetime
    causes: tuple[CauseView, ...]
    updated_at: datetime | None = None  # when new failures last joined it
    bulk: BulkProgress | None = None  # the newest bulk resync of selected entries

    @property
    def items(self) -> tuple[DigestItem, ...]:
        """Every run shown, cause by cause."""
        return tuple(item for cause in self.causes for item in cause.items)

    @property
    def runs(self) -> int:
        """Runs the message holds, shown or not."""
        return sum(cause.count for cause in self.causes)


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
    # Whether the run is stored, so its flow can be snoozed from the modal (the server reads the
    # flow's name from the store: a button cannot name a flow of its choosing).
    snoozable: bool = False
    flow_snooze: FlowSnoozeView | None = None  # the run's flow, while it is snoozed
