"""Snooze: a cause snoozed for 1 h, 4 h, until 09:00 tomorrow (SYNCBOT_TIMEZONE) or 1 week keeps
recording its new failures and counts them in the digest ("N snoozed"), posts nothing for them
while it lasts, and places them as usual once it has ended: with a fake clock, and across a
restart of the bot on the same database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support.blockkit import NOW, all_text, assert_valid_message, buttons, entry, item
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim, make_services
from support.slack import digest_messages, digest_ts, shown_runs

from blocks.digest import CAUSES_PER_MESSAGE, build_digest
from blocks.ids import Action
from blocks.model import BulkProgress, CauseView, Digest, JobState
from blocks.values import SnoozeFor, SnoozeRef, decode
from bot.config import ConfigError, Settings, load_settings
from bot.handlers.causes import snooze_until
from bot.patchworks.models import SyncEntry
from bot.services import Services
from bot.states import Placement

ANA, BO = "U0ADA", "U0MAX"
PER_POLL = 5


# -- when a snooze ends -------------------------------------------------------------------------


def test_each_span_ends_when_it_says() -> None:
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    utc = ZoneInfo("UTC")
    assert snooze_until(SnoozeFor.HOUR, now, utc) == now + timedelta(hours=1)
    assert snooze_until(SnoozeFor.FOUR_HOURS, now, utc) == now + timedelta(hours=4)
    assert snooze_until(SnoozeFor.WEEK, now, utc) == now + timedelta(days=7)
    assert snooze_until(SnoozeFor.TOMORROW, now, utc) == datetime(2026, 3, 29, 9, tzinfo=UTC)


def test_until_tomorrow_is_nine_in_the_configured_zone() -> None:
    # 23:30 in London on the night the clocks go forward: tomorrow 09:00 BST is 08:00 UTC.
    now = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert snooze_until(SnoozeFor.TOMORROW, now, ZoneInfo("Europe/London")) == datetime(
        2026, 3, 29, 8, tzinfo=UTC
    )
    # Already the 29th in Tokyo: tomorrow is the 30th, 09:00 JST = 00:00 UTC.
    assert snooze_until(SnoozeFor.TOMORROW, now, ZoneInfo("Asia/Tokyo")) == datetime(
        2026, 3, 30, 0, tzinfo=UTC
    )


def test_a_bad_timezone_stops_start_up_naming_the_variable() -> None:
    assert load_settings(_env_file=None).syncbot_timezone == "UTC"
    with pytest.raises(ConfigError, match=r"^SYNCBOT_TIMEZONE: expected an IANA time zone"):
        load_settings(_env_file=None, syncbot_timezone="Mars/Olympus")


# -- what the digest shows ----------------------------------------------------------------------


def cause(index: int, **extra: Any) -> CauseView:
    runs = 30
    fields: dict[str, Any] = {
        "cause_id": f"{index:016x}",
        "example": "Order #1: SKU-1 could not be claimed: INVENTORY_CLAIM_FAILED",
        "next_step": "Fix the data, then resync.",
        "count": runs,
        "open_runs": runs,
        "retryable": runs,
        "flows": (("Flow 0", runs),),
        "systems": ("Shopify", "NetSuite"),
        "first_seen": NOW,
        "last_seen": NOW,
        "items": tuple(item(entry(10_000 * (index + 1) + i)) for i in range(5)),
    }
    return CauseView(**{**fields, **extra})


def snooze_options(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == Action.CAUSE_SNOOZE
    ]


def test_a_cause_offers_im_on_it_and_the_four_snoozes() -> None:
    text, blocks = build_digest(Digest(message_id=42, created_at=NOW, causes=(cause(0),)))
    assert_valid_message(text, blocks)
    [take] = buttons(blocks, Action.CAUSE_TAKE)
    assert "I'm on it" in take["text"]["text"]
    [menu] = snooze_options(blocks)
    spans = [decode(SnoozeRef, option["value"]) for option in menu["options"]]
    assert [ref.span for ref in spans] == list(SnoozeFor)
    assert {(ref.msg, ref.cause) for ref in spans} == {(42, f"{0:016x}")}
    assert [option["text"]["text"] for option in menu["options"]] == [
        "1 hour",
        "4 hours",
        "Until 09:00 tomorrow",
        "1 week",
    ]
    assert buttons(blocks, Action.CAUSE_UNSNOOZE) == []


def test_a_snoozed_cause_says_who_and_until_when_with_unsnooze_and_no_resync_all() -> None:
    until = NOW + timedelta(hours=4)
    snoozed = cause(0, snoozed_until=until, snoozed_by=ANA, held=12, owner=BO)
    text, blocks = build_digest(Digest(message_id=42, created_at=NOW, causes=(snoozed,)))
    assert_valid_message(text, blocks)
    shown = all_text(text, blocks)
    assert f"💤 Snoozed by <@{ANA}> until <!date^{int(until.timestamp())}^" in shown
    assert "12 new failures held" in shown
    assert "💤 12 snoozed" in shown  # the message's count, beside when it was posted
    assert f"👤 <@{BO}> is on it" in shown
    assert len(buttons(blocks, Action.CAUSE_UNSNOOZE)) == 1
    assert len(buttons(blocks, Action.CAUSE_HAND_BACK)) == 1
    assert buttons(blocks, Action.CAUSE_RESYNC_ALL) == []
    assert buttons(blocks, Action.CAUSE_TAKE) == []
    assert snooze_options(blocks) == []


def test_a_full_digest_with_every_control_stays_within_slacks_limits() -> None:
    job = BulkProgress(job_id=7, state=JobState.RUNNING, by_user=ANA, total=200, queued=12)
    causes = tuple(
        cause(i, owner=ANA, snoozed_until=NOW + timedelta(hours=1), snoozed_by=BO, held=3, bulk=job)
        if i % 2
        else cause(i, bulk=job)
        for i in range(CAUSES_PER_MESSAGE)
    )
    text, blocks = build_digest(Digest(message_id=42, created_at=NOW, causes=causes, bulk=job))
    assert_valid_message(text, blocks)
    assert len(blocks) <= 50


# -- through the app: snooze, hold, expire --------------------------------------------------------


def add_failures(sim: Sim, batch: int) -> list[int]:
    """Failures of one cause: the order numbers differ, the problem does not."""
    runs: list[int] = []
    for n in range(PER_POLL):
        order = 1000 + batch * PER_POLL + n
        error = f"Order #{order}: SKU-{order}A could not be claimed: INVENTORY_CLAIM_FAILED"
        runs += sim.world.add_failures(1, flow_id=101, minutes_ago=0.05, error=error)
    return runs


def digest_text(slack: FakeSlack) -> str:
    return json.dumps(digest_messages(slack.workspace)[0].blocks, ensure_ascii=False)


def thread_replies(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.workspace.channel(CHANNEL).messages.values() if m.thread_ts]


def option_value(slack: FakeSlack, span: SnoozeFor) -> str:
    blocks = digest_messages(slack.workspace)[0].blocks
    [menu] = snooze_options(blocks)
    return next(o["value"] for o in menu["options"] if decode(SnoozeRef, o["value"]).span is span)


def set_clock(monkeypatch: pytest.MonkeyPatch, services: Services, at: datetime) -> None:
    """The poller's injected clock (what placement compares snoozes with)."""
    monkeypatch.setattr(services.poller, "_clock", lambda: at)


async def test_a_snoozed_cause_holds_its_new_failures_then_posts_them_when_the_snooze_ends(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_failures(sim, 0)
    await bot.services.poller.run_once()
    await bot.desk.choose(
        ANA, CHANNEL, digest_ts(slack), Action.CAUSE_SNOOZE, option_value(slack, SnoozeFor.HOUR)
    )

    shown = digest_text(slack)
    assert f"💤 Snoozed by <@{ANA}> until" in shown
    assert "Unsnooze" in shown
    assert "Resync all" not in shown

    held = add_failures(sim, 1)
    result = await bot.services.poller.run_once()
    assert result.new == PER_POLL  # recorded…
    assert (result.joined, result.messages) == (0, 0)  # …but not posted
    assert len(digest_messages(slack.workspace)) == 1
    assert thread_replies(slack) == []
    shown = digest_text(slack)
    assert f"💤 {PER_POLL} snoozed" in shown
    assert f"*{PER_POLL} failed runs*" in shown

    # An hour and a bit later (the poller's clock): the snooze is over, the held failures join.
    set_clock(monkeypatch, bot.services, datetime.now(UTC) + timedelta(minutes=61))
    result = await bot.services.poller.run_once()
    assert result.joined == PER_POLL
    shown = digest_text(slack)
    assert f"*{2 * PER_POLL} failed runs*" in shown
    assert "snoozed" not in shown.lower()
    assert len(digest_messages(slack.workspace)) == 1
    # Not "new": they failed while it was snoozed, and the thread says so.
    assert f"+{PER_POLL} failures a snooze held until now" in thread_replies(slack)
    assert set(held) <= set(shown_runs(slack))  # never dropped: the held runs are in the digest


async def test_unsnooze_posts_what_the_snooze_held_at_the_next_poll(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    add_failures(sim, 0)
    await bot.services.poller.run_once()
    await bot.desk.choose(
        ANA, CHANNEL, digest_ts(slack), Action.CAUSE_SNOOZE, option_value(slack, SnoozeFor.WEEK)
    )
    add_failures(sim, 1)
    await bot.services.poller.run_once()
    assert f"💤 {PER_POLL} snoozed" in digest_text(slack)

    await bot.desk.click(BO, CHANNEL, digest_ts(slack), Action.CAUSE_UNSNOOZE)
    assert "Snoozed by" not in digest_text(slack)
    result = await bot.services.poller.run_once()
    assert result.joined == PER_POLL
    assert f"*{2 * PER_POLL} failed runs*" in digest_text(slack)


async def test_a_snooze_survives_a_restart_and_still_ends(
    settings: Settings, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_services(settings)
    try:
        add_failures(sim, 0)
        await first.poller.run_once()
        cause_id = decode(SnoozeRef, option_value(slack, SnoozeFor.HOUR)).cause
        async with first.store.unit_of_work() as uow:
            until = uow.now + timedelta(hours=4)
            await uow.cause_states.snooze(cause_id, ANA, until)
    finally:
        await first.aclose()

    # A new process on the same database: the snooze is still there and still holds failures.
    second = await make_services(settings)
    try:
        add_failures(sim, 1)
        result = await second.poller.run_once()
        assert (result.new, result.joined, result.messages) == (PER_POLL, 0, 0)
        async with second.store.unit_of_work() as uow:
            state = await uow.cause_states.get(cause_id)
            assert state is not None
            assert (state.snoozed_by, state.snoozed_until) == (ANA, until)
            assert await uow.cause_states.held([cause_id]) == {cause_id: PER_POLL}

        set_clock(monkeypatch, second, until + timedelta(seconds=1))
        result = await second.poller.run_once()
        assert result.joined == PER_POLL
        async with second.store.unit_of_work() as uow:
            assert await uow.cause_states.held([cause_id]) == {}
            state = await uow.cause_states.get(cause_id)
            assert state is not None
            assert state.snoozed_until is None
        assert f"*{2 * PER_POLL} failed runs*" in digest_text(slack)
    finally:
        await second.aclose()


async def held_by_an_hours_snooze(bot: RunningBot, sim: Sim, slack: FakeSlack) -> list[int]:
    """A digest of one cause, Ana snoozes it for an hour, and a poll holds its next failures."""
    add_failures(sim, 0)
    await bot.services.poller.run_once()
    await bot.desk.choose(
        ANA, CHANNEL, digest_ts(slack), Action.CAUSE_SNOOZE, option_value(slack, SnoozeFor.HOUR)
    )
    held = add_failures(sim, 1)
    assert (await bot.services.poller.run_once()).joined == 0
    return held


async def test_when_a_snooze_ends_only_what_is_still_failed_is_posted(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = await held_by_an_hours_snooze(bot, sim, slack)

    # While it is snoozed: one run is retried in Patchworks' dashboard and succeeds, another is
    # resynced from /failed-syncs and succeeds; the other three are still failed.
    retried_in_patchworks, resynced, *still_failed = held
    sim.world.force_outcome(retried_in_patchworks, "success")
    sim.world.retry(retried_in_patchworks)
    sim.world.force_outcome(resynced, "success")
    await bot.services.resyncer.resync_one(resynced, BO)
    await asyncio.sleep(sim.config.retry_delay_s + 0.1)
    await bot.services.poller.run_once()  # follows the resync: OK

    set_clock(monkeypatch, bot.services, datetime.now(UTC) + timedelta(minutes=61))
    result = await bot.services.poller.run_once()
    assert result.fixed_while_snoozed == 2
    assert result.joined == len(still_failed)
    shown = set(shown_runs(slack))
    assert set(still_failed) <= shown
    assert not {retried_in_patchworks, resynced} & shown
    assert f"*{PER_POLL + len(still_failed)} failed runs*" in digest_text(slack)
    # Not lost either: /failed-syncs still lists them from the store.
    async with bot.services.store.unit_of_work() as uow:
        kept = await uow.entries.for_runs([retried_in_patchworks, resynced])
    assert {row.placement for row in kept.values()} == {Placement.MIRROR}


async def test_when_patchworks_cannot_say_the_released_failures_are_posted(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = await held_by_an_hours_snooze(bot, sim, slack)

    sim.config.error_rate = 1.0  # every Patchworks request fails from now on (read live)
    set_clock(monkeypatch, bot.services, datetime.now(UTC) + timedelta(minutes=61))
    result = await bot.services.poller.run_once()
    assert result.error is not None
    assert result.fixed_while_snoozed == 0
    assert set(held) <= set(shown_runs(slack))  # posted rather than risk losing them


async def test_a_digest_counts_only_the_snoozed_failures_of_its_own_channel(services: Services) -> None:
    """One cause routed to two channels (by status, say): each digest's "N snoozed" is its own."""
    shop = "C0SHOP"

    def routed(sync_entry: SyncEntry) -> str:
        return shop if sync_entry.run_id % 2 else CHANNEL

    async def place() -> None:
        async with services.store.unit_of_work() as uow:
            await uow.entries.fill_causes()
            await uow.messages.place_unassigned(
                channel=CHANNEL,
                poll_id=f"poll-{uow.now.timestamp()}",
                reopen_since=uow.now - timedelta(hours=24),
                causes_per_message=CAUSES_PER_MESSAGE,
                max_messages=5,
            )

    async with services.store.unit_of_work() as uow:
        await uow.entries.add([entry(1), entry(2)], channel_of=routed)
    await place()
    async with services.store.unit_of_work() as uow:
        by_channel = {row.channel: row.id for row in await uow.messages.unposted()}
        [cause_id] = {view.cause_id for view in await uow.causes.views(by_channel[shop], items=5, health={})}
        await uow.cause_states.snooze(cause_id, ANA, uow.now + timedelta(hours=1))
        await uow.entries.add([entry(3), entry(4), entry(6), entry(8)], channel_of=routed)
    await place()

    async with services.store.unit_of_work() as uow:
        held = {
            channel: [view.held for view in await uow.causes.views(message_id, items=5, health={})]
            for channel, message_id in by_channel.items()
        }
    assert held == {shop: [1], CHANNEL: [3]}
