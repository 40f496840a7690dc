"""GET /metrics: what syncbot does, in Prometheus' text format (prometheus-client).

Each Services has its own registry, never the library's global one: several apps in one process
(the tests, the demo) do not collide. Two kinds of numbers:

- counters of what this process did (polls, failures seen, Patchworks requests, Slack calls, hook
  calls): with several replicas, sum them across replicas;
- gauges read at scrape time from the store, which the replicas share (open causes, resyncs by
  outcome, bulk jobs, the outage), and from this process (its Patchworks budget, whether it is the
  poller): take the max of the store's across replicas, not the sum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.patchworks.lanes import Budget, Lane

if TYPE_CHECKING:
    from bot.patchworks.report import SyncReport
    from bot.services import Services
    from bot.slack import SlackClient

__all__ = ["CONTENT_TYPE", "POLL_RESULTS", "Metrics"]

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# ok: the cycle read Patchworks; error: Patchworks failed (an outage, reported in the channel);
# crashed: a bug or the database (logged; the schedule goes on).
POLL_RESULTS = ("ok", "error", "crashed")
HOOK_RESULTS = ("queued", "coalesced", "refused")
# A poll is a few requests; a first look back over 5 days of failures may take minutes.
_POLL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# A scrape must answer even when the database hangs: the store's gauges are left out then.
_STORE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class _Snapshot:
    """What the scrape-time gauges show, read just before the registry is rendered."""

    poller: bool
    budget: Budget | None = None
    open_causes: int | None = None
    resyncs: Mapping[str, int] = field(default_factory=dict)
    bulk_jobs: Mapping[str, int] = field(default_factory=dict)
    outage: bool | None = None


class _ScrapeTime:
    """A collector of the gauges read at scrape time (from `Metrics._snapshot`)."""

    def __init__(self) -> None:
        self.snapshot: _Snapshot | None = None

    def collect(self) -> Iterable[Metric]:
        shot = self.snapshot
        if shot is None:
            return
        yield _gauge("syncbot_poller", "1 while this replica holds the poller lease", shot.poller)
        if shot.budget is not None:
            budget = shot.budget
            yield _gauge(
                "syncbot_patchworks_budget_remaining",
                "Patchworks requests that could be sent now within the account's per-minute budget",
                budget.available,
            )
            yield _gauge(
                "syncbot_patchworks_budget_limit",
                "The account's Patchworks requests per minute (PATCHWORKS_REQUESTS_PER_MINUTE)",
                budget.limit,
            )
            yield _gauge(
                "syncbot_patchworks_paused_seconds",
                "Seconds left of a pause Patchworks asked for (HTTP 429 with Retry-After)",
                budget.paused_for,
            )
            waiting = GaugeMetricFamily(
                "syncbot_patchworks_waiting",
                "Patchworks calls waiting for the budget, by lane",
                labels=["lane"],
            )
            for lane in Lane:
                waiting.add_metric([lane.value], budget.waiting.get(lane, 0))
            yield waiting
        if shot.open_causes is not None:
            yield _gauge(
                "syncbot_open_causes",
                "Causes shown in a digest that still have a failed run (from the store)",
                shot.open_causes,
            )
        if shot.resyncs:
            resyncs = GaugeMetricFamily(
                "syncbot_resyncs",
                "Resynced runs by outcome now: requested, queued, ok, failed, error (from the store)",
                labels=["outcome"],
            )
            for outcome, count in shot.resyncs.items():
                resyncs.add_metric([outcome], count)
            yield resyncs
        if shot.bulk_jobs:
            jobs = GaugeMetricFamily(
                "syncbot_bulk_jobs",
                "Bulk resync jobs by state: proposed, running, cancelled, done (from the store)",
                labels=["state"],
            )
            for state, count in shot.bulk_jobs.items():
                jobs.add_metric([state], count)
            yield jobs
        if shot.outage is not None:
            yield _gauge(
                "syncbot_outage", "1 while Patchworks is unreachable (as the last poll found it)", shot.outage
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


class Metrics:
    """The registry GET /metrics renders, and the calls that count into it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.polls = Counter(
            "syncbot_polls",
            "Poll cycles this process ran, by result: ok, error (Patchworks failed), crashed",
            ["result"],
            registry=registry,
        )
        self.poll_duration = Histogram(
            "syncbot_poll_duration_seconds",
            "How long each poll cycle took",
            buckets=_POLL_BUCKETS,
            registry=registry,
        )
        self.failures_seen = Counter(
            "syncbot_failures_seen",
            "Failed runs read from Patchworks for the first time",
            registry=registry,
        )
        self.patchworks_requests = Counter(
            "syncbot_patchworks_requests",
            "Requests sent to Patchworks, by lane and HTTP status (error: no answer)",
            ["lane", "status"],
            registry=registry,
        )
        self.slack_calls = Counter(
            "syncbot_slack_calls",
            "Slack Web API calls, by method and whether Slack answered ok",
            ["method", "ok"],
            registry=registry,
        )
        self.hook_requests = Counter(
            "syncbot_hook_requests",
            "POST /patchworks/hook calls, by result: queued, coalesced (a poll was already queued), "
            "refused (wrong or missing secret)",
            ["result"],
            registry=registry,
        )
        for result in POLL_RESULTS:
            self.polls.labels(result)
        for result in HOOK_RESULTS:
            self.hook_requests.labels(result)
        self._scrape_time = _ScrapeTime()
        registry.register(self._scrape_time)

    def watch(self, report: SyncReport, slack: SlackClient) -> None:
        """Count the requests `report` sends to Patchworks (when it can say) and `slack`'s calls."""
        if hasattr(report, "on_request"):  # CoreApiReport; a test's fake report has nothing to count
            report.on_request = self.patchworks_request
        slack.on_call = self.slack_call

    # ---- counting -----------------------------------------------------------------------------

    def poll(self, result: str, seconds: float, *, new_failures: int = 0) -> None:
        """One poll cycle ended."""
        self.polls.labels(result).inc()
        self.poll_duration.observe(seconds)
        if new_failures:
            self.failures_seen.inc(new_failures)

    def patchworks_request(self, lane: Lane, status: int | None) -> None:
        """One request sent to Patchworks; `status` None: no answer came (connection, timeout)."""
        self.patchworks_requests.labels(lane.value, "error" if status is None else str(status)).inc()

    def slack_call(self, method: str, ok: bool) -> None:
        """One Slack Web API call answered (or failed to be)."""
        self.slack_calls.labels(method, "true" if ok else "false").inc()

    def hook(self, result: str) -> None:
        """One POST /patchworks/hook answered."""
        self.hook_requests.labels(result).inc()

    # ---- rendering ----------------------------------------------------------------------------

    async def render(self, services: Services) -> bytes:
        """The registry in Prometheus' text format, scrape-time gauges read just now."""
        snapshot = await self._snapshot(services)
        # No await between these two: a concurrent scrape cannot swap the snapshot in between.
        self._scrape_time.snapshot = snapshot
        return generate_latest(self.registry)

    async def _snapshot(self, services: Services) -> _Snapshot:
        budget = getattr(services.report, "budget", None)
        base = _Snapshot(poller=services.is_poller, budget=budget if isinstance(budget, Budget) else None)
        try:
            async with asyncio.timeout(_STORE_TIMEOUT_S):
                async with services.store.unit_of_work() as uow:
                    open_causes = await uow.stats.open_causes()
                    resyncs = await uow.stats.resyncs_by_outcome()
                    jobs = await uow.stats.bulk_jobs_by_state()
                outage = await services.poller.outage_since()
        except Exception as exc:  # the database is down or slow: the process's own numbers still show
            problem = type(exc).__name__
            log.warning("metrics: the store could not be read (%s); its gauges are left out", problem)
            return base
        return _Snapshot(
            poller=base.poller,
            budget=base.budget,
            open_causes=open_causes,
            resyncs={outcome.value: count for outcome, count in resyncs.items()},
            bulk_jobs={state.value: count for state, count in jobs.items()},
            outage=outage is not None,
        )
