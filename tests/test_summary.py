"""The daily summary: a valid message of the last 24 hours, posted once per channel per day, also
when two replicas on one PostgreSQL database run the job at the same moment; each routed channel
sees its own failures, resyncs, causes, snoozes and owners ("Who is on what")."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from support.blockkit import ADMIN, HOSTILE, NOW, assert_valid_message, raw_tokens
from support.harness import CHANNEL, FakeSlack, Sim, make_services

from blocks.summary import (
    OWNERS_SHOWN,
    OldestFailure,
    SummaryCause,
    SummaryModel,
    SummaryOwner,
    SummarySnooze,
    build_summary,
)
from bot.config import Settings
from bot.services import Services
from bot.states import ResyncOutcome
from bot.summary import add_summary_job, post_summaries
from syncbot_sandbox.store import Channel

ERROR = "Order #1045: INVENTORY_CLAIM_FAILED"
SHOP = "C0SHOP"
SHOP_ERROR = "Shopify: 503 Service Unavailable"
OTHER_ERROR = "Magento: customer email already exists"
ANA = "U0ADA"


def summaries(slack: FakeSlack, channel: str = CHANNEL) -> list[Any]:
    return [
        m for m in slack.workspace.channel(channel).messages.values() if m.text.startswith("Daily summary")
    ]


def summary_text(slack: FakeSlack, channel: str) -> str:
    [posted] = summaries(slack, channel)
    assert_valid_message(posted.text, posted.blocks)
    return json.dumps(posted.blocks, ensure_ascii=False)


def section_lines(slack: FakeSlack, channel: str, heading: str) -> list[str]:
    """The lines of the channel's summary section that starts with `heading`."""
    [posted] = summaries(slack, channel)
    texts = [block["text"]["text"] for block in posted.blocks if block["type"] == "section"]
    [text] = [text for text in texts if text.startswith(heading)]
    return str(text).split("\n")[1:]


def oldest_run(slack: FakeSlack, channel: str) -> int:
    """The run the channel's summary names as its oldest unresolved failure."""
    [posted] = summaries(slack, channel)
    [text] = [
        block["text"]["text"]
        for block in posted.blocks
        if block["type"] == "section" and block["text"]["text"].startswith("*Oldest unresolved failure:*")
    ]
    found = re.search(r"\|run (\d+)>", text)
    assert found, text
    return int(found.group(1))


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
        owners=owners(12, example),
        owners_total=12,
    )


def owners(count: int, example: str = ERROR) -> tuple[SummaryOwner, ...]:
    return tuple(
        SummaryOwner(
            cause_id=f"{n:016x}", owner=ADMIN, since=NOW - timedelta(hours=n), example=example, flow=example
        )
        for n in range(count)
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
    assert "Who is on what" in shown
    assert "+2 more" in shown  # 12 owners, 10 shown
    assert model.success_rate == 0.75


@pytest.mark.parametrize("hostile", HOSTILE)
def test_untrusted_text_stays_inert(hostile: str) -> None:
    text, blocks = build_summary(full_model(hostile))
    assert_valid_message(text, blocks)
    for token in ("<!channel>", "<!here>", "<@U123>", "<!subteam"):
        assert token not in json.dumps(blocks, ensure_ascii=False)
    assert raw_tokens(text, blocks) == []


def test_nobody_on_a_cause_shows_no_owner_section() -> None:
    text, blocks = build_summary(full_model().model_copy(update={"owners": (), "owners_total": 0}))
    assert_valid_message(text, blocks)
    assert "Who is on what" not in json.dumps(blocks, ensure_ascii=False)


@pytest.mark.parametrize("example", [ERROR, "x" * 10_000, HOSTILE[0]])
def test_many_owners_are_capped_with_n_more_within_limits(example: str) -> None:
    model = full_model(example).model_copy(update={"owners": owners(500, example), "owners_total": 2000})
    text, blocks = build_summary(model)
    assert_valid_message(text, blocks)
    shown = json.dumps(blocks, ensure_ascii=False)
    assert shown.count("👤") == OWNERS_SHOWN
    assert "+1990 more" in shown  # counted by the store, beyond the owners it loaded
    assert raw_tokens(text, blocks) == []


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


@pytest.fixture
async def routed(settings: Settings, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Services]:
    """Services whose SYNCBOT_ROUTES send Shopify flows to C0SHOP, the rest to SYNCBOT_CHANNEL."""
    slack.workspace.channels[SHOP] = Channel(SHOP, "shop")
    path = tmp_path / "routes.yml"
    path.write_text(f'routes:\n  - channel: {SHOP}\n    flows: ["Shopify*"]\n')
    built = await make_services(settings.model_copy(update={"syncbot_routes": path}))
    yield built
    await built.aclose()


async def cause_in(services: Services, channel: str) -> str:
    async with services.store.unit_of_work() as uow:
        causes = (await uow.home.open_causes(shown=10)).shown
    [cause] = [cause.cause_id for cause in causes if cause.channel == channel]
    return cause


async def test_each_routed_channel_gets_its_own_figures_and_causes(
    routed: Services, sim: Sim, slack: FakeSlack
) -> None:
    shop = sim.world.add_failures(3, flow_id=101, minutes_ago=10, error=SHOP_ERROR)  # Shopify > NetSuite
    other = sim.world.add_failures(2, flow_id=108, minutes_ago=20, error=OTHER_ERROR)  # Magento > NetSuite
    await routed.poller.run_once()
    async with routed.store.unit_of_work() as uow:
        await uow.resyncs.claim(shop[0], ANA, shop[0])
        await uow.resyncs.record(shop[0], ResyncOutcome.OK)
        await uow.resyncs.claim(shop[1], ANA, shop[1])
        await uow.resyncs.record(shop[1], ResyncOutcome.FAILED)
        # A resync whose entry syncbot no longer has: counted where unrouted failures are.
        await uow.resyncs.claim(999_999, ANA, 999_999)
        await uow.resyncs.record(999_999, ResyncOutcome.OK)
        await uow.cause_states.snooze(await cause_in(routed, CHANNEL), ANA, uow.now + timedelta(hours=2))
    now = datetime.now(UTC)

    assert await post_summaries(routed, now=now) == [CHANNEL, SHOP]

    in_shop = summary_text(slack, SHOP)
    assert "3 failed runs" in in_shop
    assert "*Resyncs:* 2 (✅ OK 1, ❌ failed again 1) · success rate 50%" in in_shop
    assert SHOP_ERROR in in_shop
    assert OTHER_ERROR not in in_shop
    assert oldest_run(slack, SHOP) in shop
    assert "Snoozes ending" not in in_shop

    in_default = summary_text(slack, CHANNEL)
    assert "2 failed runs" in in_default
    assert "*Resyncs:* 1 (✅ OK 1) · success rate 100%" in in_default
    assert OTHER_ERROR in in_default
    assert SHOP_ERROR not in in_default
    assert oldest_run(slack, CHANNEL) in other  # older than every Shopify failure, yet only here
    assert "Snoozes ending" in in_default


async def test_an_owner_shows_in_the_summary_of_the_channel_its_cause_is_routed_to(
    routed: Services, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(2, flow_id=101, minutes_ago=10, error=SHOP_ERROR)
    sim.world.add_failures(2, flow_id=108, minutes_ago=10, error=OTHER_ERROR)
    await routed.poller.run_once()
    async with routed.store.unit_of_work() as uow:
        taken, _ = await uow.cause_states.take(await cause_in(routed, SHOP), ANA)
    assert taken

    assert await post_summaries(routed, now=datetime.now(UTC)) == [CHANNEL, SHOP]

    [line] = section_lines(slack, SHOP, "*Who is on what*")
    assert line.startswith(f"👤 <@{ANA}> since <!date^")
    assert line.endswith(f" · {SHOP_ERROR}")  # the cause's example error
    in_default = summary_text(slack, CHANNEL)
    assert "Who is on what" not in in_default
    assert ANA not in in_default


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
