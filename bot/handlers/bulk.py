"""Bulk resync: pick entries (or all), confirm in a modal that names them, then resync each."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from blocks.bulk import build_bulk_confirm_modal, build_bulk_summary, selected_runs
from blocks.ids import Action, ViewId
from blocks.messages import notice_modal
from blocks.values import BulkRef, InvalidValue, decode
from bot.handlers._context import (
    STALE_BUTTON,
    allowed_to_resync,
    channel_of,
    open_then_fill,
    read_value,
    tell,
    user_of,
)
from bot.services import Services
from bot.slack import SlackError

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    """Wire the multi-select, the two bulk buttons and the confirmation modal."""

    @app.action(Action.BULK_SELECT)
    async def selection_changed(ack: AsyncAck) -> None:
        """The selection is read from the state when a bulk button is clicked."""
        await ack()

    async def confirm(body: dict[str, Any], runs: list[int], ref: BulkRef) -> None:
        if not await allowed_to_resync(services, body, runs, "bulk_resync"):
            return
        if not runs:
            await tell(
                services, body, "Select one or more entries in the menu first, then click Resync selected."
            )
            return

        async def confirmation() -> dict[str, Any]:
            plan = await services.resyncer.plan_bulk(runs, ref.msg, channel_of(body))
            return build_bulk_confirm_modal(plan)

        await open_then_fill(services, body, "Resync entries", confirmation)

    @app.action(Action.BULK_RESYNC_SELECTED)
    async def resync_selected(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Confirm a resync of the selected entries."""
        await ack()
        ref = await read_value(services, body, BulkRef)
        if ref is None:
            return
        state = body.get("state")
        try:
            runs = selected_runs(state.get("values") if isinstance(state, dict) else None)
        except InvalidValue:
            await tell(services, body, STALE_BUTTON)
            return
        await confirm(body, list(runs), ref)

    @app.action(Action.BULK_RESYNC_ALL)
    async def resync_all(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Confirm a resync of every resyncable entry of a digest message or listing page."""
        await ack()
        ref = await read_value(services, body, BulkRef)
        if ref is None:
            return
        runs = list(ref.runs)
        if ref.msg is not None:
            async with services.store.unit_of_work() as uow:
                digest = await uow.messages.digest(ref.msg)
            runs = [item.entry.run_id for item in digest.items] if digest else []
        await confirm(body, runs, ref)

    @app.view(ViewId.BULK_CONFIRM)
    async def confirmed(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Resync what the confirmation named, write outcomes back and summarise them."""
        user = user_of(body)
        try:
            ref = decode(BulkRef, view.get("private_metadata"))
        except InvalidValue:
            await ack(
                response_action="update", view=notice_modal("Resync entries", "This confirmation expired.")
            )
            return
        decision = await services.authz.decide(user)
        if not decision.allowed:
            async with services.store.unit_of_work() as uow:
                await uow.audit.append(
                    user_id=user or "unknown",
                    action="bulk_resync",
                    run_ids=ref.runs,
                    result=decision.verdict.value,
                    detail=decision.reason or None,
                )
            # The modal itself answers: "not allowed", or "could not check, try again".
            await ack(response_action="update", view=notice_modal("Resync entries", decision.explanation))
            return
        await ack()
        # With a digest, the summary goes into its thread through the outbox; a listing has no
        # thread, so its summary is shown to the user who ran it.
        outcome = await services.resyncer.resync_many(list(ref.runs), user, message_id=ref.msg)
        if ref.msg is None and ref.ch:
            text, blocks = build_bulk_summary(outcome.queued, outcome.skipped, outcome.failed, user)
            try:
                await services.slack.post_ephemeral(ref.ch, user, text, blocks)
            except SlackError as exc:
                log.warning("bulk summary not shown to %s: %s", user, exc.error)
