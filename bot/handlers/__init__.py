"""Bolt listeners, one module per feature; `register_all` wires them onto an app."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.handlers import bulk, commands, details, resync
from bot.handlers._context import STALE_BUTTON, tell
from bot.services import Services

__all__ = ["register_all"]

log = logging.getLogger(__name__)


def _retry_number(raw: object) -> int:
    """The retry count Slack sent (header values arrive as lists); 0 when absent or unreadable."""
    first = raw[0] if isinstance(raw, list | tuple) and raw else raw
    try:
        return int(str(first))
    except ValueError:
        return 0


def register_all(app: AsyncApp, services: Services) -> None:
    """Register every listener, then the catch-alls (Bolt runs the first listener that matches)."""

    @app.middleware
    async def skip_slack_retries(req: AsyncBoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:
        # Every listener acks before working, so a retry means the first delivery is already
        # being handled: answering it again would act twice.
        # Socket Mode marks first deliveries with retry number 0: only 1 and up are retries.
        if _retry_number(req.headers.get("x-slack-retry-num")) > 0:
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next()  # type: ignore[no-any-return]

    for feature in (details, resync, bulk, commands):
        feature.register(app, services)

    @app.action(re.compile(".*"))
    async def unknown_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Buttons from older versions, or forged ones: explain, change nothing."""
        await ack()
        await tell(services, body, STALE_BUTTON)

    @app.view(re.compile(".*"))
    async def unknown_view(ack: AsyncAck) -> None:
        """Unknown modal submissions close quietly."""
        await ack()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        """Log with a reference the user can quote and tell them; Bolt keeps the ack it sent.

        Returns nothing: every listener acks first, and Bolt refuses a response after the ack.
        """
        reference = uuid.uuid4().hex[:8]
        log.error("handler failed (ref %s): %s", reference, error, exc_info=error)
        try:
            await tell(
                services,
                body,
                f"Something went wrong on syncbot's side (ref {reference}). Nothing else was changed.",
            )
        except Exception:
            log.warning("could not tell the user about error %s", reference)
