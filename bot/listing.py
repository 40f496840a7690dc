"""The failed-syncs listing behind the slash command: parse what was typed, filter, page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from blocks.listing import LISTING_PAGE_SIZE
from blocks.model import DigestItem, Listing
from bot.clock import REPORT_WINDOW, Clock, parse_duration, utcnow
from bot.patchworks.models import SyncEntry
from bot.patchworks.report import SyncReport
from bot.store import Store

__all__ = ["MAX_MINUTES", "ListQuery", "Lister", "UsageError", "parse_command"]

MAX_MINUTES = int(REPORT_WINDOW.total_seconds()) // 60
DEFAULT_MINUTES = 24 * 60
MAX_QUERY = 100
# A listing scans at most this many failed runs, so a wide window cannot stall the reply.
MAX_SCAN = 5000

_OTHER_UNIT = re.compile(r"^\d{1,4}(s|w|mo|y)$", re.IGNORECASE)


class UsageError(ValueError):
    """What the user typed cannot be understood; the message says what is accepted."""


@dataclass(frozen=True)
class ListQuery:
    """A parsed `/failed-syncs` request."""

    text: str
    minutes: int
    help: bool = False


def parse_command(raw: str) -> ListQuery:
    """Parse `[filter] [since]` or `help`."""
    words = raw.split()
    if len(words) == 1 and words[0].lower() in ("help", "-h", "--help", "?"):
        return ListQuery(text="", minutes=DEFAULT_MINUTES, help=True)
    minutes = DEFAULT_MINUTES
    if words and (since := parse_duration(words[-1])) is not None:
        if not since:
            raise UsageError("`since` must be more than zero, like `30m`, `2h` or `3d`.")
        minutes = int(since.total_seconds()) // 60
        if since > REPORT_WINDOW:
            raise UsageError("`since` can go back at most 15 days (`15d`), as far as Patchworks' report.")
        words = words[:-1]
    elif words and _OTHER_UNIT.match(words[-1]):
        raise UsageError("`since` takes minutes, hours or days, like `30m`, `2h` or `3d` (at most `15d`).")
    text = " ".join(words)
    if len(text) > MAX_QUERY:
        raise UsageError(f"The filter is too long (at most {MAX_QUERY} characters).")
    return ListQuery(text=text, minutes=minutes)


def matches(entry: SyncEntry, query: str) -> bool:
    """True when the filter matches the flow name, a system, the run id or the reference."""
    if not query:
        return True
    needle = query.lower().lstrip("#")
    fields = [entry.flow_name, str(entry.run_id), entry.reference or "", *entry.systems]
    return any(needle in field.lower().lstrip("#") for field in fields)


class Lister:
    """Builds listing pages from Patchworks, merged with what syncbot did to each entry."""

    def __init__(self, report: SyncReport, store: Store, *, clock: Clock = utcnow) -> None:
        self._report = report
        self._store = store
        self._clock = clock

    async def page(self, query: str, minutes: int, page: int) -> Listing:
        """One page of failed entries matching `query` in the last `minutes`, newest first."""
        since = self._clock() - timedelta(minutes=minutes)
        found: list[SyncEntry] = []
        scanned = 0
        async for batch in self._report.failed_pages(since):
            scanned += len(batch)
            found.extend(entry for entry in batch if matches(entry, query))
            if scanned >= MAX_SCAN:
                break
        found.sort(key=lambda e: (e.started_at or since, e.run_id), reverse=True)
        pages = max(1, -(-len(found) // LISTING_PAGE_SIZE))
        page = min(max(1, page), pages)
        shown = found[(page - 1) * LISTING_PAGE_SIZE : page * LISTING_PAGE_SIZE]
        async with self._store.unit_of_work() as uow:
            tracked = await uow.entries.for_runs([entry.run_id for entry in shown])
        items = tuple(
            DigestItem(entry=entry, outcome=tracked[entry.run_id].outcome)
            if entry.run_id in tracked
            else DigestItem(entry=entry)
            for entry in shown
        )
        return Listing(items=items, query=query, minutes=minutes, page=page, pages=pages, total=len(found))
