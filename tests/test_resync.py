"""The resync service when Patchworks refuses, times out or rate limits the retry itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.harness import BOT_TOKEN, CHANNEL, FakeSlack
from support.store import audit_rows, resync_of

from bot.digests import DigestPublisher
from bot.effects import EffectOutbox
from bot.follow import ResyncFollower
from bot.patchworks.errors import PatchworksError, RateLimited, ResyncRefused, Unavailable
from bot.patchworks.models import ErrorLine, Flow, RunStatus, SyncEntry
from bot.resync import Resyncer, ResyncStatus
from bot.slack import SlackClient, build_web_client
from bot.states import ResyncOutcome
from bot.store import Store

RUN = 1001
STRANDED = timedelta(seconds=45)


class FakeReport:
    """A sync report whose retry fails the way a test says; it remembers a retry that ran."""

    def __init__(self) -> None:
        self.retry_errors: list[PatchworksError] = []
        self.retried_as: int | None = None
        self.retries = 0

    async def entry(self, run_id: int) -> SyncEntry:
        return SyncEntry(
            run_id=run_id,
            status=RunStatus.FAILURE,
            flow=Flow(id=1, name="Shopify > NetSuite: Sales orders", enabled=True),
            errors=(ErrorLine(level="ERROR", message="Field 'shipping_method' not found"),),
            retried_as=self.retried_as,
        )

    async def failed_pages(
        self, since: datetime, *, until: datetime | None = None, search: str | None = None
    ) -> AsyncIterator[list[SyncEntry]]:
        yield []

    async def resync(self, run_id: int) -> int:
        self.retries += 1
        if self.retry_errors:
            raise self.retry_errors.pop(0)
        return run_id + 1

    async def error_lines(self, run_id: int) -> list[ErrorLine]:
        return []

    async def flow(self, flow_id: int) -> Flow:
        return Flow(id=flow_id, name="Flow")

    async def aclose(self) -> None:
        return None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    """The resync service and the follower that settles what it leaves, on one store."""

    service: Resyncer
    follower: ResyncFollower
    report: FakeReport
    store: Store
    clock: Clock


@pytest.fixture
async def rig(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[Rig]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    report = FakeReport()
    clock = Clock()
    digests = DigestPublisher(
        store, SlackClient(build_web_client(BOT_TOKEN, slack.api_url), post_interval=0), CHANNEL
    )
    effects = EffectOutbox(store, digests, clock=clock)
    follower = ResyncFollower(report, store, effects, stranded=STRANDED, clock=clock)
    yield Rig(Resyncer(report, store, effects, clock=clock), follower, report, store, clock)
    await store.close()


async def audit_lines(store: Store) -> list[tuple[str, str]]:
    return [(row.user_id, row.result) for row in await audit_rows(store)]


async def test_a_refused_retry_is_reported_and_can_be_tried_again(rig: Rig) -> None:
    rig.report.retry_errors = [ResyncRefused("The flow is disabled.")]

    refused = await rig.service.resync_one(RUN, "U0ADA")
    again = await rig.service.resync_one(RUN, "U0MAX")

    assert refused.status is ResyncStatus.ERROR
    assert "The flow is disabled." in refused.message
    assert again.status is ResyncStatus.QUEUED
    assert rig.report.retries == 2
    # Each attempt is audited before the retry is sent, then with what Patchworks said.
    assert await audit_lines(rig.store) == [
        ("U0ADA", "requested"),
        ("U0ADA", "error"),
        ("U0MAX", "requested"),
        ("U0MAX", "queued"),
    ]


async def test_an_unanswered_retry_that_ran_is_followed_not_repeated(rig: Rig) -> None:
    rig.report.retry_errors = [Unavailable("read timeout")]

    unknown = await rig.service.resync_one(RUN, "U0ADA")
    second = await rig.service.resync_one(RUN, "U0MAX")  # the claim still stands
    rig.report.retried_as = RUN + 7  # it had run after all: Patchworks shows the retry
    too_early = await rig.follower.reconcile()
    rig.clock.now += STRANDED + timedelta(seconds=1)
    settled = await rig.follower.reconcile()

    assert unknown.status is ResyncStatus.ERROR
    assert "syncbot will check" in unknown.message
    assert second.status is ResyncStatus.ALREADY
    assert (too_early, settled) == (0, 1)
    followed = await resync_of(rig.store, RUN)
    assert followed is not None
    assert followed.outcome is ResyncOutcome.QUEUED
    assert followed.new_run_id == RUN + 7
    assert rig.report.retries == 1


async def test_an_unanswered_retry_that_never_ran_is_freed_for_another_click(rig: Rig) -> None:
    rig.report.retry_errors = [Unavailable("read timeout")]

    await rig.service.resync_one(RUN, "U0ADA")
    rig.clock.now += STRANDED + timedelta(seconds=1)
    assert await rig.follower.reconcile() == 1
    again = await rig.service.resync_one(RUN, "U0ADA")

    assert again.status is ResyncStatus.QUEUED
    assert ("U0ADA", "released") in await audit_lines(rig.store)


async def test_a_rate_limited_retry_frees_the_entry_for_a_later_click(rig: Rig) -> None:
    rig.report.retry_errors = [RateLimited("Patchworks kept answering 429", retry_after=300)]

    limited = await rig.service.resync_one(RUN, "U0ADA")
    later = await rig.service.resync_one(RUN, "U0ADA")

    assert limited.status is ResyncStatus.ERROR
    assert later.status is ResyncStatus.QUEUED
    assert later.new_run_id == RUN + 1
