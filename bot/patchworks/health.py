"""Derived connector health: the Core API has no operational status, so classify error lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.patchworks.models import Health, SyncEntry, SystemHealth, systems_in

__all__ = ["classify", "derive_health"]

_AUTH = re.compile(
    r"\b(401|403)\b|unauthori[sz]ed|forbidden|invalid (api )?(token|key|credentials)|"
    r"expired (access )?token|authentication failed|access token|INVALID_LOGIN|"
    # OAuth refresh failures and SOAP session expiry: the stored credentials no longer work.
    r"token (has )?expired|session (has )?expired|re-?authenticate|invalid_(grant|token|client)",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"timed? ?out|timeout|cURL error (6|7|28)|could not resolve|DNS|connection (refused|reset)|"
    r"ECONNREFUSED|\b50[0234]\b|service unavailable|too busy|unreachable|bad gateway",
    re.IGNORECASE,
)


def classify(message: str) -> Health:
    """Which connector state an error line points at."""
    if _AUTH.search(message):
        return Health.AUTH_FAILED
    if _UNREACHABLE.search(message):
        return Health.UNREACHABLE
    return Health.OPERATIONAL


def derive_health(
    entries: Iterable[SyncEntry], *, now: datetime, window: timedelta = timedelta(hours=1)
) -> dict[str, SystemHealth]:
    """Per system, the state its most recent classified failure inside the window points at."""
    latest: dict[str, tuple[datetime, Health, str]] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        when = entry.finished_at or entry.started_at
        if when is None or now - when > window:
            continue
        for line in entry.errors:
            health = classify(line.message)
            systems = systems_in(line.step, line.message) or entry.systems
            for system in systems:
                counts[system] = counts.get(system, 0) + 1
                if health is not Health.OPERATIONAL and (system not in latest or latest[system][0] < when):
                    latest[system] = (when, health, line.message)
    result: dict[str, SystemHealth] = {}
    for system, count in counts.items():
        if system in latest:
            _, health, evidence = latest[system]
            result[system] = SystemHealth(system=system, health=health, evidence=evidence, failures=count)
        else:
            result[system] = SystemHealth(system=system, health=Health.OPERATIONAL, failures=count)
    return result
