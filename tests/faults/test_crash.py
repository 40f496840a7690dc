"""Nothing lost, nothing twice: a real `syncbot poll` process is SIGKILLed at each point of a
poll cycle, then started again; every failure ends up in the channel exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from support.harness import FakeSlack, Sim
from support.slack import counted_runs, digest_messages, shown_runs

from bot.faults import POLL_CRASH_POINTS

pytestmark = pytest.mark.slow


def poll(env: dict[str, str], crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """One `syncbot poll` in its own process."""
    full = {**os.environ, **env, "SYNCBOT_DIGEST_MAX_MESSAGES": "5"}
    if crash_at:
        full["SYNCBOT_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "bot", "poll"], env=full, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("point", POLL_CRASH_POINTS)
def test_a_poll_killed_at_any_point_posts_everything_once_after_a_restart(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], point: str
) -> None:
    # Nine causes of five runs: one digest of three parts, the second and third in its thread.
    codes = ["CUSTOMER", "ADDRESS", "SKU", "TAX", "PRICE", "CARRIER", "WAREHOUSE", "CURRENCY", "PAYMENT"]
    created = [
        run
        for code in codes
        for run in sim.world.add_failures(5, flow_id=101, minutes_ago=5, error=f"{code}_INVALID: rejected")
    ]

    killed = poll(settings_env, crash_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    restarted = poll(settings_env)
    assert restarted.returncode == 0, restarted.stderr
    again = poll(settings_env)
    assert again.returncode == 0, again.stderr

    shown = shown_runs(slack)
    assert len(shown) == len(set(shown))  # nothing twice
    assert set(shown) <= set(created)
    assert counted_runs(slack) == len(created)  # every failure counted once
    assert len(digest_messages(slack.workspace)) == 1
    assert len(digest_messages(slack.workspace, parts=True)) == 3
