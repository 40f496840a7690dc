"""The resync service when Patchworks refuses, times out or rate limits the retry itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import BOT_TOKEN, CHANNEL, FakeSlack

from bot.digests import DigestPublisher
from bot.patchworks.errors import PatchworksError, RateLimited, ResyncRefused, Unavailable
from bot.patchworks.models import ErrorLine, Flow, RunStatus, SyncEntry
from bot.resync import Resyncer, ResyncStatus
from bot.slack import SlackClient, build_web_client
from bot.store import Store

RUN = 1001


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


@pytest.fixture
async def resyncer(tmp_path: Path, slack: FakeSlack) -> AsyncIterator[tuple[Resyncer, FakeReport, Store]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    report = FakeReport()
    digests = DigestPublisher(
        store, SlackClient(build_web_client(BOT_TOKEN, slack.api_url), post_interval=0), CHANNEL
    )
    yield Resyncer(report, store, digests), report, store
    await store.close()


async def test_a_refused_retry_is_reported_and_can_be_tried_again(
    resyncer: tuple[Resyncer, FakeReport, Store],
) -> None:
    service, report, store = resyncer
    report.retry_errors = [ResyncRefused("The flow is disabled.")]

    refused = await service.resync_one(RUN, "U0ADA")
    again = await service.resync_one(RUN, "U0MAX")

    assert refused.status is ResyncStatus.ERROR
    assert "The flow is disabled." in refused.message
    assert again.status is ResyncStatus.QUEUED
    assert report.retries == 2
    audit = [(row.user_id, row.result) for row in await store.audit_since(datetime(2000, 1, 1).astimezone())]
    assert audit == [("U0ADA", "error"), ("U0MAX", "queued")]


async def test_an_unanswered_retry_is_not_repeated_blindly(
    resyncer: tuple[Resyncer, FakeReport, Store],
) -> None:
    service, report, _ = resyncer
    report.retry_errors = [Unavailable("read timeout")]

    unknown = await service.resync_one(RUN, "U0ADA")
    report.retried_as = RUN + 7  # it had run after all: Patchworks now shows the retry
    second = await service.resync_one(RUN, "U0ADA")

    assert unknown.status is ResyncStatus.ERROR
    assert "check the run" in unknown.message
    assert second.status is ResyncStatus.NOT_ALLOWED
    assert f"already retried as run {RUN + 7}" in second.message
    assert report.retries == 1


async def test_a_rate_limited_retry_frees_the_entry_for_a_later_click(
    resyncer: tuple[Resyncer, FakeReport, Store],
) -> None:
    service, report, _ = resyncer
    report.retry_errors = [RateLimited("Patchworks kept answering 429", retry_after=300)]

    limited = await service.resync_one(RUN, "U0ADA")
    later = await service.resync_one(RUN, "U0ADA")

    assert limited.status is ResyncStatus.ERROR
    assert later.status is ResyncStatus.QUEUED
    assert later.new_run_id == RUN + 1
