"""POST /patchworks/hook: a Patchworks process flow says "a run just failed", and syncbot polls now
instead of at the next scheduled poll.

`Authorization: Bearer <SYNCBOT_HOOK_SECRET>`, compared in constant time; a wrong or missing one
gets 401 and starts nothing. The body is never read: the call carries no data, only the nudge
(the poll reads Patchworks itself, so nothing a caller sends can reach Slack). The answer is
202 with `{"poll": "queued"}`, or `{"poll": "already queued"}` when a queued poll covers it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.metrics import Metrics

__all__ = ["PatchworksHook", "bearer_problem"]

log = logging.getLogger(__name__)


def bearer_problem(secret: str, authorization: str | None) -> str | None:
    """Why `authorization` is not `Bearer <secret>`, or None when it is."""
    if not authorization:
        return "no Authorization header"
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return "not a Bearer token"
    # Header values arrive latin-1 decoded: encoding them back gives the bytes that were sent, so
    # non-ASCII input is compared as bytes instead of raising.
    if not hmac.compare_digest(token.strip().encode("latin-1"), secret.encode("utf-8")):
        return "wrong bearer token"
    return None


class PatchworksHook:
    """The endpoint: check the bearer secret, then ask for a poll."""

    def __init__(self, secret: str, poll_now: Callable[[], bool], metrics: Metrics) -> None:
        if not secret:
            raise ValueError("the hook needs a secret")
        self._secret = secret
        self._poll_now = poll_now
        self._metrics = metrics

    async def handle(self, request: Request) -> Response:
        """202 and a poll queued (or already queued), or 401 and nothing started."""
        problem = bearer_problem(self._secret, request.headers.get("authorization"))
        if problem is not None:
            self._metrics.hook("refused")
            log.info("request to /patchworks/hook refused: %s", problem)
            return JSONResponse(
                {"error": "invalid or missing bearer token"},
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="syncbot"'},
            )
        queued = self._poll_now()
        self._metrics.hook("queued" if queued else "coalesced")
        return JSONResponse({"poll": "queued" if queued else "already queued"}, status_code=202)
