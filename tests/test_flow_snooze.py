"""Snoozing a flow from the Details modal: the flow's new failures, whatever their cause, are
recorded and counted ("N snoozed" in the digest) but not posted until the snooze ends; then they
are placed as usual. The modal and the digest say who snoozed it and until when, with "Unsnooze
flow"; the snooze outlives a restart; a user who may not act is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.blockkit import (
    NOW,
    all_text,
    assert_valid_home,
    assert_valid_message,
    assert_valid_modal,
    buttons,
    entry,
    item,
)
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim, make_services
from support.slack import digest_messages, digest_ts, shown_runs

from blocks.details import build_details_modal
from blocks.digest import build_digest
from blocks.home import build_home
from blocks.ids import Action
from blocks.model import CauseView, DetailsModel, Digest, FlowSnoozeView
from blocks.text import escape_entities
from blocks.values import EntryRef, FlowSnoozeRef, SnoozeFor, decode, encode
from bot.config import Settings
from bot.home import home_model
from bot.services import Services
from bot.summary import post_summaries

ANA, BO = "U0ADA", "U0MAX"
ERROR = "Order #{n}: SKU-{n}A could not be claimed: INVENTORY_CLAIM_FAILED"


def menu_of(blocks: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == action
    ]


# -- what the modal and the digest show -----------------------------------------------------------


def test_details_of_a_stored_run_offers_the_four_flow_snoozes_by_run() -> None:
    view = build_details_modal(DetailsModel(entry=entry(4242), message_id=7, snoozable=True))
    assert_valid_modal(view)
    [menu] = menu_of(view["blocks"], Action.FLOW_SNOOZE)
    refs = [decode(FlowSnoozeRef, option["value"]) for option in menu["options"]]
    assert [ref.span for ref in refs] == list(SnoozeFor)
    assert {ref.run for ref in refs} == {4242}
    assert "Snooze this flow" in menu["placeholder"]["text"]
    assert buttons(view["blocks"], Action.FLOW_UNSNOOZE) == []


def test_details_of_a_run_syncbot_does_not_hold_offers_no_flow_snooze() -> None:
    view = build_details_modal(DetailsModel(entry=entry(4242)))
    assert menu_of(view["blocks"], Action.FLOW_SNOOZE) == []


def test_details_of_a_snoozed_flow_say_who_until_when_with_unsnooze() -> None:
    until = NOW + timedelta(hours=4)
    snooze = FlowSnoozeView(flow="Shopify *orders* <!channel>", until=until, by_user=ANA, held=3)
    view = build_details_modal(
        DetailsModel(entry=entry(4242), message_id=7, snoozable=True, flow_snooze=snooze)
    )
    assert_valid_modal(view)
    text = json.dumps(view, ensure_ascii=False)
    assert f"snoozed by <@{ANA}> until <!date^{int(until.timestamp())}^" in text
    assert "3 new failures held" in text
    # The flow's name is Patchworks' text: plain_text, entities escaped, no mention.
    [named] = [
        element
        for block in view["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
        if "Shopify" in element["text"]
    ]
    assert named == {"type": "plain_text", "text": "💤 Shopify *orders* &lt;!channel&gt;", "emoji": False}
    [unsnooze] = buttons(view["blocks"], Action.FLOW_UNSNOOZE)
    assert decode(EntryRef, unsnooze["value"]) == EntryRef(run=4242, msg=7)
    assert menu_of(view["blocks"], Action.FLOW_SNOOZE) == []


def test_a_cause_names_its_snoozed_flows_within_slacks_limits() -> None:
    snoozes = tuple(
        FlowSnoozeView(flow=f"Flow {n} " + "x" * 300, until=NOW + timedelta(hours=n + 1), by_user=BO, held=n)
        for n in range(5)
    )
    cause = CauseView(
        cause_id="0" * 16,
        example="INVENTORY_CLAIM_FAILED",
        next_step="Fix the data, then resync.",
        count=4,
        open_runs=4,
        retryable=4,
        flows=(("Flow 0", 4),),
        items=tuple(item(entry(10 + n)) for n in range(4)),
        held=10,
        snoozed_flows=snoozes,
    )
    text, blocks = build_digest(Digest(message_id=1, created_at=NOW, causes=(cause,)))
    assert_valid_message(text, blocks)
    shown = all_text(text, blocks)
    assert f"snoozed by <@{BO}> until" in shown
    assert "+3 more snoozed flows" in shown
    assert "💤 10 snoozed" in shown


# -- through the app ------------------------------------------------------------------------------


def fail(sim: Sim, flow_id: int, batch: int, count: int = 3) -> list[int]:
    """Failures of one cause (the order numbers differ, the problem does not) in one flow."""
    runs: list[int] = []
    for n in range(count):
        order = 1000 + 100 * batch + 10 * flow_id + n
        runs += sim.world.add_failures(1, flow_id=flow_id, minutes_ago=0.05, error=ERROR.format(n=order))
    return runs


def digest_text(slack: FakeSlack) -> str:
    return json.dumps(digest_messages(slack.workspace)[0].blocks, ensure_ascii=False)


async def open_details(bot: RunningBot, slack: FakeSlack, user: str, run: int) -> dict[str, Any]:
    """Click Details on `run` in the digest; returns the modal the user then sees."""
    blocks = digest_messages(slack.workspace)[0].blocks
    value = next(
        b["value"] for b in buttons(blocks, Action.DETAILS) if decode(EntryRef, b["value"]).run == run
    )
    await bot.desk.click(user, CHANNEL, digest_ts(slack), Action.DETAILS, value)
    view = bot.desk.open_view(user)
    assert view is not None
    return dict(view.payload)


def option(view: dict[str, Any], span: SnoozeFor) -> str:
    [menu] = menu_of(view["blocks"], Action.FLOW_SNOOZE)
    return next(o["value"] for o in menu["options"] if decode(FlowSnoozeRef, o["value"]).span is span)


def set_clock(monkeypatch: pytest.MonkeyPatch, services: Services, at: datetime) -> None:
    """The poller's injected clock (what placement compares snoozes with)."""
    monkeypatch.setattr(services.poller, "_clock", lambda: at)


async def test_a_flow_snoozed_from_details_holds_its_failures_and_posts_them_when_it_ends(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = fail(sim, 101, 0)
    fail(sim, 102, 0)
    await bot.services.poller.run_once()
    flow = sim.world.flows[101].name

    view = await open_details(bot, slack, ANA, shop[0])
    await bot.desk.choose_in_view(ANA, Action.FLOW_SNOOZE, option(view, SnoozeFor.HOUR))

    # The modal says what happened and now offers Unsnooze.
    modal = bot.desk.open_view(ANA)
    assert modal is not None
    shown = json.dumps(modal.payload, ensure_ascii=False)
    assert "You snoozed this flow until" in shown
    assert f"snoozed by <@{ANA}> until" in shown
    assert buttons(list(modal.payload["blocks"]), Action.FLOW_UNSNOOZE)

    held = fail(sim, 101, 1)
    other = fail(sim, 102, 1)
    result = await bot.services.poller.run_once()
    assert result.new == 6  # all recorded…
    assert result.joined == 3  # …the other flow's posted, the snoozed flow's held
    posted = set(shown_runs(slack))
    assert set(other) <= posted
    assert not set(held) & posted
    shown = digest_text(slack)
    assert "💤 3 snoozed" in shown  # the message's count
    assert f"💤 {escape_entities(flow)}" in shown  # the flow's name, as plain text
    assert f"snoozed by <@{ANA}>" in shown

    # An hour and a bit later: the snooze is over and the held failures join the digest.
    set_clock(monkeypatch, bot.services, datetime.now(UTC) + timedelta(minutes=61))
    result = await bot.services.poller.run_once()
    assert result.joined == 3
    assert set(held) <= set(shown_runs(slack))
    assert "snoozed" not in digest_text(slack).lower()
    async with bot.services.store.unit_of_work() as uow:
        assert await uow.flow_snoozes.active() == []


async def test_unsnooze_flow_from_details_posts_what_it_held_at_the_next_poll(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    shop = fail(sim, 101, 0)
    await bot.services.poller.run_once()
    view = await open_details(bot, slack, ANA, shop[0])
    await bot.desk.choose_in_view(ANA, Action.FLOW_SNOOZE, option(view, SnoozeFor.WEEK))
    held = fail(sim, 101, 1)
    assert (await bot.services.poller.run_once()).joined == 0
    assert "💤 3 snoozed" in digest_text(slack)

    # Someone else opens Details later: it shows the snooze, and they end it.
    view = await open_details(bot, slack, BO, shop[1])
    assert "3 new failures held" in json.dumps(view, ensure_ascii=False)
    await bot.desk.click_in_view(BO, Action.FLOW_UNSNOOZE)
    modal = bot.desk.open_view(BO)
    assert modal is not None
    assert "snooze has ended" in json.dumps(modal.payload)
    assert menu_of(list(modal.payload["blocks"]), Action.FLOW_SNOOZE)

    assert (await bot.services.poller.run_once()).joined == 3
    assert set(held) <= set(shown_runs(slack))


async def test_a_forged_flow_snooze_changes_nothing_and_says_so_in_the_modal(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    shop = fail(sim, 101, 0)
    await bot.services.poller.run_once()
    view = await open_details(bot, slack, ANA, shop[0])
    [menu] = menu_of(view["blocks"], Action.FLOW_SNOOZE)
    # A run syncbot never recorded (the open modal's menu edited, as a forger would): no flow to snooze.
    forged = encode(FlowSnoozeRef(run=999_999_999, span=SnoozeFor.WEEK))
    menu["options"][0]["value"] = forged
    await bot.desk.choose_in_view(ANA, Action.FLOW_SNOOZE, forged)
    modal = bot.desk.open_view(ANA)
    assert modal is not None
    assert "cannot tell which flow to snooze" in json.dumps(modal.payload)
    async with bot.services.store.unit_of_work() as uow:
        assert await uow.flow_snoozes.active() == []


async def test_a_flow_snooze_survives_a_restart_and_still_ends(
    settings: Settings, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await make_services(settings)
    try:
        fail(sim, 101, 0)
        await first.poller.run_once()
        flow = sim.world.flows[101].name
        async with first.store.unit_of_work() as uow:
            until = uow.now + timedelta(hours=4)
            await uow.flow_snoozes.snooze(flow, ANA, until)
    finally:
        await first.aclose()

    second = await make_services(settings)
    try:
        held = fail(sim, 101, 1)
        result = await second.poller.run_once()
        assert (result.new, result.joined, result.messages) == (3, 0, 0)
        async with second.store.unit_of_work() as uow:
            snooze = await uow.flow_snoozes.get(flow)
            assert snooze is not None
            assert (snooze.snoozed_by, snooze.snoozed_until, snooze.held) == (ANA, until, 3)

        set_clock(monkeypatch, second, until + timedelta(seconds=1))
        assert (await second.poller.run_once()).joined == 3
        async with second.store.unit_of_work() as uow:
            assert await uow.flow_snoozes.get(flow) is None
            assert await uow.flow_snoozes.held([flow]) == {}
        assert set(held) <= set(shown_runs(slack))
    finally:
        await second.aclose()


async def test_home_and_the_daily_summary_show_the_flow_snooze(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    shop = fail(sim, 101, 0)
    await bot.services.poller.run_once()
    view = await open_details(bot, slack, ANA, shop[0])
    await bot.desk.choose_in_view(ANA, Action.FLOW_SNOOZE, option(view, SnoozeFor.FOUR_HOURS))
    fail(sim, 101, 1)
    await bot.services.poller.run_once()
    flow = escape_entities(sim.world.flows[101].name)

    home = build_home(await home_model(bot.services))
    assert_valid_home(home)
    assert f"💤 flow “{flow}” · 3 held · until" in json.dumps(home, ensure_ascii=False)

    [posted] = await post_summaries(bot.services, [CHANNEL])
    assert posted == CHANNEL
    [summary] = [m for m in slack.workspace.channel(CHANNEL).messages.values() if "Daily summary" in m.text]
    assert_valid_message(summary.text, list(summary.blocks))
    text = json.dumps(summary.blocks, ensure_ascii=False)
    assert "Snoozes ending in the next 24 hours" in text
    assert f"💤 flow “{flow}” · 3 held · until" in text
    assert f"by <@{ANA}>" in text


def test_four_long_causes_each_with_two_long_snoozed_flows_stay_within_the_text_budget() -> None:
    def cause(index: int) -> CauseView:
        snoozes = tuple(
            FlowSnoozeView(flow=f"Flow {index}.{n} " + "y" * 300, until=NOW, by_user=BO, held=n)
            for n in range(2)
        )
        return CauseView(
            cause_id=f"{index:016x}",
            example=f"Error {index}: " + "x " * 700,
            next_step="Fix the data, then resync. " * 10,
            count=3,
            open_runs=3,
            retryable=3,
            flows=tuple((f"Flow {index}.{n} " + "z" * 200, 1) for n in range(3)),
            items=tuple(item(entry(100 * index + n + 1)) for n in range(3)),
            snoozed_flows=snoozes,
        )

    text, blocks = build_digest(
        Digest(message_id=1, created_at=NOW, causes=tuple(cause(i) for i in range(4)))
    )
    assert_valid_message(text, blocks)  # within the visible-text budget, with every snooze named
    assert all_text(text, blocks).count("snoozed by") == 8
