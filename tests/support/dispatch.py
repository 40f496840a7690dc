"""Signed requests through `app.async_dispatch`, the way bolt-python tests its own listeners:
no socket and no server, the same Bolt app, middleware and listeners as production."""

from __future__ import annotations

import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.inflight import InFlight

__all__ = ["BoltDispatch"]

# Listeners ack first and go on working; a test waits at most this long for them to finish.
_SETTLE_SECONDS = 15.0


class BoltDispatch(httpx.AsyncBaseTransport):
    """An httpx transport that hands each request to Bolt and waits for the work it acked."""

    def __init__(self, app: AsyncApp, inflight: InFlight) -> None:
        self._app = app
        self._inflight = inflight

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Dispatch the signed body; answer with Bolt's response once its listeners are done."""
        body = (await request.aread()).decode()
        headers = {name: [value] for name, value in request.headers.items()}
        response = await self._app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        # What a user sees comes after the ack: wait for it, so tests need no polling.
        still_running = await self._inflight.drain(_SETTLE_SECONDS)
        assert still_running == 0, "listeners still running after the settle time"
        pairs = [(name, value) for name, values in response.headers.items() for value in values]
        return httpx.Response(response.status, headers=pairs, content=response.body.encode())
