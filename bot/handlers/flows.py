"""A flow's snooze, from the Details modal: "Snooze this flow" (1 h, 4 h, until 09:00 tomorrow,
1 week) and "Unsnooze flow".

A snoozed flow's new failures, whatever their cause, are recorded and counted but not posted
until the snooze ends (bot.store.flow_snoozes). Who may use these: anyone on the resync
allow-list (both ids are in blocks.ids.ACTING_ACTIONS). Each listener acks, reads its typed
value, finds the run's flow in the store (a value never names a flow itself), changes the snooze
in one transaction that also queues a rewrite of every digest showing the flow, delivers the
outbox and repaints the modal with what happened.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.ids import Action
from blocks.messages import notice_modal
from blocks.text import slack_date
from blocks.values import EntryRef, FlowSnoozeRef, InvalidValue, decode
from bot.handlers._context import STALE_BUTTON, selected_value, services_of, user_of, value_of
from bot.handlers.causes import snooze_until
from bot.handlers.details import repainted_details
from bot.services import Services
from bot.slack import SlackError
from bot.store import UnitOfWork

__all__ = ["register", "snooze_flow", "unsnooze_flow"]

log = logging.getLogger(__name__)

V = TypeVar("V", EntryRef, FlowSnoozeRef)

_TITLE = "Failed sync"
_NOT_STORED = "syncbot no longer holds this run, so it cannot tell which flow to snooze. Nothing was changed."


def _modal_of(body: dict[str, Any]) -> tuple[str, EntryRef | None] | None:
    """The open Details modal: its view id and the entry it shows (from its private_metadata)."""
    view = body.get("view")
    if not isinstance(view, dict) or not view.get("id"):
        return None
    try:
        ref: EntryRef | None = decode(EntryRef, view.get("private_metadata"))
    except InvalidValue:
        ref = None
    return str(view["id"]), ref


async def _repaint(services: Services, body: dict[str, Any], notice: str) -> None:
    """Show `notice` (syncbot's mrkdwn) in the modal the click came from, over its fresh content."""
    modal = _modal_of(body)
    if modal is None:
        return
    view_id, ref = modal
    try:
        view = await repainted_details(services, ref, notice) if ref else notice_modal(_TITLE, notice)
        await services.slack.update_view(view_id, view)
    except SlackError as exc:
        log.warning("details modal not repainted: %s", exc.error)


async def _read(services: Services, body: dict[str, Any], kind: type[V], raw: object) -> V | None:
    """The control's typed value; a forged or outdated one is explained in the modal."""
    try:
        return decode(kind, raw)
    except InvalidValue:
        await _repaint(services, body, STALE_BUTTON)
        return None


async def _changed(uow: UnitOfWork, user: str, run: int, action: str, flow: str, detail: str) -> None:
    """Audit the change, and rewrite every digest showing the flow once the transaction commits."""
    await uow.audit.append(user_id=user, action=action, run_ids=[run], result="ok", detail=detail)
    for message_id in await uow.flow_snoozes.messages_showing([flow]):
        await uow.effects.refresh_later(message_id)


async def snooze_flow(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Snooze the run's flow: its new failures are recorded but not posted until the snooze ends."""
    await ack()
    services = services_of(context)
    ref = await _read(services, body, FlowSnoozeRef, selected_value(body))
    if ref is None:
        return
    user = user_of(body)
    async with services.store.unit_of_work() as uow:
        tracked = await uow.entries.for_run(ref.run)
        if tracked is not None:
            flow = tracked.entry.flow_name
            until = snooze_until(ref.span, uow.now, ZoneInfo(services.settings.syncbot_timezone))
            await uow.flow_snoozes.snooze(flow, user, until)
            await _changed(
                uow, user, ref.run, "flow_snooze", flow, f"{flow[:200]} until {until:%Y-%m-%dT%H:%MZ}"
            )
    if tracked is None:
        await _repaint(services, body, _NOT_STORED)
        return
    await services.effects.deliver()
    await _repaint(
        services,
        body,
        f"💤 You snoozed this flow until {slack_date(until)}. Its new failures are recorded and "
        "counted, and posted when the snooze ends.",
    )


async def unsnooze_flow(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """End the flow's snooze now: the next poll posts the failures it held."""
    await ack()
    services = services_of(context)
    ref = await _read(services, body, EntryRef, value_of(body))
    if ref is None:
        return
    user = user_of(body)
    async with services.store.unit_of_work() as uow:
        tracked = await uow.entries.for_run(ref.run)
        ended = False
        if tracked is not None:
            flow = tracked.entry.flow_name
            ended = await uow.flow_snoozes.unsnooze(flow)
            if ended:
                await _changed(uow, user, ref.run, "flow_unsnooze", flow, flow[:200])
    await services.effects.deliver()
    if tracked is None:
        notice = _NOT_STORED
    elif ended:
        notice = "The flow's snooze has ended: the failures it held are posted at the next poll."
    else:
        notice = "This flow was not snoozed any more. Nothing was changed."
    await _repaint(services, body, notice)


def register(app: AsyncApp) -> None:
    """Wire Details' "Snooze this flow" menu and "Unsnooze flow"."""
    app.action(Action.FLOW_SNOOZE)(snooze_flow)
    app.action(Action.FLOW_UNSNOOZE)(unsnooze_flow)
