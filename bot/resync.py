"""Resync: re-read the entry, check it may and should run, claim it once, retry it, record it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from blocks.bulk import BULK_MAX
from blocks.model import BulkPlan, EntryState, Outcome, Skipped
from blocks.text import escape, user_mention
from bot.digests import DigestPublisher
from bot.patchworks.errors import (
    AuthFailed,
    NotFound,
    PatchworksError,
    RateLimited,
    ResyncRefused,
)
from bot.patchworks.health import derive_health
from bot.patchworks.models import Health, RunStatus, SyncEntry, SystemHealth
from bot.patchworks.report import SyncReport
from bot.store import EntryRow, Store

__all__ = ["BulkOutcome", "ResyncResult", "ResyncStatus", "Resyncer"]

log = logging.getLogger(__name__)


class ResyncStatus(StrEnum):
    """How a resync request ended."""

    QUEUED = "queued"
    ALREADY = "already"  # someone (maybe this user) already resynced this run
    NOT_ALLOWED = "not_allowed"  # failure reason does not allow a resync, or no longer failed
    UNHEALTHY = "unhealthy"  # a system involved looks broken: ask before retrying blindly
    GONE = "gone"  # the run no longer exists in Patchworks
    ERROR = "error"  # Patchworks refused or could not be reached


@dataclass(frozen=True)
class ResyncResult:
    """The outcome of one resync request: a mrkdwn sentence for the user (untrusted parts
    escaped, mentions real) and a short plain reason for bulk summaries."""

    status: ResyncStatus
    run_id: int
    message: str
    reason: str = ""
    entry: SyncEntry | None = None
    new_run_id: int | None = None
    health: tuple[SystemHealth, ...] = ()


@dataclass
class BulkOutcome:
    """Per-entry results of a bulk resync."""

    queued: list[tuple[SyncEntry, int]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    failed: list[tuple[SyncEntry, str]] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _hhmm(when: datetime) -> str:
    return when.strftime("%H:%M UTC")


class Resyncer:
    """The only place that calls Patchworks' retry."""

    def __init__(
        self,
        report: SyncReport,
        store: Store,
        digests: DigestPublisher,
        *,
        clock: Callable[[], datetime] = _utcnow,
        health_window: timedelta = timedelta(hours=1),
    ) -> None:
        self._report = report
        self._store = store
        self._digests = digests
        self._clock = clock
        self._health_window = health_window

    async def recent_health(self) -> dict[str, SystemHealth]:
        """Derived health of every system with failures in the last hour (at most two pages)."""
        now = self._clock()
        entries: list[SyncEntry] = []
        pages = 0
        async for page in self._report.failed_pages(now - self._health_window):
            entries.extend(page)
            pages += 1
            if pages >= 2:
                break
        return derive_health(entries, now=now, window=self._health_window)

    async def resync_one(
        self, run_id: int, user_id: str, *, force: bool = False, refresh: bool = True
    ) -> ResyncResult:
        """Resync one run for a user; `force` skips the health warning (the user confirmed it).

        Every attempt, whatever its outcome, is written to the audit log. With `refresh` False
        the digest holding the entry is not rewritten: the caller does it once for many.
        """
        result = await self._resync_one(run_id, user_id, force=force, refresh=refresh)
        await self._store.audit(
            user_id=user_id,
            action="resync",
            run_ids=[run_id],
            result=result.status.value,
            detail=f"new run {result.new_run_id}" if result.new_run_id else result.reason,
        )
        return result

    async def _resync_one(self, run_id: int, user_id: str, *, force: bool, refresh: bool) -> ResyncResult:
        earlier = await self._store.resync_for_run(run_id)
        if earlier is not None and earlier.outcome != "error":
            return self._already(run_id, earlier.requested_by, earlier.requested_at, earlier.new_run_id)
        try:
            entry = await self._report.entry(run_id)
        except NotFound:
            return ResyncResult(
                ResyncStatus.GONE,
                run_id,
                f"Run {run_id} no longer exists in Patchworks.",
                "no longer in Patchworks",
            )
        except PatchworksError as exc:
            return ResyncResult(
                ResyncStatus.ERROR,
                run_id,
                escape(f"Patchworks could not be asked about run {run_id}: {exc}"),
                "Patchworks did not answer",
            )
        verdict = entry.resyncability
        if not verdict.allowed:
            reason = verdict.reason or "not resyncable"
            return ResyncResult(
                ResyncStatus.NOT_ALLOWED,
                run_id,
                escape(f"Run {run_id} was not resynced: {reason}."),
                reason,
                entry,
            )
        if not force:
            try:
                health = await self.recent_health()
            except PatchworksError:
                health = {}
            broken = tuple(
                health[system]
                for system in entry.systems
                if system in health and health[system].health is not Health.OPERATIONAL
            )
            if broken:
                names = ", ".join(f"{item.system} looks like {item.health.value}" for item in broken)
                return ResyncResult(
                    ResyncStatus.UNHEALTHY,
                    run_id,
                    escape(f"{names}: a resync will probably fail again."),
                    "a system looks broken",
                    entry,
                    health=broken,
                )
        return await self._claim_and_retry(entry, user_id, refresh=refresh)

    async def _claim_and_retry(self, entry: SyncEntry, user_id: str, *, refresh: bool) -> ResyncResult:
        tracked = await self._store.entry_for_run(entry.run_id)
        claim = await self._store.claim_resync(
            entry.run_id, user_id, tracked.run_id if tracked else entry.run_id
        )
        if not claim.created:
            earlier = claim.resync
            return self._already(entry.run_id, earlier.requested_by, earlier.requested_at, earlier.new_run_id)
        try:
            new_run_id = await self._report.resync(entry.run_id)
        except (ResyncRefused, NotFound) as exc:
            await self._store.update_resync(claim.resync.id, outcome="error", detail=str(exc))
            await self._show(
                tracked,
                Outcome(state=EntryState.ERROR, by_user=user_id, at=self._clock(), detail=str(exc)),
                refresh=refresh,
            )
            return ResyncResult(
                ResyncStatus.ERROR,
                entry.run_id,
                escape(f"Patchworks refused the resync: {exc}"),
                str(exc),
                entry,
            )
        except (RateLimited, AuthFailed) as exc:
            # Patchworks did not run it: free the claim so a later click can try again.
            await self._store.release_claim(claim.resync.id)
            return ResyncResult(
                ResyncStatus.ERROR, entry.run_id, escape(f"Not resynced: {exc}"), str(exc), entry
            )
        except PatchworksError as exc:
            # The retry may or may not have run; the claim stays, marked error, so a new click
            # re-reads the run (a real retry shows as "already retried") before trying again.
            detail = f"Patchworks did not confirm the resync ({exc}); check the run before retrying"
            await self._store.update_resync(claim.resync.id, outcome="error", detail=detail)
            await self._show(
                tracked,
                Outcome(state=EntryState.ERROR, by_user=user_id, at=self._clock(), detail=detail),
                refresh=refresh,
            )
            return ResyncResult(ResyncStatus.ERROR, entry.run_id, escape(detail), "outcome unknown", entry)
        now = self._clock()
        await self._store.update_resync(claim.resync.id, outcome="queued", new_run_id=new_run_id)
        await self._show(
            tracked,
            Outcome(state=EntryState.QUEUED, by_user=user_id, at=now, new_run_id=new_run_id),
            refresh=refresh,
        )
        return ResyncResult(
            ResyncStatus.QUEUED,
            entry.run_id,
            f"Resync of run {entry.run_id} queued as run {new_run_id}.",
            "queued",
            entry,
            new_run_id=new_run_id,
        )

    def _already(self, run_id: int, by: str, at: datetime, new_run_id: int | None) -> ResyncResult:
        new = f" as run {new_run_id}" if new_run_id else ""
        return ResyncResult(
            ResyncStatus.ALREADY,
            run_id,
            f"{user_mention(by)} already resynced run {run_id}{new} at {_hhmm(at)}.",
            "already resynced",
            new_run_id=new_run_id,
        )

    async def _show(self, tracked: EntryRow | None, outcome: Outcome, *, refresh: bool) -> None:
        if tracked is None:
            return
        await self._store.set_outcome(tracked.run_id, outcome)
        if refresh and tracked.message_id is not None:
            await self._digests.refresh(tracked.message_id)

    async def plan_bulk(
        self, run_ids: Sequence[int], message_id: int | None, channel: str | None = None
    ) -> BulkPlan:
        """What a bulk resync would do, from what syncbot knows and Patchworks says now."""
        unique = list(dict.fromkeys(run_ids))[:BULK_MAX]
        tracked = await self._store.entries_for_runs(unique)
        to_resync: list[SyncEntry] = []
        skipped: list[Skipped] = []
        for run_id in unique:
            row = tracked.get(run_id)
            entry = row.entry if row is not None else None
            if entry is None:
                try:
                    entry = await self._report.entry(run_id)
                except NotFound:
                    continue
            earlier = await self._store.resync_for_run(run_id)
            if earlier is not None and earlier.outcome != "error":
                skipped.append(Skipped(entry=entry, reason="already resynced"))
                continue
            verdict = entry.resyncability
            if not verdict.allowed:
                skipped.append(Skipped(entry=entry, reason=verdict.reason or "not resyncable"))
                continue
            to_resync.append(entry)
        return BulkPlan(
            message_id=message_id, to_resync=tuple(to_resync), skipped=tuple(skipped), channel=channel
        )

    async def resync_many(self, run_ids: Sequence[int], user_id: str) -> BulkOutcome:
        """Resync each run in turn (the client's pacer spaces the calls) and collect outcomes.

        Each digest touched is rewritten once at the end, not once per entry: chat.update is
        rate limited to about 50 a minute.
        """
        outcome = BulkOutcome()
        runs = list(dict.fromkeys(run_ids))[:BULK_MAX]
        tracked = await self._store.entries_for_runs(runs)
        messages = {row.message_id for row in tracked.values() if row.message_id is not None}
        for run_id in runs:
            result = await self.resync_one(run_id, user_id, force=True, refresh=False)
            # Runs refused before Patchworks answered have no entry: name them by id alone.
            entry = result.entry or SyncEntry(run_id=run_id, status=RunStatus.FAILURE)
            if result.status is ResyncStatus.QUEUED and result.new_run_id is not None:
                outcome.queued.append((entry, result.new_run_id))
            elif result.status in (ResyncStatus.ALREADY, ResyncStatus.NOT_ALLOWED, ResyncStatus.GONE):
                outcome.skipped.append(Skipped(entry=entry, reason=result.reason))
            else:
                outcome.failed.append((entry, result.reason))
        for message_id in sorted(messages):
            await self._digests.refresh(message_id)
        return outcome
