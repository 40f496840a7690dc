"""Rows read from the store: plain frozen records, and how each is built from a database row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks.model import EntryState, Outcome
from bot.clock import utcnow
from bot.patchworks.models import SyncEntry
from bot.states import EffectKind, MessageState, Placement, ResyncOutcome

__all__ = [
    "AuditRow",
    "Claim",
    "EffectRow",
    "EntryRow",
    "MessageRow",
    "ResyncRow",
    "cut",
    "effect_row",
    "entry_row",
    "message_row",
    "resync_row",
    "utcnow",
]


@dataclass(frozen=True)
class MessageRow:
    """A digest message in the outbox."""

    id: int
    channel: str
    ts: str | None
    part: int  # 1: the message in the channel; later parts sit in its thread
    state: MessageState
    attempts: int
    last_error: str | None
    posting_at: datetime | None


@dataclass(frozen=True)
class EntryRow:
    """An entry syncbot alerted on, with where it is shown and what happened to it."""

    run_id: int
    current_run_id: int
    message_id: int | None
    placement: Placement
    entry: SyncEntry
    outcome: Outcome


@dataclass(frozen=True)
class ResyncRow:
    """One resync request."""

    id: int
    run_id: int
    entry_run_id: int | None
    requested_by: str
    requested_at: datetime
    new_run_id: int | None
    outcome: ResyncOutcome
    detail: str | None


@dataclass(frozen=True)
class Claim:
    """The result of claiming a run for resync: ours, or someone else's earlier request."""

    created: bool
    resync: ResyncRow


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    at: datetime
    user_id: str
    action: str
    run_ids: tuple[int, ...]
    result: str
    detail: str | None


@dataclass(frozen=True)
class EffectRow:
    """A Slack effect waiting in the outbox: rewrite a digest, or reply in its thread."""

    id: int
    kind: EffectKind
    message_id: int
    body: str | None
    attempts: int


def effect_row(row: Any) -> EffectRow:
    return EffectRow(
        id=row.id, kind=EffectKind(row.kind), message_id=row.message_id, body=row.body, attempts=row.attempts
    )


# Error texts and audit details are kept whole up to this size; longer ones are cut.
DETAIL_CHARS = 2000


def cut(text: str | None) -> str | None:
    """A stored text, cut to DETAIL_CHARS."""
    return None if text is None else text[:DETAIL_CHARS]


def entry_row(row: Any) -> EntryRow:
    entry = SyncEntry.model_validate_json(row.snapshot)
    outcome = Outcome(
        state=EntryState(row.state),
        by_user=row.by_user,
        at=row.state_at,
        new_run_id=row.new_run_id,
        detail=row.detail,
    )
    return EntryRow(
        run_id=row.run_id,
        current_run_id=row.current_run_id,
        message_id=row.message_id,
        placement=Placement(row.placement),
        entry=entry,
        outcome=outcome,
    )


def resync_row(row: Any) -> ResyncRow:
    return ResyncRow(
        id=row.id,
        run_id=row.run_id,
        entry_run_id=row.entry_run_id,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        new_run_id=row.new_run_id,
        outcome=ResyncOutcome(row.outcome),
        detail=row.detail,
    )


def message_row(row: Any) -> MessageRow:
    return MessageRow(
        id=row.id,
        channel=row.channel,
        ts=row.ts,
        part=row.part,
        state=MessageState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        posting_at=row.posting_at,
    )
