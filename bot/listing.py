"""The failed-syncs listing behind the slash command: parse what was typed, filter, page."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from blocks.listing import LISTING_PAGE_SIZE
from blocks.model import DigestItem, Listing
from blocks.text import utc_text
from bot.clock import REPORT_WINDOW, Clock, parse_duration, utcnow
from bot.patchworks.errors import PatchworksError
from bot.patchworks.models import SyncEntry
from bot.patchworks.report import SyncReport
from bot.states import Placement
from bot.store import Store

__all__ = ["MAX_MINUTES", "ListQuery", "Lister", "UsageError", "parse_command"]

MAX_MINUTES = int(REPORT_WINDOW.total_seconds()) // 60
DEFAULT_MINUTES = 24 * 60
MAX_QUERY = 100
# A listing scans at most this many failed runs, so a wide window cannot stall the reply.
MAX_SCAN = 5000

log = logging.getLogger(__name__)

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
    """Builds listing pages from the store, which mirrors Patchworks' failed runs.

    The poller stores every failed run it reads and sets `mirror_since` to the start of its first
    window; a listing inside [mirror_since, last poll] costs no Patchworks request. A window
    reaching further back is read from Patchworks once (one backfill in flight per process, shared
    by everyone asking meanwhile), stored as MIRROR entries (never posted), and `mirror_since`
    moves back. Before any poll has read its window, listings are read from Patchworks directly.
    """

    def __init__(self, report: SyncReport, store: Store, *, clock: Clock = utcnow) -> None:
        self._report = report
        self._store = store
        self._clock = clock
        # The backfill in flight: how far back it extends the mirror, and its task.
        self._flight: tuple[datetime, asyncio.Task[None]] | None = None
        self.backfills = 0  # backfills started by this process

    async def page(self, query: str, minutes: int, page: int) -> Listing:
        """One page of failed entries matching `query` in the last `minutes`, newest first.

        Raises PatchworksError only when nothing is mirrored yet and Patchworks cannot be read."""
        now = self._clock()
        since = now - timedelta(minutes=minutes)
        async with self._store.unit_of_work() as uow:
            mirror_since = await uow.meta.mirror_since()
        if mirror_since is None:
            return await self._live_page(query, minutes, page, since, now)
        notice = None
        if since < mirror_since:
            try:
                await self._cover(since)
            except PatchworksError as exc:
                async with self._store.unit_of_work() as uow:
                    reached = await uow.meta.mirror_since() or mirror_since
                notice = (
                    f"Patchworks could not be reached, so failures before {utc_text(reached)} "
                    f"may be missing: {exc}"
                )
        page = max(1, page)
        async with self._store.unit_of_work() as uow:
            as_of = await uow.meta.watermark()
            found = await uow.entries.page(
                query, since, offset=(page - 1) * LISTING_PAGE_SIZE, limit=LISTING_PAGE_SIZE
            )
            pages = max(1, -(-found.total // LISTING_PAGE_SIZE))
            if page > pages:  # the listing shrank since this page was asked for
                page = pages
                found = await uow.entries.page(
                    query, since, offset=(page - 1) * LISTING_PAGE_SIZE, limit=LISTING_PAGE_SIZE
                )
        items = tuple(DigestItem(entry=row.entry, outcome=row.outcome) for row in found.rows)
        return Listing(
            items=items,
            query=query,
            minutes=minutes,
            page=page,
            pages=pages,
            total=found.total,
            as_of=as_of,
            now=now,
            notice=notice,
        )

    async def matching_runs(self, query: str, minutes: int) -> list[int]:
        """Every run a listing of `query` over the last `minutes` shows, on all its pages."""
        since = self._clock() - timedelta(minutes=minutes)
        async with self._store.unit_of_work() as uow:
            return await uow.entries.matching_runs(query, since)

    async def _cover(self, since: datetime) -> None:
        """Return once the mirror reaches back to `since`, backfilling it if needed."""
        # A little further back than asked, so everyone asking in the same minute shares one read.
        target = since.replace(second=0, microsecond=0)
        while True:
            flight = self._flight
            if flight is None or flight[1].done():
                # No await between the check and the new flight: concurrent askers join it.
                flight = (target, asyncio.create_task(self._extend_to(target)))
                self._flight = flight
                self.backfills += 1
            # Shielded: one asker giving up does not cancel the read the others wait for.
            await asyncio.shield(flight[1])
            if flight[0] <= since:
                return
            # That was a narrower backfill someone else started: extend further back.

    async def _extend_to(self, target: datetime) -> None:
        async with self._store.unit_of_work() as uow:
            covered = await uow.meta.mirror_since()
        if covered is None or covered <= target:
            return
        read = 0
        async for batch in self._report.failed_pages(target, until=covered):
            read += len(batch)
            await self._keep(batch)
        async with self._store.unit_of_work() as uow:
            await uow.meta.extend_mirror(target)
        log.info("mirror extended back to %s: %d failed runs read from Patchworks", target, read)

    async def _keep(self, batch: list[SyncEntry]) -> None:
        try:
            async with self._store.unit_of_work() as uow:
                await uow.entries.add(batch, Placement.MIRROR)
        except IntegrityError:
            # Another process stored one of these runs meanwhile: add skips it the second time.
            async with self._store.unit_of_work() as uow:
                await uow.entries.add(batch, Placement.MIRROR)

    async def _live_page(
        self, query: str, minutes: int, page: int, since: datetime, now: datetime
    ) -> Listing:
        """Read the window from Patchworks: before the first poll, the store mirrors nothing yet."""
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
        return Listing(
            items=items,
            query=query,
            minutes=minutes,
            page=page,
            pages=pages,
            total=len(found),
            as_of=now,
            now=now,
        )
