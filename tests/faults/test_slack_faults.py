"""Slack failures and secrets: nothing dropped silently, posts paced, no secret in any log."""

from __future__ import annotations

import logging

import pytest
from support.harness import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    SIM_KEY,
    FakeSlack,
    RunningBot,
    Sim,
    make_services,
)

from bot.config import Settings
from bot.slack import DIGEST_EVENT, FIND_PAGE_SIZE, FIND_PAGES, SlackClient, build_web_client


async def test_a_digest_slack_refuses_is_replaced_by_a_notice_not_dropped(
    sim: Sim, slack: FakeSlack, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    sim.world.add_failures(2, minutes_ago=3)
    slack.workspace.fail("chat.postMessage", "invalid_blocks")
    services = await make_services(settings)
    try:
        with caplog.at_level(logging.ERROR):
            await services.poller.run_once()
    finally:
        await services.aclose()

    texts = [m.text for m in slack.workspace.channel(CHANNEL).messages.values()]
    assert any("could not post a digest" in text and "/failed-syncs" in text for text in texts)
    assert any("refused by Slack" in record.getMessage() for record in caplog.records)


async def test_posts_to_one_channel_are_spaced_a_second_apart(slack: FakeSlack) -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = SlackClient(build_web_client(BOT_TOKEN, slack.api_url), clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await client.post_message(CHANNEL, "hello")
        now[0] += 0.25

    assert slept == pytest.approx([0.75, 0.75])
    assert len(slack.workspace.calls("chat.postMessage")) == 3


async def test_a_digest_is_found_in_its_thread_and_past_the_first_page(slack: FakeSlack) -> None:
    client = SlackClient(build_web_client(BOT_TOKEN, slack.api_url))
    ws = slack.workspace

    def digest(text: str, digest_id: int, thread_ts: str | None = None) -> str:
        meta = {"event_type": DIGEST_EVENT, "event_payload": {"digest_id": digest_id}}
        return ws.post_message(CHANNEL, text, thread_ts=thread_ts, metadata=meta).ts

    root = digest("part 1", 1)
    part2 = digest("part 2", 2, root)
    for i in range(FIND_PAGE_SIZE + 50):  # chatter after part 1 pushes it to the second page
        ws.post_message(CHANNEL, f"chatter {i}")
        ws.post_message(CHANNEL, f"reply {i}", thread_ts=root)
    part3 = digest("part 3", 3, root)  # on the second page of the thread

    assert await client.find_digest(CHANNEL, 1, 0) == root
    assert await client.find_digest(CHANNEL, 2, 0) is None  # the history lists no thread reply
    assert await client.find_digest(CHANNEL, 2, 0, thread_ts=root) == part2
    assert await client.find_digest(CHANNEL, 3, 0, thread_ts=root) == part3

    for i in range(FIND_PAGE_SIZE * FIND_PAGES):
        ws.post_message(CHANNEL, f"more {i}")
    ws.clear_calls()
    assert await client.find_digest(CHANNEL, 1, 0) is None  # past the bound: taken as not posted
    assert len(ws.calls("conversations.history")) == FIND_PAGES


async def test_secrets_never_reach_the_logs(
    bot: RunningBot, sim: Sim, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    sim.world.add_failures(2, minutes_ago=3)
    sim.config.error_rate = 1.0
    with caplog.at_level(logging.DEBUG):
        await bot.services.poller.run_once()
        sim.config.error_rate = 0.0
        await bot.services.poller.run_once()
        await bot.desk.send("payload=%7B%7D", headers={"x-slack-signature": "v0=bad"})
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    for secret in (BOT_TOKEN, SIGNING_SECRET, SIM_KEY):
        assert secret not in logged
    assert caplog.records, "the run logged something to check"
