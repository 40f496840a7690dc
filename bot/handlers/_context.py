"""Small helpers every handler uses to read a payload and answer the user who acted."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from blocks.messages import loading_modal, mrkdwn_notice, notice, notice_modal
from blocks.values import InvalidValue, decode
from bot.services import Services
from bot.slack import SlackError

__all__ = [
    "SERVICES",
    "STALE_BUTTON",
    "channel_of",
    "open_then_fill",
    "read_value",
    "selected_value",
    "services_of",
    "tell",
    "user_of",
    "value_of",
]

# The context key under which register_all's middleware puts the app's Services.
SERVICES = "services"
STALE_BUTTON = "That button is not one syncbot understands any more. Nothing was changed."

log = logging.getLogger(__name__)

Body = dict[str, Any]
V = TypeVar("V", bound=BaseModel)


def services_of(context: Mapping[str, Any]) -> Services:
    """The app's Services, put into every request's context by `register_all`'s middleware."""
    services = context.get(SERVICES)
    if not isinstance(services, Services):
        raise RuntimeError("no Services in the Bolt context: build the app with bot.app.build_app")
    return services


def user_of(body: Body) -> str:
    """The acting user's ID ('' when Slack sent none)."""
    user = body.get("user") or {}
    if isinstance(user, dict):
        return str(user.get("id") or "")
    return str(body.get("user_id") or "")


def channel_of(body: Body) -> str | None:
    """The channel the interaction happened in, when there is one."""
    channel = body.get("channel")
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    container = body.get("container") or {}
    if isinstance(container, dict) and container.get("channel_id"):
        return str(container["channel_id"])
    return str(body["channel_id"]) if body.get("channel_id") else None


def value_of(body: Body) -> object:
    """The value of the clicked element, as Slack sent it (validated by the caller)."""
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions, list) and actions else {}
    return first.get("value") if isinstance(first, dict) else None


def selected_value(body: Body) -> object:
    """The value of the option chosen in a static_select (validated by the caller)."""
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    option = first.get("selected_option") if isinstance(first, dict) else None
    return option.get("value") if isinstance(option, dict) else None


async def open_then_fill(
    services: Services, body: Body, title: str, build: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    """Open a placeholder modal at once, then replace it with what `build` returns.

    A trigger_id expires 3 s after the click, and building may wait on Patchworks.
    """
    try:
        view_id = await services.slack.open_view(str(body.get("trigger_id", "")), loading_modal(title))
    except SlackError as exc:
        log.warning("%s modal not opened: %s", title, exc.error)
        return
    try:
        view = await build()
    except Exception:
        # Never leave the user looking at "Loading…": say what happened, with a reference.
        reference = uuid.uuid4().hex[:8]
        log.exception("%s modal could not be built (ref %s)", title, reference)
        view = notice_modal(
            title, f"Something went wrong on syncbot's side (ref {reference}). Nothing was changed."
        )
    try:
        await services.slack.update_view(view_id, view)
    except SlackError as exc:
        log.warning("%s modal not filled: %s", title, exc.error)


async def read_value(services: Services, body: Body, kind: type[V]) -> V | None:
    """The clicked element's typed value; a forged or outdated one is explained and gives None."""
    try:
        return decode(kind, value_of(body))  # type: ignore[type-var]
    except InvalidValue:
        await tell(services, body, STALE_BUTTON)
        return None


async def tell(
    services: Services,
    body: Body,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    replace: bool = False,
    escape: bool = True,
) -> None:
    """Answer only the user who acted: through response_url, else an ephemeral message.

    `text` is escaped unless `escape` is False, which callers use for mrkdwn they built safely.
    """
    if blocks is None:
        text, blocks = notice(text) if escape else mrkdwn_notice(text)
    response_url = body.get("response_url")
    try:
        if isinstance(response_url, str) and response_url:
            payload: dict[str, Any] = {
                "response_type": "ephemeral",
                "text": text,
                "replace_original": replace,
            }
            if blocks is not None:
                payload["blocks"] = blocks
            await services.slack.respond(response_url, payload)
            return
        channel = channel_of(body)
        if channel:
            await services.slack.post_ephemeral(channel, user_of(body), text, blocks)
    except SlackError as exc:
        log.warning("could not answer %s: %s", user_of(body) or "user", exc.error)
