"""Secrets end to end: a database password through `syncbot check`, a Patchworks key echoed back
through the poll into the logs, the outage notice and /healthz."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from support.harness import CHANNEL, FakeSlack

from bot.cli import _secrets
from bot.config import Settings, load_settings
from bot.logs import setup_logging
from bot.patchworks.core_api import CoreApiReport
from bot.scheduler import PollerLease, poll_if_leader
from bot.server import build_http_app
from bot.services import build_services

PASSWORD = "Hunter2-db-pass"
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-abcdef",
    "SYNCBOT_CHANNEL": "C0123ABCD",
    "PATCHWORKS_API_KEY": "pw-key-123456",
}


def pieces(secret: str, size: int = 8) -> set[str]:
    """Every piece of `size` characters of a secret."""
    return {secret[start : start + size] for start in range(len(secret) - size + 1)}


def leaked(secret: str, text: str) -> list[str]:
    """The 8-character pieces of `secret` found in `text`."""
    return sorted(piece for piece in pieces(secret) if piece in text)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://syncbot:{PASSWORD}@db.internal/syncbot",  # the driver missing from the scheme
        f"postgresql+asyncpg://syncbot:{PASSWORD}@db.internal:notaport/syncbot",
    ],
)
def test_check_never_prints_a_malformed_database_urls_password(url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={**GOOD, "PATH": "", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("syncbot: DATABASE_URL: ")
    assert done.stderr.strip().count("\n") == 0
    assert "syncbot:***@db.internal" in done.stderr
    assert leaked(PASSWORD, done.stdout + done.stderr) == []


def test_check_never_prints_the_password_of_a_database_it_cannot_reach(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://syncbot:{PASSWORD}@127.0.0.1:1/syncbot"  # nothing listens on port 1
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={**GOOD, "PATH": "", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "syncbot check failed" in done.stderr
    assert leaked(PASSWORD, done.stdout + done.stderr) == []


# ---- a Patchworks that echoes the key back -------------------------------------------------------


def _echoes(key: str) -> dict[str, str]:
    return {
        "whole": f"Unauthenticated request. Authorization: {key}",
        # Cut to 200 characters before scrubbing, the key would lose its tail and survive.
        "straddling the cut": ("x" * 190 + key + "y" * 230)[:230],
        "a 10-character piece": f"token {key[2:12]}… is not valid",
    }


@contextlib.contextmanager
def _real_logging(settings: Settings) -> Iterator[None]:
    # The set-up `syncbot run` does; pytest's capture handlers come back when the block ends.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("INFO", _secrets(settings))
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("shape", ["whole", "straddling the cut", "a 10-character piece"])
@pytest.mark.parametrize("status", [400, 200])
async def test_an_echoed_key_reaches_no_log_notice_or_healthz(
    settings: Settings, slack: FakeSlack, shape: str, status: int, capfd: pytest.CaptureFixture[str]
) -> None:
    key = "pk_live_7Qx2Rb9LmN4vT8sW1yZ3"
    settings = settings.model_copy(update={"patchworks_api_key": SecretStr(key)})
    echo = _echoes(key)[shape]

    def patchworks(request: httpx.Request) -> httpx.Response:
        # 400: a JSON `message` (PatchworksError); 200: a body that is not JSON (BadResponse).
        return (
            httpx.Response(400, json={"message": echo}) if status == 400 else httpx.Response(200, text=echo)
        )

    report = CoreApiReport(
        settings.patchworks_api_url,
        key,
        app_url=settings.patchworks_app_url,
        transport=httpx.MockTransport(patchworks),
        max_retries=0,
    )
    services = await build_services(settings, report=report, post_interval=0)
    try:
        with _real_logging(settings):
            await poll_if_leader(services, PollerLease(services, 300))
            transport = httpx.ASGITransport(app=build_http_app(None, services))
            async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
                healthz = await client.get("/healthz")
    finally:
        await services.aclose()
    assert healthz.status_code == 503
    assert services.last_poll_error
    notices = [
        json.dumps([message.text, message.blocks])
        for message in slack.workspace.channel(CHANNEL).messages.values()
    ]
    assert any("unreachable" in notice for notice in notices)
    logs = capfd.readouterr().err
    assert "poll failed" in logs
    for where, text in [
        ("error", services.last_poll_error),
        ("healthz", healthz.text),
        ("notice", "\n".join(notices)),
        ("logs", logs),
    ]:
        assert leaked(key, text) == [], where


def test_secrets_gathers_every_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-1")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://syncbot:p%40ss-word-9@db.internal/syncbot")
    found = _secrets(load_settings(_env_file=None))
    assert {"xoxb-1-abcdef", "pw-key-123456", "signing-secret-1", "p%40ss-word-9", "p@ss-word-9"} <= set(
        found
    )
