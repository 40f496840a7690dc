"""App Home: built from the store and the running services, published on `app_home_opened` and,
after each poll, to every user who opened it in the last hour."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from blocks.home import CAUSES_SHOWN, RESYNCS_SHOWN, HomeBudget, HomeModel, build_home
from bot.clock import utcnow
from bot.digests import HEALTH_WINDOW
from bot.patchworks.lanes import Budget
from bot.patchworks.models import Health
from bot.services import Services
from bot.slack import SlackError

__all__ = ["LAST_POLL_KEY", "RECENT_VIEWERS", "home_model", "publish_home", "record_poll", "refresh_homes"]

log = logging.getLogger(__name__)

# Users whose Home is refreshed after each poll: those who opened it this recently.
RECENT_VIEWERS = timedelta(hours=1)
# When the poller (any replica) last finished a poll: Home on every replica shows it.
LAST_POLL_KEY = "last_poll_at"


def _budget(services: Services) -> HomeBudget | None:
    budget = getattr(services.report, "budget", None)
    if not isinstance(budget, Budget):
        return None
    return HomeBudget(
        used=budget.used_in_window,
        limit=budget.limit,
        window_seconds=budget.window_seconds,
        paused_until=budget.paused_until,
    )


async def home_model(services: Services, now: datetime | None = None) -> HomeModel:
    """What Home shows now."""
    now = now or utcnow()
    async with services.store.unit_of_work() as uow:
        open_causes = await uow.home.open_causes(shown=CAUSES_SHOWN)
        snoozes = await uow.home.snoozes()
        flow_snoozes = await uow.flow_snoozes.active()
        resyncs = await uow.home.last_resyncs(RESYNCS_SHOWN)
        health = await uow.entries.recent_health(HEALTH_WINDOW)
        stored_poll = await uow.meta.get(LAST_POLL_KEY)
    last_poll = services.last_poll_at
    if last_poll is None and stored_poll:
        last_poll = datetime.fromisoformat(stored_poll)
    interval = timedelta(seconds=services.settings.syncbot_poll_seconds)
    return HomeModel(
        now=now,
        causes=tuple(open_causes.shown),
        open_causes=open_causes.total,
        by_channel=tuple(open_causes.by_channel),
        snoozes=tuple(snoozes),
        flow_snoozes=tuple(snooze.view() for snooze in flow_snoozes),
        # Systems in trouble first, then the rest.
        health=tuple(
            sorted(health.values(), key=lambda h: (h.health is Health.OPERATIONAL, -h.failures, h.system))
        ),
        last_poll=last_poll,
        next_poll=last_poll + interval if last_poll is not None else None,
        poll_error=services.last_poll_error,
        outage_since=await services.poller.outage_since(),
        budget=_budget(services),
        resyncs=tuple(resyncs),
        list_channel=services.settings.syncbot_channel,
    )


async def publish_home(services: Services, user_id: str, *, opened: bool = False) -> bool:
    """Publish `user_id`'s Home; `opened` notes they are looking (refreshed after polls for an
    hour). Returns False when Slack refused it (logged)."""
    if opened:
        async with services.store.unit_of_work() as uow:
            await uow.home.opened(user_id)
    view = build_home(await home_model(services))
    try:
        await services.slack.publish_home(user_id, view)
    except SlackError as exc:
        log.warning("App Home of %s not published: %s", user_id, exc.error)
        return False
    return True


async def record_poll(services: Services, at: datetime | None = None) -> None:
    """Remember when the last poll finished, for Home on every replica."""
    async with services.store.unit_of_work() as uow:
        await uow.meta.set(LAST_POLL_KEY, (at or utcnow()).isoformat())


async def refresh_homes(services: Services) -> int:
    """After a poll: republish Home for everyone who opened it in the last hour; never raises.
    Returns how many were published."""
    try:
        await record_poll(services, services.last_poll_at)
        async with services.store.unit_of_work() as uow:
            users = await uow.home.viewers_since(uow.now - RECENT_VIEWERS)
        if not users:
            return 0
        view = build_home(await home_model(services))
        published = 0
        for user in users:
            try:
                await services.slack.publish_home(user, view)
                published += 1
            except SlackError as exc:
                log.warning("App Home of %s not refreshed: %s", user, exc.error)
        return published
    except Exception:
        log.exception("App Home refresh failed")
        return 0
