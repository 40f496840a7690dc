"""A bulk resync job killed half-way: a real `syncbot run` is SIGKILLed in the middle of a job
(right after a retry was claimed, or right after Patchworks answered one and before syncbot
recorded it), then started again. The job resumes: every run is retried exactly once, none is
lost, and one summary is posted in the digest's thread."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.harness import CHANNEL, SIGNING_SECRET, FakeSlack, Sim
from support.process import Bot
from support.slack import counted_runs, digest_messages, digest_ts
from support.waiting import wait_until

from blocks.ids import Action
from syncbot_sandbox.desk import Desk

pytestmark = pytest.mark.slow

ANA = "U0ADA"
RUNS = 20
KILLED_AT = 8  # the eighth retry of the job


def confirm_resync_all(slack: FakeSlack, bot: Bot) -> int:
    """Ana clicks "Resync all…" on the digest and submits the confirmation, over signed HTTP;
    returns how many entries the confirmation said it would resync."""

    async def confirm() -> int:
        desk = Desk(slack.workspace, f"{bot.url}/slack/events", SIGNING_SECRET, slack_url=slack.url)
        try:
            response = await desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)
            assert response.status_code == 200
            deadline = time.monotonic() + 20
            while not slack.workspace.calls("views.update"):
                assert time.monotonic() < deadline, "the confirmation was never filled in"
                await asyncio.sleep(0.05)
            view = desk.open_view(ANA)
            assert view is not None
            submit = view.payload["submit"]["text"]
            assert (await desk.submit_view(ANA)).status_code == 200
            return int(submit.removeprefix("Resync "))
        finally:
            await desk.aclose()

    return asyncio.run(confirm())


def summaries(slack: FakeSlack) -> list[str]:
    return [
        message.text
        for message in slack.workspace.channel(CHANNEL).messages.values()
        if message.thread_ts and message.text.startswith("Bulk resync by")
    ]


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        bot.stop()


@pytest.mark.parametrize("step", ["resync_claimed", "resync_answered"])
def test_a_bulk_job_killed_half_way_resumes_and_retries_each_run_exactly_once(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], tmp_path: Path, bots: list[Bot], step: str
) -> None:
    runs = sim.world.add_failures(RUNS, minutes_ago=3, flow_id=101, error="NetSuite: 503 Service Unavailable")
    # A short request timeout makes a claim left by the dead process stranded after 2 x 0.5 + 5 s.
    env = {**settings_env, "PATCHWORKS_TIMEOUT_SECONDS": "0.5", "SYNCBOT_POLL_SECONDS": "2"}
    crash = {"SYNCBOT_CRASH_AT": step, "SYNCBOT_CRASH_AFTER": str(KILLED_AT)}
    first = Bot({**env, **crash}, tmp_path / "first.log")
    bots.append(first)
    first.wait_ready()
    wait_until(lambda: counted_runs(slack) == len(runs), 20, "the digest")

    planned = confirm_resync_all(slack, first)
    assert planned > KILLED_AT  # a few of the simulator's failures cannot be resynced: skipped
    first.process.wait(40)
    assert first.process.returncode == -signal.SIGKILL, first.log.read_text()
    retried_before = len(sim.world.retry_calls)
    # Killed in the middle of the job; the job's other retries in flight may have reached
    # Patchworks by then, unrecorded: those are the runs that must not be retried again.
    assert KILLED_AT - 4 <= retried_before < planned  # up to 4 retries in flight at once

    second = Bot(env, tmp_path / "second.log")
    bots.append(second)
    second.wait_ready()
    wait_until(lambda: summaries(slack), 60, "the job to finish after the restart")

    originals = [original for original, _ in sim.world.retry_calls]
    assert len(originals) == len(set(originals)) == planned  # every run retried, none twice
    assert set(originals) <= set(runs)
    assert summaries(slack) == [f"Bulk resync by <@{ANA}>: {planned} queued, 0 skipped, 0 failed"]
    wait_until(
        lambda: (
            f"finished: {planned}/{planned} queued" in json.dumps(digest_messages(slack.workspace)[0].blocks)
        ),
        10,
        "the digest to show the finished job",
    )
    log = second.log.read_text()
    assert "Traceback" not in log, log[log.find("Traceback") - 300 : log.find("Traceback") + 3000]


@pytest.mark.postgres
def test_two_replicas_on_postgresql_work_one_job_with_one_worker(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], pg_url: str, tmp_path: Path, bots: list[Bot]
) -> None:
    runs = sim.world.add_failures(RUNS, minutes_ago=3, flow_id=101, error="NetSuite: 503 Service Unavailable")
    env = {**settings_env, "DATABASE_URL": pg_url, "SYNCBOT_POLL_SECONDS": "2"}
    bots += [Bot(env, tmp_path / "a.log"), Bot(env, tmp_path / "b.log")]
    for bot in bots:
        bot.wait_ready()
    wait_until(lambda: counted_runs(slack) == len(runs), 20, "the digest")
    # Slow answers keep the job running for several seconds: the other replica's worker looks
    # for work meanwhile and must find it leased.
    sim.config.retry_answer_delay_s = 0.3

    planned = confirm_resync_all(slack, bots[0])
    wait_until(lambda: summaries(slack), 60, "the job to finish")

    originals = [original for original, _ in sim.world.retry_calls]
    assert len(originals) == len(set(originals)) == planned
    assert summaries(slack) == [f"Bulk resync by <@{ANA}>: {planned} queued, 0 skipped, 0 failed"]
    workers = [bot for bot in bots if "working bulk job 1 " in bot.log.read_text()]
    assert len(workers) == 1
