"""The simulated tenant: seeded runs, retries that end later, outages, bursts, and request admission.

Time-driven changes (retries ending, scheduled failures appearing) are applied lazily from the
clock whenever the world is read, so the same seed, config and call sequence give the same data.
"""

from __future__ import annotations

import heapq
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from random import Random
from typing import Literal

from syncbot_sandbox.simulator.catalogue import DUPLICATE, SKUS
from syncbot_sandbox.simulator.generate import (
    OutageKind,
    build_flows,
    error_line,
    failure_lines,
    kinds_by_flow,
    make_failure,
    make_success,
    ms,
    summary_of,
)
from syncbot_sandbox.simulator.limits import Decision, SlidingWindow
from syncbot_sandbox.simulator.records import (
    FAILED,
    FAILURE,
    STARTED,
    SUCCESS,
    LogLine,
    Outcome,
    Run,
    RunQuery,
    SimFlow,
)

__all__ = ["Admission", "Burst", "RetryRefused", "SimulatorConfig", "World"]

_DAY_MS = 86_400_000
_CACHE_SIZE = 32
# Scheduled failures generated per read at most, so one request never stalls on a long backlog.
_STREAM_BURST = 1000


@dataclass(frozen=True, slots=True)
class Burst:
    """An outage of one cause: one flow fails with one error, run after run, for a while.

    From `after_s` after the burst starts (the world's start for `SimulatorConfig.burst`), a run
    of `flow_id` fails every `every_s` seconds until `count` have failed. `error` may hold {ref}
    and {sku}, filled per run, so the texts differ as real ones do while the cause stays one.
    While it lasts, retries of the flow fail with the same error.
    """

    flow_id: int
    error: str
    count: int
    every_s: float
    after_s: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 0 or self.every_s <= 0 or self.after_s < 0:
            raise ValueError("a burst needs count >= 0, every_s > 0 and after_s >= 0")


@dataclass(slots=True)
class _Bursting:
    """A started burst: when its first failure is due and how many it has produced."""

    burst: Burst
    first_at: float
    emitted: int = 0

    def due(self, now: float) -> int:
        if now < self.first_at:
            return 0
        return min(self.burst.count, int((now - self.first_at) / self.burst.every_s) + 1)

    def lasting(self, at: float) -> bool:
        end = self.first_at + self.burst.count * self.burst.every_s
        return self.burst.count > 0 and self.first_at <= at < end


@dataclass
class SimulatorConfig:
    """How the simulated Core API behaves; the World reads it live, so changes apply at once."""

    seed: int = 1
    api_key: str = "sim-key"
    initial_failures: int = 30
    failures_every_s: float | None = None
    rate_limit_per_minute: int = 240
    latency_s: float = 0.0
    error_rate: float = 0.0
    malformed_rate: float = 0.0
    retry_delay_s: float = 2.0
    retry_success_rate: float = 0.7
    # How long a retry's answer is held after the retry started: a caller stopped meanwhile
    # never learns that Patchworks did retry.
    retry_answer_delay_s: float = 0.0
    # An outage of one cause, started with the world (World.start_burst starts more).
    burst: Burst | None = None


class RetryRefused(Exception):
    """The run cannot be retried; the message is the API's 422 text."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What the gate decided for one API request."""

    verdict: Literal["ok", "unauthenticated", "limited", "error", "malformed"]
    limit: Decision | None = None
    error_status: int = 500


def _start_key(run: Run) -> float:
    return run.started_at


def _order_key(run: Run) -> tuple[float, int]:
    return (run.started_at, run.id)


class World:
    """All state of one simulated Patchworks tenant; thread-safe, since tests poke it from outside."""

    def __init__(self, config: SimulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.RLock()
        self.started_at = ms(clock())
        self.flows: dict[int, SimFlow] = build_flows()
        self._kinds = kinds_by_flow()
        seed = config.seed
        # Separate streams so, e.g., injected errors never shift which retries succeed.
        self._rng_stream = Random(f"{seed}:stream")
        self._rng_extra = Random(f"{seed}:extra")
        self._rng_retry = Random(f"{seed}:retry")
        self._rng_chaos = Random(f"{seed}:chaos")
        self._rng_burst = Random(f"{seed}:burst")
        self._next_run_id = 48_000_000 + Random(f"{seed}:ids").randrange(1_000_000)
        self._next_log_id = 700_000_001
        self._runs: dict[int, Run] = {}
        self._order: list[Run] = []  # sorted by (started_at, id)
        self._pending: list[tuple[float, int, Run]] = []  # heap of retries still running
        self._forced_next: deque[Outcome] = deque()
        self._forced_by_run: dict[int, Outcome] = {}
        self.outages: dict[str, OutageKind] = {}
        self._limiter = SlidingWindow()
        self._streamed = 0
        self._bursts: list[_Bursting] = []
        self._version = 0
        self._cache: dict[RunQuery, list[Run]] = {}
        self._cache_version = -1
        self.retry_calls: list[tuple[int, int]] = []
        self.requests = 0
        self._seed_runs(Random(f"{seed}:initial"), config.initial_failures)
        if config.burst is not None:
            self._start_burst(config.burst, self.started_at)

    # ---- clock and lazy progress -----------------------------------------------------------

    def now(self) -> float:
        """The world's current time in unix seconds (ms precision)."""
        return ms(self._clock())

    def _settle(self) -> float:
        """Apply everything the clock says has happened since the last read; returns now."""
        now = self.now()
        self._stream_due(now)
        self._stream_bursts(now)
        while self._pending and self._pending[0][0] <= now:
            _, _, run = heapq.heappop(self._pending)
            self._finish_retry(run)
        return now

    def _stream_due(self, now: float) -> None:
        every = self.config.failures_every_s
        if not every or every <= 0:
            return
        due = min(int((now - self.started_at) / every), self._streamed + _STREAM_BURST)
        enabled = [f for f in self.flows.values() if f.is_enabled]
        if not enabled:
            return
        fresh: list[Run] = []
        while self._streamed < due:
            self._streamed += 1
            rng = self._rng_stream
            affected = [f for f in enabled if any(s in self.outages for s in f.systems)]
            # During an outage most new failures come from the flows it breaks, as in real life.
            pool = affected if affected and rng.random() < 0.6 else enabled
            flow = rng.choice(pool)
            at = self.started_at + self._streamed * every
            fresh.append(self._failure(rng, flow, at))
        self._register(fresh)

    def _stream_bursts(self, now: float) -> None:
        fresh: list[Run] = []
        for bursting in self._bursts:
            burst = bursting.burst
            flow = self.flows.get(burst.flow_id)
            due = min(bursting.due(now), bursting.emitted + _STREAM_BURST)
            while bursting.emitted < due:
                at = bursting.first_at + bursting.emitted * burst.every_s
                bursting.emitted += 1
                if flow is not None and flow.is_enabled:  # a disabled flow does not run
                    fresh.append(self._failure(self._rng_burst, flow, at, burst.error))
        self._register(fresh)

    def _start_burst(self, burst: Burst, at: float) -> None:
        if burst.flow_id not in self.flows:
            raise KeyError(burst.flow_id)
        self._bursts.append(_Bursting(burst, ms(at + burst.after_s)))

    def _burst_of(self, flow: SimFlow, at: float) -> Burst | None:
        """The burst that breaks this flow at `at`, if one does."""
        for bursting in self._bursts:
            if bursting.burst.flow_id == flow.id and bursting.lasting(at):
                return bursting.burst
        return None

    def _failure(self, rng: Random, flow: SimFlow, finished_at: float, error: str | None = None) -> Run:
        return make_failure(
            rng, flow, self._kinds[flow.id], finished_at=finished_at, outages=self.outages, error=error
        )

    # ---- building state ----------------------------------------------------------------------

    def _seed_runs(self, rng: Random, failures: int) -> None:
        flows = list(self.flows.values())
        # Disabled flows ran less before they were switched off.
        weights = [1.0 if f.is_enabled else 0.3 for f in flows]
        disabled = [f for f in flows if not f.is_enabled]
        duplicating = [f for f in flows if f.is_enabled and any(k.duplicate for k in self._kinds[f.id])]
        # Big enough worlds always show every reason a failure cannot be resynced.
        guaranteed = failures >= 5
        failed: list[Run] = []
        for n in range(failures):
            kinds = None
            if guaranteed and n == 0 and disabled:
                flow = rng.choice(disabled)
            elif guaranteed and n == 1 and duplicating:
                flow = rng.choice(duplicating)
                kinds = tuple(k for k in self._kinds[flow.id] if k.duplicate)
            else:
                flow = rng.choices(flows, weights)[0]
            finished = self.started_at - rng.uniform(120, 86_400)
            failed.append(
                make_failure(rng, flow, kinds or self._kinds[flow.id], finished_at=finished, outages={})
            )
        runs = list(failed)
        candidates = [r for r in failed if r.flow.is_enabled and r.status == FAILURE and not _is_duplicate(r)]
        already = min(len(candidates), max(int(guaranteed), round(len(candidates) * 0.1)))
        for run in rng.sample(candidates, already):
            # Someone already retried this one and it went through.
            retry_end = min((run.finished_at or run.started_at) + rng.uniform(60, 1800), self.started_at - 5)
            retry = make_success(rng, run.flow, finished_at=retry_end, trigger="Retry")
            retry.name, retry.retry_of, run.retried_by = run.name, run, retry
            runs.append(retry)
        for _ in range(max(3, failures // 3)):
            flow = rng.choices(flows, weights)[0]
            runs.append(make_success(rng, flow, finished_at=self.started_at - rng.uniform(60, 86_400)))
        runs.sort(key=_start_key)
        self._register(runs)

    def _register(self, runs: Iterable[Run]) -> list[int]:
        """Give runs (in order) and their lines fresh ids and index them."""
        ids: list[int] = []
        added = False
        for run in runs:
            run.id = self._next_run_id
            self._next_run_id += 1
            for line in run.logs:
                line.id = self._assign_log_id()
            self._runs[run.id] = run
            self._order.append(run)
            ids.append(run.id)
            added = True
        if added:
            # Timsort makes re-sorting a sorted list with a few appended items nearly linear.
            self._order.sort(key=_order_key)
            self._version += 1
        return ids

    def _assign_log_id(self) -> int:
        self._next_log_id += 1
        return self._next_log_id - 1

    # ---- retries -------------------------------------------------------------------------

    def retry(self, run_id: int) -> Run:
        """Start a retry of a failed run; raises KeyError when unknown, RetryRefused on a 422."""
        with self._lock:
            now = self._settle()
            run = self._runs[run_id]
            if run.status not in FAILED:
                raise RetryRefused("Only failed flow runs can be retried.")
            if run.retried_by is not None:
                raise RetryRefused("This flow run has already been retried.")
            if not run.flow.is_enabled:
                raise RetryRefused("The flow is disabled.")
            draw = self._rng_retry.random()
            planned: Outcome = "success" if draw < self.config.retry_success_rate else "failure"
            if _is_duplicate(run):
                planned = "failure"  # the destination still holds the record
            forced = self._forced_by_run.pop(run.id, None)
            if forced is None and self._forced_next:
                forced = self._forced_next.popleft()
            line = LogLine(0, "INFO", f"Flow run started (retry of run {run.id})", None, now)
            retry = Run(0, run.flow, run.name, STARTED, "Retry", None, now, None, [line], retry_of=run)
            retry.ends_at = ms(now + max(0.0, self.config.retry_delay_s))
            retry.planned = planned
            self._register([retry])
            if forced is not None:
                self._forced_by_run[retry.id] = forced
            run.retried_by = retry
            heapq.heappush(self._pending, (retry.ends_at, retry.id, retry))
            self.retry_calls.append((run.id, retry.id))
            return retry

    def _finish_retry(self, run: Run) -> None:
        at = run.ends_at if run.ends_at is not None else self.now()
        outcome = self._forced_by_run.pop(run.id, None)
        bursting = self._burst_of(run.flow, at)
        down = bursting is not None or any(s in self.outages for s in run.flow.systems)
        if outcome is None:
            outcome = "failure" if down else (run.planned or "failure")
        run.finished_at = at
        run.ends_at = None
        if outcome == "success":
            run.status = SUCCESS
            run.logs.append(LogLine(self._assign_log_id(), "INFO", "Flow run completed", None, at))
        else:
            run.status = FAILURE
            lines = self._retry_failure(run, bursting, down, at)
            for line in lines:
                line.id = self._assign_log_id()
            run.logs.extend(lines)
            run.summary = summary_of(lines)
        self._version += 1

    def _retry_failure(self, run: Run, bursting: Burst | None, down: bool, at: float) -> list[LogLine]:
        """The error lines of a retry that failed: the burst's, the original's duplicate, or a fresh pick."""
        original = run.retry_of
        if original is not None and _is_duplicate(original) and not down:
            return [LogLine(0, x.level, x.message, x.step, at) for x in original.issue_logs]
        sku = self._rng_retry.choice(SKUS)
        if run.flow.entity == "sku" and run.name:
            sku = run.name
        if bursting is not None:
            return [error_line(bursting.error, run.flow, ref=run.name, sku=sku, at=at)]
        lines, _ = failure_lines(
            self._rng_retry,
            run.flow,
            self._kinds[run.flow.id],
            ref=run.name,
            sku=sku,
            at=at,
            outages=self.outages,
        )
        return lines

    # ---- the public control surface ------------------------------------------------------

    def add_failures(
        self,
        count: int,
        *,
        flow_id: int | None = None,
        minutes_ago: float = 0,
        error: str | None = None,
    ) -> list[int]:
        """Add failed runs that ended `minutes_ago` before now; returns their ids."""
        with self._lock:
            now = self._settle()
            if flow_id is not None and flow_id not in self.flows:
                raise KeyError(flow_id)
            enabled = [f for f in self.flows.values() if f.is_enabled] or list(self.flows.values())
            rng = self._rng_extra
            runs = []
            for _ in range(count):
                flow = self.flows[flow_id] if flow_id is not None else rng.choice(enabled)
                # Spread a batch over a few seconds so ordering by start time stays meaningful.
                runs.append(self._failure(rng, flow, now - minutes_ago * 60 - rng.uniform(0, 5), error))
            return self._register(runs)

    def start_burst(self, burst: Burst) -> None:
        """Start an outage of one cause now (its `after_s` from now); KeyError for an unknown flow."""
        with self._lock:
            self._start_burst(burst, self._settle())

    def set_flow_enabled(self, flow_id: int, enabled: bool) -> None:
        """Enable or disable a flow; raises KeyError for an unknown flow."""
        with self._lock:
            self.flows[flow_id].is_enabled = enabled
            self._version += 1

    def force_outcome(self, run_id: int | None, outcome: Outcome) -> None:
        """Fix how the next retry (run_id None), the retry of a run, or a pending retry ends."""
        if outcome not in ("success", "failure"):
            raise ValueError(f"outcome must be 'success' or 'failure', not {outcome!r}")
        with self._lock:
            if run_id is None:
                self._forced_next.append(outcome)
            elif run_id not in self._runs:
                raise KeyError(run_id)
            else:
                self._forced_by_run[run_id] = outcome

    def set_system_outage(self, system: str, kind: OutageKind | None) -> None:
        """Break (or, with None, mend) one system: its flows' new failures and retries show it."""
        if kind not in ("auth", "unreachable", None):
            raise ValueError(f"kind must be 'auth', 'unreachable' or None, not {kind!r}")
        with self._lock:
            known = {s.lower(): s for f in self.flows.values() for s in f.systems}
            name = known.get(system.lower(), system)
            if kind is None:
                self.outages.pop(name, None)
            else:
                self.outages[name] = kind
            self._version += 1

    # ---- reads -----------------------------------------------------------------------------

    def get_run(self, run_id: int) -> Run | None:
        """One run, brought up to date with the clock."""
        with self._lock:
            self._settle()
            return self._runs.get(run_id)

    def list_runs(self, query: RunQuery) -> Sequence[Run]:
        """Runs matching the query in the asked order; cached until the world changes, so read-only."""
        if query.search is not None:
            query = replace(query, search=query.search.strip().lower() or None)
        with self._lock:
            self._settle()
            if self._cache_version != self._version:
                self._cache.clear()
                self._cache_version = self._version
            cached = self._cache.get(query)
            if cached is not None:
                return cached
            result = [run for run in self._candidates(query) if _matches(run, query)]
            if query.descending:
                result.reverse()
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[query] = result
            return result

    def _candidates(self, query: RunQuery) -> list[Run]:
        """The slice of runs whose start time can match; bisect keeps date filters cheap."""
        low, high = -float("inf"), float("inf")
        if query.started_after_ms is not None:
            low = query.started_after_ms / 1000
        if query.started_before_ms is not None:
            high = query.started_before_ms / 1000
        if query.started_on_ms is not None:
            day = query.started_on_ms - query.started_on_ms % _DAY_MS
            low, high = max(low, day / 1000), min(high, (day + _DAY_MS - 1) / 1000)
        lo = bisect_left(self._order, low, key=_start_key) if low != -float("inf") else 0
        hi = bisect_right(self._order, high, key=_start_key) if high != float("inf") else len(self._order)
        return self._order[lo:hi]

    def state(self) -> dict[str, object]:
        """Counts and bookkeeping for the control endpoint and the demo."""
        with self._lock:
            now = self._settle()
            by_status = Counter(run.status for run in self._runs.values())
            return {
                "now": now,
                "started_at": self.started_at,
                "runs": len(self._runs),
                "failed": sum(n for status, n in by_status.items() if status in FAILED),
                "running": by_status.get(STARTED, 0),
                "by_status": {str(k): v for k, v in sorted(by_status.items())},
                "retry_calls": [list(call) for call in self.retry_calls],
                "requests": self.requests,
                "outages": dict(self.outages),
                "bursts": [
                    {
                        "flow_id": b.burst.flow_id,
                        "count": b.burst.count,
                        "failed": b.emitted,
                        "from": b.first_at,
                        "until": b.first_at + b.burst.count * b.burst.every_s,
                    }
                    for b in self._bursts
                ],
                "flows": [
                    {"id": f.id, "name": f.name, "is_enabled": f.is_enabled} for f in self.flows.values()
                ],
            }

    # ---- admission -------------------------------------------------------------------------

    def admit(self, authorization: str | None) -> Admission:
        """Count an API request and decide: 401, 429, an injected failure, or through."""
        with self._lock:
            self.requests += 1
            config = self.config
            if authorization is None or authorization != config.api_key:
                return Admission("unauthenticated")
            decision = self._limiter.hit(authorization, self.now(), config.rate_limit_per_minute)
            if not decision.allowed:
                return Admission("limited", decision)
            if config.error_rate > 0 or config.malformed_rate > 0:
                draw = self._rng_chaos.random()
                if draw < config.error_rate:
                    return Admission("error", decision, self._rng_chaos.choice((500, 502, 503)))
                if draw < config.error_rate + config.malformed_rate:
                    return Admission("malformed", decision)
            return Admission("ok", decision)

    def chaos_fraction(self) -> float:
        """A seeded number in [0, 1) for shaping injected responses."""
        with self._lock:
            return self._rng_chaos.random()


def _is_duplicate(run: Run) -> bool:
    return any(DUPLICATE.search(line.message) for line in run.logs if line.level != "INFO")


def _matches(run: Run, q: RunQuery) -> bool:
    if q.statuses is not None and run.status not in q.statuses:
        return False
    if q.flow_ids is not None and run.flow.id not in q.flow_ids:
        return False
    if q.flow_version_ids is not None and run.flow.version_id not in q.flow_version_ids:
        return False
    if q.triggers is not None and run.trigger.lower() not in q.triggers:
        return False
    if q.retried is not None and (run.retried_by is not None) != q.retried:
        return False
    if q.has_warnings is not None and run.has_warnings != q.has_warnings:
        return False
    if q.search:
        needle = q.search
        if needle != str(run.id) and needle not in run.flow.haystack:
            return needle in (run.name or "").lower()
    return True
