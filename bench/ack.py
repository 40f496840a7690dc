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

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SECRET = "bench-signing-secret"
SIM_KEY = "bench"
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

# `syncbot run` (bot.cli.main) with the event loop and the edge's protocol chosen by the bench.
# It reports what it really runs on, so a launcher that no longer chooses is noticed.
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
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


# -- the sandbox (simulator and local Slack) in a child process ----------------------------------


def _sandbox(channels: list[str], conn: Connection) -> None:
    import httpx

    from blocks.ids import Action, Command
    from syncbot_sandbox.desk import Desk
    from syncbot_sandbox.serve import BackgroundServer
    from syncbot_sandbox.simulator import SimulatorConfig, create_app
    from syncbot_sandbox.slack_api import create_slack_api
    from syncbot_sandbox.store import DEFAULT_USERS, User, Workspace

    # One person per interaction, as in a real burst (one user's second modal would replace the first).
    people = [User(f"U0BENCH{i:03d}", f"bench{i}", f"Bench {i}") for i in range(PEOPLE)]
    workspace = Workspace(
        channels={channel: f"bench-{i}" for i, channel in enumerate(channels)},
        users=[*DEFAULT_USERS, *people],
    )
    sim = create_app(
        SimulatorConfig(seed=3, api_key=SIM_KEY, initial_failures=30, rate_limit_per_minute=1_000_000)
    )
    slack = create_slack_api(workspace=workspace)

    def details(channel: str) -> list[tuple[str, str]]:
        found = []
        for message in list(workspace.channel(channel).messages.values()):
            for block in message.blocks:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    if element.get("action_id") == Action.DETAILS:
                        found.append((message.ts, str(element["value"])))
        return found

    async def payloads(
        channel: str, app_url: str, kind: str, count: int, slack_url: str
    ) -> list[tuple[bytes, dict[str, str]]]:
        captured: list[tuple[bytes, dict[str, str]]] = []

        def capture(request: httpx.Request) -> httpx.Response:
            captured.append((request.content, dict(request.headers)))
            return httpx.Response(200)

        http = httpx.AsyncClient(transport=httpx.MockTransport(capture))
        desk = Desk(workspace, app_url, SECRET, slack_url=slack_url, http=http)
        entries = details(channel)
        for i in range(count):
            user = people[i % PEOPLE].id
            if kind == DETAILS:
                ts, value = entries[i % len(entries)]
                await desk.click(user, channel, ts, Action.DETAILS, value)
            else:
                await desk.command(user, channel, Command.FAILED_SYNCS, "")
        await desk.aclose()
        return captured

    with BackgroundServer(sim) as sim_server, BackgroundServer(slack) as slack_server:
        workspace.base_url = slack_server.url
        conn.send((f"{sim_server.url}/api/v1", slack_server.url))
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "entries":  # (channel, timeout): Details buttons once a digest is posted
                channel, timeout = args
                deadline = time.monotonic() + timeout
                while not details(channel) and time.monotonic() < deadline:
                    time.sleep(0.1)
                conn.send(len(details(channel)))
            elif command == "payloads":  # (channel, app_url, kind, count): signed bodies, headers
                channel, app_url, kind, count = args
                built = asyncio.run(payloads(channel, app_url, kind, count, slack_server.url))
                conn.send((len(workspace.calls()), built))
            elif command == "settle":  # (mark, expected): wait for the acked work's Slack calls
                mark, expected = args
                deadline, last, quiet_since = time.monotonic() + 30, -1, time.monotonic()
                while time.monotonic() < deadline:
                    calls = workspace.calls()[mark:]
                    if len(calls) != last:
                        last, quiet_since = len(calls), time.monotonic()
                    # Enough calls and a short quiet, or a long quiet (a call that failed early).
                    quiet = time.monotonic() - quiet_since
                    if (len(calls) >= expected and quiet > 0.3) or quiet > 3:
                        break
                    time.sleep(0.05)
                calls = workspace.calls()[mark:]
                conn.send([f"{c.method}: {c.error}" for c in calls if c.error or c.status != 200])


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
class Bot:
    """A `syncbot run` process on one stack, with its own channel and database."""

    label: str
    loop: str
    http: str
    connections: int | None  # the edge's connection limit; None: the product's
    channel: str
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    stderr: Path | None = None
    afterwork_errors: list[str] = field(default_factory=list)

    def start(self, tmp: Path, sim_url: str, slack_url: str, rpm: int) -> None:
        from syncbot_sandbox.slack_api import DEFAULT_TOKEN

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_")) and key not in ("DATABASE_URL",)
        }
        env.update(
            SLACK_BOT_TOKEN=DEFAULT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=f"{slack_url}/api/",
            SYNCBOT_CHANNEL=self.channel,
            PATCHWORKS_API_URL=sim_url,
            PATCHWORKS_API_KEY=SIM_KEY,
            PATCHWORKS_REQUESTS_PER_MINUTE=str(rpm),
            SYNCBOT_LOOKBACK_HOURS="48",
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp / (self.channel + '.db')}",
            PORT=str(self.port),
        )
        self.stderr = tmp / f"{self.channel}.log"
        with self.stderr.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, self.loop, self.http, str(self.connections or "-"), "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=tmp,
            )

    def wait_ready(self) -> None:
        assert self.popen is not None
        assert self.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.stderr.read_text()}")
            if asyncio.run(_burst(self.port, [_get(self.port, "/healthz")]))[0][1] in (200, 503):
                stack = re.search(r"bench-stack (\w+) _Guarded(\w+)Protocol", self.stderr.read_text())
                expected = (self.loop, {"h11": "H11", "httptools": "HttpTools"}[self.http])
                if stack is None or stack.groups() != expected:
                    raise RuntimeError(f"{self.label} does not run on the stack asked for: {stack}")
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer /healthz")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(30)


# -- the client ----------------------------------------------------------------------------------


def _post(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [b"POST /slack/events HTTP/1.1", b"host: 127.0.0.1:%d" % port]
    for name in ("content-type", "x-slack-request-timestamp", "x-slack-signature"):
        lines.append(f"{name}: {headers[name]}".encode())
    lines += [b"content-length: %d" % len(body), b"connection: close", b"", b""]
    return b"\r\n".join(lines) + body


def _get(port: int, path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nconnection: close\r\n\r\n" % (path.encode(), port)


async def _one(port: int, request: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        answer = await reader.read()  # to the end: every request says connection: close
        elapsed = time.perf_counter() - started
        writer.close()
    except OSError:
        return time.perf_counter() - started, 0
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0
    return elapsed, status


async def _burst(port: int, requests: Sequence[bytes]) -> list[tuple[float, int]]:
    return await asyncio.gather(*(_one(port, request) for request in requests))


@dataclass
class Results:
    """Latencies of the answered requests and the count of the others, per burst."""

    bursts: dict[tuple[str, str, int], list[list[float]]] = field(default_factory=dict)
    refused: dict[tuple[str, str, int], int] = field(default_factory=dict)

    def add(self, key: tuple[str, str, int], answers: list[tuple[float, int]]) -> None:
        self.bursts.setdefault(key, []).append([seconds for seconds, status in answers if status == 200])
        self.refused[key] = self.refused.get(key, 0) + sum(1 for _, status in answers if status != 200)

    def figure(self, key: tuple[str, str, int], q: float) -> float:
        """The median over bursts of each burst's q-quantile (bursts where nothing was answered
        are left out): one slow burst moves it less than pooling every request would."""
        per_burst = [_quantile(burst, q) for burst in self.bursts.get(key, []) if burst]
        return statistics.median(per_burst) if per_burst else math.nan


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _answer(conn: Connection) -> Any:
    """What a child process sends back; an error, not a hang, when it died or stopped answering."""
    if not conn.poll(120):
        raise RuntimeError("a child process of the bench stopped answering (see above)")
    return conn.recv()


def main() -> None:
    """Start the sandbox, the do-nothing server and one bot per stack; burst; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100", help="concurrent requests per burst")
    parser.add_argument("--rounds", type=int, default=5, help="bursts of each kind and size, per stack")
    parser.add_argument("--rpm", type=int, default=10_000, help="PATCHWORKS_REQUESTS_PER_MINUTE")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=RAISED_CONNECTIONS,
        help="the edge's connection limit for the stacks compared (uvicorn limit_concurrency)",
    )
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    stacks = [(label, loop, http, args.max_connections) for label, loop, http in STACKS]
    label, loop, http = STACKS[-1]
    stacks.append((f"{label}, shipped limit", loop, http, None))
    bots = [Bot(*stack, channel=f"C0BENCH{i}") for i, stack in enumerate(stacks)]
    results = Results()

    sandbox, sandbox_end = multiprocessing.Pipe()
    sandbox_process = multiprocessing.Process(
        target=_sandbox, args=([bot.channel for bot in bots], sandbox_end), daemon=True
    )
    sandbox_process.start()
    sim_url, slack_url = _answer(sandbox)
    nothing, nothing_end = multiprocessing.Pipe()
    nothing_process = multiprocessing.Process(target=_do_nothing, args=(nothing_end,), daemon=True)
    nothing_process.start()
    nothing_port = _answer(nothing)

    def interactions(bot: Bot, kind: str, count: int) -> tuple[int, list[bytes]]:
        sandbox.send(("payloads", bot.channel, f"http://127.0.0.1:{bot.port}/slack/events", kind, count))
        mark, built = _answer(sandbox)
        return mark, [_post(bot.port, body, headers) for body, headers in built]

    def settle(bot: Bot, mark: int, kind: str, count: int) -> None:
        sandbox.send(("settle", mark, SLACK_CALLS[kind] * count))
        bot.afterwork_errors += _answer(sandbox)

    with tempfile.TemporaryDirectory() as tmp:
        try:
            for bot in bots:
                bot.start(Path(tmp), sim_url, slack_url, args.rpm)
            for bot in bots:
                bot.wait_ready()
                sandbox.send(("entries", bot.channel, 60))
                if not _answer(sandbox):
                    raise RuntimeError(f"{bot.label}: no digest posted")
                # Warm-up, not measured: the first interaction makes Bolt call auth.test once.
                for kind in (DETAILS, COMMAND):
                    mark, requests = interactions(bot, kind, 5)
                    asyncio.run(_burst(bot.port, requests))
                    settle(bot, mark, kind, 5)
                bot.afterwork_errors.clear()
            order = random.Random(7)
            for _ in range(args.rounds):
                for size in sizes:
                    for kind in (DETAILS, COMMAND):
                        _, requests = interactions(bots[0], kind, size)
                        results.add((NOTHING, kind, size), asyncio.run(_burst(nothing_port, requests)))
                    # No stack and no kind always goes first, or always right after another.
                    for bot in order.sample(bots, len(bots)):
                        for kind in order.sample([HEALTHZ, DETAILS, COMMAND], 3):
                            if kind == HEALTHZ:
                                answers = asyncio.run(_burst(bot.port, [_get(bot.port, "/healthz")] * size))
                                results.add((bot.label, HEALTHZ, size), answers)
                                continue
                            mark, requests = interactions(bot, kind, size)
                            results.add((bot.label, kind, size), asyncio.run(_burst(bot.port, requests)))
                            settle(bot, mark, kind, size)
        finally:
            for bot in bots:
                bot.stop()
            with contextlib.suppress(OSError):  # a child that died has said why on stderr
                sandbox.send(("stop",))
                nothing.send("stop")
            sandbox_process.join(10)
            nothing_process.join(10)

    _print(bots, sizes, results, args)


def _print(bots: list[Bot], sizes: list[int], results: Results, args: Any) -> None:
    from bot.edge import MAX_CONNECTIONS

    def ms(value: float) -> str:
        return f"{value * 1000:6.0f}"

    print(
        f"ack latency, ms: N signed interactions of one kind fired at once, each on its own connection; "
        f"median over {args.rounds} bursts of each burst's p50 and p99"
    )
    print(
        f"{'stack':<34} {'kind':<13} {'N':>3} {'p50':>6} {'p99':>6} {'healthz p50':>11} {'p99':>6} "
        f"{'bot/healthz p50':>15} {'p99':>5} {'bot/nothing p50':>15} {'p99':>5} {'non-200':>7}"
    )
    for size in sizes:
        for kind in (DETAILS, COMMAND):
            nothing = (NOTHING, kind, size)
            base50, base99 = results.figure(nothing, 0.5), results.figure(nothing, 0.99)
            print(
                f"{NOTHING:<34} {kind:<13} {size:>3} {ms(base50)} {ms(base99)} {'':>63} "
                f"{results.refused[nothing]:>7}"
            )
            for bot in bots:
                ack, health = (bot.label, kind, size), (bot.label, HEALTHZ, size)
                a50, a99 = results.figure(ack, 0.5), results.figure(ack, 0.99)
                h50, h99 = results.figure(health, 0.5), results.figure(health, 0.99)
                print(
                    f"{bot.label:<34} {kind:<13} {size:>3} {ms(a50)} {ms(a99)} {ms(h50):>11} {ms(h99)} "
                    f"{a50 / h50:>15.1f} {a99 / h99:>5.1f} {a50 / base50:>15.1f} {a99 / base99:>5.1f} "
                    f"{results.refused[ack] + results.refused[health]:>7}"
                )
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
