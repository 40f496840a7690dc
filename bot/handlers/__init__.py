"""Bolt listeners, one module per feature; `register_all` wires them onto an app.

Listeners are plain module-level functions: they read the app's Services from the request
context (`services_of(context)`), which a global middleware registered here fills in. Resync
rights are checked in one place, `authorize.require_resync_rights`, before any listener runs.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.handlers import bulk, causes, commands, details, flows, home, resync
from bot.handlers._context import SERVICES, STALE_BUTTON, services_of, tell
from bot.handlers.authorize import require_resync_rights
from bot.services import Services

__all__ = ["on_error", "register_all", "skip_slack_retries", "unknown_action", "unknown_view"]

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[Any]]


def _retry_number(raw: object) -> int:
    """The retry count Slack sent (header values arrive as lists); 0 when absent or unreadable."""
    first = raw[0] if isinstance(raw, list | tuple) and raw else raw
    try:
        return int(str(first))
    except ValueError:
        return 0


async def skip_slack_retries(req: AsyncBoltRequest, next: Next) -> BoltResponse | None:
    """Every listener acks before working, so a retry means the first delivery is already being
    handled: answering it again would act twice."""
    # Socket Mode marks first deliveries with retry number 0: only 1 and up are retries.
    if _retry_number(req.headers.get("x-slack-retry-num")) > 0:
        return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
    return await next()  # type: ignore[no-any-return]


def _provide(services: Services) -> Callable[[AsyncBoltContext, Next], Awaitable[BoltResponse | None]]:
    """A global middleware that puts `services` into every request's context."""

    async def provide_services(context: AsyncBoltContext, next: Next) -> BoltResponse | None:
        context[SERVICES] = services
        return await next()  # type: ignore[no-any-return]

    return provide_services


async def unknown_action(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Buttons from older versions, or forged ones: explain, change nothing."""
    await ack()
    await tell(services_of(context), body, STALE_BUTTON)


async def unknown_view(ack: AsyncAck) -> None:
    """Unknown modal submissions close quietly."""
    await ack()


async def on_error(error: Exception, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Log with a reference the user can quote and tell them; Bolt keeps the ack it sent.

    Returns nothing: every listener acks first, and Bolt refuses a response after the ack.
    """
    reference = uuid.uuid4().hex[:8]
    log.error("handler failed (ref %s): %s", reference, error, exc_info=error)
    try:
        await tell(
            services_of(context),
            body,
            f"Something went wrong on syncbot's side (ref {reference}). Nothing else was changed.",
        )
    except Exception:
        log.warning("could not tell the user about error %s", reference)


def register_all(app: AsyncApp, services: Services) -> None:
    """Register the middleware, every listener, then the catch-alls (Bolt runs the first
    listener that matches, and global middleware in the order registered)."""
    app.middleware(skip_slack_retries)
    app.middleware(_provide(services))
    app.middleware(require_resync_rights)
    for feature in (details, resync, bulk, causes, flows, commands, home):
        feature.register(app)
    app.action(re.compile(".*"))(unknown_action)
    app.view(re.compile(".*"))(unknown_view)
    app.error(on_error)
