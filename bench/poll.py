"""Poll cycles against the simulator: one poll of N failed runs, then an outage poll by poll.

Single poll: one cycle with N failed runs in the window; wall time, Patchworks requests (the floor
is ceil(N/100) list pages), Slack calls and peak memory of the bot's side.

Outage: 10 polls one after the other, each finding 1,000 new failed runs of the same 3 causes
(10,000 in all), whose ids vary from run to run so the normaliser has work:

  Order #{n}: SKU {sku} could not be claimed: INVENTORY_CLAIM_FAILED         (Shopify > Peoplevox)
  NetSuite: SSS_REQUEST_LIMIT_EXCEEDED: … concurrent requests … {uuid} …     (Shopify > NetSuite)
  Shopify: 401 Unauthorized: … access token expired at {ts} …                (Brightpearl > Shopify)

Measured per poll and in total, for today's bot and, in the same run, for the bot before causes
(the baseline: commit 5747fb0, "Bulk jobs keep a few retries in flight…", the last before "Causes:
digests organised by cause…", extracted with `git archive`; its digest posts one set of messages
per poll, at most SYNCBOT_DIGEST_MAX_MESSAGES, the last saying "+N more"): top-level messages,
thread replies, chat.update and all Slack calls (from the local Slack's call log), Patchworks
requests (from the simulator's request log: list pages against the floor ceil(seen/100)), wall
time of the cycle and its tracemalloc peak. Each bot is its own process (`build_services` and
`Poller.run_once`, as `syncbot poll` does) with the settings' defaults (a poll reads back
SYNCBOT_OVERLAP_SECONDS, an hour, so a poll of an outage re-reads the failures the earlier polls
of that hour found, as polls five minutes apart would); each gets a fresh simulator and local
Slack in a child process, so only the bot is measured.

    python bench/poll.py                  # single polls of 1,000 and 10,000 at 240/min, the outage
    python bench/poll.py --rpm 10000      # the single polls with pacing out of the way
    python bench/poll.py --no-outage      # single polls only
    python bench/poll.py --no-baseline    # the outage against today's bot only
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _harness import (
    PRINT_PEAK_KIB,
    PROBLEM,
    SAY_BOT,
    RequestLog,
    add_baseline,
    answer_commands,
    arguments,
    baseline_tree,
    check_bot,
    child,
    clean_environ,
    int_list,
    row,
    sandbox,
    settings,
    simulator,
)

BASELINE_COMMIT = "5747fb0"  # "Bulk jobs keep a few retries in flight…", the last before causes
CHANNEL = "C0SYNCBOT"
OUTAGE_RPM = 10_000  # PATCHWORKS_REQUESTS_PER_MINUTE for the outage: pacing out of the way
# (flow id, share of a poll's failures, error): three causes, ids varying from run to run.
CAUSES: tuple[tuple[int, float, str], ...] = (
    (105, 0.5, "Order #{order}: SKU {sku} could not be claimed: INVENTORY_CLAIM_FAILED"),
    (
        101,
        0.3,
        "NetSuite: SSS_REQUEST_LIMIT_EXCEEDED: Request limit exceeded; 5 concurrent requests "
        "allowed for account {account} (request id {uuid}, record SO-{order})",
    ),
    (
        103,
        0.2,
        "Shopify: 401 Unauthorized: [API] Invalid API key or access token; token expired at {ts} "
        "(X-Request-Id {uuid})",
    ),
)
_SKUS = ("TSHIRT-BLK-M", "HOODIE-GRN-XL", "MUG-WHT-11OZ", "CAP-NVY-OS", "SOCK-RED-L", "TOTE-NAT")


def _settings(sim_url: str, slack_url: str, rpm: int, db: Path) -> dict[str, str]:
    """One poll's settings, the same for the bot in this process and in its own."""
    return settings(CHANNEL, sim_url, slack_url, rpm, db, SYNCBOT_LOOKBACK_HOURS="48", LOG_LEVEL="WARNING")


# -- single poll -----------------------------------------------------------------------------------


def _servers(failures: int, conn: Connection) -> None:
    with sandbox(simulator(failures, 100_000)) as box:
        conn.send((box.sims[0], box.slack))
        answer_commands(conn, {})


async def _poll(sim_url: str, slack_url: str, rpm: int, db: Path) -> dict[str, float]:
    from bot.config import load_settings
    from bot.patchworks.core_api import CoreApiReport
    from bot.services import build_services

    # Each setting's field is its environment variable's name in lower case.
    env = _settings(sim_url, slack_url, rpm, db)
    services = await build_services(load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()}))
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


def single_polls(sizes: list[int], rpm: int) -> None:
    """One poll cycle per size; one line each."""
    print(f"single poll (PATCHWORKS_REQUESTS_PER_MINUTE={rpm})")
    widths = (11, 7, 14, 5, 11, 11, 8)
    names = ("failed runs", "wall s", "patchworks req", "floor", "slack calls", "digest msgs", "peak MiB")
    print(row(widths, *names))
    for size in sizes:
        with child(_servers, size) as servers, tempfile.TemporaryDirectory() as tmp:
            sim_url, slack_url = servers.answer()
            got = asyncio.run(_poll(sim_url, slack_url, rpm, Path(tmp) / "bench.db"))
        seen, requests, calls, messages = (int(got[k]) for k in ("seen", "patchworks", "slack", "messages"))
        wall, peak = f"{got['seconds']:.1f}", f"{got['peak_mib']:.1f}"
        print(row(widths, seen, wall, requests, math.ceil(size / 100), calls, messages, peak))


# -- outage: the sandbox in a child process ----------------------------------------------------------


def _error(template: str, rng: random.Random, at: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at - rng.uniform(0, 86_400)))
    return template.format(
        order=rng.randint(1000, 999_999),
        sku=rng.choice(_SKUS),
        account=rng.randint(1_000_000, 9_999_999),
        uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
        ts=stamp,
    )


def _outage_sandbox(conn: Connection) -> None:
    """Serve the simulator and local Slack; inject failures and report what the bot called."""
    sim = simulator(0, 100_000)
    world = sim.state.world
    log = RequestLog(sim)
    rng = random.Random(7)

    def inject(count: int) -> int:
        added = 0
        for n, (flow, share, template) in enumerate(CAUSES):
            runs = count - added if n == len(CAUSES) - 1 else round(count * share)
            for _ in range(runs):
                world.add_failures(1, flow_id=flow, error=_error(template, rng, time.time()))
            added += runs
        return added

    with sandbox(log) as box:
        workspace = box.workspace

        def since(hit: int, call: int) -> dict[str, Any]:
            hits, calls = log.hits[hit:], workspace.calls()[call:]
            posts = [c for c in calls if c.method == "chat.postMessage"]
            return {
                "lists": sum(1 for h in hits if h.is_list),
                "patchworks": len(hits),
                "limited": sum(1 for h in hits if h.status == 429),
                "top": sum(1 for c in posts if not c.args.get("thread_ts")),
                "replies": sum(1 for c in posts if c.args.get("thread_ts")),
                "updates": sum(1 for c in calls if c.method == "chat.update"),
                "slack": len(calls),
                "slack_errors": sorted({str(c.error) for c in calls if c.error}),
            }

        def channel() -> list[tuple[bool, str]]:
            # The digest as people see it: the top-level messages' text, and the thread replies.
            messages = list(workspace.channel(CHANNEL).messages.values())
            return [
                (bool(m.thread_ts and m.thread_ts != m.ts), m.text.splitlines()[0][:100]) for m in messages
            ]

        conn.send((box.sims[0], box.slack))
        answer_commands(
            conn,
            {
                "inject": inject,
                "mark": lambda: (len(log.hits), len(workspace.calls())),
                "since": since,
                "channel": channel,
            },
        )


# -- outage: the bot in its own process ----------------------------------------------------------------

# Runs in a fresh interpreter (PYTHONPATH names the baseline's tree, or nothing for today's bot)
# with the settings in its environment: builds the services as `syncbot poll` does and runs one
# cycle per "poll" line on stdin; its peak RSS is its last line.
DRIVER = (
    SAY_BOT
    + """
import asyncio, json, time, tracemalloc
from bot.config import load_settings
from bot.services import build_services

async def main():
    services = await build_services(load_settings(_env_file=None))
    print(json.dumps({"ready": True}), flush=True)
    tracemalloc.start()
    for line in sys.stdin:
        if line.strip() != "poll":
            break
        tracemalloc.reset_peak()
        started = time.perf_counter()
        result = await services.poller.run_once()
        seconds = time.perf_counter() - started
        current, peak = tracemalloc.get_traced_memory()
        print(json.dumps({
            "seen": result.fetched, "new": result.new, "messages": result.messages,
            "joined": getattr(result, "joined", 0), "error": result.error,
            "posted_all": result.posted_all, "seconds": seconds,
            "peak_mib": peak / 2**20, "held_mib": current / 2**20,
        }), flush=True)
    tracemalloc.stop()
    await services.aclose()

asyncio.run(main())
"""
    + PRINT_PEAK_KIB
)


@dataclass
class Outage:
    """What one bot did, poll by poll."""

    label: str
    polls: list[dict[str, Any]] = field(default_factory=list)
    channel: list[tuple[bool, str]] = field(default_factory=list)
    vmhwm_mib: float = 0.0
    stderr: str = ""

    def total(self, key: str) -> float:
        return sum(float(poll[key]) for poll in self.polls)


def _read(driver: subprocess.Popen[str]) -> Any:
    assert driver.stdout is not None
    line = driver.stdout.readline()
    if not line:
        driver.wait(30)
        raise RuntimeError("the bot process ended early")
    return json.loads(line)


def outage(label: str, src: Path | None, polls: int, per_poll: int, rpm: int) -> Outage:
    """Run the outage against one bot: inject, poll, count, `polls` times."""
    figures = Outage(label)
    with child(_outage_sandbox) as box, tempfile.TemporaryDirectory() as tmp:
        sim_url, slack_url = box.answer()
        errors = Path(tmp) / "stderr.log"
        with errors.open("w") as stderr:
            driver = subprocess.Popen(
                [sys.executable, "-c", DRIVER],
                env={**clean_environ(src), **_settings(sim_url, slack_url, rpm, Path(tmp) / "bench.db")},
                cwd=src or tmp,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert driver.stdin is not None
        try:
            _read(driver)  # ready
            check_bot(label, errors.read_text(), src)
            for _ in range(polls):
                injected = box.ask("inject", per_poll)
                hits, calls = box.ask("mark")
                driver.stdin.write("poll\n")
                driver.stdin.flush()
                poll = dict(_read(driver))
                poll.update(box.ask("since", hits, calls), injected=injected)
                figures.polls.append(poll)
            driver.stdin.write("stop\n")
            driver.stdin.flush()
            figures.vmhwm_mib = int(_read(driver)) / 1024
            driver.wait(30)
            figures.channel = box.ask("channel")
        except (RuntimeError, json.JSONDecodeError):
            print(f"{label} wrote on stderr:\n{errors.read_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait(10)
        figures.stderr = errors.read_text()
    return figures


def _ratio(baseline: float, ours: float) -> str:
    """baseline / today: how many times fewer (or less) today's bot needs; — when either is 0."""
    if ours == baseline:
        return "1x"
    if ours == 0 or baseline == 0:
        return "—"
    value = baseline / ours
    return f"{value:.0f}x" if value >= 10 else f"{value:.2g}x"


# (column, key in a poll's figures, format); each shown as "today / baseline".
_COLUMNS = (
    ("top-level", "top", "d"),
    ("replies", "replies", "d"),
    ("updates", "updates", "d"),
    ("Slack calls", "slack", "d"),
    ("list pages", "lists", "d"),
    ("PW requests", "patchworks", "d"),
    ("wall s", "seconds", ".1f"),
    ("peak MiB", "peak_mib", ".1f"),
)


def _pair(ours: dict[str, Any], base: dict[str, Any] | None, key: str, spec: str) -> str:
    value = format(ours[key], spec)
    return value if base is None else f"{value} / {format(base[key], spec)}"


def report_outage(ours: Outage, base: Outage | None, per_poll: int, baseline: str) -> None:
    """Per poll, then in total, today's bot beside the baseline (ratios: baseline / today)."""
    print()
    print(
        f"outage: {len(ours.polls)} polls one after the other, {per_poll:,} new failed runs before each "
        f"({len(ours.polls) * per_poll:,} in all) of 3 causes "
        f"({', '.join(f'{share:.0%}' for _, share, _ in CAUSES)}); a poll reads back an hour "
        f"(SYNCBOT_OVERLAP_SECONDS), so poll k sees k x {per_poll:,}; "
        f"PATCHWORKS_REQUESTS_PER_MINUTE={OUTAGE_RPM}"
    )
    if base is not None:
        print(
            f"baseline: syncbot at {baseline} (before causes): one set of digest messages per poll, "
            "at most SYNCBOT_DIGEST_MAX_MESSAGES"
        )
    print("each cell: today" + (" / baseline" if base is not None else ""))
    widths = (4, 6, 5) + (13 if base is not None else 7,) * len(_COLUMNS)
    print(row(widths, "poll", "seen", "floor", *(name for name, _, _ in _COLUMNS)))
    for n, poll in enumerate(ours.polls):
        other = base.polls[n] if base is not None else None
        pairs = (_pair(poll, other, key, spec) for _, key, spec in _COLUMNS)
        print(row(widths, n + 1, poll["seen"], math.ceil(poll["seen"] / 100), *pairs))
    print()
    totals = (-34, 9, 9, 16)
    print(row(totals, "in total", "syncbot", "baseline", "baseline/syncbot"))
    floor = sum(math.ceil(p["seen"] / 100) for p in ours.polls)
    rows: list[tuple[str, float, float | None, str]] = [
        (name, ours.total(key), base.total(key) if base else None, spec)
        for name, key, spec in (
            ("top-level messages", "top", "d"),
            ("thread replies", "replies", "d"),
            ("chat.update calls", "updates", "d"),
            ("all Slack calls", "slack", "d"),
            ("Patchworks list pages", "lists", "d"),
            ("all Patchworks requests", "patchworks", "d"),
            ("wall time, s", "seconds", ".1f"),
        )
    ]
    rows.append(("list floor, sum of ceil(seen/100)", floor, floor if base else None, "d"))
    rows.append(
        (
            "max peak per poll, MiB",
            max(p["peak_mib"] for p in ours.polls),
            max(p["peak_mib"] for p in base.polls) if base else None,
            ".1f",
        )
    )
    rows.append(("process peak RSS, MiB", ours.vmhwm_mib, base.vmhwm_mib if base else None, ".0f"))
    for name, value, theirs, spec in rows:
        spec = ".0f" if spec == "d" else spec
        baseline_cells = () if theirs is None else (format(theirs, spec), _ratio(theirs, value))
        print(row(totals, name, format(value, spec), *baseline_cells))
    for figures in (ours, base):
        if figures is None:
            continue
        print(f"\n{figures.label}:")
        problems = [p for p in figures.polls if p["error"] or not p["posted_all"] or p["limited"]]
        errors = sorted({e for p in figures.polls for e in p["slack_errors"]})
        if problems or errors:
            print(
                f"  {len(problems)} poll(s) with an error, a digest left unposted or a 429; "
                f"Slack said {errors}"
            )
        tops = [text for threaded, text in figures.channel if not threaded]
        replies = [text for threaded, text in figures.channel if threaded]
        print(f"  channel: {len(tops)} top-level message(s), the last {tops[-1] if tops else ''!r}")
        if replies:
            print(f"  threads: {len(replies)} repl(ies), the last {replies[-1]!r}")
        warnings = [line for line in figures.stderr.splitlines() if PROBLEM.search(line)]
        if warnings:
            print(f"  {len(warnings)} warning/error line(s) logged, the first: {warnings[0][:160]!r}")


def main() -> None:
    """Run the benchmarks and print their tables."""
    parser = arguments(__doc__)
    parser.add_argument(
        "--sizes", type=int_list, default="1000,10000", help="failed runs of each single poll"
    )
    parser.add_argument("--rpm", type=int, default=240, help="PATCHWORKS_REQUESTS_PER_MINUTE, single polls")
    parser.add_argument("--polls", type=int, default=10, help="polls of the outage")
    parser.add_argument("--per-poll", type=int, default=1000, help="new failed runs before each poll")
    add_baseline(parser, BASELINE_COMMIT, "the outage against today's bot only")
    parser.add_argument("--no-outage", action="store_true", help="single polls only")
    parser.add_argument("--no-single", action="store_true", help="the outage only")
    args = parser.parse_args()
    started = time.monotonic()
    if not args.no_single:
        single_polls(args.sizes, args.rpm)
    if not args.no_outage:
        ours = outage("syncbot (today)", None, args.polls, args.per_poll, OUTAGE_RPM)
        base = None
        if not args.no_baseline:
            with baseline_tree(args.baseline) as src:
                label = f"baseline ({args.baseline}, before causes)"
                base = outage(label, src, args.polls, args.per_poll, OUTAGE_RPM)
        report_outage(ours, base, args.per_poll, args.baseline)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n(bench process max RSS {rss:.0f} MiB; cpus {os.cpu_count()}; {time.monotonic() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
