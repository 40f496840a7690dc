"""One poll cycle against the simulator with many failed runs in the window.

Prints wall time, Patchworks requests (the floor is ceil(N/100) list pages), Slack calls and
peak memory of the bot's side. The simulator and the local Slack API run in a child process so
their memory is not counted.

    python bench/poll.py                 # 1,000 and 10,000 failures, Patchworks pacing 240/min
    python bench/poll.py --rpm 10000     # the same with pacing out of the way
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path


def _servers(failures: int, conn: Connection) -> None:
    from syncbot_sandbox.serve import BackgroundServer
    from syncbot_sandbox.simulator import SimulatorConfig, create_app
    from syncbot_sandbox.slack_api import create_slack_api

    sim = create_app(
        SimulatorConfig(seed=3, api_key="bench", initial_failures=failures, rate_limit_per_minute=100_000)
    )
    slack = create_slack_api()
    with BackgroundServer(sim) as sim_server, BackgroundServer(slack) as slack_server:
        conn.send((sim_server.url, slack_server.url))
        conn.recv()  # stop


async def _poll(sim_url: str, slack_url: str, rpm: int, db: Path) -> dict[str, float]:
    from bot.config import load_settings
    from bot.patchworks.core_api import CoreApiReport
    from bot.services import build_services

    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-test",
        slack_signing_secret="bench",
        slack_api_url=f"{slack_url}/api/",
        syncbot_channel="C0SYNCBOT",
        patchworks_api_url=f"{sim_url}/api/v1",
        patchworks_api_key="bench",
        patchworks_requests_per_minute=rpm,
        database_url=f"sqlite+aiosqlite:///{db}",
        syncbot_lookback_hours=48,
        log_level="WARNING",
    )
    services = await build_services(settings)
    report = services.report
    assert isinstance(report, CoreApiReport)
    tracemalloc.start()
    started = time.perf_counter()
    result = await services.poller.run_once()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await services.aclose()
    return {
        "seen": result.fetched,
        "new": result.new,
        "messages": result.messages,
        "seconds": elapsed,
        "patchworks": report.requests_made,
        "slack": services.slack.calls,
        "peak_mib": peak / 2**20,
    }


def main() -> None:
    """Run the benchmark and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--rpm", type=int, default=240, help="PATCHWORKS_REQUESTS_PER_MINUTE")
    args = parser.parse_args()
    print(
        f"{'failed runs':>11} {'wall s':>7} {'patchworks req':>14} {'floor':>5} {'slack calls':>11} "
        f"{'digest msgs':>11} {'peak MiB':>8}"
    )
    for size in (int(part) for part in args.sizes.split(",")):
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.Process(target=_servers, args=(size, child), daemon=True)
        process.start()
        sim_url, slack_url = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(_poll(sim_url, slack_url, args.rpm, Path(tmp) / "bench.db"))
        parent.send("stop")
        process.join(10)
        print(
            f"{int(figures['seen']):>11} {figures['seconds']:>7.1f} {int(figures['patchworks']):>14} "
            f"{math.ceil(size / 100):>5} {int(figures['slack']):>11} {int(figures['messages']):>11} "
            f"{figures['peak_mib']:>8.1f}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(bench process max RSS {rss:.0f} MiB; pacing {args.rpm} requests/min)")


if __name__ == "__main__":
    main()
