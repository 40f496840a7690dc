"""APScheduler wiring: one poll job (never overlapping, coalesced) and, with several replicas,
a lease so exactly one of them polls."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import utcnow
from bot.services import Services

__all__ = ["LEASE_NAME", "PollerLease", "start_scheduler"]

log = logging.getLogger(__name__)

LEASE_NAME = "poller"


class PollerLease:
    """Holds the database lease that makes this replica the one that polls."""

    def __init__(self, services: Services, poll_seconds: int) -> None:
        self._services = services
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # Renewed every third of the lease, so a dead holder is replaced within one poll interval.
        self.ttl = timedelta(seconds=max(3.0, poll_seconds / 2))
        self.renew_every = max(1.0, self.ttl.total_seconds() / 3)

    async def renew(self) -> bool:
        """Take or keep the lease; updates `services.is_poller`."""
        until = utcnow() + self.ttl
        async with self._services.store.unit_of_work() as uow:
            held = await uow.leases.acquire(LEASE_NAME, self.holder, until)
        if held != self._services.is_poller:
            log.info("this replica %s the poller", "is now" if held else "is no longer")
        self._services.is_poller = held
        return held

    async def release(self) -> None:
        """Hand the lease over at shutdown."""
        if self._services.is_poller:
            async with self._services.store.unit_of_work() as uow:
                await uow.leases.release(LEASE_NAME, self.holder)
            self._services.is_poller = False


async def poll_if_leader(services: Services, lease: PollerLease) -> None:
    """The scheduled job: poll once when this replica holds the lease; never raises."""
    services.inflight.track_current()
    try:
        if not await lease.renew():
            return
        result = await services.poller.run_once()
        services.last_poll_at = utcnow()
        services.last_poll_error = result.error
    except asyncio.CancelledError:
        # Shutdown interrupted the cycle; the outbox makes the next start finish it. Returning
        # keeps APScheduler from logging the cancellation as a crash.
        log.info("poll cycle interrupted by shutdown")
    except Exception as exc:
        # A bug or a database hiccup must not stop the schedule; the next run tries again.
        services.last_poll_error = f"{type(exc).__name__}: {exc}"
        log.exception("poll cycle failed")


async def repair(services: Services) -> None:
    """At start-up, on any replica: settle stranded resyncs and deliver leftover Slack effects."""
    services.inflight.track_current()
    try:
        settled = await services.follower.reconcile()
        delivered = await services.effects.deliver()
        if settled or delivered:
            log.info(
                "start-up repair: %d stranded resync(s) settled, %d Slack effect(s) delivered",
                settled,
                delivered,
            )
    except asyncio.CancelledError:
        return
    except Exception:
        # Patchworks or the database may be down at start-up: every poll repeats this repair.
        log.exception("start-up repair failed; the next poll tries again")


async def renew_lease(lease: PollerLease) -> None:
    """Keep the lease alive between polls."""
    try:
        await lease.renew()
    except asyncio.CancelledError:
        return
    except Exception:
        log.exception("lease renewal failed")


def start_scheduler(services: Services, lease: PollerLease) -> AsyncIOScheduler:
    """Start polling now and every SYNCBOT_POLL_SECONDS."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    interval = services.settings.syncbot_poll_seconds
    scheduler.add_job(
        poll_if_leader,
        "interval",
        seconds=interval,
        args=(services, lease),
        id="poll",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=interval,
        next_run_time=utcnow(),
    )
    scheduler.add_job(repair, "date", run_date=utcnow(), args=(services,), id="repair")
    scheduler.add_job(
        renew_lease,
        "interval",
        seconds=lease.renew_every,
        args=(lease,),
        id="lease",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
