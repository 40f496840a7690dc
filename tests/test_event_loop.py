"""`syncbot run` (and every other command) runs on uvloop when it is installed, else on asyncio's loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from support.process import Bot

from bot.cli import event_loop_factory, run_on_event_loop


async def _loop_package() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_commands_run_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")

    assert event_loop_factory() is not None
    assert run_on_event_loop(_loop_package()) == "uvloop"


def test_without_uvloop_commands_run_on_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows, where it cannot be installed

    assert event_loop_factory() is None
    assert run_on_event_loop(_loop_package()) == "asyncio"


@pytest.mark.slow
def test_syncbot_run_says_which_event_loop_it_runs_on(settings_env: dict[str, str], tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    bot = Bot(settings_env, tmp_path / "syncbot.log")
    try:
        bot.wait_ready()
    finally:
        bot.stop()

    started = [line for line in bot.log.read_text().splitlines() if "event loop:" in line]
    assert len(started) == 1
    assert started[0].endswith("event loop: uvloop.Loop")
