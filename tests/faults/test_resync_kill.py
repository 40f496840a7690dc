"""A deploy or a crash in the middle of a resync: a real `syncbot run` is stopped (SIGKILL, or
SIGTERM as a deploy does) at each step of a resync, then started again. Every time the run ends
with its outcome in the digest, having been retried in Patchworks exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.harness import CHANNEL, SIGNING_SECRET, FakeSlack, Sim
from support.process import Bot
from support.slack import digest_ts, entry_text, shown_runs
from support.waiting import wait_until

from blocks.ids import Action
from bot.faults import RESYNC_CRASH_POINTS
from syncbot_sandbox.desk import Desk

pytestmark = pytest.mark.slow

ANA = "U0ADA"
# The step with no crash point of its own: Patchworks has started the retry and holds its answer.
RETRY_SENT = "retry_sent"
STEPS = (RESYNC_CRASH_POINTS[0], RETRY_SENT, *RESYNC_CRASH_POINTS[1:])
TIMEOUT_SECONDS = "0.5"  # a claim is taken for stranded after 2 x 0.5 + 5 s


def click_resync(slack: FakeSlack, bot: Bot, run_id: int) -> None:
    """Ana clicks Resync on the entry, as Slack delivers it: a signed request to the bot."""

    async def click() -> int:
        desk = Desk(slack.workspace, f"{bot.url}/slack/events", SIGNING_SECRET, slack_url=slack.url)
        try:
            value = f'{{"v":1,"run":{run_id},"msg":1}}'
            response = await desk.click(ANA, CHANNEL, digest_ts(slack), Action.RESYNC, value=value)
            return response.status_code
        finally:
            await desk.aclose()

    assert asyncio.run(click()) == 200


def claim_of(database: Path, run_id: int) -> str | None:
    """The resync row's outcome as stored (None when there is no claim on the run)."""
    with sqlite3.connect(database) as conn:
        row = conn.execute("SELECT outcome FROM resyncs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else str(row[0])


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        bot.stop()


@pytest.mark.parametrize("how", ["KILL", "TERM"])
@pytest.mark.parametrize("step", STEPS)
def test_a_resync_interrupted_at_any_step_ends_retried_exactly_once(
    sim: Sim,
    slack: FakeSlack,
    settings_env: dict[str, str],
    tmp_path: Path,
    bots: list[Bot],
    step: str,
    how: str,
) -> None:
    [run_id] = sim.world.add_failures(1, minutes_ago=3)
    sim.world.force_outcome(run_id, "success")
    # Short polls keep the poller lease short too: the restarted bot takes over within seconds.
    env = {**settings_env, "PATCHWORKS_TIMEOUT_SECONDS": TIMEOUT_SECONDS, "SYNCBOT_POLL_SECONDS": "2"}
    crash = {} if step == RETRY_SENT else {"SYNCBOT_CRASH_AT": step, "SYNCBOT_CRASH_SIGNAL": how}
    first = Bot({**env, **crash}, tmp_path / "first.log")
    bots.append(first)
    first.wait_ready()
    wait_until(lambda: shown_runs(slack) == [run_id], 20, "the digest")

    if step == RETRY_SENT:
        sim.config.retry_answer_delay_s = 0.4
        click_resync(slack, first, run_id)
        wait_until(lambda: sim.world.retry_calls, 10, "the retry to reach Patchworks")
        first.process.send_signal(signal.SIGKILL if how == "KILL" else signal.SIGTERM)
    else:
        click_resync(slack, first, run_id)
    first.process.wait(40)
    first_log = first.log.read_text()
    assert first.process.returncode == (-signal.SIGKILL if how == "KILL" else 0), first_log
    assert "Traceback" not in first_log
    sim.config.retry_answer_delay_s = 0.0

    second = Bot(env, tmp_path / "second.log")
    bots.append(second)
    second.wait_ready()
    database = Path(env["DATABASE_URL"].split("///", 1)[1])
    clicked_again = False
    deadline = time.monotonic() + 45
    while "✅ OK" not in entry_text(slack, run_id):
        assert time.monotonic() < deadline, f"no outcome; claim is {claim_of(database, run_id)}"
        if claim_of(database, run_id) is None and not clicked_again:
            # The retry never reached Patchworks and the claim was freed: it can be resynced again.
            assert not sim.world.retry_calls
            click_resync(slack, second, run_id)
            clicked_again = True
        time.sleep(0.1)

    assert [original for original, _ in sim.world.retry_calls] == [run_id]
    assert "Traceback" not in second.log.read_text()
