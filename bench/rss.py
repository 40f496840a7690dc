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

import asyncio
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _client import buttons, signing_desk
from _harness import (
    PRINT_PEAK_KIB,
    Bot,
    Child,
    answer_commands,
    arguments,
    check_bot,
    child,
    memory,
    row,
    sandbox,
    settings,
    simulator,
)

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


# -- the sandbox (simulators and local Slack) in a child process ---------------------------------


def _sandbox(failures: int, conn: Connection) -> None:
    from syncbot_sandbox.store import DEFAULT_USERS, User, Workspace

    people = [User(f"U0RSS{i:03d}", f"rss{i}", f"Bench {i}") for i in range(PEOPLE)]
    workspace = Workspace(channels={FULL: "rss-full", EMPTY: "rss-empty"}, users=[*DEFAULT_USERS, *people])
    full, empty = simulator(failures, 1_000_000), simulator(0, 1_000_000)
    worlds = {FULL: full.state.world, EMPTY: empty.state.world}
    with sandbox(full, empty, workspace=workspace) as box:

        def exercise(channel: str, app_url: str, listings: int, pages: int, runs: list[int]) -> Exercise:
            before = worlds[channel].requests
            drive = _exercise(workspace, box.slack, people, channel, app_url, listings, pages, runs)
            done = asyncio.run(drive)
            done.patchworks_requests = worlds[channel].requests - before
            return done

        conn.send({FULL: box.sims[0], EMPTY: box.sims[1], "slack": box.slack})
        answer_commands(conn, {"exercise": exercise})


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
    from syncbot_sandbox.store import APP_ID, TEAM_ID

    done = Exercise()
    desk = signing_desk(workspace, app_url, slack_url)

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
            following = buttons(message.blocks, Action.LIST_NEXT)
            if not following:
                return
            before = json.dumps(message.blocks)
            await desk.click(user, channel, message.ts, Action.LIST_NEXT, following[0][1]["value"])
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


def _first_poll(bot: Bot, database: Path, expected: int, timeout: float) -> tuple[float, str | None]:
    """Wait until the mirror holds `expected` entries and the first poll cycle has ended;
    returns the seconds taken and, when the cycle failed after storing them, why."""
    assert bot.process is not None
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if bot.process.poll() is not None:
            raise RuntimeError(f"syncbot run exited:\n{bot.text()}")
        log = bot.text()
        if (POLL_LINE.search(log) or FAILED_LINE in log) and _stored(database) >= expected:
            check_bot(bot.label, log, bot.src)
            return time.monotonic() - started, _failure(log)
        time.sleep(0.2)
    raise RuntimeError(f"no complete first poll within {timeout:.0f} s:\n{bot.text()[-3000:]}")


def _stored(database: Path) -> int:
    """Entries in the mirror, counted in the bot's database (0 before it has its tables)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])
    except sqlite3.Error:
        return 0


def _run_ids(database: Path, count: int) -> list[int]:
    """Runs spread over the mirror, for Details clicks."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT current_run_id FROM entries ORDER BY current_run_id").fetchall()
    step = max(1, len(rows) // max(1, count))
    return [int(row[0]) for row in rows[::step][:count]]


def _imports_only() -> int:
    """Peak RSS (KiB) of a bare process importing what `syncbot run` imports."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS + PRINT_PEAK_KIB], capture_output=True, text=True, check=True
    )
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


def _measure(channel: str, tmp: Path, box: Child, urls: dict[str, str], expected: int, args: Any) -> Measured:
    """Start a bot on `channel`, wait for its first poll, exercise it; stop it."""
    database = tmp / f"{channel}.db"
    env = settings(
        channel, urls[channel], urls["slack"], RPM, database, SYNCBOT_LOOKBACK_HOURS=str(LOOKBACK_HOURS)
    )
    bot = Bot(f"syncbot run ({channel})", env, tmp / f"{channel}.log")
    try:
        bot.start()
        assert bot.process is not None
        seconds, failure = _first_poll(bot, database, expected, args.timeout)
        stored = _stored(database)
        after_poll = memory(bot.process.pid)
        runs = _run_ids(database, args.details)
        exercise: Exercise = box.ask(
            "exercise", channel, bot.events_url, args.listings, args.pages, runs, timeout=180
        )
        after = memory(bot.process.pid)
    finally:
        bot.stop()
    if failure:
        exercise.problems.append(f"the first poll cycle failed after storing the runs: {failure}")
    loop = re.search(r"event loop: (\S+)", bot.text())
    return Measured(stored, seconds, after_poll, after, exercise, loop.group(1) if loop else "?")


def main() -> None:
    """Start the sandbox, measure the baselines and the bot with a full mirror, print the figures."""
    parser = arguments(__doc__)
    parser.add_argument("--failures", type=int, default=10_000, help="failed runs in the simulator")
    parser.add_argument("--listings", type=int, default=8, help="people typing /failed-syncs 15d at once")
    parser.add_argument("--pages", type=int, default=3, help="Next clicks per listing")
    parser.add_argument("--details", type=int, default=30, help="Details clicks on digest entries")
    parser.add_argument("--timeout", type=float, default=150, help="seconds the first poll may take")
    args = parser.parse_args()
    started = time.monotonic()

    imports = _imports_only()
    with child(_sandbox, args.failures) as box, tempfile.TemporaryDirectory() as tmp:
        urls: dict[str, str] = box.answer(180)
        results = {
            channel: _measure(channel, Path(tmp), box, urls, args.failures if channel == FULL else 0, args)
            for channel in (EMPTY, FULL)
        }

    full, empty = results[FULL], results[EMPTY]
    peak = _mb(full.after["VmHWM"])
    print(f"peak RSS of `syncbot run` (VmHWM), MB = 10^6 bytes; event loop {full.loop}")
    widths = (-44, 7, 10, 7, 7)
    print(row(widths, "process", "stored", "after poll", "peak", "rss now"))
    print(row(widths, "bare imports of syncbot run (no data)", "-", "", f"{_mb(imports):.1f}", ""))
    for label, measured in (("syncbot run, empty mirror", empty), ("syncbot run, full mirror", full)):
        kib = (measured.after_poll["VmHWM"], measured.after["VmHWM"], measured.after["VmRSS"])
        print(row(widths, label, measured.stored, *(f"{_mb(value):.1f}" for value in kib)))
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
