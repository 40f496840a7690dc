"""A poll cycle end to end: the simulator over HTTP → the bot → the local Slack Web API."""

from __future__ import annotations

import pytest
from support.harness import CHANNEL, FakeSlack, Sim, make_services
from support.slack import counted_runs, digest_messages, shown_runs

from bot.config import Settings
from syncbot_sandbox.blockkit import message_problems


@pytest.mark.parametrize("failures", [0, 1, 49, 50, 51, 300])
async def test_a_poll_posts_one_digest_that_counts_every_new_failure_once(
    sim: Sim, slack: FakeSlack, settings: Settings, failures: int
) -> None:
    created = sim.world.add_failures(failures, minutes_ago=5) if failures else []
    services = await make_services(settings)
    try:
        result = await services.poller.run_once()
    finally:
        await services.aclose()

    assert result.error is None
    if failures == 0:
        assert digest_messages(slack.workspace, parts=True) == []
        return
    assert len(digest_messages(slack.workspace)) == 1  # one message in the channel per poll
    parts = digest_messages(slack.workspace, parts=True)
    for message in parts:
        assert message_problems(message.text, message.blocks) == []
        assert "<!channel>" not in message.text
    assert counted_runs(slack) == failures
    shown = shown_runs(slack)
    assert len(shown) == len(set(shown))
    assert set(shown) <= set(created)


async def test_a_second_poll_and_a_restart_post_nothing_new(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    sim.world.add_failures(3, minutes_ago=5)
    services = await make_services(settings)
    await services.poller.run_once()
    await services.poller.run_once()
    await services.aclose()
    restarted = await make_services(settings)
    try:
        await restarted.poller.run_once()
    finally:
        await restarted.aclose()

    assert len(slack.workspace.calls("chat.postMessage")) == 1
    assert len(shown_runs(slack)) == 3


async def test_failures_that_happen_while_the_bot_is_down_are_posted_when_it_returns(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    first = sim.world.add_failures(2, minutes_ago=10)
    services = await make_services(settings)
    await services.poller.run_once()
    await services.aclose()
    while_down = sim.world.add_failures(4, minutes_ago=1)
    back = await make_services(settings)
    try:
        await back.poller.run_once()
    finally:
        await back.aclose()

    assert sorted(shown_runs(slack)) == sorted(first + while_down)
    assert len(digest_messages(slack.workspace)) == 2


async def test_a_digest_names_what_failed_and_links_to_patchworks(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    [run_id] = sim.world.add_failures(1, minutes_ago=3)
    run = sim.world.get_run(run_id)
    services = await make_services(settings)
    try:
        await services.poller.run_once()
    finally:
        await services.aclose()

    [message] = digest_messages(slack.workspace)
    text = "\n".join(str(block) for block in message.blocks)
    assert run is not None
    assert run.flow.name.replace(">", "&gt;") in text
    if run.name:
        assert run.name in text
    assert f"https://app.example.test/flow-run-logs/{run_id}" in text
    assert message.text  # a screen reader / notification fallback is always there


async def test_slack_refusing_a_post_keeps_the_digest_for_the_next_poll(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    sim.world.add_failures(2, minutes_ago=3)
    slack.workspace.fail("chat.postMessage", "not_in_channel")
    services = await make_services(settings)
    try:
        first = await services.poller.run_once()
        assert not first.posted_all
        assert digest_messages(slack.workspace) == []
        await services.poller.run_once()
    finally:
        await services.aclose()

    assert len(shown_runs(slack)) == 2


async def test_a_rate_limited_post_is_retried_after_retry_after(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    sim.world.add_failures(1, minutes_ago=3)
    slack.workspace.fail("chat.postMessage", status=429, retry_after=1)
    services = await make_services(settings)
    try:
        result = await services.poller.run_once()
    finally:
        await services.aclose()

    assert result.posted_all
    assert len(shown_runs(slack)) == 1
    assert CHANNEL in slack.workspace.channels
