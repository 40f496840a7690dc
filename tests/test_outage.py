"""An outage as an operations team lives it: ten polls in a row, each finding 20 new failures of
one flow with one cause. Through the real HTTP app and the simulator: one message in the channel,
updated in place, at most one short thread reply per poll, and "Resync all 200…" → one modal →
200 retries, each once."""

from __future__ import annotations

import asyncio
import json

from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_messages, digest_ts
from support.waiting import eventually

from blocks.ids import Action

ANA = "U0ADA"
POLLS = 10
PER_POLL = 20


def add_outage_failures(sim: Sim, poll: int) -> list[int]:
    """20 failures of one cause: the order numbers and SKUs differ, the problem does not."""
    runs: list[int] = []
    for n in range(PER_POLL):
        order = 1000 + poll * PER_POLL + n
        error = f"Order #{order}: SKU-{order}A could not be claimed: INVENTORY_CLAIM_FAILED"
        runs += sim.world.add_failures(1, flow_id=101, minutes_ago=0.05, error=error)
    return runs


def thread_replies(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.workspace.channel(CHANNEL).messages.values() if m.thread_ts]


def digest_text(slack: FakeSlack) -> str:
    return json.dumps(digest_messages(slack.workspace)[0].blocks, ensure_ascii=False)


async def test_ten_polls_of_one_outage_make_one_message_updated_in_place(
    http_bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    created: list[int] = []
    for poll in range(POLLS):
        created += add_outage_failures(sim, poll)
        result = await http_bot.services.poller.run_once()
        assert result.error is None
        assert len(digest_messages(slack.workspace)) == 1  # never a second top-level message
        assert len(thread_replies(slack)) == poll  # at most one reply per poll, none for the first

    shown = digest_text(slack)
    assert f"*{POLLS * PER_POLL} failed runs*" in shown
    assert "INVENTORY_CLAIM_FAILED" in shown  # verbatim: no look-alike underscores
    assert f"Resync all {POLLS * PER_POLL}…" in shown
    assert all(reply.startswith(f"+{PER_POLL} new failures since") for reply in thread_replies(slack))
    assert len(slack.workspace.calls("chat.postMessage")) == 1 + (POLLS - 1)

    # Resync the whole cause: click, confirm, done. Three interactions for any N.
    await http_bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)
    await eventually(lambda: slack.workspace.calls("views.update"), timeout=20)
    view = http_bot.desk.open_view(ANA)
    assert view is not None
    assert view.payload["submit"]["text"] == f"Resync {POLLS * PER_POLL}"
    assert sim.world.retry_calls == []
    await http_bot.desk.submit_view(ANA)

    summary = f"Bulk resync by <@{ANA}>: {POLLS * PER_POLL} queued"
    await eventually(lambda: any(reply.startswith(summary) for reply in thread_replies(slack)), timeout=60)
    originals = [original for original, _ in sim.world.retry_calls]
    assert sorted(originals) == sorted(created)  # each of the 200 retried, once
    await eventually(lambda: f"finished: {POLLS * PER_POLL}/{POLLS * PER_POLL} queued" in digest_text(slack))


async def test_a_cause_resolved_by_resyncs_shows_resolved_and_reopens_when_it_comes_back(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    runs = add_outage_failures(sim, 0)
    for run in runs:
        sim.world.force_outcome(run, "success")
    await bot.services.poller.run_once()
    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)
    await eventually(lambda: slack.workspace.calls("views.update"))
    await bot.desk.submit_view(ANA)
    await eventually(lambda: "finished:" in digest_text(slack), timeout=20)

    async def followed_to_the_end() -> bool:
        await bot.services.follower.follow()
        await bot.services.effects.deliver()
        return "✅ *Resolved*" in digest_text(slack)

    for _ in range(50):
        if await followed_to_the_end():
            break
        await asyncio.sleep(0.2)
    assert "✅ *Resolved*" in digest_text(slack)
    assert "Resync all" not in digest_text(slack)

    add_outage_failures(sim, 1)  # the same problem comes back
    await bot.services.poller.run_once()

    assert len(digest_messages(slack.workspace)) == 1
    assert f"*{2 * PER_POLL} failed runs* · {PER_POLL} still open" in digest_text(slack)
    assert f"Resync all {PER_POLL}…" in digest_text(slack)
