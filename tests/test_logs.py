"""Logs and terminal output: one line per record, no request bodies, no secrets, no escapes."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from support.harness import RunningBot

from bot.app import build_app
from bot.logs import setup_logging
from bot.services import Services
from bot.store import Store
from bot.textsafe import Scrubber, for_terminal, mask_url

FORGED = "2026-11-27 10:00:00,000 INFO bot.resync: resync of every run approved by U0ADMIN"
MARKER = "BODY-MARKER-4f1c9a"
SECRET = "xoxb-1234-abcdefghijklmnop"

RealLogging = Callable[..., AbstractContextManager[None]]


@pytest.fixture
def real_logging() -> Iterator[RealLogging]:
    """The project's own setup_logging, undone afterwards: `with real_logging("INFO", secrets): ...`.

    Handlers are restored when the block ends, inside the test, because pytest swaps its own
    capture handlers in and out per phase; logger levels are restored at teardown as well."""
    root = logging.getLogger()
    manager = logging.root.manager
    levels = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_level = root.level

    @contextlib.contextmanager
    def installed(level: str = "INFO", secrets: Iterable[str] = ()) -> Iterator[None]:
        handlers = root.handlers[:]
        setup_logging(level, secrets)  # to sys.stderr, as `syncbot` does; capfd reads it
        try:
            yield
        finally:
            root.handlers[:] = handlers

    yield installed
    root.setLevel(root_level)
    for name, lg in manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))


def record_lines(err: str) -> list[str]:
    """Lines of log output that start a record (traceback lines are prefixed, so never do)."""
    return [line for line in err.splitlines() if line[:4].isdigit()]


# ---- the sanitizer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, unchanged", "plain text, unchanged"),
        (f"ok\n{FORGED}", f"ok\\n{FORGED}"),
        ("a\r\nb\rc\nd", "a\\nb\\nc\\nd"),
        ("\x1b[2J\x1b[1;31mred\x1b[0m", "[2J[1;31mred[0m"),
        ("title\x1b]0;pwned\x07bell", "title]0;pwnedbell"),
        ("nul\x00byte", "nulbyte"),
        ("c1\x9b31mcsi\x85nel", "c131mcsinel"),
        ("del\x7f", "del"),
        ("vt\x0bff\x0cfs\x1c", "vtfffs"),
        ("bidi \u202eevil\u202c \u2066iso\u2069 \u200fmark", "bidi evil iso mark"),
        ("line\u2028sep\u2029par", "linesep" + "par"),
        ("tab\there", "tab here"),
        ("Ünïcödé ✓ 日本", "Ünïcödé ✓ 日本"),
    ],
)
def test_for_terminal(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown
    assert len(for_terminal(raw).splitlines()) <= 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("postgresql+asyncpg://syncbot:hunter2@db/syncbot", "postgresql+asyncpg://syncbot:***@db/syncbot"),
        ("failed: redis://:pw-secret@cache:6379/0 gone", "failed: redis://:***@cache:6379/0 gone"),
        ("postgresql+asyncpg://u:p@ss/w@db:5432/x", "postgresql+asyncpg://u:***@db:5432/x"),
        ("postgresql+asyncpg://syncbot:hunter2/db", "postgresql+asyncpg://syncbot:***/db"),
        ("https://core.example.test:8443/api/v1", "https://core.example.test:8443/api/v1"),
        ("postgresql+asyncpg://syncbot@db/syncbot", "postgresql+asyncpg://syncbot@db/syncbot"),
        ("sqlite+aiosqlite:///./syncbot.db", "sqlite+aiosqlite:///./syncbot.db"),
    ],
)
def test_mask_url(raw: str, shown: str) -> None:
    assert mask_url(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"key {SECRET} echoed", "key [redacted] echoed"),
        (f"{SECRET}{SECRET}", "[redacted]"),
        (f"cut: {SECRET[:10]}", "cut: [redacted]"),
        (f"split: {SECRET[:9]} / {SECRET[9:]}", "split: [redacted] / [redacted]"),
        (f"short piece {SECRET[3:10]} kept", f"short piece {SECRET[3:10]} kept"),
    ],
)
def test_scrubber_removes_secrets_and_their_pieces(raw: str, shown: str) -> None:
    assert Scrubber([SECRET])(raw) == shown


# ---- the real logging set-up -----------------------------------------------------------------


def test_a_forged_line_never_starts_a_line_of_its_own(
    real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("bot.poller")
    with real_logging("INFO"):
        log.warning("poll failed: %s", f"HTTP 400: bad filter\n{FORGED}\r\n{FORGED}\x1b[1A\x1b[2K")
        log.info(f"message itself forged\n{FORGED}")
        try:
            raise ValueError(f"remote said\n{FORGED}\x1b[2K")
        except ValueError:
            log.exception("resync failed")
    err = capfd.readouterr().err
    assert "\x1b" not in err
    lines = record_lines(err)
    assert len(lines) == 3
    assert not any(line.startswith(FORGED) for line in err.splitlines())
    assert f"bad filter\\n{FORGED}\\n{FORGED}" in lines[0]
    # The traceback stays readable, one frame a line, each line marked as part of the record.
    traceback = err.split(lines[2], 1)[1].strip("\n").splitlines()
    assert traceback[0] == "  | Traceback (most recent call last):"
    assert all(line.startswith("  | ") for line in traceback)
    assert f"  | {FORGED}[2K" in traceback


def test_secrets_and_url_passwords_never_reach_the_log(
    real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("bot.services")
    with real_logging("INFO", [SECRET, "db-pass-word"]):
        log.warning("whole %s", SECRET)
        log.warning("split by an escape %s\x1b%s and a newline %s\n%s", *(SECRET[:12], SECRET[12:]) * 2)
        log.warning("a cut echo %.12s", SECRET)
        log.warning("db postgresql+asyncpg://syncbot:other-password@db/x and db-pass-word")
        try:
            raise RuntimeError(f"Authorization: {SECRET}")
        except RuntimeError:
            log.exception("call failed")
    err = capfd.readouterr().err
    pieces = {SECRET[start : start + 8] for start in range(len(SECRET) - 7)}
    assert not [piece for piece in pieces if piece in err]
    assert "other-password" not in err
    assert "db-pass-word" not in err
    assert "syncbot:***@db/x" in err
    assert len(record_lines(err)) == 5


def test_library_records_that_carry_a_body_are_rewritten(
    real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    verification = logging.getLogger("slack_bolt.RequestVerification")
    with real_logging("INFO"):
        verification.warning(
            f"Invalid request signature detected (signature: v0=1, timestamp: 1, body: {MARKER})"
        )
        logging.getLogger("slack_bolt.AsyncApp").warning(f"Unhandled request ({{'type': '{MARKER}'}})")
        logging.getLogger("slack_sdk.web.async_base_client").warning(f"Received: status 500, body: {MARKER}")
        verification.info(f"an INFO line from a library is below its floor {MARKER}")
    err = capfd.readouterr().err
    assert MARKER not in err
    assert "Invalid request signature detected [request body not logged]" in err
    assert "Unhandled request [request body not logged]" in err
    assert len(record_lines(err)) == 3


UNSIGNED_BODY = "payload=%7B%22type%22%3A%22block_actions%22%7D&note=" + MARKER + "\n" + FORGED + "\x1b[2K"


def _forged_headers() -> dict[str, str]:
    # A fresh timestamp, so the signature itself is what fails (a stale one is refused earlier).
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }


async def _dispatch_unsigned(app: AsyncApp) -> int:
    """Bolt's own middleware chain, RequestVerification included, with nothing in front of it."""
    headers: dict[str, str | Sequence[str]] = {**_forged_headers()}
    response = await app.async_dispatch(AsyncBoltRequest(body=UNSIGNED_BODY, headers=headers))
    return response.status


class Spy(logging.Handler):
    """Every message that reached a logger, before any handler filter of ours."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_an_unsigned_request_to_the_running_bot_logs_no_body(
    http_bot: RunningBot, real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    with real_logging("DEBUG"):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{http_bot.url}/slack/events", content=UNSIGNED_BODY.encode(), headers=_forged_headers()
            )
    assert response.status_code == 401
    err = capfd.readouterr().err
    assert MARKER not in err
    assert FORGED not in err


async def test_request_verification_never_logs_the_body(
    services: Services, real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    with real_logging("DEBUG"):  # even at DEBUG: the library floor stays WARNING
        assert await _dispatch_unsigned(build_app(services)) == 401
    err = capfd.readouterr().err
    assert MARKER not in err
    assert FORGED not in err


async def test_a_library_logger_with_its_own_level_still_logs_no_body(
    services: Services, real_logging: RealLogging, capfd: pytest.CaptureFixture[str]
) -> None:
    spy = Spy()
    verification = logging.getLogger("slack_bolt.RequestVerification")
    with real_logging("INFO"):
        # Built after set-up, without our base logger: Bolt copies the root's INFO onto its
        # middleware loggers, so RequestVerification really logs the body; the filter must drop it.
        app = AsyncApp(client=services.slack.web, signing_secret="another-secret")
        verification.addHandler(spy)
        try:
            assert await _dispatch_unsigned(app) == 401
        finally:
            verification.removeHandler(spy)
    assert any(MARKER in message for message in spy.messages), "Bolt did log the body"
    err = capfd.readouterr().err
    assert MARKER not in err
    assert FORGED not in err


# ---- syncbot audit -----------------------------------------------------------------------------


async def test_audit_prints_each_row_as_one_sanitized_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    store = await Store.open(url)
    try:
        async with store.unit_of_work() as uow:
            await uow.audit.append(
                user_id="U0ANA\x1b[2J",
                action="resync",
                run_ids=[101],
                result="refused",
                detail=f"Patchworks: \x1b]0;owned\x07flow disabled\r\n{FORGED}\u202e",
            )
            await uow.audit.append(user_id="U0BOB", action="resync", run_ids=[102], result="queued")
    finally:
        await store.close()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "1d"],
        env={"PATH": "", "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "\x1b" not in done.stdout
    assert "\x07" not in done.stdout
    assert "\u202e" not in done.stdout
    assert f"flow disabled\\n{FORGED}" in lines[0]
    assert "U0ANA[2J" in lines[0]
