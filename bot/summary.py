"""The daily summary: at SYNCBOT_SUMMARY_AT (HH:MM in SYNCBOT_TIMEZONE) every replica's cron job
runs; for each channel, the replica whose insert of (channel, day) wins posts that day's summary.

Delivery is at most once: the claim commits before the post, so a crash or a Slack refusal between
the two loses that day's summary of that channel (logged) rather than ever posting it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from blocks.summary import OWNERS_SHOWN, TOP_CAUSES, SummaryModel, build_summary
from bot.clock import utcnow
from bot.services import Services, router_of
from bot.slack import SlackError

__all__ = ["JOB_ID", "WINDOW", "add_summary_job", "post_summaries", "summary_at", "summary_model"]

log = logging.getLogger(__name__)

JOB_ID = "summary"
WINDOW = timedelta(hours=24)


def summary_at(services: Services) -> time | None:
    """SYNCBOT_SUMMARY_AT as a time of day; None when unset (no summary)."""
    return services.settings.syncbot_summary_at


def _zone(services: Services) -> ZoneInfo:
    return ZoneInfo(services.settings.syncbot_timezone)


async def summary_model(
    services: Services, now: datetime, day: str, channel: str | None = None
) -> SummaryModel:
    """The last 24 hours as of `now`, of what is routed to `channel` (None: of every channel).

    A channel counts the failures SYNCBOT_ROUTES sends to it (SYNCBOT_CHANNEL: the unrouted ones),
    the resyncs of those runs, and the snoozes and owners of causes with failures routed to it.
    """
    since = now - WINDOW
    default = services.settings.syncbot_channel
    async with services.store.unit_of_work(now) as uow:
        owners, owners_total = await uow.summary.owners(OWNERS_SHOWN, channel=channel, default=default)
        return SummaryModel(
            day=day,
            since=since,
            failures=await uow.summary.failures_since(since, channel=channel, default=default),
            resyncs=tuple(await uow.summary.resyncs_since(since, channel=channel, default=default)),
            top_causes=tuple(
                await uow.summary.top_causes_since(since, TOP_CAUSES, channel=channel, default=default)
            ),
            oldest=await uow.summary.oldest_unresolved(channel=channel, default=default),
            snoozes_ending=tuple(
                await uow.summary.snoozes_ending(now + WINDOW, channel=channel, default=default)
            ),
            flow_snoozes_ending=tuple(
                await uow.summary.flow_snoozes_ending(now + WINDOW, channel=channel, default=default)
            ),
            owners=tuple(owners),
            owners_total=owners_total,
        )


async def post_summaries(
    services: Services, channels: Sequence[str] | None = None, *, now: datetime | None = None
) -> list[str]:
    """Post today's summary to each channel not summarised yet today (by any replica); returns the
    channels this call posted to. Never raises."""
    now = now or utcnow()
    if channels is None:
        # Every channel digests are routed to (SYNCBOT_ROUTES), SYNCBOT_CHANNEL first.
        channels = list(router_of(services.settings).channels) if services.settings.syncbot_channel else []
    day = now.astimezone(_zone(services)).date().isoformat()
    posted: list[str] = []
    for channel in channels:
        try:
            if await _post_one(services, channel, day, now):
                posted.append(channel)
        except Exception:
            # One channel's failure (a bad row, the store) must not cost the other channels theirs.
            log.exception("daily summary of %s for %s failed", day, channel)
    return posted


async def _post_one(services: Services, channel: str, day: str, now: datetime) -> bool:
    """Post `channel`'s summary unless another replica (or an earlier run) claimed it."""
    # Built before the claim: a summary that cannot be built claims nothing, so another
    # replica's cron run may still post it.
    text, blocks = build_summary(await summary_model(services, now, day, channel))
    async with services.store.unit_of_work(now) as uow:
        if not await uow.home.claim_summary(channel, day):
            return False
    try:
        ts = await services.slack.post_message(channel, text, blocks)
    except SlackError as exc:
        log.error("daily summary of %s for %s not posted (not retried): %s", day, channel, exc.error)
        return False
    async with services.store.unit_of_work(now) as uow:
        await uow.home.summary_posted(channel, day, ts)
    return True


def add_summary_job(scheduler: BaseScheduler, services: Services) -> bool:
    """Add the daily cron job when SYNCBOT_SUMMARY_AT is set; returns whether it was added."""
    at = summary_at(services)
    if at is None:
        return False
    scheduler.add_job(
        post_summaries,
        CronTrigger(hour=at.hour, minute=at.minute, timezone=_zone(services)),
        args=(services,),
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    return True
