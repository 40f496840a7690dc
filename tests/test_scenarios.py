"""Scenario tests: signed requests, as Slack sends them, through the bot's real HTTP server,
against the Patchworks simulator and the local Slack Web API."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import counted_runs, digest_messages, digest_ts, entry_text, forged_click, shown_runs
from support.waiting import eventually

from blocks.ids import Action, Command
from syncbot_sandbox.blockkit import message_problems, view_problems

ANA = "U0ADA"  # may resync (no allow-list is configured in these tests)


async def posted(bot: RunningBot, sim: Sim, count: int = 1, **kwargs: object) -> list[int]:
    """Add failures to Patchworks and let the bot post them."""
    runs = sim.world.add_failures(count, minutes_ago=2, **kwargs)  # type: ignore[arg-type]
    await bot.services.poller.run_once()
    return runs


def thread_replies(slack: FakeSlack) -> list[Any]:
    return [m for m in slack.workspace.channel(CHANNEL).messages.values() if m.thread_ts]


def ephemerals(slack: FakeSlack, user: str = ANA) -> list[str]:
    return [e.text for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


def ephemeral_blocks(slack: FakeSlack, user: str = ANA) -> list[Any]:
    return [e.blocks for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


async def test_resync_queues_one_retry_and_rewrites_the_entry_in_place(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim)
    sim.world.force_outcome(run, "success")

    response = await bot.desk.click(
        ANA, CHANNEL, digest_ts(slack), Action.RESYNC, value=f'{{"v":1,"run":{run},"msg":1}}'
    )

    assert response.status_code == 200
    await eventually(lambda: sim.world.retry_calls and slack.workspace.calls("chat.update"))
    assert [original for original, _ in sim.world.retry_calls] == [run]
    new_run = sim.world.retry_calls[0][1]
    update = slack.workspace.calls("chat.update")[-1]
    assert message_problems(update.args["text"], update.args["blocks"]) == []
    assert f"Resync queued by <@{ANA}>" in entry_text(slack, run)
    assert f"run {new_run}" in entry_text(slack, run)

    await asyncio.sleep(sim.config.retry_delay_s + 0.1)
    await bot.services.poller.run_once()

    assert "✅ OK" in entry_text(slack, run)
    replies = [m for m in slack.workspace.channel(CHANNEL).messages.values() if m.thread_ts]
    assert any(str(new_run) in reply.text for reply in replies)
    assert len(digest_messages(slack.workspace)) == 1  # updated in place, never posted again


async def test_a_resync_that_fails_again_says_so_and_offers_resync_again(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim)
    sim.world.force_outcome(run, "failure")
    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.RESYNC)
    await eventually(lambda: sim.world.retry_calls)
    await asyncio.sleep(sim.config.retry_delay_s + 0.1)

    await bot.services.poller.run_once()
    await bot.services.poller.run_once()  # the failed retry is not a new failure to post

    new_run = sim.world.retry_calls[0][1]
    assert "❌ Failed again" in entry_text(slack, new_run)
    assert "attempt 2" in entry_text(slack, new_run)
    [message] = digest_messages(slack.workspace)
    labels = [
        e.get("text", {}).get("text") for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert "Resync again" in labels


async def test_details_opens_a_modal_with_the_error_lines(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim, error="Field 'shipping_method' not found in mapping table <!channel>")

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS)

    await eventually(lambda: slack.workspace.calls("views.open"))  # painted at once from the store
    assert slack.workspace.calls("views.open")[0].args["trigger_id"]
    view = bot.desk.open_view(ANA)
    assert view is not None
    assert view_problems(view.payload) == []
    text = json.dumps(view.payload)
    assert "shipping_method" in text
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    assert f"flow-run-logs/{run}" in text


async def test_bulk_resync_confirms_what_will_run_then_resyncs_each_selected_entry(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    runs = await posted(bot, sim, 4)
    disabled = sim.world.add_failures(1, minutes_ago=2, flow_id=108)  # a disabled flow
    await bot.services.poller.run_once()
    ts = digest_messages(slack.workspace)[0].ts
    picked = [str(run) for run in runs[:3]]

    await bot.desk.select(ANA, CHANNEL, ts, Action.BULK_SELECT, picked)
    await bot.desk.click(ANA, CHANNEL, ts, Action.BULK_RESYNC_SELECTED)

    await eventually(lambda: slack.workspace.calls("views.update"))
    view = bot.desk.open_view(ANA)
    assert view is not None
    assert view_problems(view.payload) == []
    assert "3" in view.payload["submit"]["text"]
    assert sim.world.retry_calls == []  # nothing runs before the confirmation is submitted

    updates_before = len(slack.workspace.calls("chat.update"))
    response = await bot.desk.submit_view(ANA)

    assert response.status_code == 200
    await eventually(lambda: thread_replies(slack))
    # The digest shows the job's progress and is not rewritten once per entry (chat.update is
    # Tier 3): once when it starts, once when it ends.
    await eventually(lambda: "finished: 3/3 queued" in json.dumps(digest_messages(slack.workspace)[0].blocks))
    assert len(slack.workspace.calls("chat.update")) - updates_before == 2
    for run in runs[:3]:
        assert "Resync queued by" in entry_text(slack, run)
    assert sorted(original for original, _ in sim.world.retry_calls) == sorted(runs[:3])
    summary = thread_replies(slack)[-1]
    assert "3 queued" in summary.text
    assert disabled[0] not in [original for original, _ in sim.world.retry_calls]


async def test_a_bulk_resync_skips_entries_that_cannot_be_resynced_and_says_why(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    error = "Shopify: 503 Service Unavailable"
    ok_runs = sim.world.add_failures(2, minutes_ago=2, flow_id=101, error=error)
    disabled = sim.world.add_failures(1, minutes_ago=2, flow_id=108, error=error)
    sim.world.set_flow_enabled(108, True)  # offered in the digest, disabled before the click
    await bot.services.poller.run_once()
    sim.world.set_flow_enabled(108, False)
    ts = digest_ts(slack)

    await bot.desk.select(ANA, CHANNEL, ts, Action.BULK_SELECT, [str(run) for run in ok_runs + disabled])
    await bot.desk.click(ANA, CHANNEL, ts, Action.BULK_RESYNC_SELECTED)
    await eventually(lambda: slack.workspace.calls("views.update"))
    view = bot.desk.open_view(ANA)
    assert view is not None
    await bot.desk.submit_view(ANA)

    await eventually(lambda: len(sim.world.retry_calls) == 2)
    assert sorted(o for o, _ in sim.world.retry_calls) == sorted(ok_runs)
    await eventually(lambda: thread_replies(slack))
    assert "flow is disabled" in json.dumps(
        [m.blocks for m in slack.workspace.channel(CHANNEL).messages.values()]
    )


async def test_a_double_click_and_a_slack_retry_resync_once(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim)
    ts = digest_ts(slack)

    # Two clicks and Slack's retry of one, all on the message as it was before any answer.
    first, second, retried = await asyncio.gather(
        bot.desk.click(ANA, CHANNEL, ts, Action.RESYNC),
        bot.desk.click(ANA, CHANNEL, ts, Action.RESYNC),
        bot.desk.click(
            "U0MAX",
            CHANNEL,
            ts,
            Action.RESYNC,
            headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
        ),
    )

    assert first.status_code == second.status_code == retried.status_code == 200
    await eventually(lambda: sim.world.retry_calls and ephemerals(slack))
    await asyncio.sleep(0.3)
    assert [o for o, _ in sim.world.retry_calls] == [run]
    assert any("already resynced" in text for text in ephemerals(slack))


async def test_a_second_user_is_told_who_already_resynced(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim)
    ts = digest_ts(slack)
    await bot.desk.click(ANA, CHANNEL, ts, Action.RESYNC)
    await eventually(lambda: sim.world.retry_calls)

    await bot.desk.click("U0MAX", CHANNEL, ts, Action.DETAILS)  # the Resync button is gone for everyone
    stale = f'{{"v":1,"run":{run},"msg":1}}'
    await bot.desk.send_payload(forged_click(slack, "U0MAX", ts, Action.RESYNC, stale))

    await eventually(lambda: ephemerals(slack, "U0MAX"))
    assert f"<@{ANA}> already resynced" in ephemerals(slack, "U0MAX")[-1]
    assert len(sim.world.retry_calls) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"v":1,"run":999999}', "no longer exists"),
        ('{"v":9,"run":1}', "not one syncbot understands"),
        ("x" * 10_000, "not one syncbot understands"),
        ("not json", "not one syncbot understands"),
    ],
)
async def test_unknown_or_tampered_buttons_get_an_explanation_and_change_nothing(
    bot: RunningBot, sim: Sim, slack: FakeSlack, value: str, expected: str
) -> None:
    await posted(bot, sim)
    response = await bot.desk.send_payload(forged_click(slack, ANA, digest_ts(slack), Action.RESYNC, value))

    assert response.status_code == 200
    await eventually(lambda: ephemerals(slack))
    assert expected in ephemerals(slack)[-1]
    assert sim.world.retry_calls == []


async def test_a_non_retryable_entry_is_refused_with_the_reason(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = await posted(bot, sim, flow_id=108)
    await bot.desk.send_payload(
        forged_click(slack, ANA, digest_ts(slack), Action.RESYNC, f'{{"v":1,"run":{run}}}')
    )

    await eventually(lambda: ephemerals(slack))
    assert "flow is disabled" in ephemerals(slack)[-1]
    assert sim.world.retry_calls == []


async def test_a_system_with_failed_authentication_asks_before_resyncing(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.set_system_outage("NetSuite", "auth")
    [run] = await posted(bot, sim, flow_id=101)
    sim.world.add_failures(2, minutes_ago=1, flow_id=101)

    await bot.desk.send_payload(
        forged_click(slack, ANA, digest_ts(slack), Action.RESYNC, f'{{"v":1,"run":{run},"msg":1}}')
    )
    await eventually(lambda: ephemerals(slack))

    assert "Failed Authentication" in ephemerals(slack)[-1]
    assert sim.world.retry_calls == []
    prompt = slack.workspace.ephemerals[(CHANNEL, ANA)][-1]
    await bot.desk.click(ANA, CHANNEL, prompt.ts, Action.RESYNC_ANYWAY)
    await eventually(lambda: sim.world.retry_calls)
    assert [o for o, _ in sim.world.retry_calls] == [run]


async def test_bad_signatures_and_stale_timestamps_get_401_and_change_nothing(
    http_bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    bot = http_bot
    await posted(bot, sim)
    payload = forged_click(slack, ANA, digest_ts(slack), Action.RESYNC, '{"v":1,"run":1}')
    body = urlencode({"payload": json.dumps(payload)})

    forged = await bot.desk.send(body, headers={"x-slack-signature": "v0=" + "0" * 64})
    stale = await bot.desk.send(body, timestamp=int(time.time()) - 301)
    unsigned = await bot.desk._http.post(bot.url + "/slack/events", content=body)

    assert forged.status_code == stale.status_code == unsigned.status_code == 401
    await asyncio.sleep(0.3)
    assert sim.world.retry_calls == []
    assert ephemerals(slack) == []


async def test_listeners_ack_before_talking_to_patchworks(
    http_bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    bot = http_bot  # over HTTP: the answer leaves at the ack, before the listener's work
    await posted(bot, sim)
    sim.config.latency_s = 2.0
    ts = digest_ts(slack)

    timings = []
    for send in (
        lambda: bot.desk.click(ANA, CHANNEL, ts, Action.RESYNC),
        lambda: bot.desk.click(ANA, CHANNEL, ts, Action.DETAILS),
        lambda: bot.desk.command(ANA, CHANNEL, Command.FAILED_SYNCS, "shopify 2h"),
    ):
        started = time.monotonic()
        response = await send()
        timings.append(time.monotonic() - started)
        assert response.status_code == 200
    # Any Patchworks call before the ack would take at least the 2 s latency.
    assert max(timings) < 2.0, timings
    sim.config.latency_s = 0.0


async def test_an_unknown_action_id_gets_an_explanation_never_a_500(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    await posted(bot, sim)
    payload = forged_click(slack, ANA, digest_ts(slack), "drop_tables", "1")

    response = await bot.desk.send_payload(payload)

    assert response.status_code == 200
    await eventually(lambda: ephemerals(slack))
    assert "Nothing was changed" in ephemerals(slack)[-1]
    assert sim.world.retry_calls == []


class TestOverflowListing:
    """The first look reaches back over the report window; "List them" buttons of older digests still list."""

    async def test_the_first_digest_counts_every_failure_of_the_report_window(
        self, bot: RunningBot, sim: Sim, slack: FakeSlack
    ) -> None:
        # The first look is the report's default window (5 days): failures of the last 4 days
        # are all in the first digest, counted by cause, none left out.
        created = [
            run
            for days in range(4)
            for run in sim.world.add_failures(10, minutes_ago=days * 24 * 60 + 30, flow_id=101 + days % 2)
        ]
        await bot.services.poller.run_once()
        assert len(digest_messages(slack.workspace)) == 1
        assert counted_runs(slack) == len(created)
        assert set(shown_runs(slack)) <= set(created)

    async def test_a_list_them_button_posted_by_the_previous_version_still_lists(
        self, bot: RunningBot, sim: Sim, slack: FakeSlack
    ) -> None:
        await posted(bot, sim, 2, flow_id=101)
        # Before the listing window followed the overflow, the button also carried the digest id.
        old_value = '{"v":1,"q":"","minutes":1440,"page":1,"digest":1}'

        await bot.desk.send_payload(forged_click(slack, ANA, digest_ts(slack), Action.SHOW_ALL, old_value))

        await eventually(lambda: ephemerals(slack))
        assert "2 failed syncs" in ephemerals(slack)[-1]
