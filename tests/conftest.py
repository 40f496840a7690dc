"""Shared fixtures: the Patchworks simulator and the local Slack Web API on real sockets, the
bot's services on a fresh SQLite file, and the bot itself serving HTTP on a free port."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.app import build_app
from bot.config import Settings, load_settings
from bot.server import build_http_app
from bot.services import Services, build_services
from syncbot_sandbox.demo import DemoOptions, DemoStack
from syncbot_sandbox.desk import Desk
from syncbot_sandbox.serve import BackgroundServer
from syncbot_sandbox.simulator import SimulatorConfig, World, create_app
from syncbot_sandbox.slack_api import create_slack_api
from syncbot_sandbox.store import Workspace

CHANNEL = "C0SYNCBOT"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
SIM_KEY = "sim-test-key"


@dataclass
class Sim:
    """A running simulator."""

    url: str
    world: World
    config: SimulatorConfig


@dataclass
class FakeSlack:
    """A running local Slack Web API."""

    url: str
    api_url: str
    workspace: Workspace


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Settings from the developer's shell or a .env must never leak into a test.
    for name in list(os.environ):
        if name.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_")) or name in ("DATABASE_URL", "PORT"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


PG_ADMIN_URL = os.environ.get("SYNCBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, dropped afterwards (the test is skipped locally without one)."""
    import asyncpg

    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"syncbot_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


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


async def make_services(settings: Settings) -> Services:
    """Services as production builds them, without the 1 s per-channel post spacing."""
    return await build_services(settings, post_interval=0)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The bot's services on a fresh database."""
    built = await make_services(settings)
    yield built
    await built.aclose()


@dataclass
class RunningBot:
    """The bot serving HTTP in this event loop, and a Slack client session pointed at it."""

    url: str
    services: Services
    desk: Desk


@pytest.fixture
async def bot(services: Services, slack: FakeSlack) -> AsyncIterator[RunningBot]:
    """The real HTTP app (signature checks on) on a free port, in the test's event loop."""
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
    yield RunningBot(url=url, services=services, desk=desk)
    await desk.aclose()
    server.should_exit = True
    await task


def digest_messages(workspace: Workspace, channel: str = CHANNEL) -> list[Any]:
    """Top-level digest messages in the channel, oldest first."""
    return [
        message
        for message in workspace.channel(channel).messages.values()
        if message.thread_ts is None and (message.metadata or {}).get("event_type") == "syncbot_digest"
    ]


def entry_text(slack: FakeSlack, run_id: int) -> str:
    """The visible text of one entry in whichever digest holds it."""
    for message in digest_messages(slack.workspace):
        for block in message.blocks:
            text = (block.get("text") or {}).get("text", "")
            if f"run {run_id}" in text:
                return str(text)
    raise AssertionError(f"run {run_id} is in no digest")


def digest_ts(slack: FakeSlack) -> str:
    """The newest digest message's ts."""
    return str(digest_messages(slack.workspace)[-1].ts)


def shown_runs(slack: FakeSlack) -> list[int]:
    """Run ids that appear as entries (with a Details button) in the channel's digests."""
    runs: list[int] = []
    for message in digest_messages(slack.workspace):
        for block in message.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == "entry_details":
                    runs.append(int(re.search(r'"run":(\d+)', element["value"]).group(1)))
    return runs


def forged_click(slack: FakeSlack, user: str, ts: str, action_id: str, value: str) -> dict[str, Any]:
    """A click on `action_id` with `value`, as Slack would deliver it, whatever the message shows:
    a stale button, a tampered value or a control the user was never offered."""
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0SYNCBOT"},
        "api_app_id": "A0SYNCBOT",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL},
        "trigger_id": slack.workspace.issue_trigger_id(user),
        "response_url": slack.workspace.issue_response_url(CHANNEL, user, ts, base_url=slack.url),
        "state": {"values": {"b": {"bulk_select": {"type": "multi_static_select", "selected_options": []}}}},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }


class DemoThread:
    """The demo stack in a background thread with its own event loop, as `syncbot-sandbox demo` runs it."""

    def __init__(self, data_dir: Path, options: DemoOptions) -> None:
        self._data_dir = data_dir
        self._options = options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.stack: DemoStack | None = None
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            try:
                self.stack = await DemoStack.start(0, self._data_dir, self._options)
            finally:
                self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await self.stack.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self) -> DemoStack:
        """Start and return the running stack (or raise what stopped it)."""
        self._thread.start()
        self._ready.wait(30)
        if self.stack is None:
            raise RuntimeError("the demo did not start") from self._error
        return self.stack

    def stop(self) -> None:
        """Stop the stack and wait for the thread; raise what went wrong in it."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the demo did not stop"
        if self._error is not None:
            raise self._error
