"""`/failed-syncs`: parsing, filters, paging, help and bad input, through signed requests."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim

from blocks.ids import Action, Command
from bot.listing import UsageError, parse_command
from syncbot_sandbox.blockkit import message_problems

ANA = "U0ADA"


async def reply(
    bot: RunningBot, slack: FakeSlack, text: str, user: str = ANA
) -> tuple[str, list[dict[str, object]]]:
    """Type the command and wait for the ephemeral answer only `user` sees."""
    before = len(slack.workspace.ephemerals.get((CHANNEL, user), []))
    response = await bot.desk.command(user, CHANNEL, Command.FAILED_SYNCS, text)
    assert response.status_code == 200
    deadline = time.monotonic() + 8
    while len(slack.workspace.ephemerals.get((CHANNEL, user), [])) <= before:
        assert time.monotonic() < deadline, "no reply"
        await asyncio.sleep(0.05)
    answer = slack.workspace.ephemerals[(CHANNEL, user)][-1]
    assert message_problems(answer.text, answer.blocks) == []
    return answer.text, answer.blocks


@pytest.mark.parametrize(
    ("typed", "query", "minutes"),
    [
        ("", "", 1440),
        ("shopify", "shopify", 1440),
        ("Shopify > NetSuite 2h", "Shopify > NetSuite", 120),
        ("3d", "", 4320),
        ("30m", "", 30),
        ("#1045 15d", "#1045", 21_600),
    ],
)
def test_the_command_text_is_parsed_as_filter_then_since(typed: str, query: str, minutes: int) -> None:
    parsed = parse_command(typed)
    assert (parsed.text, parsed.minutes, parsed.help) == (query, minutes, False)


@pytest.mark.parametrize("typed", ["16d", "0h", "2w", "x" * 101])
def test_bad_arguments_are_explained_in_one_line(typed: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(typed)
    assert "\n" not in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_typed_text_parses_or_gets_a_usage_error(typed: str) -> None:
    try:
        parsed = parse_command(typed)
    except UsageError:
        return
    assert 1 <= parsed.minutes <= 15 * 24 * 60
    assert len(parsed.text) <= 100


async def test_help_explains_usage(bot: RunningBot, slack: FakeSlack) -> None:
    _, blocks = await reply(bot, slack, "help")
    assert "/failed-syncs" in str(blocks)


async def test_bad_arguments_get_a_one_line_reply(bot: RunningBot, slack: FakeSlack) -> None:
    text, _ = await reply(bot, slack, "orders 99d")
    assert "15 days" in text


async def test_the_listing_filters_by_flow_system_run_and_reference_and_pages(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    brightpearl = sim.world.add_failures(20, minutes_ago=30, flow_id=102)
    others = sim.world.add_failures(3, minutes_ago=30, flow_id=101)

    text, blocks = await reply(bot, slack, "brightpearl 2h")
    listed = str(blocks)
    assert "20 failed" in text or "20" in listed
    assert sum(f"run {run}" in listed for run in brightpearl) == 15  # one page
    assert not any(f"run {run}" in listed for run in others)

    ephemeral = slack.workspace.ephemerals[(CHANNEL, ANA)][-1]
    await bot.desk.click(ANA, CHANNEL, ephemeral.ts, Action.LIST_NEXT)
    deadline = time.monotonic() + 8
    while "page 2" not in str(slack.workspace.ephemerals[(CHANNEL, ANA)][-1].blocks).lower():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    page_two = str(slack.workspace.ephemerals[(CHANNEL, ANA)][-1].blocks)
    assert sum(f"run {run}" in page_two for run in brightpearl) == 5

    _, by_run = await reply(bot, slack, str(others[0]))
    assert f"run {others[0]}" in str(by_run)


async def test_resync_from_the_listing_works_like_from_a_digest(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=5, flow_id=101)
    await reply(bot, slack, str(run))
    listing = slack.workspace.ephemerals[(CHANNEL, ANA)][-1]

    await bot.desk.click(ANA, CHANNEL, listing.ts, Action.RESYNC)

    deadline = time.monotonic() + 8
    while not sim.world.retry_calls:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert [original for original, _ in sim.world.retry_calls] == [run]


async def test_nothing_found_says_so(bot: RunningBot, slack: FakeSlack) -> None:
    text, _ = await reply(bot, slack, "no-such-flow")
    assert "no" in text.lower()


async def test_since_in_minutes_is_exact(bot: RunningBot, sim: Sim, slack: FakeSlack) -> None:
    [older] = sim.world.add_failures(1, minutes_ago=45, flow_id=101)
    [recent] = sim.world.add_failures(1, minutes_ago=10, flow_id=101)

    text, blocks = await reply(bot, slack, "30m")

    assert "30m" in text or "30m" in str(blocks)
    assert f"run {recent}" in str(blocks)
    assert f"run {older}" not in str(blocks)
