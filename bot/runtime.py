"""The bot's runtime: one async context manager that starts everything `syncbot run` serves (the
poll schedule and its lease, the Bolt app over Socket Mode or HTTP, /healthz) and stops it in the
order a graceful shutdown needs. `syncbot run` adds signal handling; the sandbox's demo uses the
same runtime, so the demo runs the bot exactly as production does."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from starlette.types import ASGIApp

from bot.app import build_app
from bot.edge import uvicorn_options
from bot.scheduler import PollerLease, PollNow, start_scheduler
from bot.server import build_http_app
from bot.services import Services

__all__ = ["SHUTDOWN_GRACE_SECONDS", "PortInUse", "Runtime", "Served", "bind", "running", "serve", "serving"]

log = logging.getLogger(__name__)

# How long a shutdown waits for acked work; under the 30 s most orchestrators allow after SIGTERM.
SHUTDOWN_GRACE_SECONDS = 25.0
# How long a shutdown lets a poll cycle run on before interrupting it (polls are kill-safe; a
# person's resync in flight gets the whole grace).
POLL_GRACE_SECONDS = 5.0


class PortInUse(Exception):
    """The requested port cannot be bound; the message is the one line to show."""


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal it caught once it has stopped, which would kill the process
    before the scheduler, the lease and the connections are closed; here the caller owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (0 = a free port), not yet listening; PortInUse when taken."""
    # Bound here rather than by uvicorn: a taken port fails before anything starts, and uvicorn's
    # own bind would sys.exit() from inside the server task.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may reuse a port whose old connections linger in TIME_WAIT (a port
    # another process listens on still fails with EADDRINUSE).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise PortInUse(f"port {port} on {host} is not available ({exc.strerror})") from None
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class Served:
    """An ASGI app being served: the uvicorn server, the task running it and its base URL."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, sock: socket.socket, **options: Any) -> AsyncIterator[Served]:
    """Serve `app` on the bound `sock` in this event loop for the duration of the block.

    `options` go to uvicorn.Config. On exit the server stops accepting, answers the requests in
    progress and closes `sock`. Signals are left to the caller.
    """
    # log_config=None: uvicorn's records go through bot/logs.py like every other logger's.
    # lifespan="off": the runtime starts and stops everything itself; the apps have no lifespan.
    settings: dict[str, Any] = {"log_config": None, "log_level": "warning", "lifespan": "off", **options}
    server = _Server(uvicorn.Config(app, **settings))
    url = _url(sock)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn {url}")
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError(f"the server on {url} stopped while starting")
            await asyncio.sleep(0.01)
        yield Served(server, task, url)
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()  # uvicorn closes it once started, not when starting failed


@dataclass(frozen=True)
class Runtime:
    """The running bot: where it listens, and a way to stop it."""

    services: Services
    url: str  # http://host:port of /healthz and, in HTTP mode, /slack/events
    port: int
    _served: Served

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop accepting and end the block; a second SIGINT stops waiting for open requests."""
        self._served.server.handle_exit(sig, None)

    async def wait(self) -> None:
        """Return once the HTTP server has stopped: after stop(), a signal, or a crash (raised on exit)."""
        # asyncio.wait: cancelling this wait must not cancel the server, whose exit the block runs.
        await asyncio.wait({self._served.task})


@contextlib.asynccontextmanager
async def running(
    services: Services, *, host: str = "0.0.0.0", port: int | None = None
) -> AsyncIterator[Runtime]:
    """Run the bot for the duration of the block: poll schedule, Slack listener and /healthz.

    `port` defaults to the PORT setting; 0 picks a free one (see `Runtime.port`). A taken port
    raises PortInUse before anything starts. On exit, in this order: stop accepting and answer the
    requests in progress, let acked work finish (up to SHUTDOWN_GRACE_SECONDS), hand the poller
    lease over, close the connections to Patchworks, Slack and the database. The services are
    closed however the block ends: the runtime owns them.
    """
    settings = services.settings
    try:
        with contextlib.closing(bind(host, settings.port if port is None else port)) as sock:
            url, bound_port = _url(sock), sock.getsockname()[1]
            bolt = build_app(services)
            lease = PollerLease(services, settings.syncbot_poll_seconds)
            poll_now = PollNow(services, lease)  # POST /patchworks/hook
            scheduler = start_scheduler(services, lease, poll_now)
            bulk_worker = asyncio.create_task(services.jobs.run_forever(), name="bulk-resync-worker")
            log.info(services.authz.describe())
            socket_handler: AsyncSocketModeHandler | None = None
            try:
                if settings.socket_mode:
                    assert settings.slack_app_token is not None
                    token = settings.slack_app_token.get_secret_value()
                    socket_handler = AsyncSocketModeHandler(bolt, token)
                    await socket_handler.connect_async()  # type: ignore[no-untyped-call]
                    log.info("connected to Slack over Socket Mode; /healthz on port %s", bound_port)
                    http_app = build_http_app(None, services, poll_now.request)
                else:
                    log.info("HTTP mode: POST /slack/events and GET /healthz on port %s", bound_port)
                    http_app = build_http_app(bolt, services, poll_now.request)
                async with serving(http_app, sock, **uvicorn_options()) as served:
                    yield Runtime(services, url, bound_port, served)
            finally:
                # Stop taking work, let what was acked finish (a resync half-way through
                # Patchworks), and only then close the connections it uses.
                log.info("shutting down")
                scheduler.shutdown(wait=False)
                await poll_now.close()
                services.jobs.stop()
                if socket_handler is not None:
                    await socket_handler.close_async()  # type: ignore[no-untyped-call]
                # One grace for the whole drain, within the 30 s orchestrators allow.
                deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
                await services.inflight.drain(SHUTDOWN_GRACE_SECONDS, interrupt_after=POLL_GRACE_SECONDS)
                # The worker finishes the run in hand; one still waiting for Patchworks is
                # cancelled: its claim stays `requested` and the next start settles it.
                left = max(1.0, deadline - time.monotonic())
                _, late = await asyncio.wait({bulk_worker}, timeout=left)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
                await lease.release()
    finally:
        # The runtime owns the services from here on, whatever stopped it (a taken port included).
        await services.aclose()


async def serve(services: Services, *, host: str = "0.0.0.0") -> None:
    """Run until SIGTERM/SIGINT: Slack listener, /healthz and the poll schedule."""
    loop = asyncio.get_running_loop()
    try:
        async with running(services, host=host) as runtime:
            # Installed for the whole shutdown too: a second signal during the drain must not kill
            # the process before the lease and the connections are closed.
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, runtime.stop, sig)
            await runtime.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
