"""Running the bot: HTTP mode (POST /slack/events, GET /healthz) or Socket Mode, with the
scheduler in the same process; SIGTERM and Ctrl-C stop everything cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import build_app
from bot.edge import SlackEdge, uvicorn_options
from bot.scheduler import PollerLease, start_scheduler
from bot.services import Services

__all__ = ["build_http_app", "health", "serve"]

log = logging.getLogger(__name__)

# How long a shutdown waits for acked work; under the 30 s most orchestrators allow after SIGTERM.
SHUTDOWN_GRACE_SECONDS = 25.0


async def health(services: Services) -> dict[str, Any]:
    """What /healthz reports: ok, or degraded while Patchworks is unreachable."""
    outage = await services.poller.outage_since()
    return {
        "status": "degraded" if outage else "ok",
        "patchworks": {
            "reachable": outage is None,
            "unreachable_since": outage.isoformat() if outage else None,
        },
        "poller": services.is_poller,
        "last_poll_at": services.last_poll_at.isoformat() if services.last_poll_at else None,
        "last_poll_error": services.last_poll_error,
        "mode": "socket" if services.settings.socket_mode else "http",
    }


def build_http_app(bolt: AsyncApp | None, services: Services) -> Starlette:
    """Starlette app with /healthz and, in HTTP mode, /slack/events."""

    async def healthz(_: Request) -> Response:
        report = await health(services)
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    routes = [Route("/healthz", healthz, methods=["GET"])]
    if bolt is not None:
        secret = services.settings.slack_signing_secret
        edge = SlackEdge(bolt, secret.get_secret_value() if secret else "")
        routes.append(Route("/slack/events", edge.handle, methods=["POST"]))
    return Starlette(routes=routes)


async def serve(services: Services, *, host: str = "0.0.0.0") -> None:
    """Run until SIGTERM/SIGINT: Slack listener, /healthz and the poll schedule."""
    settings = services.settings
    bolt = build_app(services)
    lease = PollerLease(services, settings.syncbot_poll_seconds)
    scheduler = start_scheduler(services, lease)
    log.info(services.authz.describe())
    socket_handler: AsyncSocketModeHandler | None = None
    if settings.socket_mode:
        assert settings.slack_app_token is not None
        socket_handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        await socket_handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack over Socket Mode; /healthz on port %s", settings.port)
        http_app = build_http_app(None, services)
    else:
        log.info("HTTP mode: POST /slack/events and GET /healthz on port %s", settings.port)
        http_app = build_http_app(bolt, services)
    server = _Server(
        # log_config=None: uvicorn's records go through bot/logs.py like every other logger's.
        uvicorn.Config(
            http_app, host=host, port=settings.port, log_level="warning", log_config=None, **uvicorn_options()
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    try:
        await server.serve()
    finally:
        # Stop taking work, let what was acked finish (a resync half-way through Patchworks),
        # and only then close the connections it uses.
        log.info("shutting down")
        scheduler.shutdown(wait=False)
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        await services.inflight.drain(SHUTDOWN_GRACE_SECONDS)
        await lease.release()
        await services.aclose()


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal it caught once it has stopped, which would kill the process
    before the scheduler, the lease and the connections are closed; here the bot owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
