"""The states a resync request and a Slack effect go through, and the rules written once."""

from __future__ import annotations

from enum import StrEnum

from blocks.model import EntryState, JobState

__all__ = [
    "EffectKind",
    "EffectState",
    "JobRunState",
    "JobState",
    "MessageState",
    "Placement",
    "ResyncOutcome",
]


class ResyncOutcome(StrEnum):
    """Where a resync request is: claimed, accepted by Patchworks, then ended."""

    REQUESTED = "requested"  # claimed; the retry may be on its way to Patchworks
    QUEUED = "queued"  # Patchworks accepted it; its new run is followed
    OK = "ok"
    FAILED = "failed"  # the new run failed again
    ERROR = "error"  # refused, or the answer was lost: the run may be claimed again

    @property
    def blocks_new_claim(self) -> bool:
        """The one rule: a run is "already resynced" unless its last attempt ended in error."""
        return self is not ResyncOutcome.ERROR

    @property
    def finished(self) -> bool:
        """True once nothing more will happen to this request."""
        return self in (ResyncOutcome.OK, ResyncOutcome.FAILED, ResyncOutcome.ERROR)

    @property
    def entry_state(self) -> EntryState:
        """How an entry shows this request in a digest."""
        return _ENTRY_STATES[self]


_ENTRY_STATES = {
    ResyncOutcome.REQUESTED: EntryState.QUEUED,
    ResyncOutcome.QUEUED: EntryState.QUEUED,
    ResyncOutcome.OK: EntryState.OK,
    ResyncOutcome.FAILED: EntryState.FAILED_AGAIN,
    ResyncOutcome.ERROR: EntryState.ERROR,
}


class EffectKind(StrEnum):
    """What a Slack effect in the outbox does."""

    REFRESH = "refresh"  # re-render a digest from the store and update it in place
    REPLY = "reply"  # post a note in a digest's thread


class EffectState(StrEnum):
    """Where a Slack effect is in its delivery."""

    PENDING = "pending"
    DELIVERING = "delivering"  # claimed by one process; back to pending if that process died
    DONE = "done"
    FAILED = "failed"  # Slack will never take it; kept for the record


class MessageState(StrEnum):
    """Where a digest message is in the outbox."""

    PENDING = "pending"
    POSTING = "posting"  # the post was sent; after a crash, look for it before posting again
    POSTED = "posted"
    FAILED = "failed"  # Slack will never take it as it is


class Placement(StrEnum):
    """Where an entry is shown."""

    UNASSIGNED = "unassigned"  # recorded, not yet placed in a digest
    MESSAGE = "message"  # one of a digest's entries
    OVERFLOW = "overflow"  # counted in a digest's "+N more"
    MIRROR = "mirror"  # read by a listing's backfill, before the poller's first window: never posted


class JobRunState(StrEnum):
    """Where one run of a bulk resync job is."""

    PENDING = "pending"  # not retried yet (or its claim is still being settled)
    QUEUED = "queued"  # retried once, by this job or by whoever claimed it first
    SKIPPED = "skipped"  # re-checked right before: not failed any more, not resyncable, already retried
    FAILED = "failed"  # Patchworks refused or could not be reached
    CANCELLED = "cancelled"  # the job was cancelled before its turn
