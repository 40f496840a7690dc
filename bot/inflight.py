"""Work still running after Slack got its ack: tracked so a shutdown lets it finish first."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.listener.async_listener_completion_handler import AsyncListenerCompletionHandler
from slack_bolt.listener.async_listener_start_handler import AsyncListenerStartHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

__all__ = ["InFlight", "KeepAck", "TrackListeners"]

log = logging.getLogger(__name__)


class InFlight:
    """The set of tasks a shutdown must wait for: Bolt listeners after their ack, poll cycles."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._interruptible: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def track_current(self, *, interruptible: bool = False) -> None:
        """Count the running task until it ends; an `interruptible` one (a poll cycle, which is
        safe to kill anywhere) may be cancelled by a shutdown that cannot wait for it."""
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if interruptible:
                self._interruptible.add(task)
                task.add_done_callback(self._interruptible.discard)

    async def drain(self, grace: float, *, interrupt_after: float | None = None) -> int:
        """Wait up to `grace` seconds for tracked tasks; returns how many were still running.

        Interruptible tasks still running after `interrupt_after` seconds are cancelled then, so
        a poll slowed by Patchworks' budget does not hold a person's resync past the grace.
        """
        # A listener acked a moment ago may not have started yet (Bolt starts it as a new task):
        # one turn of the loop lets it start and be tracked.
        await asyncio.sleep(0)
        pending = {task for task in self._tasks if task is not asyncio.current_task()}
        if not pending:
            return 0
        log.info("waiting up to %.0fs for %d request(s) in progress", grace, len(pending))
        first = grace if interrupt_after is None else min(grace, interrupt_after)
        _, still = await asyncio.wait(pending, timeout=first)
        interrupted = still & self._interruptible
        if interrupted and first < grace:
            # Kill-safe by design (the outbox, the watermark): the next start resumes it.
            log.info("interrupting %d poll(s) in progress to shut down in time", len(interrupted))
            for task in interrupted:
                task.cancel()
            await asyncio.gather(*interrupted, return_exceptions=True)
            still = {task for task in still if not task.done()}
            if still:
                _, still = await asyncio.wait(still, timeout=grace - first)
        if still:
            # Cancelled by the event loop's shutdown; a claim they held is settled by the next poll.
            log.warning("%d request(s) still running after %.0fs; stopping anyway", len(still), grace)
        return len(still)


class TrackListeners(AsyncListenerStartHandler):
    """Bolt runs listeners in their own task after the ack; this counts each one as in flight."""

    def __init__(self, inflight: InFlight) -> None:
        self._inflight = inflight

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        """Track the listener's task (Bolt calls this inside it, before the listener runs)."""
        self._inflight.track_current()


class KeepAck(AsyncListenerCompletionHandler):
    """Puts back the ack of a listener that failed after acking.

    Bolt answers the HTTP request once it sees the ack, polling every 10 ms; a listener that
    fails sooner than that has its ack replaced by "no response", and Bolt then answers Slack as
    if nobody had acked. Bolt hands this handler `response=None` exactly in that case.
    """

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        """Restore a plain 200 ack when a failure after the ack cleared it."""
        ack = request.context.ack
        if response is None and ack is not None and ack.response is None:
            ack.response = BoltResponse(status=200, body="")
