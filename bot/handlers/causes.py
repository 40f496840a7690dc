"""A cause's own controls: "I'm on it" / "Hand back", Snooze (1 h, 4 h, until 09:00 tomorrow,
1 week) / "Unsnooze".

Who may use them: anyone on the resync allow-list (the ids are in blocks.ids.ACTING_ACTIONS, so
bot/handlers/authorize.py checks every click before a listener here runs). Each listener acks,
reads its typed value, changes the cause's state in one transaction that also queues a rewrite of
every digest showing the cause, then delivers the outbox.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.ids import Action
from blocks.text import user_mention
from blocks.values import CauseRef, InvalidValue, SnoozeFor, SnoozeRef, decode
from bot.handlers._context import STALE_BUTTON, read_value, selected_value, services_of, tell, user_of
from bot.services import Services
from bot.store import UnitOfWork

__all__ = ["SNOOZE_AT", "hand_back", "register", "snooze", "snooze_until", "take", "unsnooze"]

log = logging.getLogger(__name__)

# "Until tomorrow" means this time of day, in SYNCBOT_TIMEZONE.
SNOOZE_AT = time(9, 0)
_SPANS = {
    SnoozeFor.HOUR: timedelta(hours=1),
    SnoozeFor.FOUR_HOURS: timedelta(hours=4),
    SnoozeFor.WEEK: timedelta(days=7),
}


def snooze_until(span: SnoozeFor, now: datetime, zone: ZoneInfo) -> datetime:
    """When a snooze chosen at `now` ends, in UTC; "tomorrow" is 09:00 the next day in `zone`."""
    if span is SnoozeFor.TOMORROW:
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(tomorrow, SNOOZE_AT, tzinfo=zone).astimezone(UTC)
    return (now + _SPANS[span]).astimezone(UTC)


async def _refresh(uow: UnitOfWork, cause_id: str) -> None:
    """Rewrite every digest showing the cause once the transaction has committed."""
    for message_id in await uow.causes.messages_showing([cause_id]):
        await uow.effects.refresh_later(message_id)


async def _known(services: Services, body: dict[str, Any], msg: int, cause: str) -> bool:
    """Whether the button's cause is in its message; a forged or outdated one is explained.

    Read on its own, before the change's transaction: the explanation is a Slack call, which
    must not wait inside a transaction holding the database's write lock.
    """
    async with services.store.unit_of_work() as uow:
        known = await uow.causes.in_message(msg, cause)
    if not known:
        await tell(services, body, STALE_BUTTON)
    return known


async def take(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """ "I'm on it": the first to click owns the cause; anyone later is told who has it."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, CauseRef)
    if ref is None:
        return
    user = user_of(body)
    if not await _known(services, body, ref.msg, ref.cause):
        return
    async with services.store.unit_of_work() as uow:
        taken, owner = await uow.cause_states.take(ref.cause, user)
        if taken:
            await uow.audit.append(
                user_id=user, action="cause_take", run_ids=[], result="ok", detail=ref.cause
            )
            await _refresh(uow, ref.cause)
    await services.effects.deliver()
    if not taken and owner is not None and owner != user:
        await tell(services, body, f"{user_mention(owner)} is already on it.", escape=False)


async def hand_back(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Leave the cause without an owner (its owner, or anyone allowed to act on causes)."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, CauseRef)
    if ref is None:
        return
    user = user_of(body)
    if not await _known(services, body, ref.msg, ref.cause):
        return
    async with services.store.unit_of_work() as uow:
        previous = await uow.cause_states.hand_back(ref.cause)
        if previous is not None:
            await uow.audit.append(
                user_id=user, action="cause_hand_back", run_ids=[], result="ok", detail=ref.cause
            )
            await _refresh(uow, ref.cause)
    await services.effects.deliver()


async def snooze(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Snooze the cause: its new failures are recorded but not posted until the snooze ends."""
    await ack()
    services = services_of(context)
    try:
        ref = decode(SnoozeRef, selected_value(body))
    except InvalidValue:
        await tell(services, body, STALE_BUTTON)
        return
    user = user_of(body)
    if not await _known(services, body, ref.msg, ref.cause):
        return
    async with services.store.unit_of_work() as uow:
        until = snooze_until(ref.span, uow.now, ZoneInfo(services.settings.syncbot_timezone))
        await uow.cause_states.snooze(ref.cause, user, until)
        await uow.audit.append(
            user_id=user,
            action="cause_snooze",
            run_ids=[],
            result="ok",
            detail=f"{ref.cause} until {until:%Y-%m-%dT%H:%MZ}",
        )
        await _refresh(uow, ref.cause)
    await services.effects.deliver()


async def unsnooze(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """End the snooze now: the next poll posts the failures it held."""
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, CauseRef)
    if ref is None:
        return
    user = user_of(body)
    if not await _known(services, body, ref.msg, ref.cause):
        return
    async with services.store.unit_of_work() as uow:
        if await uow.cause_states.unsnooze(ref.cause):
            await uow.audit.append(
                user_id=user, action="cause_unsnooze", run_ids=[], result="ok", detail=ref.cause
            )
            await _refresh(uow, ref.cause)
    await services.effects.deliver()


def register(app: AsyncApp) -> None:
    """Wire "I'm on it", "Hand back", the Snooze menu and "Unsnooze"."""
    app.action(Action.CAUSE_TAKE)(take)
    app.action(Action.CAUSE_HAND_BACK)(hand_back)
    app.action(Action.CAUSE_SNOOZE)(snooze)
    app.action(Action.CAUSE_UNSNOOZE)(unsnooze)
