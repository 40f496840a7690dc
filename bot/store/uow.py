"""One transaction over the store: a state change and the Slack effects it causes commit together.

    async with store.unit_of_work() as uow:
        await uow.resyncs.record(run_id, ResyncOutcome.QUEUED, new_run_id=new_run)
        await uow.show_outcome(entry, ResyncOutcome.QUEUED, by_user=user, new_run_id=new_run, detail=None)

Either all of it is in the database after the block, or none of it is; the effects are then
delivered from the outbox (`bot.effects`), by this process or, after a crash, by the next one.
Reads go through a unit of work too: it is the one way in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from blocks.model import Outcome
from bot.patchworks.models import SyncEntry
from bot.states import ResyncOutcome
from bot.store.audit import AuditRepo
from bot.store.cause_states import CauseStateRepo
from bot.store.causes import CauseRepo
from bot.store.effects import EffectRepo
from bot.store.entries import EntryRepo
from bot.store.flow_snoozes import FlowSnoozeRepo
from bot.store.home import HomeRepo
from bot.store.jobs import JobRepo
from bot.store.leases import LeaseRepo
from bot.store.messages import MessageRepo
from bot.store.meta import MetaRepo
from bot.store.resyncs import ResyncRepo
from bot.store.rows import EntryRow
from bot.store.stats import StatsRepo
from bot.store.summary import SummaryRepo

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """The repositories of one open transaction, and the steps that span several of them."""

    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.now = now
        self.meta = MetaRepo(conn)
        self.entries = EntryRepo(conn, now)
        self.messages = MessageRepo(conn, now)
        self.resyncs = ResyncRepo(conn, now)
        self.audit = AuditRepo(conn, now)
        self.leases = LeaseRepo(conn, now)
        self.effects = EffectRepo(conn, now)
        self.jobs = JobRepo(conn, now)
        self.causes = CauseRepo(conn, now)
        self.cause_states = CauseStateRepo(conn, now)
        self.flow_snoozes = FlowSnoozeRepo(conn, now)
        self.stats = StatsRepo(conn, now)
        self.home = HomeRepo(conn, now)
        self.summary = SummaryRepo(conn, now)

    async def show_outcome(
        self,
        entry: EntryRow,
        outcome: ResyncOutcome,
        *,
        by_user: str,
        new_run_id: int | None,
        detail: str | None,
        current: SyncEntry | None = None,
    ) -> Outcome:
        """Write a resync's outcome into its entry and rewrite the digest showing it; returns it."""
        shown = Outcome(
            state=outcome.entry_state, by_user=by_user, at=self.now, new_run_id=new_run_id, detail=detail
        )
        await self.entries.set_outcome(entry.run_id, shown, current=current)
        if entry.message_id is not None:
            await self.effects.refresh_later(entry.message_id)
        return shown
