"""Bulk resync: pick entries (or all), confirm in a modal that names them, then resync each.

Only users allowed to resync get past the buttons and the submission: bot/handlers/authorize.py
checks every acting click and submission first.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.bulk import build_bulk_confirm_modal, build_bulk_summary, selected_runs
from blocks.ids import Action, ViewId
from blocks.messages import notice_modal
from blocks.values import BulkRef, InvalidValue, decode
from bot.handlers._context import (
    STALE_BUTTON,
    channel_of,
    open_then_fill,
    read_value,
    services_of,
    tell,
    user_of,
)
from bot.services import Services
from bot.slack import SlackError

__all__ = ["confirmed", "register", "resync_all", "resync_selected", "selection_changed"]

log = logging.getLogger(__name__)


async def selection_changed(ack: AsyncAck) -> None:
    """The selection is read from the state when a bulk button is clicked."""
    await ack()


async def resync_selected(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Confirm a resync of the selected entries."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, BulkRef)
    if ref is None:
        return
    state = body.get("state")
    try:
        runs = selected_runs(state.get("values") if isinstance(state, dict) else None)
    except InvalidValue:
        await tell(services, body, STALE_BUTTON)
        return
    await _confirm(services, body, list(runs), ref)


async def resync_all(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Confirm a resync of every resyncable entry of a digest message or listing page."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, BulkRef)
    if ref is None:
        return
    runs = list(ref.runs)
    if ref.msg is not None:
        async with services.store.unit_of_work() as uow:
            digest = await uow.messages.digest(ref.msg)
        runs = [item.entry.run_id for item in digest.items] if digest else []
    await _confirm(services, body, runs, ref)


async def confirmed(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Resync what the confirmation named, write outcomes back and summarise them."""
    try:
        ref = decode(BulkRef, view.get("private_metadata"))
    except InvalidValue:
        await ack(response_action="update", view=notice_modal("Resync entries", "This confirmation expired."))
        return
    await ack()
    services = services_of(context)
    user = user_of(body)
    # With a digest, the summary goes into its thread through the outbox; a listing has no
    # thread, so its summary is shown to the user who ran it.
    outcome = await services.resyncer.resync_many(list(ref.runs), user, message_id=ref.msg)
    if ref.msg is None and ref.ch:
        text, blocks = build_bulk_summary(outcome.queued, outcome.skipped, outcome.failed, user)
        try:
            await services.slack.post_ephemeral(ref.ch, user, text, blocks)
        except SlackError as exc:
            log.warning("bulk summary not shown to %s: %s", user, exc.error)


def register(app: AsyncApp) -> None:
    """Wire the multi-select, the two bulk buttons and the confirmation modal."""
    app.action(Action.BULK_SELECT)(selection_changed)
    app.action(Action.BULK_RESYNC_SELECTED)(resync_selected)
    app.action(Action.BULK_RESYNC_ALL)(resync_all)
    app.view(ViewId.BULK_CONFIRM)(confirmed)


async def _confirm(services: Services, body: dict[str, Any], runs: list[int], ref: BulkRef) -> None:
    if not runs:
        await tell(
            services, body, "Select one or more entries in the menu first, then click Resync selected."
        )
        return

    async def confirmation() -> dict[str, Any]:
        plan = await services.resyncer.plan_bulk(runs, ref.msg, channel_of(body))
        return build_bulk_confirm_modal(plan)

    await open_then_fill(services, body, "Resync entries", confirmation)
