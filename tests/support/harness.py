"""The pieces every test shares: the settings values, the handles on the local servers, the
bot's services as production builds them, and fresh PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bot.config import Settings
from bot.services import Services, build_services
from syncbot_sandbox.desk import Desk
from syncbot_sandbox.simulator import SimulatorConfig, World
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


async def make_services(settings: Settings) -> Services:
    """Services as production builds them, without the 1 s per-channel post spacing."""
    return await build_services(settings, post_interval=0)


@dataclass
class RunningBot:
    """The bot in this event loop (in process, or serving HTTP), and a Slack client pointed at it."""

    url: str | None  # None in process: requests go straight to Bolt
    services: Services
    desk: Desk
