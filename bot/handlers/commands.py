"""`/failed-syncs [filter] [since]`: an ephemeral, paged listing with the digest's actions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.ids import Action, Command
from blocks.listing import build_help, build_listing
from blocks.values import ListRef
from bot.handlers._context import read_value, services_of, tell
from bot.listing import UsageError, parse_command
from bot.patchworks.errors import PatchworksError
from bot.services import Services

__all__ = ["failed_syncs", "next_page", "previous_page", "register", "show_all"]

log = logging.getLogger(__name__)


async def failed_syncs(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """List failed syncs, filtered, to the caller only."""
    await ack()
    services = services_of(context)
    try:
        query = parse_command(str(body.get("text") or ""))
    except UsageError as exc:
        await tell(services, body, f"{exc} Try `/failed-syncs help`.")
        return
    if query.help:
        text, blocks = build_help()
        await tell(services, body, text, blocks)
        return
    await _show(services, body, query.text, query.minutes, 1, replace=False)


async def previous_page(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Show the previous page in place."""
    await _turn_page(ack, body, context, replace=True)


async def next_page(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Show the next page in place."""
    await _turn_page(ack, body, context, replace=True)


async def show_all(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """List the failures a digest summarised as "+N more"."""
    await _turn_page(ack, body, context, replace=False)


def register(app: AsyncApp) -> None:
    """Wire the slash command and its paging buttons."""
    app.command(Command.FAILED_SYNCS)(failed_syncs)
    app.action(Action.LIST_PREV)(previous_page)
    app.action(Action.LIST_NEXT)(next_page)
    app.action(Action.SHOW_ALL)(show_all)


async def _turn_page(
    ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, *, replace: bool
) -> None:
    await ack()
    services = services_of(context)
    ref = await read_value(services, body, ListRef)
    if ref is None:
        return
    await _show(services, body, ref.q, ref.minutes, ref.page, replace=replace)


async def _show(
    services: Services, body: dict[str, Any], query: str, minutes: int, page: int, *, replace: bool
) -> None:
    try:
        listing = await services.lister.page(query, minutes, page)
    except PatchworksError as exc:
        await tell(
            services, body, f"Patchworks could not be reached, so nothing can be listed right now: {exc}"
        )
        return
    # From the store (see bot.listing.Lister): with a freshness line, and a notice when part of
    # the window could not be read from Patchworks.
    text, blocks = build_listing(listing)
    await tell(services, body, text, blocks, replace=replace)
