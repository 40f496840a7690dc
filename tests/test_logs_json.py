"""LOG_FORMAT=json: one JSON object per line, with the scrubbing and sanitising of text logs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.logs import setup_logging

SECRET = "xoxb-1234-abcdefghijklmnop"
HOOK_SECRET = "hook-secret-0123456789abcdef"
FORGED = '{"time": "2026-11-27T10:00:00.000+00:00", "level": "INFO", "logger": "bot.resync", "message": "ok"}'


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """setup_logging(fmt="json") into a buffer, undone afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    manager = logging.root.manager
    levels = {name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    stream = io.StringIO()
    setup_logging("INFO", [SECRET, HOOK_SECRET], stream=stream, fmt="json")
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, lg in manager.loggerDict.items():
            if isinstance(lg, logging.Logger):
                lg.setLevel(levels.get(name, logging.NOTSET))


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = stream.getvalue().splitlines()
    parsed = [json.loads(line) for line in lines]  # every line is one whole JSON object
    assert all(isinstance(entry, dict) for entry in parsed)
    return parsed


def test_each_record_is_one_json_object_on_one_line(json_logs: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.info("polled %d runs", 3)
    log.warning("run %s failed:\n%s", 7, FORGED)

    first, second = records(json_logs)

    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.test"
    assert first["message"] == "polled 3 runs"
    assert first["time"].endswith("+00:00")
    # A newline inside a message never starts a line that could pass as a record.
    assert second["message"] == f"run 7 failed:\\n{FORGED}"


def test_secrets_and_control_characters_are_removed_as_in_text_logs(json_logs: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    log.info("token %s and hook %s", SECRET, HOOK_SECRET[:12])
    log.info("escape \x1b[31mred\x1b[0m bidi \u202etxet\u202c url postgresql://u:pa55word@db/x")
    try:
        raise RuntimeError(f"Slack said no to {SECRET}\nforged line")
    except RuntimeError:
        log.exception("call failed")

    scrubbed, controls, failed = records(json_logs)

    assert SECRET not in json_logs.getvalue()
    assert HOOK_SECRET[:12] not in json_logs.getvalue()
    assert "[redacted]" in scrubbed["message"]
    assert "\x1b" not in controls["message"]
    assert "\u202e" not in controls["message"]
    assert "pa55word" not in controls["message"]
    assert failed["message"] == "call failed"
    assert "RuntimeError: Slack said no to [redacted]" in failed["exc_info"]
    assert failed["exc_info"].startswith("Traceback (most recent call last):")
    assert len(json_logs.getvalue().splitlines()) == 3


def test_text_stays_the_default() -> None:
    assert load_settings(_env_file=None).log_format == "text"
    assert load_settings(_env_file=None, log_format="JSON").log_format == "json"


def test_an_unknown_log_format_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^LOG_FORMAT: Input should be 'text' or 'json', got 'yaml'$"):
        load_settings(_env_file=None, log_format="yaml")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_"))},
        "LOG_FORMAT": "xml",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "syncbot: LOG_FORMAT: Input should be 'text' or 'json', got 'xml'"
    ]
