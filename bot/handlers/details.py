"""Details: a modal painted at once from the store, then filled from Patchworks only when it must be.

The poll stores every failed run it reads with its error lines (`include=errorWarningLogs`), so
the first paint of a stored run needs no Patchworks request. Patchworks is read for a run the
store does not have (as before), and to fill in the full log when the stored lines may not be
all of them (`stored_lines_complete`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.details import build_details_modal
from blocks.ids import Action
from blocks.messages import mrkdwn_notice_modal, notice_modal
from blocks.model import DetailsModel, FlowSnoozeView, Outcome
from blocks.text import escaped
from blocks.values import EntryRef
from bot.handlers._context import open_then_fill, read_value, services_of
from bot.patchworks.errors import NotFound, PatchworksError
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.patchworks.models import SyncEntry, SystemHealth
from bot.services import Services
from bot.slack import SlackError
from bot.store import UnitOfWork

__all__ = [
    "StoredDetails",
    "details_model",
    "details_view",
    "filled_details",
    "open_details",
    "open_link",
    "register",
    "repainted_details",
    "stored_details",
    "stored_lines_complete",
]

log = logging.getLogger(__name__)

_TITLE = "Failed sync"
# Trigger ids expire 3 s after the click: a store slower than this gets a placeholder opened first.
_STORE_WAIT = 1.5
# The Core API's largest page (docs/core-api-dialect.md). Whether `include=errorWarningLogs` is
# capped is not documented; a server that pages or caps it would cut it at a page, so a stored
# log that long is not taken to be the whole log.
_PAGE_OF_LINES = 100
_STORED = "what syncbot stored when it polled"


def stored_lines_complete(entry: SyncEntry) -> bool:
    """Whether a stored entry's error lines can be taken as all of its log's.

    Not when there are none: the poll's include may be unsupported or empty, and Patchworks' log
    endpoint is then the authority (`CoreApiReport.entry` reads it). Not at a page's worth or
    more: the include may have been cut there.
    """
    return 0 < len(entry.errors) < _PAGE_OF_LINES


def _involved(health: Mapping[str, SystemHealth], entry: SyncEntry) -> tuple[SystemHealth, ...]:
    return tuple(health[system] for system in entry.systems if system in health)


async def details_model(services: Services, ref: EntryRef) -> DetailsModel:
    """Read the entry fresh from Patchworks and merge what syncbot knows about it."""
    with patchworks_lane(Lane.DETAILS):  # a person is waiting for this modal
        entry = await services.report.entry(ref.run)
        try:
            health = await services.resyncer.recent_health()
        except PatchworksError:
            health = {}
    async with services.store.unit_of_work() as uow:
        tracked = await uow.entries.for_run(ref.run)
        attempts = await uow.resyncs.attempts(tracked.run_id if tracked else ref.run)
        flow_snooze = await _flow_snooze(uow, tracked.entry) if tracked else None
    return DetailsModel(
        entry=entry,
        outcome=tracked.outcome if tracked else Outcome(),
        health=_involved(health, entry),
        attempts=tuple(attempts),
        message_id=ref.msg,
        snoozable=tracked is not None,
        flow_snooze=flow_snooze,
    )


async def _flow_snooze(uow: UnitOfWork, entry: SyncEntry) -> FlowSnoozeView | None:
    snooze = await uow.flow_snoozes.get(entry.flow_name)
    return snooze.view() if snooze is not None else None


async def details_view(services: Services, ref: EntryRef, notice: str | None = None) -> dict[str, Any]:
    """The Details modal read fresh from Patchworks, or a modal saying why it cannot be shown."""
    try:
        model = await details_model(services, ref)
    except NotFound:
        gone = f"Run {ref.run} no longer exists in Patchworks (run logs are kept 7 days)."
        return notice_modal(_TITLE, gone)
    except PatchworksError as exc:
        if notice:
            return mrkdwn_notice_modal(_TITLE, notice)
        return notice_modal(_TITLE, f"Patchworks could not be reached: {exc}")
    return build_details_modal(model.model_copy(update={"notice": notice}))


@dataclass(frozen=True)
class StoredDetails:
    """Details of a run as the store has them, and what must still come from Patchworks."""

    model: DetailsModel
    # Every system's derived health; None until a poll has completed (the mirror covers no hour).
    health: Mapping[str, SystemHealth] | None
    lines_complete: bool

    @property
    def complete(self) -> bool:
        """Whether the store had everything, so Patchworks is not asked."""
        return self.lines_complete and self.health is not None

    def first_paint(self) -> dict[str, Any]:
        """The modal as stored, saying what is still being loaded."""
        notice = None
        if not self.lines_complete:
            notice = f"Showing {_STORED}; loading the full error log from Patchworks…"
        elif self.health is None:
            notice = "Loading connector health…"
        return build_details_modal(self.model.model_copy(update={"notice": notice}))


async def stored_details(services: Services, ref: EntryRef) -> StoredDetails | None:
    """Details of a run from the store alone (no Patchworks request); None when it is not stored."""
    async with services.store.unit_of_work() as uow:
        tracked = await uow.entries.for_run(ref.run)
        # After "failed again" the row holds the newer run: an older button's run is not stored.
        if tracked is None or tracked.entry.run_id != ref.run:
            return None
        attempts = await uow.resyncs.attempts(tracked.run_id)
        polled = await uow.meta.mirror_since() is not None
        flow_snooze = await _flow_snooze(uow, tracked.entry)
    health: Mapping[str, SystemHealth] | None = None
    # A completed poll reached back its lookback (1 h at least) and so covers the health window:
    # recent_health then reads the mirror. Before that it would ask Patchworks, so not here.
    if polled:
        try:
            health = await services.resyncer.recent_health()
        except PatchworksError:
            health = None
    model = DetailsModel(
        entry=tracked.entry,
        outcome=tracked.outcome,
        health=_involved(health or {}, tracked.entry),
        attempts=tuple(attempts),
        message_id=ref.msg,
        snoozable=True,
        flow_snooze=flow_snooze,
    )
    return StoredDetails(model=model, health=health, lines_complete=stored_lines_complete(tracked.entry))


async def filled_details(services: Services, ref: EntryRef, stored: StoredDetails) -> dict[str, Any]:
    """The modal with what the store lacked read from Patchworks; when that read fails, the
    stored paint with a notice saying so."""
    model, health, notice = stored.model, stored.health, None
    with patchworks_lane(Lane.DETAILS):  # a person is looking at this modal
        if not stored.lines_complete:
            try:
                model = model.model_copy(update={"entry": await services.report.entry(ref.run)})
            except NotFound:
                notice = (
                    f"Run {ref.run} no longer exists in Patchworks (run logs are kept 7 days): "
                    f"this is {_STORED}."
                )
            except PatchworksError as exc:
                notice = (
                    f"The full error log could not be read from Patchworks ({escaped(str(exc), 300)}): "
                    f"this is {_STORED}."
                )
        if health is None:
            try:
                health = await services.resyncer.recent_health()
            except PatchworksError:
                health = {}
    update = {"health": _involved(health, model.entry), "notice": notice}
    return build_details_modal(model.model_copy(update=update))


async def repainted_details(services: Services, ref: EntryRef, notice: str) -> dict[str, Any]:
    """The Details modal again after a change made from it, `notice` (syncbot's mrkdwn) on top:
    from the store when it holds the whole log, else read from Patchworks as a resync's is."""
    stored = await _read_stored(services, ref)
    if stored is None or not stored.lines_complete:
        return await details_view(services, ref, notice=notice)
    return build_details_modal(stored.model.model_copy(update={"notice": notice}))


async def _filled_or_stored(services: Services, ref: EntryRef, stored: StoredDetails) -> dict[str, Any]:
    try:
        return await filled_details(services, ref, stored)
    except Exception:
        # What the store had is still worth showing: keep it, and give a reference for the logs.
        reference = uuid.uuid4().hex[:8]
        log.exception("Details of run %s could not be filled (ref %s)", ref.run, reference)
        notice = f"Something went wrong on syncbot's side (ref {reference}): this is {_STORED}."
        return build_details_modal(stored.model.model_copy(update={"notice": notice}))


async def _read_stored(services: Services, ref: EntryRef) -> StoredDetails | None:
    try:
        return await stored_details(services, ref)
    except Exception:
        # Patchworks may still answer: behave as for a run the store does not have.
        log.exception("Details of run %s could not be read from the store", ref.run)
        return None


async def open_details(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Open the Details modal for an entry: from the store at once when it has the run."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, EntryRef)
    if ref is None:
        return
    reading = asyncio.ensure_future(_read_stored(services, ref))
    try:
        await asyncio.wait({reading}, timeout=_STORE_WAIT)
    except asyncio.CancelledError:
        reading.cancel()
        raise
    stored = reading.result() if reading.done() else None
    if stored is None:
        # Not stored, or the store is slow: a placeholder now, before the trigger id expires.
        await open_then_fill(services, body, _TITLE, lambda: _when_read(services, ref, reading))
        return
    try:
        shown = await services.slack.open_modal(str(body.get("trigger_id", "")), stored.first_paint())
    except SlackError as exc:
        log.warning("%s modal not opened: %s", _TITLE, exc.error)
        return
    if stored.complete:
        return
    view = await _filled_or_stored(services, ref, stored)
    try:
        # With the hash: a resync from this modal may have replaced it meanwhile, and is newer.
        await services.slack.update_view(shown.id, view, hash=shown.hash)
    except SlackError as exc:
        if exc.error == "hash_conflict":
            log.info("%s modal not filled: it was replaced meanwhile", _TITLE)
        else:
            log.warning("%s modal not filled: %s", _TITLE, exc.error)


async def _when_read(
    services: Services, ref: EntryRef, reading: asyncio.Future[StoredDetails | None]
) -> dict[str, Any]:
    stored = await reading
    if stored is None:
        return await details_view(services, ref)
    return await _filled_or_stored(services, ref, stored)


async def open_link(ack: AsyncAck) -> None:
    """Link buttons still send a payload that must be acknowledged."""
    await ack()


def register(app: AsyncApp) -> None:
    """Wire the Details and Open in Patchworks buttons."""
    app.action(Action.DETAILS)(open_details)
    app.action(Action.OPEN_IN_PATCHWORKS)(open_link)
