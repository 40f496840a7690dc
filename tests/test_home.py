"""App Home through the app: `app_home_opened` publishes a valid Home of what is open, a poll
refreshes it for users who opened it in the last hour, and "List failed syncs" shows the first
page of `/failed-syncs` to the user only."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from support.blockkit import assert_valid_home, buttons, entry
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim

from blocks.ids import Action
from bot.clock import utcnow
from bot.home import RECENT_VIEWERS, refresh_homes
from bot.services import Services

ANA = "U0ADA"
ROOT = Path(__file__).resolve().parents[1]
ERROR = "Order #1045: INVENTORY_CLAIM_FAILED"


def add_one_cause(sim: Sim, runs: int) -> list[int]:
    """`runs` failures of one flow with one error: one cause."""
    return sim.world.add_failures(runs, flow_id=101, minutes_ago=2, error=ERROR)


async def open_home(bot: RunningBot, user: str) -> None:
    """What Slack sends when `user` opens the app's Home tab."""
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0SANDBOX",
            "api_app_id": "A0SYNCBOT",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
    )
    response = await bot.desk.send(body, headers={"content-type": "application/json"})
    assert response.status_code == 200


def home_of(slack: FakeSlack, user: str) -> dict[str, Any]:
    view = slack.workspace.homes[user]
    return dict(view.payload)


async def test_opening_home_publishes_a_valid_home_of_the_open_causes(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    add_one_cause(sim, 3)
    await bot.services.poller.run_once()

    await open_home(bot, ANA)

    assert len(slack.workspace.calls("views.publish")) == 1
    view = home_of(slack, ANA)
    assert_valid_home(view)
    text = json.dumps(view, ensure_ascii=False)
    assert "Open causes (1)" in text
    assert "3 open runs" in text
    [link] = buttons(view["blocks"], Action.HOME_OPEN_DIGEST)
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    assert link["url"] == f"https://slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    assert "Patchworks budget" in text


async def test_a_poll_refreshes_home_for_users_who_opened_it_in_the_last_hour(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    await open_home(bot, ANA)
    assert "Open causes (0)" in json.dumps(home_of(slack, ANA))
    # Someone who looked two hours ago is not refreshed (and is forgotten).
    async with bot.services.store.unit_of_work() as uow:
        await uow.home.opened("U0MAX")
    async with bot.services.store.unit_of_work(utcnow() + RECENT_VIEWERS * 2) as uow:
        await uow.home.opened(ANA)  # ANA again, "two hours later"
    add_one_cause(sim, 2)
    await bot.services.poller.run_once()

    async with bot.services.store.unit_of_work(utcnow() + RECENT_VIEWERS * 2 + timedelta(minutes=1)) as uow:
        recent = await uow.home.viewers_since(uow.now - RECENT_VIEWERS)
    assert recent == [ANA]
    # With the real clock both opened in the last hour: both are refreshed.
    async with bot.services.store.unit_of_work() as uow:
        await uow.home.opened(ANA)
        await uow.home.opened("U0MAX")
    before = len(slack.workspace.calls("views.publish"))
    assert await refresh_homes(bot.services) == 2
    assert len(slack.workspace.calls("views.publish")) == before + 2
    view = home_of(slack, ANA)
    assert_valid_home(view)
    assert "Open causes (1)" in json.dumps(view)


async def test_no_one_opened_home_lately_so_nothing_is_published(bot: RunningBot, slack: FakeSlack) -> None:
    async with bot.services.store.unit_of_work(utcnow() - RECENT_VIEWERS * 2) as uow:
        await uow.home.opened(ANA)
    assert await refresh_homes(bot.services) == 0
    assert slack.workspace.calls("views.publish") == []
    async with bot.services.store.unit_of_work() as uow:
        assert await uow.home.viewers_since(uow.now - RECENT_VIEWERS) == []
    async with bot.services.store.unit_of_work(utcnow() - RECENT_VIEWERS * 3) as uow:
        assert await uow.home.viewers_since(uow.now - RECENT_VIEWERS) == []  # forgotten, not just old


async def test_list_failed_syncs_from_home_shows_the_listing_to_the_user_only(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    add_one_cause(sim, 2)
    await bot.services.poller.run_once()
    await open_home(bot, ANA)
    view = slack.workspace.homes[ANA]
    block_id = next(b["block_id"] for b in view.payload["blocks"] if b["type"] == "actions")
    payload = bot.desk._base("block_actions", ANA)
    payload.update(
        container={"type": "view", "view_id": view.id},
        view=view.to_slack(),
        actions=[
            {
                "type": "button",
                "action_id": Action.HOME_LIST.value,
                "block_id": block_id,
                "value": "list",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    )
    assert (await bot.desk.send_payload(payload)).status_code == 200
    [listing] = slack.workspace.ephemerals[(CHANNEL, ANA)]  # only Ada sees it, in the digest channel
    assert len(buttons(listing.blocks, Action.DETAILS)) == 2  # the two failures, as /failed-syncs lists them


def test_the_manifest_enables_home_and_subscribes_to_app_home_opened() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


async def test_owner_and_snooze_of_a_cause_are_shown(bot: RunningBot, sim: Sim, slack: FakeSlack) -> None:
    from bot.store.tables import cause_states_table

    add_one_cause(sim, 2)
    await bot.services.poller.run_once()
    async with bot.services.store.unit_of_work() as uow:
        [cause] = (await uow.home.open_causes(shown=10)).shown
        await uow.home._conn.execute(
            cause_states_table.insert().values(
                cause_id=cause.cause_id,
                owner=ANA,
                snoozed_until=uow.now + timedelta(hours=3),
                snoozed_by=ANA,
                updated_at=uow.now,
            )
        )
    await open_home(bot, ANA)
    view = home_of(slack, ANA)
    assert_valid_home(view)
    text = json.dumps(view, ensure_ascii=False)
    assert f"owner <@{ANA}>" in text
    assert "*Snoozes*" in text


async def test_a_cause_open_in_two_channels_is_listed_under_each(services: Services) -> None:
    shop = "C0SHOP"
    async with services.store.unit_of_work() as uow:
        await uow.entries.add(
            [entry(1), entry(2), entry(3)], channel_of=lambda e: shop if e.run_id == 1 else CHANNEL
        )
        await uow.entries.fill_causes()
        await uow.messages.place_unassigned(
            channel=CHANNEL,
            poll_id="p1",
            reopen_since=uow.now - timedelta(hours=24),
            causes_per_message=4,
            max_messages=5,
        )
        open_causes = await uow.home.open_causes(shown=10)
    assert open_causes.by_channel == [(shop, 1), (CHANNEL, 1)]  # most first, then by name
    assert [(cause.channel, cause.open_runs) for cause in open_causes.shown] == [(CHANNEL, 2), (shop, 1)]
    assert open_causes.total == 2
