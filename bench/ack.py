"""How fast `syncbot run` acknowledges a burst of signed interactions, per HTTP stack.

A burst is N Details clicks on digest entries, or N `/failed-syncs`, from N people, built and
signed as Slack sends them (the sandbox's Desk: v0 HMAC-SHA256 over `v0:{ts}:{body}`) and fired
at once, each on its own connection; latency is from connect to the last byte of the answer.
Beside them, in the same run: GET /healthz of the same process, and a do-nothing asyncio HTTP
server (answers 200 once it has the request) as the floor. Every stack is a real `syncbot run`
process (own SQLite file, own channel) with the event loop and the edge's uvicorn protocol chosen
at launch; the Patchworks simulator and the local Slack run in another child process, so only
the bot is measured. After each burst the bench waits for the acked work (modals, listings) to
finish; stacks take turns in a shuffled order.

    python bench/ack.py                        # 50 and 100 at once, 5 bursts of each
    python bench/ack.py --sizes 100 --rounds 10
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _client import Answer, Signed, buttons, fire, get, post, recording
from _harness import (
    Bot,
    answer_commands,
    arguments,
    child,
    int_list,
    row,
    sandbox,
    settings,
    simulator,
    until,
    until_quiet,
)

PEOPLE = 200  # sandbox users taking part in the bursts
NOTHING = "do-nothing asyncio server"
DETAILS, COMMAND, HEALTHZ = "Details click", "/failed-syncs", "GET /healthz"
# Slack calls the acked work makes: a Details click opens and fills a modal, /failed-syncs answers.
SLACK_CALLS = {DETAILS: 2, COMMAND: 1}
# The stacks are compared at this connection limit (uvicorn counts open connections and answers
# 503 past it); the product's own limit (bot.edge.MAX_CONNECTIONS) is measured on the last row.
RAISED_CONNECTIONS = 256

# (label, event loop, uvicorn protocol); the first is the stack before uvloop/httptools.
STACKS: tuple[tuple[str, str, str], ...] = (
    ("h11 + asyncio (before)", "asyncio", "h11"),
    ("h11 + uvloop", "uvloop", "h11"),
    ("httptools + asyncio", "asyncio", "httptools"),
    ("httptools + uvloop", "uvloop", "httptools"),
)

# Before `syncbot run`: the event loop and the edge's protocol chosen by the bench (its first
# three arguments). It reports what it really runs on, so a launcher that no longer chooses is noticed.
LAUNCH = """
import asyncio, dataclasses, sys
loop, http, connections = sys.argv[1:4]
del sys.argv[1:4]
import bot.cli, bot.edge, bot.runtime
if loop == "asyncio":
    bot.cli.event_loop_factory = lambda: None  # syncbot runs on uvloop whenever it is installed
if connections != "-":
    limits = bot.edge.DEFAULT_LIMITS
    bot.edge.DEFAULT_LIMITS = dataclasses.replace(limits, max_connections=int(connections))

def options(limits=None):
    chosen = bot.edge.uvicorn_options(limits, http=http)
    running = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"bench-stack {running} {chosen['http'].__mro__[1].__name__}", file=sys.stderr, flush=True)
    return chosen

bot.runtime.uvicorn_options = options
"""


# -- the sandbox (simulator and local Slack) in a child process ----------------------------------


def _sandbox(channels: list[str], conn: Connection) -> None:
    from blocks.ids import Action, Command
    from syncbot_sandbox.store import DEFAULT_USERS, User, Workspace

    # One person per interaction, as in a real burst (one user's second modal would replace the first).
    people = [User(f"U0BENCH{i:03d}", f"bench{i}", f"Bench {i}") for i in range(PEOPLE)]
    workspace = Workspace(
        channels={channel: f"bench-{i}" for i, channel in enumerate(channels)},
        users=[*DEFAULT_USERS, *people],
    )

    def details(channel: str) -> list[tuple[str, str]]:
        messages = list(workspace.channel(channel).messages.values())
        return [
            (m.ts, str(element["value"]))
            for m in messages
            for _, element in buttons(m.blocks, Action.DETAILS)
        ]

    async def build(channel: str, app_url: str, kind: str, count: int) -> list[Signed]:
        entries = details(channel)
        async with recording(workspace, app_url, box.slack) as (desk, captured):
            for i in range(count):
                user = people[i % PEOPLE].id
                if kind == DETAILS:
                    ts, value = entries[i % len(entries)]
                    await desk.click(user, channel, ts, Action.DETAILS, value)
                else:
                    await desk.command(user, channel, Command.FAILED_SYNCS, "")
        return captured

    def payloads(channel: str, app_url: str, kind: str, count: int) -> tuple[int, list[Signed]]:
        """`count` signed interactions of one kind from as many people; the Slack calls so far."""
        built = asyncio.run(build(channel, app_url, kind, count))
        return len(workspace.calls()), built

    def settle(mark: int, expected: int) -> list[str]:
        """Wait for the acked work's Slack calls; the ones that failed."""
        # Enough calls and a short quiet, or a long quiet (a call that failed early).
        until_quiet(
            lambda: len(workspace.calls()) - mark, lambda calls: 0.3 if calls >= expected else 3.0, 30
        )
        return [f"{c.method}: {c.error}" for c in workspace.calls()[mark:] if c.error or c.status != 200]

    with sandbox(simulator(30, 1_000_000), workspace=workspace) as box:
        conn.send((box.sims[0], box.slack))
        answer_commands(
            conn,
            {
                # Details buttons once a digest is posted.
                "entries": lambda channel, timeout: len(until(lambda: details(channel), timeout, 0.1) or []),
                "payloads": payloads,
                "settle": settle,
            },
        )


# -- a do-nothing HTTP server in a child process ------------------------------------------------


class _Nothing(asyncio.Protocol):
    """Reads one request (headers and Content-Length body), answers 200 and closes."""

    def __init__(self) -> None:
        self.buffer = b""
        self.needed: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.needed is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", self.buffer[:end])
            self.needed = end + 4 + (int(length.group(1)) if length else 0)
        if len(self.buffer) >= self.needed:
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()


def _do_nothing(conn: Connection) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Nothing, "127.0.0.1", 0, backlog=1024)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until "stop"
        server.close()

    asyncio.run(serve())


# -- one `syncbot run` per stack ------------------------------------------------------------------


@dataclass
class StackBot(Bot):
    """A `syncbot run` process on one stack (LAUNCH's arguments), with its own channel and database."""

    channel: str = ""
    afterwork_errors: list[str] = field(default_factory=list)

    def wait_ready(self, timeout: float = 60) -> None:
        super().wait_ready(timeout)
        loop, http = self.args[:2]
        stack = re.search(r"bench-stack (\w+) _Guarded(\w+)Protocol", self.text())
        if stack is None or stack.groups() != (loop, {"h11": "H11", "httptools": "HttpTools"}[http]):
            raise RuntimeError(f"{self.label} does not run on the stack asked for: {stack}")


@dataclass
class Results:
    """Latencies of the answered requests and the count of the others, per burst."""

    bursts: dict[tuple[str, str, int], list[list[float]]] = field(default_factory=dict)
    refused: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def add(self, key: tuple[str, str, int], answers: list[Answer]) -> None:
        self.bursts.setdefault(key, []).append([a.seconds for a in answers if a.status == 200])
        self.refused[key] = self.refused.get(key, 0) + sum(1 for a in answers if a.status != 200)

    def figure(self, key: tuple[str, str, int], q: float) -> float:
        """The median over bursts of each burst's q-quantile (bursts where nothing was answered
        are left out): one slow burst moves it less than pooling every request would."""
        per_burst = [_quantile(burst, q) for burst in self.bursts.get(key, []) if burst]
        return statistics.median(per_burst) if per_burst else math.nan


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    """Start the sandbox, the do-nothing server and one bot per stack; burst; print the table."""
    parser = arguments(__doc__)
    parser.add_argument("--sizes", type=int_list, default="50,100", help="concurrent requests per burst")
    parser.add_argument("--rounds", type=int, default=5, help="bursts of each kind and size, per stack")
    parser.add_argument("--rpm", type=int, default=10_000, help="PATCHWORKS_REQUESTS_PER_MINUTE")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=RAISED_CONNECTIONS,
        help="the edge's connection limit for the stacks compared (uvicorn limit_concurrency)",
    )
    args = parser.parse_args()
    sizes: list[int] = args.sizes
    stacks = [(label, loop, http, str(args.max_connections)) for label, loop, http in STACKS]
    label, loop, http = STACKS[-1]
    stacks.append((f"{label}, shipped limit", loop, http, "-"))
    channels = [f"C0BENCH{i}" for i in range(len(stacks))]
    results = Results()

    with (
        child(_sandbox, channels) as box,
        child(_do_nothing) as nothing,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim_url, slack_url = box.answer()
        nothing_port = nothing.answer()
        bots = [
            StackBot(
                label,
                settings(
                    channel,
                    sim_url,
                    slack_url,
                    args.rpm,
                    Path(tmp) / f"{channel}.db",
                    SYNCBOT_LOOKBACK_HOURS="48",
                ),
                Path(tmp) / f"{channel}.log",
                prelude=LAUNCH,
                args=(loop, http, connections),
                channel=channel,
            )
            for (label, loop, http, connections), channel in zip(stacks, channels, strict=True)
        ]

        def interactions(bot: StackBot, kind: str, count: int) -> tuple[int, list[bytes]]:
            mark, built = box.ask("payloads", bot.channel, bot.events_url, kind, count)
            return mark, [post(bot.port, body, headers) for body, headers in built]

        def burst(bot: StackBot, kind: str, count: int) -> list[Answer]:
            """Fire `count` interactions of one kind, then wait for the work they started."""
            mark, requests = interactions(bot, kind, count)
            answers = fire(bot.port, requests)
            bot.afterwork_errors += box.ask("settle", mark, SLACK_CALLS[kind] * count)
            return answers

        try:
            for bot in bots:
                bot.start()
            for bot in bots:
                bot.wait_ready()
                if not box.ask("entries", bot.channel, 60):
                    raise RuntimeError(f"{bot.label}: no digest posted")
                # Warm-up, not measured: the first interaction makes Bolt call auth.test once.
                for kind in (DETAILS, COMMAND):
                    burst(bot, kind, 5)
                bot.afterwork_errors.clear()
            order = random.Random(7)
            for _ in range(args.rounds):
                for size in sizes:
                    for kind in (DETAILS, COMMAND):
                        _, requests = interactions(bots[0], kind, size)
                        results.add((NOTHING, kind, size), fire(nothing_port, requests))
                    # No stack and no kind always goes first, or always right after another.
                    for bot in order.sample(bots, len(bots)):
                        for kind in order.sample([HEALTHZ, DETAILS, COMMAND], 3):
                            key = (bot.label, kind, size)
                            if kind == HEALTHZ:
                                results.add(key, fire(bot.port, [get(bot.port, "/healthz")] * size))
                            else:
                                results.add(key, burst(bot, kind, size))
        finally:
            for bot in bots:
                bot.stop()

    _print(bots, sizes, results, args)


def _print(bots: list[StackBot], sizes: list[int], results: Results, args: Any) -> None:
    from bot.edge import MAX_CONNECTIONS

    def ms(value: float) -> str:
        return f"{value * 1000:.0f}"

    print(
        f"ack latency, ms: N signed interactions of one kind fired at once, each on its own connection; "
        f"median over {args.rounds} bursts of each burst's p50 and p99"
    )
    widths = (-34, -13, 3, 6, 6, 11, 6, 15, 5, 15, 5, 7)
    names = ("p50", "p99", "healthz p50", "p99", "bot/healthz p50", "p99", "bot/nothing p50", "p99")
    print(row(widths, "stack", "kind", "N", *names, "non-200"))
    for size in sizes:
        for kind in (DETAILS, COMMAND):
            nothing = (NOTHING, kind, size)
            base50, base99 = results.figure(nothing, 0.5), results.figure(nothing, 0.99)
            print(
                row(widths, NOTHING, kind, size, ms(base50), ms(base99), *[""] * 6, results.refused[nothing])
            )
            for bot in bots:
                ack, health = (bot.label, kind, size), (bot.label, HEALTHZ, size)
                a50, a99 = results.figure(ack, 0.5), results.figure(ack, 0.99)
                h50, h99 = results.figure(health, 0.5), results.figure(health, 0.99)
                latencies = (ms(a50), ms(a99), ms(h50), ms(h99))
                relative = (f"{ratio:.1f}" for ratio in (a50 / h50, a99 / h99, a50 / base50, a99 / base99))
                refused = results.refused[ack] + results.refused[health]
                print(row(widths, bot.label, kind, size, *latencies, *relative, refused))
    before = bots[0].label
    print(f"after/before, ack latency (and /healthz) against {before}:")
    for bot in bots[1 : len(STACKS)]:
        ratios = []
        for kind in (DETAILS, COMMAND, HEALTHZ):
            for size in sizes:
                after, then = (bot.label, kind, size), (before, kind, size)
                p50 = results.figure(after, 0.5) / results.figure(then, 0.5)
                p99 = results.figure(after, 0.99) / results.figure(then, 0.99)
                ratios.append(f"{kind} {size}: {p50:.2f}/{p99:.2f}")
        print(f"  {bot.label:<20} p50/p99  {'  '.join(ratios)}")
    for bot in bots:
        if bot.afterwork_errors:
            kinds = sorted(set(bot.afterwork_errors))
            print(f"{bot.label}: {len(bot.afterwork_errors)} Slack call(s) of the acked work failed: {kinds}")
    print(
        f"(cpus {os.cpu_count()}; connection limit {args.max_connections}, the product's {MAX_CONNECTIONS} "
        f"on the 'shipped limit' rows; Patchworks pacing {args.rpm}/min; non-200 answers, e.g. 503 over "
        "the connection limit, are counted apart, not in the figures)"
    )


if __name__ == "__main__":
    main()
