"""Peak RSS of `syncbot run` with 10,000 open failures in its mirror (target: at most 150 MB).

The Patchworks simulator (10,000 failed runs over the last day, and a second one with none) and
the local Slack run in a child process; each `syncbot run` is a real process (HTTP mode, its own
SQLite file in a temporary directory, PATCHWORKS_REQUESTS_PER_MINUTE at its maximum so the
100-page first poll is quick, a 15-day first look so `/failed-syncs 15d` is read from the mirror).
Once its first poll has stored every failed run (its log line, and a count in its database), it
is exercised as people would: `/failed-syncs 15d` from several people at once, each turning pages
with Next, then Details on digest entries, all signed as Slack sends them (the sandbox's Desk).
The peak is the kernel's high-water mark of the bot's resident set (VmHWM in /proc/<pid>/status).

In the same run, two baselines: a bare process importing what `syncbot run` imports (the product
without any data), and the same `syncbot run` with an empty mirror given the same exercise.

    python bench/rss.py
    python bench/rss.py --failures 20000 --listings 10 --pages 5 --details 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SECRET = "bench-signing-secret"
SIM_KEY = "bench"
FULL, EMPTY = "C0RSSFULL", "C0RSSEMPTY"
PEOPLE = 50
TARGET_MB = 150.0
RPM = 10_000  # the most PATCHWORKS_REQUESTS_PER_MINUTE allows
LOOKBACK_HOURS = 360  # 15 days: the whole report window is mirrored, no listing backfills
# What `syncbot run` imports before it reads any data (bot/cli.py, then the runtime it serves).
IMPORTS = "import bot.cli, bot.runtime, bot.services, bot.app, bot.server, bot.edge, bot.store"
POLL_LINE = re.compile(r"poll: (\d+) failed runs seen, (\d+) new")
# A cycle that stored what it read and failed later (e.g. posting digests) still filled the mirror.
FAILED_LINE = "poll cycle failed"


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


def _memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M))
    return {key: int(value) for key, value in found.items()}


# -- the sandbox (simulators and local Slack) in a child process ---------------------------------


def _sandbox(failures: int, conn: Connection) -> None:
    from syncbot_sandbox.serve import BackgroundServer
    from syncbot_sandbox.simulator import SimulatorConfig, create_app
    from syncbot_sandbox.slack_api import create_slack_api
    from syncbot_sandbox.store import DEFAULT_USERS, User, Workspace

    people = [User(f"U0RSS{i:03d}", f"rss{i}", f"Bench {i}") for i in range(PEOPLE)]
    workspace = Workspace(channels={FULL: "rss-full", EMPTY: "rss-empty"}, users=[*DEFAULT_USERS, *people])
    limit = 1_000_000
    full = create_app(
        SimulatorConfig(seed=3, api_key=SIM_KEY, initial_failures=failures, rate_limit_per_minute=limit)
    )
    empty = create_app(
        SimulatorConfig(seed=3, api_key=SIM_KEY, initial_failures=0, rate_limit_per_minute=limit)
    )
    slack = create_slack_api(workspace=workspace)
    worlds = {FULL: full.state.world, EMPTY: empty.state.world}
    with (
        BackgroundServer(full) as full_server,
        BackgroundServer(empty) as empty_server,
        BackgroundServer(slack) as slack_server,
    ):
        workspace.base_url = slack_server.url
        conn.send(
            {
                FULL: f"{full_server.url}/api/v1",
                EMPTY: f"{empty_server.url}/api/v1",
                "slack": slack_server.url,
            }
        )
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "exercise":  # (channel, app_url, listings, pages, runs to open Details on)
                channel, app_url, listings, pages, runs = args
                world = worlds[channel]
                before = world.requests
                drive = _exercise(
                    workspace, slack_server.url, people, channel, app_url, listings, pages, runs
                )
                done = asyncio.run(drive)
                done.patchworks_requests = world.requests - before
                conn.send(done)


@dataclass
class Exercise:
    """What the bot answered during the exercise."""

    listings: int = 0
    pages: int = 0
    details: int = 0
    patchworks_requests: int = 0  # made by the bot while it was exercised
    problems: list[str] = field(default_factory=list)


async def _exercise(
    workspace: Any,
    slack_url: str,
    people: list[Any],
    channel: str,
    app_url: str,
    listings: int,
    pages: int,
    runs: list[int],
) -> Exercise:
    from blocks.ids import Action, Command
    from syncbot_sandbox.desk import Desk
    from syncbot_sandbox.store import APP_ID, TEAM_ID

    done = Exercise()
    desk = Desk(workspace, app_url, SECRET, slack_url=slack_url)

    def latest(user: str) -> Any:
        shown = workspace.ephemerals.get((channel, user)) or []
        return shown[-1] if shown else None

    async def answered(user: str, before: str) -> Any:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = latest(user)
            if message is not None and json.dumps(message.blocks) != before:
                return message
            await asyncio.sleep(0.05)
        done.problems.append(f"{user}: no answer within 60 s")
        return None

    async def browse(user: str) -> None:
        await desk.command(user, channel, Command.FAILED_SYNCS, "15d")
        message = await answered(user, "")
        if message is None:
            return
        done.listings += 1
        for _ in range(pages):
            buttons = [
                element
                for block in message.blocks
                if block.get("type") == "actions"
                for element in block.get("elements", [])
                if element.get("action_id") == Action.LIST_NEXT
            ]
            if not buttons:
                return
            before = json.dumps(message.blocks)
            await desk.click(user, channel, message.ts, Action.LIST_NEXT, buttons[0]["value"])
            message = await answered(user, before)
            if message is None:
                return
            done.pages += 1

    try:
        # Several people list at once, each turning pages in turn.
        await asyncio.gather(*(browse(people[i % len(people)].id) for i in range(listings)))
        if runs:
            mark = len(workspace.calls("views.open"))

            async def click(i: int) -> None:
                user = people[i % len(people)].id
                payload = {
                    "type": "block_actions",
                    "user": {"id": user, "username": user, "team_id": TEAM_ID},
                    "api_app_id": APP_ID,
                    "team": {"id": TEAM_ID},
                    "container": {"type": "message", "channel_id": channel},
                    "channel": {"id": channel},
                    "trigger_id": workspace.issue_trigger_id(user),
                    "response_url": workspace.issue_response_url(channel, user, base_url=slack_url),
                    "actions": [
                        {
                            "type": "button",
                            "action_id": Action.DETAILS,
                            "block_id": "b",
                            "value": _ref(runs[i]),
                        }
                    ],
                }
                await desk.send_payload(payload)

            # In bursts of ten, as a few people would click.
            for start in range(0, len(runs), 10):
                await asyncio.gather(*(click(i) for i in range(start, min(start + 10, len(runs)))))
            try:
                await workspace.wait_for("views.open", mark + len(runs), timeout=60)
            except TimeoutError as exc:
                done.problems.append(str(exc))
            # Any fill (a stored log that may be cut) has a moment to land before the reading.
            await asyncio.sleep(1.0)
            done.details = len(workspace.calls("views.open")) - mark
        failed = [f"{c.method}: {c.error}" for c in workspace.calls() if c.error]
        done.problems += sorted(set(failed))
    finally:
        await desk.aclose()
    return done


def _failure(log: str) -> str | None:
    """The exception a failed poll cycle logged (its first line), or None."""
    at = log.find(FAILED_LINE)
    if at < 0:
        return None
    # The traceback's lines are prefixed "  | "; the exception's own line is the first unindented.
    found = re.search(r"^  \| (?!Traceback)(\S[^\n]*)", log[at:], re.M)
    return found.group(1) if found else "see its log"


def _ref(run: int) -> str:
    from blocks.values import EntryRef, encode

    return encode(EntryRef(run=run))


# -- a `syncbot run` process ----------------------------------------------------------------------


@dataclass
class Bot:
    """One `syncbot run` process with its own database and channel."""

    channel: str
    tmp: Path
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.tmp / f"{self.channel}.log"

    @property
    def database(self) -> Path:
        return self.tmp / f"{self.channel}.db"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def start(self, sim_url: str, slack_url: str) -> None:
        from syncbot_sandbox.slack_api import DEFAULT_TOKEN

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_"))
            and key not in ("DATABASE_URL", "LOG_LEVEL")
        }
        env.update(
            SLACK_BOT_TOKEN=DEFAULT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=f"{slack_url}/api/",
            SYNCBOT_CHANNEL=self.channel,
            PATCHWORKS_API_URL=sim_url,
            PATCHWORKS_API_KEY=SIM_KEY,
            PATCHWORKS_REQUESTS_PER_MINUTE=str(RPM),
            SYNCBOT_LOOKBACK_HOURS=str(LOOKBACK_HOURS),
            DATABASE_URL=f"sqlite+aiosqlite:///{self.database}",
            PORT=str(self.port),
        )
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.tmp,
            )

    def first_poll(self, expected: int, timeout: float) -> tuple[float, str | None]:
        """Wait until the mirror holds `expected` entries and the first poll cycle has ended;
        returns the seconds taken and, when the cycle failed after storing them, why."""
        assert self.popen is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.popen.poll() is not None:
                raise RuntimeError(f"syncbot run exited:\n{self.log.read_text()}")
            log = self.log.read_text()
            if (POLL_LINE.search(log) or FAILED_LINE in log) and self.stored() >= expected:
                return time.monotonic() - started, _failure(log)
            time.sleep(0.2)
        raise RuntimeError(f"no complete first poll within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def stored(self) -> int:
        """Entries in the mirror, counted in the bot's database (0 before it has its tables)."""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
                return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])
        except sqlite3.Error:
            return 0

    def run_ids(self, count: int) -> list[int]:
        """Runs spread over the mirror, for Details clicks."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT current_run_id FROM entries ORDER BY current_run_id").fetchall()
        step = max(1, len(rows) // max(1, count))
        return [int(row[0]) for row in rows[::step][:count]]

    def loop_line(self) -> str:
        found = re.search(r"event loop: (\S+)", self.log.read_text())
        return found.group(1) if found else "?"

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(30)


def _answer(conn: Connection, seconds: float = 180) -> Any:
    """What the sandbox sends back; an error, not a hang, when it died or stopped answering."""
    if not conn.poll(seconds):
        raise RuntimeError("the sandbox process stopped answering")
    return conn.recv()


def _imports_only() -> int:
    """Peak RSS (KiB) of a bare process importing what `syncbot run` imports."""
    code = f"{IMPORTS}\nimport re\nprint(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@dataclass
class Measured:
    """One bot's figures."""

    stored: int
    poll_seconds: float
    after_poll: dict[str, int]
    after: dict[str, int]
    exercise: Exercise
    loop: str


def _measure(
    bot: Bot, sandbox: Connection, urls: dict[str, str], expected: int, args: argparse.Namespace
) -> Measured:
    bot.start(urls[bot.channel], urls["slack"])
    assert bot.popen is not None
    seconds, failure = bot.first_poll(expected, args.timeout)
    stored = bot.stored()
    after_poll = _memory(bot.popen.pid)
    runs = bot.run_ids(args.details)
    sandbox.send(("exercise", bot.channel, bot.url, args.listings, args.pages, runs))
    exercise: Exercise = _answer(sandbox)
    after = _memory(bot.popen.pid)
    if failure:
        exercise.problems.append(f"the first poll cycle failed after storing the runs: {failure}")
    return Measured(stored, seconds, after_poll, after, exercise, bot.loop_line())


def main() -> None:
    """Start the sandbox, measure the baselines and the bot with a full mirror, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=10_000, help="failed runs in the simulator")
    parser.add_argument("--listings", type=int, default=8, help="people typing /failed-syncs 15d at once")
    parser.add_argument("--pages", type=int, default=3, help="Next clicks per listing")
    parser.add_argument("--details", type=int, default=30, help="Details clicks on digest entries")
    parser.add_argument("--timeout", type=float, default=150, help="seconds the first poll may take")
    args = parser.parse_args()
    started = time.monotonic()

    imports = _imports_only()
    sandbox, sandbox_end = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_sandbox, args=(args.failures, sandbox_end), daemon=True)
    process.start()
    results: dict[str, Measured] = {}
    try:
        urls: dict[str, str] = _answer(sandbox)
        with tempfile.TemporaryDirectory() as tmp:
            for channel in (EMPTY, FULL):
                bot = Bot(channel, Path(tmp))
                try:
                    expected = args.failures if channel == FULL else 0
                    results[channel] = _measure(bot, sandbox, urls, expected, args)
                finally:
                    bot.stop()
    finally:
        with contextlib.suppress(OSError):
            sandbox.send(("stop",))
        process.join(10)

    full, empty = results[FULL], results[EMPTY]
    peak = _mb(full.after["VmHWM"])
    print(f"peak RSS of `syncbot run` (VmHWM), MB = 10^6 bytes; event loop {full.loop}")
    print(f"{'process':<44} {'stored':>7} {'after poll':>10} {'peak':>7} {'rss now':>7}")
    print(f"{'bare imports of syncbot run (no data)':<44} {'-':>7} {'':>10} {_mb(imports):>7.1f} {'':>7}")
    for label, measured in (("syncbot run, empty mirror", empty), ("syncbot run, full mirror", full)):
        print(
            f"{label:<44} {measured.stored:>7} {_mb(measured.after_poll['VmHWM']):>10.1f} "
            f"{_mb(measured.after['VmHWM']):>7.1f} {_mb(measured.after['VmRSS']):>7.1f}"
        )
    print(
        f"full mirror / empty mirror {peak / _mb(empty.after['VmHWM']):.2f}x, "
        f"/ bare imports {peak / _mb(imports):.2f}x; "
        f"target {TARGET_MB:.0f} MB: {'met' if peak <= TARGET_MB else 'MISSED'} ({peak:.1f} MB)"
    )
    ex = full.exercise
    print(
        f"exercise (full): {ex.listings}/{args.listings} listings of 15d answered, "
        f"{ex.pages} pages turned, {ex.details}/{args.details} Details opened, "
        f"{ex.patchworks_requests} Patchworks requests meanwhile; "
        f"first poll stored {full.stored} of {args.failures} in {full.poll_seconds:.1f} s "
        f"(Patchworks pacing {RPM}/min)"
    )
    for label, measured in (("empty", empty), ("full", full)):
        for problem in measured.exercise.problems:
            print(f"problem ({label}): {problem}")
    print(f"(bench wall time {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
