"""The bot's HTTP surface: GET /healthz, GET /metrics (Prometheus), POST /patchworks/hook when
SYNCBOT_HOOK_SECRET is set, and, in HTTP mode, POST /slack/events behind the edge.

bot/runtime.py serves it and runs everything else (schedule, Socket Mode, shutdown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.edge import SlackEdge
from bot.hook import PatchworksHook
from bot.metrics import CONTENT_TYPE
from bot.services import Services

__all__ = ["build_http_app", "health"]


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


def build_http_app(
    bolt: AsyncApp | None, services: Services, poll_now: Callable[[], bool] | None = None
) -> Starlette:
    """Starlette app with /healthz, /metrics, /patchworks/hook (when SYNCBOT_HOOK_SECRET is set and
    `poll_now` is given: it queues a poll and says whether one was queued) and, in HTTP mode
    (`bolt` given), /slack/events."""

    async def healthz(_: Request) -> Response:
        report = await health(services)
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    async def metrics(_: Request) -> Response:
        # For Prometheus, unsigned like /healthz: counts only, no Patchworks or Slack data.
        return Response(await services.metrics.render(services), media_type=CONTENT_TYPE)

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    hook_secret = services.settings.syncbot_hook_secret
    if hook_secret is not None and poll_now is not None:
        hook = PatchworksHook(hook_secret.get_secret_value(), poll_now, services.metrics)
        routes.append(Route("/patchworks/hook", hook.handle, methods=["POST"]))
    if bolt is not None:
        secret = services.settings.slack_signing_secret
        edge = SlackEdge(bolt, secret.get_secret_value() if secret else "")
        routes.append(Route("/slack/events", edge.handle, methods=["POST"]))
    return Starlette(routes=routes)
