"""Time, written once: the current moment, durations as people type them, the report's window."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.patchworks.models import REPORT_WINDOW

__all__ = ["REPORT_WINDOW", "Clock", "parse_duration", "utcnow"]

Clock = Callable[[], datetime]

_DURATION = re.compile(r"(\d{1,5})([mhd])", re.IGNORECASE | re.ASCII)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def utcnow() -> datetime:
    """The current moment, timezone-aware in UTC (the default of every injected clock)."""
    return datetime.now(UTC)


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `12h` or `7d` (any case, surrounding spaces ignored) as a timedelta; else None."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).lower()]
