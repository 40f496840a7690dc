"""Bulk resync: pick entries (or all), confirm in a modal that names them, then a job runs them.

Only users allowed to resync get past the buttons and the submission: bot/handlers/authorize.py
checks every acting click and submission first.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.bulk import build_bulk_confirm_modal, selected_runs
from blocks.ids import Action, ViewId
from blocks.limits import MAX_OPTIONS
from blocks.messages import notice_modal
from blocks.values import BulkRef, CauseRef, InvalidValue, JobRef, decode
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

__all__ = [
    "cancel",
    "confirmed",
    "register",
    "resync_all",
    "resync_cause",
    "resync_selected",
    "selection_changed",
]

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
    if ref.q is not None and ref.minutes is not None:
        runs = await services.lister.matching_runs(ref.q, ref.minutes)
    elif ref.msg is not None:
        # A digest from before causes: "all" is every run it holds that is still failed.
        async with services.store.unit_of_work() as uow:
            digest = await uow.messages.digest(ref.msg, items=MAX_OPTIONS)
        runs = [item.entry.run_id for item in digest.items] if digest else []
    await _confirm(services, body, runs, ref)


async def resync_cause(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Confirm a resync of every open run of a cause in a digest, shown or not."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, CauseRef)
    if ref is None:
        return
    async with services.store.unit_of_work() as uow:
        runs = await uow.causes.open_runs(ref.msg, ref.cause)
    if not runs:
        await tell(services, body, "Every run of this cause has been resynced already.")
        return
    user = user_of(body)

    async def confirmation() -> dict[str, Any]:
        plan = await services.jobs.propose(
            runs, user, message_id=ref.msg, channel=channel_of(body), cause_id=ref.cause
        )
        return build_bulk_confirm_modal(plan)

    await open_then_fill(services, body, "Resync entries", confirmation)


async def confirmed(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Start the job the confirmation proposed; the worker runs it and reports in the message."""
    try:
        ref = decode(JobRef, view.get("private_metadata"))
    except InvalidValue:
        await ack(response_action="update", view=notice_modal("Resync entries", "This confirmation expired."))
        return
    await ack()
    services = services_of(context)
    user = user_of(body)
    job = await services.jobs.start(ref.job, user)
    if job is None or job.message_id is not None or not job.channel:
        return  # a repeated submission, or a digest: its message shows the progress
    # A listing has no message to write progress into: the user hears from it here.
    text = f"⏳ Resyncing {job.total} {'entry' if job.total == 1 else 'entries'}; a summary follows here."
    try:
        await services.slack.post_ephemeral(job.channel, user, text)
    except SlackError as exc:
        log.warning("bulk start not shown to %s: %s", user, exc.error)


async def cancel(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Stop a running bulk resync; what was not retried yet stays as it is."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, JobRef)
    if ref is None:
        return
    if not await services.jobs.cancel(ref.job, user_of(body)):
        await tell(services, body, "This bulk resync has already finished.")


def register(app: AsyncApp) -> None:
    """Wire the multi-select, the two bulk buttons and the confirmation modal."""
    app.action(Action.BULK_SELECT)(selection_changed)
    app.action(Action.BULK_RESYNC_SELECTED)(resync_selected)
    app.action(Action.BULK_RESYNC_ALL)(resync_all)
    app.action(Action.BULK_CANCEL)(cancel)
    app.action(Action.CAUSE_RESYNC_ALL)(resync_cause)
    app.view(ViewId.BULK_CONFIRM)(confirmed)


async def _confirm(services: Services, body: dict[str, Any], runs: list[int], ref: BulkRef) -> None:
    if not runs:
        await tell(
            services, body, "Select one or more entries in the menu first, then click Resync selected."
        )
        return

    async def confirmation() -> dict[str, Any]:
        plan = await services.jobs.propose(runs, user_of(body), message_id=ref.msg, channel=channel_of(body))
        return build_bulk_confirm_modal(plan)

    await open_then_fill(services, body, "Resync entries", confirmation)
