"""`syncbot-sandbox demo`: the Patchworks simulator, the local Slack sandbox (Web API + page) and
the bot in HTTP mode, all in one process and one event loop, on local ports.

What the page shows, by default: the first poll posts a digest of the seeded failures; from
about 15 s on, NetSuite's concurrency limit makes "Shopify > NetSuite: Sales orders" fail two
runs a second for 100 s (a Burst: one cause), so within the first minute one digest holds the
outage and every poll (10 s) adds its ~20 new failures to it in place, with "+20 new failures
since …" in its thread. A few unrelated failures trickle in meanwhile, and now and then a
system breaks for a while.

The bot runs in the product's own runtime (`bot.runtime.running`, as `syncbot run` runs it: Bolt
app, the edge, /slack/events, the poll schedule, the graceful shutdown); only its settings point
at the two local servers. The page's clicks reach it through `Desk` as real signed Slack requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from bot.cli import run_on_event_loop
from bot.config import ConfigError, load_settings
from bot.runtime import PortInUse, bind, running, serving
from bot.services import Services, build_services
from syncbot_sandbox.desk import Desk
from syncbot_sandbox.simulator import Burst, SimulatorConfig, World, create_app
from syncbot_sandbox.simulator.catalogue import CONCURRENCY_ERROR
from syncbot_sandbox.simulator.generate import OutageKind
from syncbot_sandbox.slack_api import DEFAULT_TOKEN, SlackApiConfig, create_slack_api
from syncbot_sandbox.store import DEFAULT_CHANNEL, Workspace
from syncbot_sandbox.ui import Person, create_sandbox_app

__all__ = ["OUTAGE", "OUTAGE_FLOW", "DemoOptions", "DemoStack", "PortInUse", "run_demo"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the sandbox endpoints have no auth: never listen beyond this machine
CHANNEL_NAME = "failed-syncs"
# Who the page lets you act as; the demo's allow-list below is what makes these notes true.
PEOPLE = (
    Person("U0ADA", "may resync"),
    Person("U0MAX", "may resync (via S0MANAGERS)"),
    Person("U0VIC", "read-only"),
)
RESYNC_USERS = "U0ADA"
RESYNC_GROUPS = "S0MANAGERS"


_OUTAGE_KINDS: tuple[OutageKind, ...] = ("unreachable", "auth")

# The demo's outage: "Shopify > NetSuite: Sales orders" meets NetSuite's concurrency limit 15 s
# in, and 200 orders fail the same way over 100 s: about 20 new failures of one cause per poll.
OUTAGE_FLOW = 101
OUTAGE = Burst(flow_id=OUTAGE_FLOW, error=CONCURRENCY_ERROR, count=200, every_s=0.5, after_s=15.0)


@dataclass(frozen=True)
class DemoOptions:
    """How lively the demo is; tests shorten the intervals and fix the seed."""

    seed: int = 1
    initial_failures: int = 25
    # Unrelated failures trickle in; rarely, so the outage's digest stays in view.
    failures_every_s: float | None = 30.0
    retry_delay_s: float = 4.0
    retry_success_rate: float = 0.6
    poll_seconds: int = 10
    outage_every_s: float | None = 60.0  # None: never break a system
    outage_for_s: float = 20.0
    burst: Burst | None = OUTAGE  # None: no outage of one cause (World.start_burst starts one later)
    log_level: str = "WARNING"


class _QuietCancellation(logging.Filter):
    """Drop APScheduler's report of a poll cancelled by shutdown: stopping mid-poll is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_QUIET_CANCELLATION = _QuietCancellation()


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


# The sandbox's own servers: quiet (the page polls every second) and quick to stop.
_SERVER_OPTIONS = {"access_log": False, "ws": "none", "timeout_graceful_shutdown": 3}


@dataclass
class DemoStack:
    """The running demo: its URLs and the objects tests may poke (the simulator's world, the workspace)."""

    page_url: str
    bot_url: str
    simulator_url: str
    world: World
    workspace: Workspace
    services: Services
    desk: Desk
    database: Path
    _running: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @classmethod
    async def start(cls, port: int, data_dir: str | Path, options: DemoOptions | None = None) -> DemoStack:
        """Bind the ports, then start the simulator, the sandbox and the bot; PortInUse if `port` is taken."""
        options = options or DemoOptions()
        sockets: list[socket.socket] = []
        try:
            for wanted in (port, 0):
                sockets.append(bind(HOST, wanted))
            return await cls._start(sockets, data_dir, options)
        except BaseException:
            for sock in sockets:  # a server closes its own; closing twice is harmless
                sock.close()
            raise

    @classmethod
    async def _start(
        cls, sockets: list[socket.socket], data_dir: str | Path, options: DemoOptions
    ) -> DemoStack:
        page_sock, sim_sock = sockets
        page_url, sim_url = _url(page_sock), _url(sim_sock)

        api_key, signing_secret = secrets.token_hex(12), secrets.token_hex(16)
        sim_app = create_app(
            SimulatorConfig(
                seed=options.seed,
                api_key=api_key,
                initial_failures=options.initial_failures,
                failures_every_s=options.failures_every_s,
                retry_delay_s=options.retry_delay_s,
                retry_success_rate=options.retry_success_rate,
                burst=options.burst,
            )
        )
        workspace = Workspace(channels={DEFAULT_CHANNEL: CHANNEL_NAME}, base_url=page_url)
        slack_api = create_slack_api(SlackApiConfig(tokens=frozenset({DEFAULT_TOKEN})), workspace=workspace)

        data = Path(data_dir)
        await asyncio.to_thread(data.mkdir, parents=True, exist_ok=True)
        # A fresh database per run: the simulator and the workspace start empty each time, and two
        # demos sharing a folder must not share digests.
        database = data / f"syncbot-demo-{os.getpid()}-{secrets.token_hex(3)}.db"
        settings = load_settings(
            _env_file=None,
            slack_bot_token=DEFAULT_TOKEN,
            slack_signing_secret=signing_secret,
            slack_app_token="",  # never Socket Mode, whatever the shell exports
            slack_api_url=f"{page_url}/api/",
            syncbot_channel=DEFAULT_CHANNEL,
            patchworks_api_url=f"{sim_url}/api/v1",
            patchworks_api_key=api_key,
            syncbot_poll_seconds=options.poll_seconds,
            syncbot_resync_users=RESYNC_USERS,
            syncbot_resync_groups=RESYNC_GROUPS,
            database_url=f"sqlite+aiosqlite:///{database}",
        )
        services = await build_services(settings)
        stack = contextlib.AsyncExitStack()
        handed_over = False  # from `running` on, the runtime closes the services however it ends
        try:
            # Last in, first out: the database file goes once the bot has closed it.
            stack.push_async_callback(_remove_database, database)
            await stack.enter_async_context(serving(sim_app, sim_sock, **_SERVER_OPTIONS))
            # The bot's URL is known once it listens, after the page (which needs the desk) is up.
            desk = Desk(workspace, "", signing_secret, slack_url=page_url)
            stack.push_async_callback(desk.aclose)
            page_app = create_sandbox_app(slack_api, desk, channel=DEFAULT_CHANNEL, people=PEOPLE)
            await stack.enter_async_context(serving(page_app, page_sock, **_SERVER_OPTIONS))
            # The bot starts last, so its first poll finds both servers listening.
            job_log = logging.getLogger("apscheduler.executors.default")
            if _QUIET_CANCELLATION not in job_log.filters:
                job_log.addFilter(_QUIET_CANCELLATION)
            handed_over = True
            runtime = await stack.enter_async_context(running(services, host=HOST, port=0))
            desk.app_url = f"{runtime.url}/slack/events"
            world: World = sim_app.state.world
            if options.outage_every_s:
                outages = _toggle_outages(
                    world, options.outage_every_s, options.outage_for_s, Random(options.seed)
                )
                stack.push_async_callback(_cancel, asyncio.create_task(outages))
        except BaseException:
            await stack.aclose()
            if not handed_over:
                await services.aclose()
            raise
        return cls(
            page_url=page_url,
            bot_url=runtime.url,
            simulator_url=sim_url,
            world=world,
            workspace=workspace,
            services=services,
            desk=desk,
            database=database,
            _running=stack,
        )

    async def stop(self) -> None:
        """Stop the outages, the bot (as `syncbot run` stops), the servers; remove this run's database."""
        await self._running.aclose()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _remove_database(database: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        await asyncio.to_thread(Path(f"{database}{suffix}").unlink, missing_ok=True)


async def _toggle_outages(world: World, every: float, duration: float, rng: Random) -> None:
    """Every `every` seconds break one system for `duration` seconds, so health degrades now and then."""
    systems = sorted({system for flow in world.flows.values() for system in flow.systems})
    while True:
        await asyncio.sleep(max(0.0, every - duration))
        system, kind = rng.choice(systems), rng.choice(_OUTAGE_KINDS)
        log.info("demo: %s is %s for %.0f s", system, kind, duration)
        world.set_system_outage(system, kind)
        try:
            await asyncio.sleep(duration)
        finally:
            world.set_system_outage(system, None)


async def _main(port: int, data_dir: str, options: DemoOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        stack = await DemoStack.start(port, data_dir, options)
        try:
            print(f"syncbot demo: open {stack.page_url}/  (Ctrl-C stops it)", flush=True)
            await stop.wait()
            print("syncbot demo: stopping", file=sys.stderr, flush=True)
        finally:
            await stack.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def run_demo(port: int, data_dir: str, *, options: DemoOptions | None = None) -> int:
    """Run the whole demo until Ctrl-C or SIGTERM; returns the process exit code."""
    options = options or DemoOptions()
    # The bot logs at INFO by default; in the demo that would bury the one line that matters.
    if "LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(options.log_level)
    try:
        return run_on_event_loop(_main(port, data_dir, options))
    except PortInUse as exc:
        print(f"syncbot demo: {exc}; choose another --port or leave it out for a free one", file=sys.stderr)
        return 1
    except (ConfigError, OSError) as exc:
        print(f"syncbot demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before the handlers were installed
        return 130
