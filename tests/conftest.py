"""Fixtures only (helpers live in tests/support): the Patchworks simulator and the local Slack Web
API on real sockets, the bot's services on a fresh SQLite file, and the bot itself, in process
(`bot`) or serving HTTP on a free port (`http_bot`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from support.dispatch import BoltDispatch
from support.harness import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    SIM_KEY,
    FakeSlack,
    RunningBot,
    Sim,
    make_services,
    pg_database,
)

from bot.app import build_app
from bot.config import Settings, load_settings
from bot.server import build_http_app
from bot.services import Services
from syncbot_sandbox.desk import Desk
from syncbot_sandbox.serve import BackgroundServer
from syncbot_sandbox.simulator import SimulatorConfig, create_app
from syncbot_sandbox.slack_api import create_slack_api
from syncbot_sandbox.store import Workspace


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Settings from the developer's shell or a .env must never leak into a test.
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_")) or name in ("DATABASE_URL", "PORT"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test."""
    async with pg_database() as url:
        yield url


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """No failures at start (tests add what they need), quick retries, a generous rate limit."""
    return SimulatorConfig(
        seed=7, api_key=SIM_KEY, initial_failures=0, retry_delay_s=0.3, rate_limit_per_minute=100_000
    )


@pytest.fixture
def sim(sim_config: SimulatorConfig) -> Iterator[Sim]:
    """The Patchworks simulator on a free port."""
    app = create_app(sim_config)
    with BackgroundServer(app) as server:
        yield Sim(url=f"{server.url}/api/v1", world=app.state.world, config=sim_config)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """The local Slack Web API on a free port."""
    app = create_slack_api()
    with BackgroundServer(app) as server:
        workspace: Workspace = app.state.workspace
        workspace.base_url = server.url
        yield FakeSlack(url=server.url, api_url=f"{server.url}/api/", workspace=workspace)


@pytest.fixture
def settings_env(sim: Sim, slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    """The environment a deployment would set, pointing at the local servers."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "SYNCBOT_CHANNEL": CHANNEL,
        "PATCHWORKS_API_URL": sim.url,
        "PATCHWORKS_API_KEY": SIM_KEY,
        "PATCHWORKS_APP_URL": "https://app.example.test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'syncbot.db'}",
        "SYNCBOT_POLL_SECONDS": "300",
        "PORT": "0",
    }


@pytest.fixture
def settings(settings_env: dict[str, str]) -> Settings:
    """Settings read through the same validation as `syncbot run`."""
    return load_settings(_env_file=None, **{key.lower(): value for key, value in settings_env.items()})


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The bot's services on a fresh database."""
    built = await make_services(settings)
    yield built
    await built.aclose()


@contextlib.asynccontextmanager
async def bulk_worker(services: Services) -> AsyncIterator[None]:
    """The bulk resync worker, as `syncbot run` starts it beside the app."""
    worker = asyncio.create_task(services.jobs.run_forever())
    try:
        yield
    finally:
        services.jobs.stop()
        await asyncio.wait_for(worker, 10)


@pytest.fixture
async def bot(services: Services, slack: FakeSlack) -> AsyncIterator[RunningBot]:
    """The bot's Bolt app in process: signed requests go through `app.async_dispatch`, and each
    request returns once the listeners it started have finished."""
    app = build_app(services)
    http = httpx.AsyncClient(transport=BoltDispatch(app, services.inflight), base_url="http://bolt.test")
    desk = Desk(
        slack.workspace, "http://bolt.test/slack/events", SIGNING_SECRET, slack_url=slack.url, http=http
    )
    async with bulk_worker(services):
        yield RunningBot(url=None, services=services, desk=desk)
    await desk.aclose()


@pytest.fixture
async def http_bot(services: Services, slack: FakeSlack) -> AsyncIterator[RunningBot]:
    """The real HTTP app (the edge, then Bolt) on a free port, in the test's event loop."""
    http_app = build_http_app(build_app(services), services)
    server = uvicorn.Server(
        uvicorn.Config(http_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    desk = Desk(slack.workspace, f"{url}/slack/events", SIGNING_SECRET, slack_url=slack.url)
    async with bulk_worker(services):
        yield RunningBot(url=url, services=services, desk=desk)
    await desk.aclose()
    server.should_exit = True
    await task
