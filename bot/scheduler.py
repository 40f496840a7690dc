"""APScheduler wiring: one poll job (never overlapping, coalesced) and, with several replicas,
a lease so exactly one of them polls; `PollNow` polls on request too (POST /patchworks/hook)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import utcnow
from bot.home import refresh_homes
from bot.services import Services
from bot.summary import add_summary_job

__all__ = ["LEASE_NAME", "SETTLE_SECONDS", "PollNow", "PollerLease", "poll_if_leader", "start_scheduler"]

log = logging.getLogger(__name__)

LEASE_NAME = "poller"
# A requested poll starts this long after the request that queued it: a burst of hook calls (many
# runs failing at once, each calling the hook) is one poll, and the failure that called still
# reaches Slack within seconds.
SETTLE_SECONDS = 0.5


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
    services.inflight.track_current(interruptible=True)
    started = time.monotonic()
    try:
        if not await lease.renew():
            return
        started = time.monotonic()
        result = await services.poller.run_once()
        services.last_poll_at = utcnow()
        services.last_poll_error = result.error
        services.metrics.poll(
            "error" if result.error else "ok", time.monotonic() - started, new_failures=result.new
        )
        await refresh_homes(services)  # never raises
    except asyncio.CancelledError:
        # Shutdown interrupted the cycle; the outbox makes the next start finish it. Returning
        # keeps APScheduler from logging the cancellation as a crash.
        log.info("poll cycle interrupted by shutdown")
    except Exception as exc:
        # A bug or a database hiccup must not stop the schedule; the next run tries again.
        services.last_poll_error = f"{type(exc).__name__}: {exc}"
        log.exception("poll cycle failed")
        services.metrics.poll("crashed", time.monotonic() - started)


class PollNow:
    """Polls on request besides the schedule (POST /patchworks/hook), coalesced: at most one
    requested poll waits to start, and later requests are covered by it. One poll runs at a time
    in this process, scheduled or requested; a request made while a poll runs queues one more,
    which starts when it ends (that poll may have read Patchworks before the new failure)."""

    def __init__(self, services: Services, lease: PollerLease, *, settle: float | None = None) -> None:
        self._services = services
        self._lease = lease
        self._settle = SETTLE_SECONDS if settle is None else settle
        self._lock = asyncio.Lock()  # one poll at a time, whoever started it
        self._queued = False
        self._waiting: set[asyncio.Task[None]] = set()  # requested polls not started yet
        self._closed = False

    def request(self) -> bool:
        """Queue a poll; False when one is already queued (it covers this request)."""
        if self._queued or self._closed:
            return False
        self._queued = True
        task = asyncio.get_running_loop().create_task(self._requested(), name="requested poll")
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return True

    async def scheduled(self) -> None:
        """The schedule's poll: after a poll in progress, never beside it."""
        async with self._lock:
            if not self._closed:
                await poll_if_leader(self._services, self._lease)

    async def close(self) -> None:
        """At shutdown: drop the requested polls not started yet (one running is drained as the
        schedule's is)."""
        self._closed = True
        waiting = list(self._waiting)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    async def _requested(self) -> None:
        await asyncio.sleep(self._settle)
        async with self._lock:
            task = asyncio.current_task()
            if task is not None:
                self._waiting.discard(task)  # started: a request from now on queues another
            self._queued = False
            if not self._closed:
                await poll_if_leader(self._services, self._lease)


async def repair(services: Services) -> None:
    """At start-up, on any replica: settle stranded resyncs and deliver leftover Slack effects."""
    services.inflight.track_current(interruptible=True)
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


def start_scheduler(
    services: Services, lease: PollerLease, poll_now: PollNow | None = None
) -> AsyncIOScheduler:
    """Start polling now and every SYNCBOT_POLL_SECONDS (through `poll_now`, when given, so that
    requested polls never run beside scheduled ones)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    interval = services.settings.syncbot_poll_seconds
    scheduler.add_job(
        poll_now.scheduled if poll_now is not None else poll_if_leader,
        "interval",
        seconds=interval,
        args=() if poll_now is not None else (services, lease),
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
    add_summary_job(scheduler, services)  # no job when SYNCBOT_SUMMARY_AT is unset
    scheduler.start()
    return scheduler
