"""Bulk resync jobs through the app and the simulator: progress and Cancel in the digest, runs
re-checked in list pages right before their retry, one summary, a repeated confirmation."""

from __future__ import annotations

import json
import math

from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_messages, digest_ts, forged_click
from support.waiting import eventually

from blocks.ids import Action
from blocks.model import EntryState
from bot.services import Services

ANA = "U0ADA"
BO = "U0MAX"
LIST_PAGE = 100


def digest_blob(slack: FakeSlack) -> str:
    return json.dumps(digest_messages(slack.workspace)[0].blocks, ensure_ascii=False)


def summaries(slack: FakeSlack) -> list[str]:
    return [
        m.text
        for m in slack.workspace.channel(CHANNEL).messages.values()
        if m.thread_ts and m.text.startswith("Bulk resync by")
    ]


async def confirm_all(bot: RunningBot, slack: FakeSlack) -> int:
    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)
    await eventually(lambda: slack.workspace.calls("views.update"))
    view = bot.desk.open_view(ANA)
    assert view is not None
    planned = int(view.payload["submit"]["text"].removeprefix("Resync "))
    await bot.desk.submit_view(ANA)
    return planned


async def test_progress_shows_in_the_digest_and_cancel_stops_the_job(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(20, minutes_ago=3, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await bot.services.poller.run_once()
    sim.config.retry_answer_delay_s = 0.25  # a job that takes a few seconds

    planned = await confirm_all(bot, slack)
    await eventually(lambda: "⏳ Bulk resync by <@U0ADA>: " in digest_blob(slack), timeout=10)
    await eventually(lambda: len(sim.world.retry_calls) >= 3, timeout=10)

    await bot.desk.click(BO, CHANNEL, digest_ts(slack), Action.BULK_CANCEL)

    await eventually(lambda: summaries(slack), timeout=10)
    retried = len(sim.world.retry_calls)
    assert retried < planned
    [summary] = summaries(slack)
    assert summary.startswith(f"Bulk resync by <@{ANA}>, cancelled by <@{BO}>: ")
    assert f"{planned - retried} not resynced" in summary or "not resynced" in summary
    await eventually(lambda: "cancelled by <@U0MAX>" in digest_blob(slack), timeout=10)
    assert "Cancel" not in [
        (block.get("accessory") or {}).get("text", {}).get("text")
        for block in digest_messages(slack.workspace)[0].blocks
    ]
    assert len(sim.world.retry_calls) <= retried + 1  # at most the retry in flight when cancelled


async def test_a_second_cancel_is_told_the_job_is_over(bot: RunningBot, sim: Sim, slack: FakeSlack) -> None:
    sim.world.add_failures(3, minutes_ago=3, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await bot.services.poller.run_once()
    await confirm_all(bot, slack)
    await eventually(lambda: summaries(slack))

    # The Cancel button is gone from the message; an older copy of it is still clicked.
    await bot.desk.send_payload(
        forged_click(slack, ANA, digest_ts(slack), Action.BULK_CANCEL, '{"v":1,"job":1}')
    )

    await eventually(lambda: slack.workspace.ephemerals.get((CHANNEL, ANA)))
    assert "already finished" in slack.workspace.ephemerals[(CHANNEL, ANA)][-1].text


async def test_a_job_rechecks_its_runs_in_list_pages_not_one_by_one(services: Services, sim: Sim) -> None:
    runs = sim.world.add_failures(250, minutes_ago=30, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await services.poller.run_once()
    resolved = runs[10]
    sim.world.get_run(resolved).status = 2  # fixed in Patchworks since the poll: no longer failed
    plan = await services.jobs.propose(runs, ANA, message_id=None, channel=None)
    assert plan.job_id is not None
    assert await services.jobs.start(plan.job_id, ANA) is not None
    requests = sim.world.requests

    while await services.jobs.work_once():
        pass

    retried = [original for original, _ in sim.world.retry_calls]
    assert resolved not in retried
    assert len(plan.to_resync) == 250
    assert len(retried) == len(set(retried)) == 249
    reads = sim.world.requests - requests - len(retried)
    # ceil(K/100) list pages, not K reads; the run the report no longer lists is read on its own
    # before it is called resolved.
    assert reads == math.ceil(249 / LIST_PAGE) + 1
    async with services.store.unit_of_work() as uow:
        job = await uow.jobs.get(plan.job_id)
        assert job is not None
        progress = await uow.jobs.progress(job)
    assert (progress.state, progress.queued, progress.skipped) == ("done", len(retried), 1)
    async with services.store.unit_of_work() as uow:
        fixed = await uow.entries.for_run(resolved)
    assert fixed is not None
    assert fixed.outcome.state is EntryState.OK  # its cause counts it resolved, not open


async def test_a_confirmation_submitted_twice_starts_one_job(services: Services, sim: Sim) -> None:
    runs = sim.world.add_failures(2, minutes_ago=3, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await services.poller.run_once()
    plan = await services.jobs.propose(runs, ANA, message_id=None, channel=None)
    assert plan.job_id is not None

    assert await services.jobs.start(plan.job_id, BO) is None  # not Bo's confirmation
    assert await services.jobs.start(plan.job_id, ANA) is not None
    assert await services.jobs.start(plan.job_id, ANA) is None  # Slack delivered it again
    while await services.jobs.work_once():
        pass

    assert sorted(original for original, _ in sim.world.retry_calls) == sorted(
        entry.run_id for entry in plan.to_resync
    )
