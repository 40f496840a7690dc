"""App Home: published when a user opens it; its buttons (a digest link, "List failed syncs")."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from blocks.ids import Action
from blocks.listing import build_listing
from bot.handlers._context import services_of, tell, user_of
from bot.home import publish_home
from bot.listing import parse_command
from bot.patchworks.errors import PatchworksError

__all__ = ["home_opened", "list_failed_syncs", "open_digest", "register"]

log = logging.getLogger(__name__)


async def home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """Publish the user's Home when they open its tab (Bolt acks events itself)."""
    if event.get("tab", "home") != "home":
        return
    user = str(event.get("user") or "")
    if user:
        await publish_home(services_of(context), user, opened=True)


async def open_digest(ack: AsyncAck) -> None:
    """The digest link opens in Slack by its URL; the click only needs an ack."""
    await ack()


async def list_failed_syncs(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """What `/failed-syncs` with no argument shows, to the user only.

    A button cannot type a slash command for the user: the first page of the listing goes to
    them as an ephemeral message in the digest channel (SYNCBOT_CHANNEL), where its buttons
    work as the command's do. Clicked in a message, the answer goes where the click was.
    """
    await ack()
    services = services_of(context)
    query = parse_command("")
    target = body
    if not body.get("response_url") and not (body.get("channel") or body.get("channel_id")):
        channel = services.settings.syncbot_channel
        if channel is None:
            return
        target = {**body, "channel": {"id": channel}}
    try:
        listing = await services.lister.page(query.text, query.minutes, 1)
    except PatchworksError as exc:
        await tell(
            services, target, f"Patchworks could not be reached, so nothing can be listed right now: {exc}"
        )
        return
    text, blocks = build_listing(listing)
    await tell(services, target, text, blocks)
    log.debug("listing shown to %s from App Home", user_of(body))


def register(app: AsyncApp) -> None:
    """Wire the Home event and its buttons."""
    app.event("app_home_opened")(home_opened)
    app.action(Action.HOME_OPEN_DIGEST)(open_digest)
    app.action(Action.HOME_LIST)(list_failed_syncs)
