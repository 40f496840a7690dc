"""build_app: the Bolt AsyncApp with every listener registered. Nothing is built at import time."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.handlers import register_all
from bot.inflight import KeepAck, TrackListeners
from bot.logs import bolt_logger
from bot.services import Services

__all__ = ["build_app"]


def build_app(services: Services) -> AsyncApp:
    """A Bolt app sharing the services' Slack client (same base URL and retry handlers)."""
    settings = services.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        client=services.slack.web,
        signing_secret=secret,
        # Socket Mode payloads are not signed; HTTP requests always are, and are verified.
        request_verification_enabled=not settings.socket_mode,
        raise_error_for_unhandled_request=False,
        # Bolt copies this logger's level to each middleware logger it builds (RequestVerification
        # logs whole request bodies at INFO); bot/logs.py owns that level and filters the rest.
        logger=bolt_logger(),
    )
    # Listeners run on after their ack; a shutdown waits for them (see bot/inflight.py).
    app.listener_runner.listener_start_handler = TrackListeners(services.inflight)
    app.listener_runner.listener_completion_handler = KeepAck()
    register_all(app, services)
    return app
