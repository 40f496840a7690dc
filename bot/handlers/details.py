"""Details: open a modal at once, then fill it with the run's error lines, health and history."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from blocks.details import build_details_modal
from blocks.ids import Action
from blocks.messages import loading_modal, notice_modal
from blocks.model import DetailsModel, Outcome
from blocks.values import EntryRef
from bot.handlers._context import read_value
from bot.patchworks.errors import NotFound, PatchworksError
from bot.services import Services
from bot.slack import SlackError

__all__ = ["register"]

log = logging.getLogger(__name__)


async def details_model(services: Services, ref: EntryRef) -> DetailsModel:
    """Read the entry fresh from Patchworks and merge what syncbot knows about it."""
    entry = await services.report.entry(ref.run)
    try:
        health = await services.resyncer.recent_health()
    except PatchworksError:
        health = {}
    tracked = await services.store.entry_for_run(ref.run)
    attempts = await services.store.attempts(tracked.run_id if tracked else ref.run)
    involved = tuple(health[system] for system in entry.systems if system in health)
    return DetailsModel(
        entry=entry,
        outcome=tracked.outcome if tracked else Outcome(),
        health=involved,
        attempts=tuple(attempts),
        message_id=ref.msg,
    )


def register(app: AsyncApp, services: Services) -> None:
    """Wire the Details button."""

    @app.action(Action.DETAILS)
    async def open_details(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Open the Details modal for an entry."""
        await ack()
        ref = await read_value(services, body, EntryRef)
        if ref is None:
            return
        try:
            # The trigger expires 3 s after the click: open a placeholder before reading Patchworks.
            view_id = await services.slack.open_view(
                str(body.get("trigger_id", "")), loading_modal("Failed sync")
            )
        except SlackError as exc:
            log.warning("details modal not opened: %s", exc.error)
            return
        try:
            view = build_details_modal(await details_model(services, ref))
        except NotFound:
            view = notice_modal(
                "Failed sync", f"Run {ref.run} no longer exists in Patchworks (run logs are kept 7 days)."
            )
        except PatchworksError as exc:
            view = notice_modal("Failed sync", f"Patchworks could not be reached: {exc}")
        try:
            await services.slack.update_view(view_id, view)
        except SlackError as exc:
            log.warning("details modal not filled: %s", exc.error)

    @app.action(Action.OPEN_IN_PATCHWORKS)
    async def open_link(ack: AsyncAck) -> None:
        """Link buttons still send a payload that must be acknowledged."""
        await ack()
