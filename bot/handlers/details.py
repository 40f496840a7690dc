"""Details: open a modal at once, then fill it with the run's error lines, health and history."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.details import build_details_modal
from blocks.ids import Action
from blocks.messages import mrkdwn_notice_modal, notice_modal
from blocks.model import DetailsModel, Outcome
from blocks.values import EntryRef
from bot.handlers._context import open_then_fill, read_value, services_of
from bot.patchworks.errors import NotFound, PatchworksError
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.services import Services

__all__ = ["details_model", "details_view", "open_details", "open_link", "register"]

log = logging.getLogger(__name__)


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
    involved = tuple(health[system] for system in entry.systems if system in health)
    return DetailsModel(
        entry=entry,
        outcome=tracked.outcome if tracked else Outcome(),
        health=involved,
        attempts=tuple(attempts),
        message_id=ref.msg,
    )


async def details_view(services: Services, ref: EntryRef, notice: str | None = None) -> dict[str, Any]:
    """The Details modal, or a modal saying why it cannot be shown."""
    try:
        model = await details_model(services, ref)
    except NotFound:
        return notice_modal(
            "Failed sync", f"Run {ref.run} no longer exists in Patchworks (run logs are kept 7 days)."
        )
    except PatchworksError as exc:
        if notice:
            return mrkdwn_notice_modal("Failed sync", notice)
        return notice_modal("Failed sync", f"Patchworks could not be reached: {exc}")
    return build_details_modal(model.model_copy(update={"notice": notice}))


async def open_details(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Open the Details modal for an entry."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, EntryRef)
    if ref is None:
        return
    await open_then_fill(services, body, "Failed sync", lambda: details_view(services, ref))


async def open_link(ack: AsyncAck) -> None:
    """Link buttons still send a payload that must be acknowledged."""
    await ack()


def register(app: AsyncApp) -> None:
    """Wire the Details and Open in Patchworks buttons."""
    app.action(Action.DETAILS)(open_details)
    app.action(Action.OPEN_IN_PATCHWORKS)(open_link)
