"""The bulk resync worker: works running jobs in the BULK lane, one replica per job.

Every replica runs one worker; the lease `bulk:<id>` lets one of them work a job at a time, and a
dead worker's job is taken over when its lease runs out. A pass re-checks the pending runs in one
scan of Patchworks' failed-run report (about one read per 100 runs) and retries each still failed
run under its resync claim, a few at once; a run claimed earlier (by a person, or by this job
before a crash) is adopted, never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from blocks.bulk import build_bulk_summary
from blocks.elements import Block
from blocks.model import JobState, Skipped
from bot.clock import Clock, utcnow
from bot.effects import EffectOutbox
from bot.follow import ResyncFollower
from bot.patchworks.errors import NotFound, PatchworksError
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.patchworks.models import RunStatus, SyncEntry
from bot.patchworks.report import SyncReport, pages_around
from bot.resync import Resyncer, ResyncStatus
from bot.slack import SlackClient, SlackError
from bot.states import JobRunState, ResyncOutcome
from bot.store import ResyncRow, Store, UnitOfWork
from bot.store.jobs import JobRow, JobRunRow

__all__ = ["LOOKUP_CHUNK", "BulkWorker", "chunks"]

log = logging.getLogger(__name__)

# Runs re-checked together: one page of Patchworks' failed-run report holds 100.
_BATCH = 100
# A worker holds a job's lease this long and renews it a third of the way through.
_LEASE = timedelta(seconds=15)
# The digest's progress line is rewritten at most this often (chat.update allows ~50 a minute).
_PROGRESS_EVERY = timedelta(seconds=3)
# How long a worker rests when a pass over a job settled nothing (claims still being settled,
# Patchworks rate-limiting) and between looks for work when idle.
_IDLE = 5.0
# Retries of one job in flight at once.
_IN_FLIGHT = 4
# Runs looked up in the store per query (bound parameters stay well under SQLite's limit).
LOOKUP_CHUNK = 500
# A run the re-check could not read: tried again on the next pass.
_UNREAD = object()


# Reasons of a resync that did not settle its run: tried again (rate limit) or settled by
# reconcile (the retry may have run).
_UNSETTLED = frozenset({"outcome unknown", "rate limited"})


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in slices of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]


@dataclass
class _Pass:
    """One pass of a worker over a job: what it settled, and when it last renewed and reported."""

    job: JobRow
    renewed: datetime
    settled: int = 0
    stopped: bool = False  # cancelled, stopping, or the lease was lost: settle nothing more
    starts: list[datetime] = field(default_factory=list)
    progress_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.progress_at = self.renewed


class _LeaseLost(Exception):
    """Another replica took the job's lease: stop working it."""


class BulkWorker:
    """Works running bulk resync jobs until stopped."""

    def __init__(
        self,
        report: SyncReport,
        store: Store,
        resyncer: Resyncer,
        follower: ResyncFollower,
        effects: EffectOutbox,
        slack: SlackClient,
        *,
        clock: Clock = utcnow,
        lease: timedelta = _LEASE,
        idle: float = _IDLE,
    ) -> None:
        self._report = report
        self._store = store
        self._resyncer = resyncer
        self._follower = follower
        self._effects = effects
        self._slack = slack
        self._clock = clock
        self._lease = lease
        self._idle = idle
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._taken: set[int] = set()  # jobs this process has worked on, for the log

    def wake(self) -> None:
        """A job was started: look for work now rather than at the next idle check."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Work running jobs until `stop`; never raises (a failure is logged and retried)."""
        while not self._stopping.is_set():
            try:
                worked = await self.work_once()
            except Exception:
                log.exception("bulk resync worker failed; trying again shortly")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle)

    def stop(self) -> None:
        """Finish the run in hand, then stop (shutdown)."""
        self._stopping.set()
        self._wake.set()

    async def work_once(self) -> bool:
        """One pass over each running job this replica can lease; True when something was settled."""
        async with self._store.unit_of_work() as uow:
            jobs = await uow.jobs.running()
        worked = False
        for job in jobs:
            if self._stopping.is_set():
                break
            if not await self._take(job.id):
                continue
            if job.id not in self._taken:
                self._taken.add(job.id)
                log.info("working bulk job %s (%d runs) on %s", job.id, job.total, self.holder)
            try:
                worked = await self._work(job) or worked
            except _LeaseLost:
                log.warning("bulk job %s: another replica took it over", job.id)
            finally:
                await self._give_back(job.id)
        return worked

    async def _take(self, job_id: int) -> bool:
        async with self._store.unit_of_work(self._clock()) as uow:
            return await uow.leases.acquire(f"bulk:{job_id}", self.holder, uow.now + self._lease)

    async def _give_back(self, job_id: int) -> None:
        with contextlib.suppress(Exception):
            async with self._store.unit_of_work(self._clock()) as uow:
                await uow.leases.release(f"bulk:{job_id}", self.holder)

    async def _work(self, job: JobRow) -> bool:
        """One pass over the job's pending runs; then finish it if nothing is left pending.

        Runs an earlier claim covers are settled from the store. The others are re-checked by
        reading Patchworks' failed-run report once across their start times, page by page, and
        each is retried as soon as its page shows it still failed: about one read per 100 runs.
        A run the report did not show is read on its own before it is called no longer failed
        (new failures arriving during the scan can shift the report's pages).
        """
        pass_ = _Pass(job, self._clock())
        async with self._store.unit_of_work() as uow:
            pending = await uow.jobs.pending(job.id, after=-1, limit=None)
        to_check: dict[int, JobRunRow] = {}
        for chunk in chunks(pending, LOOKUP_CHUNK):
            async with self._store.unit_of_work() as uow:
                claims = await uow.resyncs.for_runs([run.run_id for run in chunk])
                tracked = await uow.entries.for_runs([run.run_id for run in chunk])
            for run in chunk:
                claim = claims.get(run.run_id)
                if claim is not None and claim.outcome.blocks_new_claim:
                    pass_.settled += await self._adopt(job, run, claim)
                    continue
                to_check[run.run_id] = run
                row = tracked.get(run.run_id)
                if row is not None and row.entry.started_at is not None:
                    pass_.starts.append(row.entry.started_at)
        if to_check and pass_.starts:
            try:
                with patchworks_lane(Lane.BULK):
                    async for page in pages_around(self._report, pass_.starts):
                        found = [(to_check.pop(e.run_id), e) for e in page if e.run_id in to_check]
                        if not await self._steps(pass_, found) or not to_check:
                            break
            except PatchworksError as exc:
                log.warning("bulk job %s: re-check read failed (%s); trying again shortly", job.id, exc)
                return pass_.settled > 0
            if pass_.stopped:
                return pass_.settled > 0
        for run in list(to_check.values()):
            current = await self._read_one(run.run_id)
            if current is not None and not isinstance(current, SyncEntry):
                continue  # not read: the next pass tries again
            if not await self._step(pass_, run, current):
                return pass_.settled > 0
        if await self._finish(job):
            return True
        if pass_.settled == 0:
            # Only runs whose earlier claim is still unsettled are left: settle them now, and
            # look again at once when that settled any.
            return await self._follower.reconcile() > 0
        await self._show_progress(job.message_id)
        return True

    async def _steps(self, pass_: _Pass, found: list[tuple[JobRunRow, SyncEntry]]) -> bool:
        """Settle one page's runs, a few retries in flight at once; False when the pass must stop.

        A few at once because each retry waits for Patchworks' answer: one at a time, a slow
        answer would leave the budget unspent. The next page is read only after this one is
        done, so a run is retried soon after the page that re-checked it.
        """
        slots = asyncio.Semaphore(_IN_FLIGHT)

        lost = False

        async def settle(run: JobRunRow, entry: SyncEntry) -> None:
            nonlocal lost
            async with slots:
                try:
                    if not pass_.stopped and not await self._step(pass_, run, entry):
                        pass_.stopped = True
                except _LeaseLost:
                    lost = pass_.stopped = True

        await asyncio.gather(*(settle(run, entry) for run, entry in found))
        if lost:
            raise _LeaseLost
        return not pass_.stopped

    async def _step(self, pass_: _Pass, run: JobRunRow, current: SyncEntry | None) -> bool:
        """Settle one re-checked run; False when the pass must stop (cancelled, lease lost, stopping)."""
        job = pass_.job
        now = self._clock()
        if now - pass_.renewed >= self._lease / 3:
            if not await self._take(job.id):
                raise _LeaseLost
            pass_.renewed = now
        if self._stopping.is_set() or not await self._still_running(job.id):
            return False
        pass_.settled += await self._one(job, run, current)
        if self._clock() - pass_.progress_at >= _PROGRESS_EVERY:
            await self._show_progress(job.message_id)
            pass_.progress_at = self._clock()
        return True

    async def _read_one(self, run_id: int) -> SyncEntry | object | None:
        """A run the report scan did not show, read on its own: None when no longer failed."""
        try:
            with patchworks_lane(Lane.BULK):
                entry = await self._report.entry(run_id)
        except NotFound:
            return None
        except PatchworksError as exc:
            log.warning("bulk re-check of run %s failed: %s", run_id, exc)
            return _UNREAD
        return entry if entry.status.failed else None

    async def _still_running(self, job_id: int) -> bool:
        async with self._store.unit_of_work() as uow:
            job = await uow.jobs.get(job_id)
        return job is not None and job.state is JobState.RUNNING

    async def _adopt(self, job: JobRow, run: JobRunRow, claim: ResyncRow) -> int:
        """A run someone claimed already: the job's own retry (counted queued) or someone else's."""
        if claim.outcome is ResyncOutcome.REQUESTED:
            return 0  # a retry may be on its way (this job's, before a crash): reconcile settles it
        # A claim of this job's user since it started is the job's own retry, recorded just
        # before a crash or settled by reconcile: it counts as queued, not as skipped.
        started = job.started_at
        ours = claim.requested_by == job.user_id and started is not None and claim.requested_at >= started
        await self._settle(
            job.id,
            run.run_id,
            JobRunState.QUEUED if ours else JobRunState.SKIPPED,
            reason=None if ours else "already resynced",
            new_run_id=claim.new_run_id if ours else None,
        )
        return 1

    async def _one(self, job: JobRow, run: JobRunRow, current: SyncEntry | None) -> int:
        """Skip or retry one re-checked run. Returns 1 when its outcome is settled."""
        if current is None:
            await self._settle(
                job.id, run.run_id, JobRunState.SKIPPED, reason="no longer failed", resolved=True
            )
            return 1
        verdict = current.resyncability
        if not verdict.allowed:
            reason = verdict.reason or "not resyncable"
            await self._settle(job.id, run.run_id, JobRunState.SKIPPED, reason=reason)
            return 1
        try:
            result = await self._resyncer.retry_checked(current, job.user_id, job_id=job.id)
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("bulk job %s: run %s failed (ref %s)", job.id, run.run_id, reference)
            reason = f"syncbot error (ref {reference})"
            await self._settle(job.id, run.run_id, JobRunState.FAILED, reason=reason)
            return 1
        if result.status is ResyncStatus.ALREADY:
            await self._settle(job.id, run.run_id, JobRunState.SKIPPED, reason="already resynced")
        # Not settled: an unconfirmed retry (reconcile settles it) or a rate limit (tried again).
        return 0 if result.status is ResyncStatus.ERROR and result.reason in _UNSETTLED else 1

    async def _settle(
        self,
        job_id: int,
        run_id: int,
        state: JobRunState,
        *,
        reason: str | None,
        new_run_id: int | None = None,
        resolved: bool = False,
    ) -> None:
        async with self._store.unit_of_work(self._clock()) as uow:
            await uow.jobs.settle_run(job_id, run_id, state, reason=reason, new_run_id=new_run_id)
            tracked = await uow.entries.for_run(run_id) if resolved else None
            if tracked is not None and tracked.current_run_id == run_id:
                # Fixed in Patchworks meanwhile: its cause counts it as resolved, not open.
                await uow.show_outcome(
                    tracked,
                    ResyncOutcome.OK,
                    by_user="",
                    new_run_id=None,
                    detail="no longer failed in Patchworks",
                )

    async def _show_progress(self, message_id: int | None) -> None:
        """Rewrite the job's digest, and the digests its resyncs changed (a listing's job has
        none of its own, but its runs may sit in digests)."""
        if message_id is not None:
            async with self._store.unit_of_work(self._clock()) as uow:
                await uow.effects.refresh_later(message_id)
        await self._effects.deliver()

    async def _finish(self, job: JobRow) -> bool:
        async with self._store.unit_of_work(self._clock()) as uow:
            if not await uow.jobs.finish(job.id):
                return False
            finished = await uow.jobs.get(job.id)
            assert finished is not None
            summary = await self.summarise(uow, finished)
        log.info("bulk job %s finished", job.id)
        await self.after_finish(finished, summary)
        return True

    async def summarise(self, uow: UnitOfWork, job: JobRow) -> tuple[str, list[Block]]:
        """The job's one summary; written into its digest's thread in the same transaction."""
        runs = await uow.jobs.runs(job.id)
        tracked = await uow.entries.for_runs([run.run_id for run in runs])

        def entry(run_id: int) -> SyncEntry:
            row = tracked.get(run_id)
            return row.entry if row is not None else SyncEntry(run_id=run_id, status=RunStatus.FAILURE)

        queued = [(entry(r.run_id), r.new_run_id) for r in runs if r.state is JobRunState.QUEUED]
        skipped = [
            Skipped(entry=entry(r.run_id), reason=r.reason or "")
            for r in runs
            if r.state is JobRunState.SKIPPED
        ]
        failed = [(entry(r.run_id), r.reason or "") for r in runs if r.state is JobRunState.FAILED]
        not_run = sum(1 for r in runs if r.state in (JobRunState.CANCELLED, JobRunState.PENDING))
        text, blocks = build_bulk_summary(
            queued, skipped, failed, job.user_id, cancelled_by=job.cancelled_by, not_run=not_run
        )
        if job.message_id is not None:
            await uow.effects.reply_later(job.message_id, text, blocks)
            await uow.effects.refresh_later(job.message_id)
        return text, blocks

    async def after_finish(self, job: JobRow, summary: tuple[str, list[Block]]) -> None:
        """Deliver the summary: in the digest's thread (outbox), or to the user of a listing."""
        await self._effects.deliver()
        if job.message_id is None and job.channel:
            text, blocks = summary
            try:
                await self._slack.post_ephemeral(job.channel, job.user_id, text, blocks)
            except SlackError as exc:
                log.warning("bulk summary not shown to %s: %s", job.user_id, exc.error)
