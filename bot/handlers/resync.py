"""Resync one entry: from a digest, a listing or the Details modal, after a confirm dialog.

Only users allowed to resync get here: bot/handlers/authorize.py checks every acting click first.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.ids import Action
from blocks.messages import resync_anyway_prompt
from blocks.values import EntryRef
from bot.handlers._context import read_value, services_of, tell
from bot.handlers.details import details_view
from bot.resync import ResyncStatus
from bot.services import Services
from bot.slack import SlackError

__all__ = ["register", "resync_anyway", "resync_clicked"]

log = logging.getLogger(__name__)


async def resync_clicked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Resync after the confirm dialog; warns first when a system looks broken."""
    await ack()
    await _resync(services_of(context), body, force=False)


async def resync_anyway(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Resync although a system involved looks broken: the user was told and confirmed."""
    await ack()
    await _resync(services_of(context), body, force=True)


def register(app: AsyncApp) -> None:
    """Wire the Resync and Resync anyway buttons."""
    app.action(Action.RESYNC)(resync_clicked)
    app.action(Action.RESYNC_ANYWAY)(resync_anyway)


async def _resync(services: Services, body: dict[str, Any], *, force: bool) -> None:
    ref = await read_value(services, body, EntryRef)
    if ref is None:
        return
    user = str(body["user"]["id"])
    # The person hears first; the digest rewrites the resync caused are delivered after, as
    # they may wait behind other Slack work (one post a second per channel).
    result = await services.resyncer.resync_one(ref.run, user, force=force, deliver=False)
    try:
        view = body.get("view")
        if isinstance(view, dict) and view.get("id"):
            await _refresh_details(services, str(view["id"]), ref, result.message)
        elif result.status is ResyncStatus.UNHEALTHY and result.entry is not None:
            text, blocks = resync_anyway_prompt(result.entry, list(result.health), ref)
            await tell(services, body, text, blocks)
        else:
            await tell(services, body, result.message, replace=force, escape=False)
    finally:
        await services.effects.deliver()


async def _refresh_details(services: Services, view_id: str, ref: EntryRef, message: str) -> None:
    """After a resync from the Details modal, show its outcome in the modal itself."""
    try:
        await services.slack.update_view(view_id, await details_view(services, ref, notice=message))
    except SlackError as exc:
        log.warning("details modal not refreshed: %s", exc.error)
