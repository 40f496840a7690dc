"""`/failed-syncs [filter] [since]`: an ephemeral, paged listing with the digest's actions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from blocks.ids import Action, Command
from blocks.listing import build_empty_listing, build_help, build_listing
from blocks.values import ListRef
from bot.handlers._context import read_value, tell
from bot.listing import UsageError, parse_command
from bot.patchworks.errors import PatchworksError
from bot.services import Services

__all__ = ["register"]

log = logging.getLogger(__name__)


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
    text, blocks = build_listing(listing) if listing.total else build_empty_listing(query, minutes)
    await tell(services, body, text, blocks, replace=replace)


def register(app: AsyncApp, services: Services) -> None:
    """Wire the slash command and its paging buttons."""

    @app.command(Command.FAILED_SYNCS)
    async def failed_syncs(ack: AsyncAck, body: dict[str, Any]) -> None:
        """List failed syncs, filtered, to the caller only."""
        await ack()
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

    async def turn_page(ack: AsyncAck, body: dict[str, Any], *, replace: bool) -> None:
        await ack()
        ref = await read_value(services, body, ListRef)
        if ref is None:
            return
        await _show(services, body, ref.q, ref.minutes, ref.page, replace=replace)

    @app.action(Action.LIST_PREV)
    async def previous_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Show the previous page in place."""
        await turn_page(ack, body, replace=True)

    @app.action(Action.LIST_NEXT)
    async def next_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Show the next page in place."""
        await turn_page(ack, body, replace=True)

    @app.action(Action.SHOW_ALL)
    async def show_all(ack: AsyncAck, body: dict[str, Any]) -> None:
        """List the failures a digest summarised as "+N more"."""
        await turn_page(ack, body, replace=False)
