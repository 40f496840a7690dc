"""Durations as people type them, read the same way by `/failed-syncs` and `syncbot audit`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import REPORT_WINDOW, parse_duration
from bot.listing import UsageError, parse_command


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        (" 7D ", timedelta(days=7)),
        ("0m", timedelta(0)),
        ("99999m", timedelta(minutes=99999)),
    ],
)
def test_a_duration_is_minutes_hours_or_days(typed: str, expected: timedelta) -> None:
    assert parse_duration(typed) == expected


@pytest.mark.parametrize("typed", ["", "7", "d", "7w", "1.5h", "-3d", "100000m", "7 d", "3d2h", "٣d"])
def test_anything_else_is_not_a_duration(typed: str) -> None:
    assert parse_duration(typed) is None


def test_the_slash_command_and_the_report_share_the_window() -> None:
    assert parse_command("orders 15d").minutes * 60 == REPORT_WINDOW.total_seconds()
    with pytest.raises(UsageError, match="15 days"):
        parse_command("orders 16d")
    with pytest.raises(UsageError, match="more than zero"):
        parse_command("orders 0h")
