"""Several replicas on PostgreSQL: the same store, both serve Slack, exactly one polls, and a
survivor takes over within one poll interval when the poller dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from support.harness import CHANNEL, SIGNING_SECRET, FakeSlack, Sim, make_services
from support.slack import shown_runs
from support.waiting import free_port, wait_until

from blocks.ids import Command
from bot.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

POLL_SECONDS = 6


class Replica:
    """One `syncbot run` process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, **env, "PORT": str(self.port), "SYNCBOT_POLL_SECONDS": str(POLL_SECONDS)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def health(self) -> dict[str, object] | None:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(20)


@pytest.fixture
def replicas(settings_env: dict[str, str], pg_url: str) -> Iterator[list[Replica]]:
    env = {**settings_env, "DATABASE_URL": pg_url}
    started = [Replica(env), Replica(env)]
    yield started
    for replica in started:
        replica.stop()


async def test_the_store_works_on_postgresql(
    sim: Sim, slack: FakeSlack, settings: Settings, pg_url: str
) -> None:
    sim.world.add_failures(3, minutes_ago=5)
    on_pg = settings.model_copy(update={"database_url": pg_url})
    for _ in range(2):  # a restart on the same database posts nothing new
        services = await make_services(on_pg)
        try:
            assert services.store.is_postgres
            await services.poller.run_once()
        finally:
            await services.aclose()
    assert len(shown_runs(slack)) == 3
    assert len(slack.workspace.calls("chat.postMessage")) == 1


def test_two_replicas_serve_slack_and_exactly_one_polls(
    replicas: list[Replica], sim: Sim, slack: FakeSlack
) -> None:
    created = sim.world.add_failures(5, minutes_ago=5)
    wait_until(lambda: all(replica.health() for replica in replicas), 30)
    wait_until(lambda: sum(bool(r.health()["poller"]) for r in replicas) == 1, POLL_SECONDS * 2)  # type: ignore[index]
    wait_until(lambda: len(shown_runs(slack)) == 5, POLL_SECONDS * 3)
    time.sleep(POLL_SECONDS + 1)  # another cycle on either replica must not post again
    assert sorted(shown_runs(slack)) == sorted(created)

    from syncbot_sandbox.desk import Desk

    async def command_both() -> list[int]:
        codes = []
        for replica in replicas:
            desk = Desk(slack.workspace, f"{replica.url}/slack/events", SIGNING_SECRET, slack_url=slack.url)
            codes.append((await desk.command("U0ADA", CHANNEL, Command.FAILED_SYNCS, "help")).status_code)
            await desk.aclose()
        return codes

    assert asyncio.run(command_both()) == [200, 200]
    wait_until(lambda: len(slack.workspace.ephemerals.get((CHANNEL, "U0ADA"), [])) == 2, 10)

    poller = next(r for r in replicas if r.health()["poller"])  # type: ignore[index]
    survivor = next(r for r in replicas if r is not poller)
    poller.stop(signal.SIGKILL)
    took = wait_until(lambda: survivor.health()["poller"], POLL_SECONDS + 5)  # type: ignore[index]
    assert took <= POLL_SECONDS + 5

    later = sim.world.add_failures(2, minutes_ago=1)
    wait_until(lambda: len(shown_runs(slack)) == 7, POLL_SECONDS * 3)
    assert sorted(shown_runs(slack)) == sorted(created + later)
