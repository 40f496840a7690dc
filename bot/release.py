"""When a snooze ends, post only what is still failed.

A snooze (of a cause or a flow) holds its failures unplaced; they may be fixed meanwhile: resynced
from `/failed-syncs`, retried in Patchworks, or found fixed. Before the poll places what a snooze
released, each held failure is checked: those the store knows were resynced, and those Patchworks
shows retried or no longer failed, are kept as mirror rows (listed by `/failed-syncs`, never
posted); the rest are placed as usual. A held resync still queued is placed and followed as usual.

Patchworks is read once across the held runs' start times (about one read per 100 runs, POLL
lane); a run that read did not show is read on its own, since new failures arriving meanwhile can
shift the report's pages. When Patchworks cannot say, the failure is posted: a fixed failure
shown once more costs a glance, a failure never shown costs an order.
"""

from __future__ import annotations

import logging
from datetime import datetime

from blocks.model import EntryState
from bot.patchworks.errors import NotFound, PatchworksError
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.patchworks.models import SyncEntry
from bot.patchworks.report import SyncReport, pages_around
from bot.store import Store
from bot.store.causes import OPEN_STATES
from bot.store.rows import EntryRow

__all__ = ["recheck_released"]

log = logging.getLogger(__name__)


def _still_failed(entry: SyncEntry) -> bool:
    # A run retried in Patchworks is followed by its retry, which the poll records if it fails.
    return entry.status.failed and entry.retried_as is None


async def _settled_by_report(report: SyncReport, held: dict[int, EntryRow]) -> tuple[set[int], set[int]]:
    """(still failed, fixed) among the held runs, from one read of the failed-run report."""
    failed: set[int] = set()
    fixed: set[int] = set()
    starts = [row.entry.started_at for row in held.values() if row.entry.started_at is not None]
    if not starts:
        return failed, fixed
    async for page in pages_around(report, starts):
        for entry in page:
            row = held.get(entry.run_id)
            if row is not None and row.current_run_id == entry.run_id:
                (failed if _still_failed(entry) else fixed).add(row.run_id)
        if len(failed) + len(fixed) == len(held):
            break
    return failed, fixed


async def _read_one(report: SyncReport, run_id: int) -> bool | None:
    """Whether the run is still failed, read on its own; None when Patchworks cannot say."""
    try:
        return _still_failed(await report.entry(run_id))
    except NotFound:
        return None  # run logs are kept 7 days: gone is not fixed
    except PatchworksError as exc:
        log.warning("re-check of held run %s failed: %s", run_id, exc)
        return None


async def recheck_released(store: Store, report: SyncReport, *, held_before: datetime, now: datetime) -> int:
    """Keep unposted what a snooze held and is fixed now (snoozes compared with `now`, the
    poller's clock); returns how many were fixed."""
    async with store.unit_of_work(now) as uow:
        released = await uow.entries.released(held_before)
    if not released:
        return 0
    # Resynced OK is fixed; a resync still queued is posted and followed like any other.
    fixed = {row.run_id for row in released if row.outcome.state is EntryState.OK}
    to_check = {row.current_run_id: row for row in released if row.outcome.state.value in OPEN_STATES}
    if to_check:
        with patchworks_lane(Lane.POLL):
            try:
                failed, by_report = await _settled_by_report(report, to_check)
            except PatchworksError as exc:
                log.warning("re-check of %d held failures failed (%s): posting them", len(to_check), exc)
                failed, by_report = {row.run_id for row in to_check.values()}, set()
            fixed |= by_report
            seen = failed | by_report
            unseen = {current: row for current, row in to_check.items() if row.run_id not in seen}
            for current, row in unseen.items():
                if await _read_one(report, current) is False:
                    fixed.add(row.run_id)
    if fixed:
        async with store.unit_of_work() as uow:
            await uow.entries.keep_unposted(sorted(fixed))
        log.info(
            "%d of %d failures a snooze held were fixed meanwhile: not posted", len(fixed), len(released)
        )
    return len(fixed)
