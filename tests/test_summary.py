"""The daily summary: a valid message of the last 24 hours, posted once per channel per day, also
when two replicas on one PostgreSQL database run the job at the same moment."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from support.blockkit import ADMIN, HOSTILE, NOW, assert_valid_message
from support.harness import CHANNEL, FakeSlack, Sim, make_services

from blocks.summary import OldestFailure, SummaryCause, SummaryModel, SummarySnooze, build_summary
from bot.config import Settings
from bot.services import Services
from bot.summary import add_summary_job, post_summaries

ERROR = "Order #1045: INVENTORY_CLAIM_FAILED"


def summaries(slack: FakeSlack) -> list[Any]:
    return [
        m for m in slack.workspace.channel(CHANNEL).messages.values() if m.text.startswith("Daily summary")
    ]


def full_model(example: str = ERROR) -> SummaryModel:
    return SummaryModel(
        day="2026-11-27",
        since=NOW - timedelta(hours=24),
        failures=120,
        resyncs=(("ok", 30), ("failed", 10), ("queued", 2), ("error", 1)),
        top_causes=tuple(
            SummaryCause(cause_id=f"{n:016x}", example=example, flow=example, runs=50 - n) for n in range(8)
        ),
        oldest=OldestFailure(
            run_id=1001,
            flow=example,
            started_at=NOW - timedelta(days=3),
            url="https://app.wearepatchworks.com/flow-runs/1001",
        ),
        snoozes_ending=tuple(
            SummarySnooze(
                cause_id=f"{n:016x}", example=example, until=NOW + timedelta(hours=n), by_user=ADMIN
            )
            for n in range(15)
        ),
    )


def test_an_empty_day_is_a_valid_summary() -> None:
    text, blocks = build_summary(SummaryModel(day="2026-11-27", since=NOW))
    assert_valid_message(text, blocks)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "0 failed runs" in shown
    assert "*Resyncs:* none" in shown
    assert "No unresolved failures." in shown


def test_a_busy_day_shows_every_part_within_limits() -> None:
    model = full_model()
    text, blocks = build_summary(model)
    assert_valid_message(text, blocks)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "120 failed runs" in shown
    assert "success rate 75%" in shown  # 30 OK of the 40 that ended
    assert "Top causes" in shown
    assert "50 runs" in shown
    assert "Oldest unresolved failure" in shown
    assert "Snoozes ending" in shown
    assert "+5 more" in shown
    assert model.success_rate == 0.75


@pytest.mark.parametrize("hostile", HOSTILE)
def test_untrusted_text_stays_inert(hostile: str) -> None:
    text, blocks = build_summary(full_model(hostile))
    assert_valid_message(text, blocks)
    for token in ("<!channel>", "<!here>", "<@U123>", "<!subteam"):
        assert token not in json.dumps(blocks, ensure_ascii=False)


async def test_the_summary_is_posted_once_per_channel_per_day(
    services: Services, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(4, flow_id=101, minutes_ago=10, error=ERROR)
    await services.poller.run_once()
    now = datetime.now(UTC)

    assert await post_summaries(services, now=now) == [CHANNEL]
    assert await post_summaries(services, now=now + timedelta(minutes=1)) == []  # a rerun, same day
    [posted] = summaries(slack)
    shown = json.dumps(posted.blocks, ensure_ascii=False)
    assert "4 failed runs" in shown
    assert "INVENTORY_CLAIM_FAILED" in shown
    assert "Oldest unresolved failure" in shown
    assert_valid_message(posted.text, posted.blocks)

    assert await post_summaries(services, now=now + timedelta(days=1)) == [CHANNEL]  # the next day
    assert len(summaries(slack)) == 2


@pytest.mark.postgres
async def test_the_daily_summary_is_posted_once_with_two_replicas_on_postgresql(
    sim: Sim, slack: FakeSlack, settings: Settings, pg_url: str
) -> None:
    sim.world.add_failures(3, flow_id=101, minutes_ago=10, error=ERROR)
    on_pg = settings.model_copy(update={"database_url": pg_url})
    first = await make_services(on_pg)
    second = await make_services(on_pg)
    try:
        assert first.store.is_postgres
        await first.poller.run_once()
        now = datetime.now(UTC)
        results = await asyncio.gather(post_summaries(first, now=now), post_summaries(second, now=now))
        assert sorted(results) == [[], [CHANNEL]]  # exactly one replica posted
        assert len(summaries(slack)) == 1
        # And again, the same day, on both: nothing more.
        results = await asyncio.gather(
            post_summaries(first, now=now + timedelta(hours=1)),
            post_summaries(second, now=now + timedelta(hours=1)),
        )
        assert list(results) == [[], []]
        assert len(summaries(slack)) == 1
    finally:
        await first.aclose()
        await second.aclose()


def stub(at: object, zone: str = "Europe/London") -> Services:
    return cast(
        Services, SimpleNamespace(settings=SimpleNamespace(syncbot_summary_at=at, syncbot_timezone=zone))
    )


def test_the_cron_job_runs_at_summary_at_in_the_time_zone_and_not_when_unset() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    assert add_summary_job(scheduler, stub(None)) is False
    assert scheduler.get_jobs() == []

    assert add_summary_job(scheduler, stub(time(7, 30))) is True
    [job] = scheduler.get_jobs()
    trigger = job.trigger
    assert isinstance(trigger, CronTrigger)
    assert str(trigger.timezone) == "Europe/London"
    fields = {field.name: str(field) for field in trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("7", "30")
