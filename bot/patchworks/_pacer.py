"""One pacer for every Patchworks call: a sliding log of send times, with lanes by who waits.

Patchworks counts requests per account over a sliding minute. The pacer remembers when each of
the last `limit` requests went out and lets one more go only when fewer than `limit` went out in
the last window, so no window, wherever it starts, ever holds more than the limit (a token bucket
could send twice the limit across a boundary). There is no smoothing: calls go at once while
the window has room.

Calls wait in lanes (bot.patchworks.lanes.Lane). When a slot frees, the first call of the highest
non-empty lane goes; FIFO within a lane. A lower lane can wait as long as higher lanes keep
calls waiting; nothing more than that is promised. A few slots of every window (`reserve`) are
kept for RESYNC and DETAILS: BULK and POLL never fill the whole window, so a person's click finds
a free slot at once instead of waiting for a whole minute of poll traffic to age out. BULK keeps
a smaller reserve (`bulk_reserve`, a fortieth): a bulk job is a person's work too and should run
at the rate the account allows, and while it runs its sends are spread out, so a slot frees every
few hundred milliseconds anyway.

A 429 with Retry-After pauses every lane until then (`pause`): the account is over its budget,
whoever spent it (another replica, another tool on the same key). A pause longer than
`max_pause` is not waited out: queued calls fail with RateLimited at once (the one already
sleeping for its slot when it wakes), and so do new calls until the pause ends. A 429 without
Retry-After says nothing about when; only the call that got it backs off.

The budget is the account's, so replicas share it. On PostgreSQL every replica's pacer is given
the same shared window (`SharedWindow`: bot.store.budget, one locked row per account holding the
send times of the last window and the pause). Lanes still order the calls of one process: when
its head may go locally, it also takes a slot of the shared window, against its lane's ceiling,
and when the shared window is full it sleeps as long as the window says and asks again. A 429
pause is written there too, so every replica pauses. Shared times are wall-clock epoch seconds
(monotonic clocks differ between processes). Lanes do not order calls across replicas: a poll on
one replica can take a slot a click on another wanted, but never the slots kept for people.
On SQLite (one process) there is no shared window and the local one is the whole budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Protocol

from bot.clock import utcnow
from bot.patchworks.errors import RateLimited
from bot.patchworks.lanes import INTERACTIVE, Budget, Lane, current_lane, lane_outranks

__all__ = ["WINDOW_SECONDS", "Pacer", "SharedWindow", "Turn", "retry_after_seconds"]

logger = logging.getLogger(__name__)

# Patchworks counts a minute; a little slack covers network jitter between our send times and the
# server's arrival times, so a window we think has room never looks overfull there.
WINDOW_SECONDS = 60.5
# Float rounding can leave a wait a hair short; do not sleep for that.
_EPSILON = 1e-9
# A shared window that answers slower than this is treated as down: the call goes by the local window.
_SHARED_TIMEOUT = 5.0


class SharedWindow(Protocol):
    """The account's window as every replica spends it (bot.store.budget.BudgetWindow)."""

    async def take(self, lane_ceiling: int, now_epoch: float, window: float) -> float:
        """0 when a send at `now_epoch` fit under `lane_ceiling` and was recorded; else seconds to wait."""
        ...

    async def pause(self, until_epoch: float) -> None:
        """Pause every replica's sends until `until_epoch`."""
        ...

    def paused_until(self) -> float:
        """End of the latest pause seen, epoch seconds (-inf when none)."""
        ...


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - utcnow()).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def default_reserve(limit: int) -> int:
    """Slots per window kept for people's single actions: a tenth, at least one (none at 1/min)."""
    return min(limit - 1, max(1, limit // 10))


def bulk_reserve(limit: int, reserve: int) -> int:
    """Slots per window a bulk job leaves to single actions: a fortieth, at least one, at most `reserve`."""
    return min(reserve, max(1, limit // 40)) if reserve else 0


class Turn:
    """One call's place in the pacer's queue; it can move up a lane while it waits (a shared read
    that a person now waits for too). Reusable: a call's retries wait with the same turn."""

    __slots__ = ("_event", "_pacer", "lane")

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self._event = asyncio.Event()
        self._pacer: Pacer | None = None  # set while queued

    @property
    def queued(self) -> bool:
        """Whether it waits in a pacer's queue now (not yet sent)."""
        return self._pacer is not None

    def raise_to(self, lane: Lane) -> None:
        """Wait in `lane` from now on if it outranks the current one (at the end of its queue)."""
        if not lane_outranks(lane, self.lane):
            return
        old, self.lane = self.lane, lane
        if self._pacer is not None:
            self._pacer._moved(self, old)


class Pacer:
    """Spends the account's per-minute budget: a sliding window, lanes by who waits, 429 pauses."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        window: float = WINDOW_SECONDS,
        reserve: int | None = None,
        max_pause: float = math.inf,
        shared: SharedWindow | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.limit = requests_per_minute
        self.window = window
        self.reserve = default_reserve(requests_per_minute) if reserve is None else reserve
        if not 0 <= self.reserve < requests_per_minute:
            raise ValueError("reserve must leave at least one slot for every lane")
        # A pause longer than this is not waited out: the call fails with RateLimited at once.
        self.max_pause = max_pause
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()  # send times inside the window, oldest first
        self._queues: dict[Lane, deque[Turn]] = {lane: deque() for lane in Lane}
        self._paused_until = -math.inf
        # The replicas' window (None: this process has the budget to itself), read in epoch time.
        self._shared = shared
        self._wall_clock = wall_clock
        self._taking = asyncio.Lock()  # one shared take at a time: this process's head
        self._pause_writes: set[asyncio.Task[None]] = set()
        self._shared_down = False

    # ---- the budget ------------------------------------------------------------------------

    def used(self) -> int:
        """Requests sent in the last window."""
        self._prune(self._clock())
        return len(self._sent)

    def ceiling(self, lane: Lane) -> int:
        """Sends in one window after which `lane` waits: the limit less what is kept for people."""
        if lane in INTERACTIVE:
            return self.limit
        if lane is Lane.BULK:
            return self.limit - bulk_reserve(self.limit, self.reserve)
        return self.limit - self.reserve

    def paused_for(self) -> float:
        """Seconds left of a pause Patchworks asked for; 0 when not paused."""
        return max(0.0, self._paused_until - self._clock())

    def waiting(self) -> dict[Lane, int]:
        """Calls queued in each lane."""
        return {lane: len(queue) for lane, queue in self._queues.items()}

    def budget(self, *, shared_reads: int = 0) -> Budget:
        """A snapshot for metrics and App Home."""
        paused_for = self.paused_for()
        return Budget(
            limit=self.limit,
            used_in_window=self.used(),
            reserve=self.reserve,
            window_seconds=self.window,
            paused_for=paused_for,
            paused_until=utcnow() + timedelta(seconds=paused_for) if paused_for > 0 else None,
            waiting=MappingProxyType(self.waiting()),
            shared_reads=shared_reads,
        )

    def observe_remaining(self, remaining: int) -> None:
        """Take Patchworks' word (X-RateLimit-Remaining) on what the account has left.

        When it is less than this process believes (a predecessor killed a moment ago, another
        tool on the same key), the difference is counted as sent now, so the window is never
        overfilled. Requests in flight count here before Patchworks counts them, so the answer
        never makes the window look emptier than it is.
        """
        now = self._clock()
        self._prune(now)
        missing = (self.limit - len(self._sent)) - max(0, remaining)
        for _ in range(min(missing, self.limit)):
            self._sent.append(now)

    def pause(self, seconds: float) -> None:
        """Send nothing, in any lane, for `seconds` (Patchworks answered 429 with Retry-After);
        with a shared window, no replica sends."""
        self._pause_here(seconds)
        if self._shared is not None:
            until = self._wall_clock() + max(0.0, seconds)
            task = asyncio.get_running_loop().create_task(self._write_pause(self._shared, until))
            self._pause_writes.add(task)
            task.add_done_callback(self._pause_writes.discard)

    async def aclose(self) -> None:
        """Finish writing pauses to the shared window."""
        if self._pause_writes:
            await asyncio.gather(*self._pause_writes)

    def _pause_here(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
        if seconds > self.max_pause:
            # Too long to wait out: every queued call fails now rather than when its turn comes.
            for queue in self._queues.values():
                for turn in queue:
                    turn._event.set()

    # ---- waiting for a slot ------------------------------------------------------------------

    async def acquire(self, turn: Turn | Lane | None = None) -> None:
        """Wait until one more request fits the budget and it is this call's turn; count it sent.

        `turn` is a Turn, or a lane (default: the caller's `patchworks_lane`). Raises RateLimited
        when Patchworks asked for a pause longer than `max_pause`.
        """
        if not isinstance(turn, Turn):
            turn = Turn(turn if turn is not None else current_lane())
        if turn._pacer is not None:
            raise RuntimeError("this turn is already waiting")
        turn._pacer = self
        self._queues[turn.lane].append(turn)
        try:
            while True:
                now = self._clock()
                self._check_pause(now)
                if self._head() is not turn:
                    turn._event.clear()
                    await turn._event.wait()
                    continue
                wait = self._wait_needed(turn.lane, now)
                if wait <= _EPSILON:
                    if self._shared is None:
                        self._sent.append(now)
                        return
                    taken = await self._take_shared(self._shared, turn)
                    if taken is None:
                        continue  # a call of a higher lane came meanwhile: it goes first
                    if taken <= _EPSILON:
                        return
                    wait = taken
                    # Another replica's pause may be too long to wait out.
                    self._check_pause(self._clock())
                # Only the head sleeps; a call of a higher lane arriving meanwhile becomes the head
                # and sleeps for itself. Sends only make waits longer, so no sleeper oversleeps;
                # a pause can make one wake early, and it then sleeps again.
                await self._sleep(wait)
        finally:
            self._queues[turn.lane].remove(turn)
            turn._pacer = None
            self._wake_head()

    async def _take_shared(self, shared: SharedWindow, turn: Turn) -> float | None:
        """A slot of the replicas' window for the local head: 0 when taken, else seconds to wait;
        None when `turn` is no longer the head."""
        async with self._taking:
            # While this call waited for the lock, another may have come first or sent.
            if self._head() is not turn:
                return None
            if (wait := self._wait_needed(turn.lane, self._clock())) > _EPSILON:
                return wait
            try:
                async with asyncio.timeout(_SHARED_TIMEOUT):
                    wait = await shared.take(self.ceiling(turn.lane), self._wall_clock(), self.window)
            except Exception:
                # The shared window only keeps replicas from overspending together; a database
                # that is down or slow must not stop calls a person waits for. The local window
                # still holds this replica to the limit, and a 429 still pauses it.
                if not self._shared_down:
                    logger.warning(
                        "the shared Patchworks budget is unavailable; pacing by this replica's window alone",
                        exc_info=True,
                    )
                self._shared_down = True
                wait = 0.0
            else:
                if self._shared_down:
                    logger.info("the shared Patchworks budget is back")
                self._shared_down = False
            if wait <= _EPSILON:
                self._sent.append(self._clock())
                return 0.0
            if (left := shared.paused_until() - self._wall_clock()) > 0:
                self._pause_here(left)  # another replica met a 429: show it, fail calls it outlasts
            return wait

    async def _write_pause(self, shared: SharedWindow, until_epoch: float) -> None:
        try:
            await shared.pause(until_epoch)
        except Exception:
            # This replica pauses anyway; the others meet their own 429 and pause then.
            logger.warning("could not share a Patchworks pause with the other replicas", exc_info=True)

    def _check_pause(self, now: float) -> None:
        if (left := self._paused_until - now) > self.max_pause:
            raise RateLimited(
                f"Patchworks asked syncbot to pause for {left:.0f}s more (HTTP 429 Retry-After); "
                "try again shortly",
                retry_after=left,
            )

    def _wait_needed(self, lane: Lane, now: float) -> float:
        self._prune(now)
        wait = max(0.0, self._paused_until - now)
        ceiling = self.ceiling(lane)
        if len(self._sent) >= ceiling:
            # The window has room for this lane once the send `ceiling` places back ages out.
            wait = max(wait, self._sent[len(self._sent) - ceiling] + self.window - now)
        return wait

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] + self.window <= now + _EPSILON:
            self._sent.popleft()

    def _head(self) -> Turn | None:
        for queue in self._queues.values():  # highest lane first: Lane's order
            if queue:
                return queue[0]
        return None

    def _wake_head(self) -> None:
        if (head := self._head()) is not None:
            head._event.set()

    def _moved(self, turn: Turn, old: Lane) -> None:
        self._queues[old].remove(turn)
        self._queues[turn.lane].append(turn)
        self._wake_head()
