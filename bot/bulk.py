"""Bulk resync as a durable job: proposed in a confirmation, started once, worked in the BULK lane.

A confirmation opens with a proposed job holding its runs; submitting it starts the job, and the
worker (bot.bulk_worker) runs it: re-checks the runs right before retrying them, retries each at
most once, writes progress into the digest and one summary into its thread. A restart or SIGKILL
resumes the job: runs whose retry was sent but not recorded are settled by the follower's
reconcile, never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from blocks.model import BulkPlan, Skipped
from bot.bulk_worker import LOOKUP_CHUNK, BulkWorker, chunks
from bot.clock import Clock, utcnow
from bot.effects import EffectOutbox
from bot.follow import ResyncFollower
from bot.patchworks.errors import NotFound
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.patchworks.models import SyncEntry
from bot.patchworks.report import SyncReport
from bot.resync import Resyncer
from bot.slack import SlackClient
from bot.store import EntryRow, ResyncRow, Store
from bot.store.jobs import JobRow

__all__ = ["BulkJobs"]

log = logging.getLogger(__name__)

# A confirmation not submitted within this long is forgotten.
_PROPOSAL_TTL = timedelta(days=1)


class BulkJobs:
    """Proposes, starts, cancels and works bulk resync jobs."""

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
        lease: timedelta = timedelta(seconds=15),
        idle: float = 5.0,
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
        self.worker = BulkWorker(
            report, store, resyncer, follower, effects, slack, clock=clock, lease=lease, idle=idle
        )

    # ---- what people do ----------------------------------------------------------------------

    async def propose(
        self,
        run_ids: Sequence[int],
        user_id: str,
        *,
        message_id: int | None,
        channel: str | None,
        cause_id: str | None = None,
    ) -> BulkPlan:
        """What a bulk resync would do, from the store; the runs to resync become a proposed job."""
        unique = list(dict.fromkeys(run_ids))
        tracked: dict[int, EntryRow] = {}
        claims: dict[int, ResyncRow] = {}
        for chunk in chunks(unique, LOOKUP_CHUNK):
            async with self._store.unit_of_work() as uow:
                tracked.update(await uow.entries.for_runs(chunk))
                claims.update(await uow.resyncs.for_runs(chunk))
        to_resync: list[SyncEntry] = []
        skipped: list[Skipped] = []
        for run_id in unique:
            row = tracked.get(run_id)
            entry = row.entry if row is not None else await self._read_unknown(run_id)
            if entry is None:
                continue
            earlier = claims.get(run_id)
            if earlier is not None and earlier.outcome.blocks_new_claim:
                skipped.append(Skipped(entry=entry, reason="already resynced"))
                continue
            verdict = entry.resyncability
            if not verdict.allowed:
                skipped.append(Skipped(entry=entry, reason=verdict.reason or "not resyncable"))
                continue
            to_resync.append(entry)
        job_id = None
        if to_resync:
            async with self._store.unit_of_work(self._clock()) as uow:
                await uow.jobs.prune_proposals(uow.now - _PROPOSAL_TTL)
                job_id = await uow.jobs.propose(
                    user_id,
                    [entry.run_id for entry in to_resync],
                    message_id=message_id,
                    channel=channel,
                    cause_id=cause_id,
                )
        return BulkPlan(
            message_id=message_id,
            to_resync=tuple(to_resync),
            skipped=tuple(skipped),
            channel=channel,
            job_id=job_id,
        )

    async def _read_unknown(self, run_id: int) -> SyncEntry | None:
        """A run the mirror does not hold (rare: a listing older than the mirror), read once."""
        try:
            with patchworks_lane(Lane.DETAILS):  # a person is waiting for the confirmation
                return await self._report.entry(run_id)
        except NotFound:
            return None

    async def start(self, job_id: int, user_id: str) -> JobRow | None:
        """Start a proposed job; None when it was started already (a repeated submission)."""
        async with self._store.unit_of_work(self._clock()) as uow:
            if not await uow.jobs.start(job_id, user_id):
                return None
            job = await uow.jobs.get(job_id)
            await uow.audit.append(
                user_id=user_id, action="bulk_resync", run_ids=[], result="started", detail=f"job {job_id}"
            )
            if job is not None and job.message_id is not None:
                await uow.effects.refresh_later(job.message_id)
        self.worker.wake()
        await self._effects.deliver()
        return job

    async def cancel(self, job_id: int, user_id: str) -> bool:
        """Stop a running job and post its summary; False when it was not running any more."""
        async with self._store.unit_of_work(self._clock()) as uow:
            if not await uow.jobs.cancel(job_id, user_id):
                return False
            job = await uow.jobs.get(job_id)
            assert job is not None
            await uow.audit.append(
                user_id=user_id, action="bulk_resync", run_ids=[], result="cancelled", detail=f"job {job_id}"
            )
            summary = await self.worker.summarise(uow, job)
        await self.worker.after_finish(job, summary)
        return True

    # ---- the worker (bot.bulk_worker) ----------------------------------------------------------

    async def run_forever(self) -> None:
        """Work running jobs until `stop`; never raises."""
        await self.worker.run_forever()

    def stop(self) -> None:
        """Finish the run in hand, then stop (shutdown)."""
        self.worker.stop()

    async def work_once(self) -> bool:
        """One pass over each running job this replica can lease; True when something was settled."""
        return await self.worker.work_once()
