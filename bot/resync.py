"""Resync: re-read the entry, check it may and should run, claim it once, retry it, record it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from blocks.text import escape, user_mention
from bot.clock import Clock, utcnow
from bot.effects import EffectOutbox
from bot.faults import crash_point
from bot.patchworks.errors import (
    AuthFailed,
    NotFound,
    PatchworksError,
    RateLimited,
    ResyncRefused,
)
from bot.patchworks.health import derive_health
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.patchworks.models import Health, SyncEntry, SystemHealth
from bot.patchworks.report import SyncReport
from bot.states import JobRunState, ResyncOutcome
from bot.store import EntryRow, Store

__all__ = ["ResyncResult", "ResyncStatus", "Resyncer"]

log = logging.getLogger(__name__)

# The newest failures of the last hour that connector health is derived from (two report pages).
_HEALTH_SAMPLE = 200


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


@dataclass(frozen=True)
class _Attempt:
    """A claimed resync on its way to Patchworks: whose it is and where its entry shows."""

    run_id: int
    entry_run_id: int
    user_id: str
    tracked: EntryRow | None
    job_id: int | None = None  # the bulk job it is part of, whose run it settles


def _hhmm(when: datetime) -> str:
    return when.strftime("%H:%M UTC")


class Resyncer:
    """The only place that calls Patchworks' retry."""

    def __init__(
        self,
        report: SyncReport,
        store: Store,
        effects: EffectOutbox,
        *,
        clock: Clock = utcnow,
        health_window: timedelta = timedelta(hours=1),
    ) -> None:
        self._report = report
        self._store = store
        self._effects = effects
        self._clock = clock
        self._health_window = health_window

    async def recent_health(self) -> dict[str, SystemHealth]:
        """Derived health of every system with failures in the last hour.

        Read from the mirror once it covers the hour (no Patchworks request); before the first
        poll, from at most two pages of Patchworks' report.
        """
        now = self._clock()
        since = now - self._health_window
        async with self._store.unit_of_work(now) as uow:
            mirror_since = await uow.meta.mirror_since()
            if mirror_since is not None and mirror_since <= since:
                return await uow.entries.recent_health(self._health_window, sample=_HEALTH_SAMPLE)
        entries: list[SyncEntry] = []
        pages = 0
        async for page in self._report.failed_pages(since):
            entries.extend(page)
            pages += 1
            if pages >= 2:
                break
        return derive_health(entries, now=now, window=self._health_window)

    async def resync_one(
        self, run_id: int, user_id: str, *, force: bool = False, deliver: bool = True
    ) -> ResyncResult:
        """Resync one run for a user; `force` skips the health warning (the user confirmed it).

        Every attempt, whatever its outcome, is written to the audit log; one that reaches
        Patchworks is audited before the retry is sent. With `deliver` False the digest rewrites
        it causes wait in the outbox: the caller delivers them once for many.
        """
        # A person's click goes before polls and bulk jobs; inside a bulk job it stays BULK.
        with patchworks_lane(Lane.RESYNC, unless_chosen=True):
            checked = await self._check(run_id, force=force)
            if isinstance(checked, SyncEntry):
                result = await self._claim_and_retry(checked, user_id)
            else:
                result = checked
                await self._audit_refusal(result, user_id)
        if deliver:
            await self._effects.deliver()
        return result

    async def _audit_refusal(self, result: ResyncResult, user_id: str) -> None:
        async with self._store.unit_of_work(self._clock()) as uow:
            await uow.audit.append(
                user_id=user_id,
                action="resync",
                run_ids=[result.run_id],
                result=result.status.value,
                detail=result.reason,
            )

    async def _check(self, run_id: int, *, force: bool) -> SyncEntry | ResyncResult:
        """The run as Patchworks has it now, when it may and should be resynced; else why not."""
        async with self._store.unit_of_work() as uow:
            earlier = await uow.resyncs.for_run(run_id)
        if earlier is not None and earlier.outcome.blocks_new_claim:
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
            broken = await self._broken_systems(entry)
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
        return entry

    async def _broken_systems(self, entry: SyncEntry) -> tuple[SystemHealth, ...]:
        try:
            health = await self.recent_health()
        except PatchworksError:
            return ()
        return tuple(
            health[system]
            for system in entry.systems
            if system in health and health[system].health is not Health.OPERATIONAL
        )

    async def retry_checked(self, entry: SyncEntry, user_id: str, *, job_id: int) -> ResyncResult:
        """Claim and retry a run a bulk job re-checked just now; its outcome is the job's too.

        The digest rewrites it causes wait in the outbox for the job to deliver them.
        """
        with patchworks_lane(Lane.BULK):
            return await self._claim_and_retry(entry, user_id, job_id)

    async def _claim_and_retry(
        self, entry: SyncEntry, user_id: str, job_id: int | None = None
    ) -> ResyncResult:
        run_id = entry.run_id
        async with self._store.unit_of_work(self._clock()) as uow:
            tracked = await uow.entries.for_run(run_id)
            entry_run_id = tracked.run_id if tracked else run_id
            claim = await uow.resyncs.claim(run_id, user_id, entry_run_id)
            if claim.created:
                await uow.audit.append(user_id=user_id, action="resync", run_ids=[run_id], result="requested")
        if not claim.created:
            earlier = claim.resync
            lost = self._already(run_id, earlier.requested_by, earlier.requested_at, earlier.new_run_id)
            await self._audit_refusal(lost, user_id)
            return lost
        crash_point("resync_claimed")
        attempt = _Attempt(run_id, entry_run_id, user_id, tracked, job_id)
        try:
            new_run_id = await self._report.resync(run_id)
        except (ResyncRefused, NotFound) as exc:
            await self._record(attempt, ResyncOutcome.ERROR, detail=str(exc))
            return ResyncResult(
                ResyncStatus.ERROR,
                run_id,
                escape(f"Patchworks refused the resync: {exc}"),
                str(exc),
                entry,
            )
        except (RateLimited, AuthFailed) as exc:
            # Patchworks did not run it: free the claim so a later click can try again. A bulk job
            # tries a rate-limited run again later; with the key refused, it gives the run up.
            async with self._store.unit_of_work(self._clock()) as uow:
                await uow.resyncs.release(run_id)
                if job_id is not None and isinstance(exc, AuthFailed):
                    await uow.jobs.settle_run(job_id, run_id, JobRunState.FAILED, reason=str(exc))
                await uow.audit.append(
                    user_id=user_id,
                    action="resync",
                    run_ids=[run_id],
                    result="error",
                    detail=f"not sent: {exc}",
                )
            reason = "rate limited" if isinstance(exc, RateLimited) else str(exc)
            return ResyncResult(ResyncStatus.ERROR, run_id, escape(f"Not resynced: {exc}"), reason, entry)
        except PatchworksError as exc:
            # The retry may or may not have run. The claim stays `requested`: the next poll
            # re-reads the run and follows its retry, or frees the claim when there is none.
            detail = (
                f"Patchworks did not confirm the resync ({exc}); syncbot will check run {run_id} "
                "and follow its retry, or free it to be resynced again"
            )
            async with self._store.unit_of_work(self._clock()) as uow:
                await uow.audit.append(
                    user_id=user_id, action="resync", run_ids=[run_id], result="unconfirmed", detail=str(exc)
                )
            return ResyncResult(ResyncStatus.ERROR, run_id, escape(detail), "outcome unknown", entry)
        crash_point("resync_answered")
        await self._record(attempt, ResyncOutcome.QUEUED, new_run_id=new_run_id)
        crash_point("resync_recorded")
        return ResyncResult(
            ResyncStatus.QUEUED,
            run_id,
            f"Resync of run {run_id} queued as run {new_run_id}.",
            "queued",
            entry,
            new_run_id=new_run_id,
        )

    async def _record(
        self,
        attempt: _Attempt,
        outcome: ResyncOutcome,
        *,
        new_run_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Patchworks answered: the resync row, the entry, the audit line and the rewrite, at once."""
        async with self._store.unit_of_work(self._clock()) as uow:
            await uow.resyncs.record(
                attempt.run_id,
                outcome,
                new_run_id=new_run_id,
                detail=detail,
                user_id=attempt.user_id,
                entry_run_id=attempt.entry_run_id,
            )
            await uow.audit.append(
                user_id=attempt.user_id,
                action="resync",
                run_ids=[attempt.run_id],
                result=outcome.value,
                detail=f"new run {new_run_id}" if new_run_id else detail,
            )
            if attempt.job_id is not None:
                await uow.jobs.settle_run(
                    attempt.job_id,
                    attempt.run_id,
                    JobRunState.QUEUED if outcome is ResyncOutcome.QUEUED else JobRunState.FAILED,
                    reason=detail,
                    new_run_id=new_run_id,
                )
            if attempt.tracked is not None:
                await uow.show_outcome(
                    attempt.tracked, outcome, by_user=attempt.user_id, new_run_id=new_run_id, detail=detail
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
