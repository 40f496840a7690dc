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


def test_a_poll_killed_after_slack_took_a_thread_part_posts_that_part_once(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str]
) -> None:
    # Nine causes of one run: part 1 in the channel, parts 2 and 3 in its thread. The kill comes
    # after Slack took part 2 and before it was saved, so the restart must find part 2 in the
    # thread, where the channel's history does not list it, instead of posting it again.
    words = ["email", "phone", "address", "sku", "price", "title", "vendor", "barcode", "weight"]
    created = [
        run
        for word in words
        for run in sim.world.add_failures(
            1, flow_id=101, minutes_ago=5, error=f"Shopify: field {word} is invalid"
        )
    ]

    killed = poll({**settings_env, "SYNCBOT_CRASH_AFTER": "2"}, crash_at="after_post")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(digest_messages(slack.workspace, parts=True)) == 2  # part 2 reached Slack
    restarted = poll(settings_env)
    assert restarted.returncode == 0, restarted.stderr
    again = poll(settings_env)
    assert again.returncode == 0, again.stderr

    [root] = digest_messages(slack.workspace)
    parts = digest_messages(slack.workspace, parts=True)
    digest_ids = [message.metadata["event_payload"]["digest_id"] for message in parts]
    assert len(parts) == 3
    assert len(set(digest_ids)) == 3  # every part once
    assert all(message.thread_ts == root.ts for message in parts if message is not root)
    assert sorted(shown_runs(slack)) == sorted(created)  # every failure shown, none twice
    assert counted_runs(slack) == len(created)
