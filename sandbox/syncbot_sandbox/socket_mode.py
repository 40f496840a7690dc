"""A local Socket Mode endpoint: the WebSocket Slack hands out from apps.connections.open.

It says hello, then delivers envelopes (interactive payloads, slash commands) the way Slack does
and records the app's acknowledgements. aiohttp serves it from a background thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["SocketModeServer"]


class SocketModeServer:
    """One Socket Mode endpoint on a free local port; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="socket-mode", daemon=True)
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self.url = ""
        self.acks: dict[str, dict[str, Any]] = {}  # envelope_id -> what the app answered
        self.connections = 0

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections += 1
        self._sockets.append(socket)
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SYNCBOT"}}
        )
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                answer = json.loads(message.data)
                if isinstance(answer, dict) and answer.get("envelope_id"):
                    self.acks[str(answer["envelope_id"])] = answer
        self._sockets.remove(socket)
        return socket

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"ws://{self._host}:{port}/link"

    def start(self) -> str:
        """Serve and return the WebSocket URL."""
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self.url

    def stop(self) -> None:
        """Close every connection and stop serving."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def deliver(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Send an envelope ("interactive", "slash_commands", …) to the connected app; its id."""
        envelope_id = uuid.uuid4().hex
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }

        async def send() -> None:
            if not self._sockets:
                raise RuntimeError("no app is connected")
            await self._sockets[-1].send_json(envelope)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)
        return envelope_id

    def __enter__(self) -> SocketModeServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
