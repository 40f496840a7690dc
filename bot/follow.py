"""After the click: follow queued resyncs to their outcome, and repair claims a crash stranded."""

from __future__ import annotations

import logging
from datetime import timedelta

from blocks.messages import outcome_reply
from bot.clock import Clock, utcnow
from bot.effects import EffectOutbox
from bot.patchworks.errors import NotFound, PatchworksError
from bot.patchworks.models import RunStatus, SyncEntry
from bot.patchworks.report import SyncReport
from bot.states import ResyncOutcome
from bot.store import ResyncRow, Store

__all__ = ["ResyncFollower", "stranded_after"]

log = logging.getLogger(__name__)


def stranded_after(patchworks_timeout_seconds: float) -> timedelta:
    """How long a claim may stay `requested` before its process is taken for dead.

    A live process holds a claim for one retry call at most (the retry is never re-sent), so
    twice the request timeout plus a margin only ever catches claims nobody is working on.
    """
    return timedelta(seconds=2 * patchworks_timeout_seconds + 5)


class ResyncFollower:
    """Turns Patchworks' later word on a resync into the entry's outcome, in place."""

    def __init__(
        self,
        report: SyncReport,
        store: Store,
        effects: EffectOutbox,
        *,
        stranded: timedelta,
        clock: Clock = utcnow,
    ) -> None:
        self._report = report
        self._store = store
        self._effects = effects
        self._stranded = stranded
        self._clock = clock

    async def reconcile(self) -> int:
        """Settle claims left `requested` by a crash, SIGTERM or lost answer; returns how many.

        The run is read again: when Patchworks retried it, its retry is followed like any queued
        resync; when it did not, the claim is freed so the run can be resynced again.
        """
        settled = 0
        async with self._store.unit_of_work() as uow:
            stranded = await uow.resyncs.requested_before(self._clock() - self._stranded)
        for claim in stranded:
            try:
                run = await self._report.entry(claim.run_id)
            except NotFound:
                await self._settle(
                    claim, ResyncOutcome.ERROR, None, f"run {claim.run_id} vanished from Patchworks"
                )
            except PatchworksError as exc:
                log.warning("stranded resync of run %s not checked yet: %s", claim.run_id, exc)
                continue
            else:
                if run.retried_as is not None:
                    await self._settle(claim, ResyncOutcome.QUEUED, run.retried_as, "found after a restart")
                else:
                    await self._free(claim)
            settled += 1
        return settled

    async def _settle(
        self, claim: ResyncRow, outcome: ResyncOutcome, new_run_id: int | None, note: str
    ) -> None:
        detail = None if new_run_id else note
        async with self._store.unit_of_work(self._clock()) as uow:
            entry = await uow.entries.for_run(claim.entry_run_id or claim.run_id)
            if not await uow.resyncs.settle(claim.run_id, outcome, new_run_id=new_run_id, detail=detail):
                return  # another replica settled it a moment ago
            await uow.audit.append(
                user_id=claim.requested_by,
                action="resync",
                run_ids=[claim.run_id],
                result=outcome.value,
                detail=f"new run {new_run_id} ({note})" if new_run_id else note,
            )
            if entry is not None:
                await uow.show_outcome(
                    entry, outcome, by_user=claim.requested_by, new_run_id=new_run_id, detail=detail
                )
        log.info("stranded resync of run %s settled as %s", claim.run_id, outcome.value)

    async def _free(self, claim: ResyncRow) -> None:
        async with self._store.unit_of_work(self._clock()) as uow:
            if await uow.resyncs.release(claim.run_id):
                await uow.audit.append(
                    user_id=claim.requested_by,
                    action="resync",
                    run_ids=[claim.run_id],
                    result="released",
                    detail="Patchworks never retried it; it can be resynced again",
                )
        log.info("stranded resync of run %s freed: Patchworks never retried it", claim.run_id)

    async def follow(self) -> int:
        """Read each queued resync's new run; write finished outcomes back into their digests."""
        finished = 0
        async with self._store.unit_of_work() as uow:
            queued = await uow.resyncs.queued()
        for resync in queued:
            if resync.new_run_id is None:
                continue
            try:
                run = await self._report.entry(resync.new_run_id)
            except NotFound:
                await self._finish(
                    resync, ResyncOutcome.ERROR, f"run {resync.new_run_id} vanished from Patchworks"
                )
                finished += 1
                continue
            if run.status is RunStatus.STARTED:
                continue
            if run.status is RunStatus.SUCCESS:
                await self._finish(resync, ResyncOutcome.OK, None)
            else:
                await self._finish(resync, ResyncOutcome.FAILED, run.error_summary, current=run)
            finished += 1
        return finished

    async def _finish(
        self, resync: ResyncRow, outcome: ResyncOutcome, detail: str | None, current: SyncEntry | None = None
    ) -> None:
        async with self._store.unit_of_work(self._clock()) as uow:
            entry = await uow.entries.for_run(resync.entry_run_id or resync.run_id)
            await uow.resyncs.record(resync.run_id, outcome, detail=detail)
            if entry is None:
                return
            shown = await uow.show_outcome(
                entry,
                outcome,
                by_user=resync.requested_by,
                new_run_id=resync.new_run_id,
                detail=detail,
                current=current,
            )
            # A single resync's outcome gets a thread reply; a bulk job's runs show theirs in the
            # digest only (its one summary is the thread's), or a job of 200 posts 200 replies.
            if entry.message_id is not None and not await uow.jobs.includes(resync.run_id):
                text, blocks = outcome_reply(entry.entry, shown)
                await uow.effects.reply_later(entry.message_id, text, blocks)
