"""What the benches share to launch and watch what they measure: the sandbox (Patchworks simulator
and local Slack) in a child process spoken to over a pipe, the simulator's request log, real
`syncbot run` processes (today's or an older tree's), the baseline trees, memory readings, waits
and the common command-line options. Each bench keeps only what it measures and prints."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from syncbot_sandbox.store import Workspace

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
SIM_KEY = "bench"
ADMIN = "U0ADA"  # the sandbox's admin: the one person let resync (SYNCBOT_RESYNC_USERS)
LIST = "/api/v1/flow-runs"  # the failed-run report, one page per request
_RETRY = re.compile(r"^/api/v1/flow-runs/(\d+)/retry$")
_ONE_RUN = re.compile(r"^/api/v1/flow-runs/(\d+)$")
# A line of the bot's log worth showing: its levels at or above WARNING.
PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


# -- command line ----------------------------------------------------------------------------------


def arguments(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of the bench's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0])


def int_list(text: str) -> list[int]:
    """An option's comma-separated integers, e.g. --sizes 1000,10000."""
    return [int(part) for part in text.split(",")]


def add_baseline(parser: argparse.ArgumentParser, commit: str, without: str) -> None:
    """--baseline COMMIT and --no-baseline (`without` says what is measured then)."""
    parser.add_argument("--baseline", default=commit, help="the commit run as the baseline")
    parser.add_argument("--no-baseline", action="store_true", help=without)


# -- child processes -------------------------------------------------------------------------------


class Child:
    """A function run in a child process, so what it serves is not measured with the bot; it gets
    its end of a pipe as its last argument and answers each command sent on it once."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        self.conn, end = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=target, args=(*args, end), daemon=True)
        self.process.start()

    def answer(self, timeout: float = 120) -> Any:
        """What the child sends next; an error, not a hang, when it died or stopped answering."""
        if not self.conn.poll(timeout):
            raise RuntimeError("a child process of the bench stopped answering (see above)")
        return self.conn.recv()

    def ask(self, *command: Any, timeout: float = 120) -> Any:
        self.conn.send(command)
        return self.answer(timeout)

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # a child that died has said why on stderr
            self.conn.send(("stop",))
        self.process.join(10)


@contextlib.contextmanager
def child(target: Callable[..., None], *args: Any) -> Iterator[Child]:
    """`target(*args, conn)` in a child process, stopped on the way out."""
    running = Child(target, *args)
    try:
        yield running
    finally:
        running.stop()


def answer_commands(conn: Connection, handlers: Mapping[str, Callable[..., Any]]) -> None:
    """In the child: answer each (name, *args) with handlers[name](*args) until ("stop",)."""
    while True:
        name, *args = conn.recv()
        if name == "stop":
            return
        conn.send(handlers[name](*args))


# -- the sandbox -------------------------------------------------------------------------------------


def simulator(failures: int, per_minute: int, *, seed: int = 3, latency_s: float = 0.0) -> Starlette:
    """The Patchworks simulator with `failures` failed runs of the last day, limiting at
    `per_minute` requests per sliding window; `app.state.world` is its World."""
    from syncbot_sandbox.simulator import SimulatorConfig, create_app

    return create_app(
        SimulatorConfig(
            seed=seed,
            api_key=SIM_KEY,
            initial_failures=failures,
            rate_limit_per_minute=per_minute,
            latency_s=latency_s,
        )
    )


@contextlib.contextmanager
def serving(*apps: Any) -> Iterator[list[str]]:
    """Each ASGI app on a free port, in a thread of this process; their base URLs."""
    from syncbot_sandbox.serve import BackgroundServer

    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(BackgroundServer(app)).url for app in apps]


@dataclass
class Sandbox:
    """Where the served simulators and local Slack answer."""

    sims: list[str]  # each simulator's …/api/v1, in the order given
    slack: str
    workspace: Workspace


@contextlib.contextmanager
def sandbox(*simulators: Any, workspace: Workspace | None = None) -> Iterator[Sandbox]:
    """The simulators (apps, or their request logs) and a local Slack holding `workspace`."""
    from syncbot_sandbox.slack_api import create_slack_api

    slack = create_slack_api(workspace=workspace)
    with serving(*simulators, slack) as urls:
        # Response URLs the local Slack issues must point at it.
        slack.state.workspace.base_url = urls[-1]
        yield Sandbox([f"{url}/api/v1" for url in urls[:-1]], urls[-1], slack.state.workspace)


@dataclass(frozen=True)
class Hit:
    """One /api/ request the simulator got: arrival and answer times (epoch s), what, the status."""

    at: float
    done: float
    method: str
    path: str
    query: dict[str, list[str]]
    status: int

    @property
    def is_list(self) -> bool:
        """A page of the failed-run report."""
        return self.method == "GET" and self.path == LIST

    @property
    def retried_run(self) -> int | None:
        """The run a POST …/retry asked to retry."""
        match = _RETRY.match(self.path) if self.method == "POST" else None
        return int(match.group(1)) if match else None

    @property
    def is_retry(self) -> bool:
        """A retry Patchworks performed (answered 200)."""
        return self.retried_run is not None and self.status == 200

    @property
    def one_run(self) -> int | None:
        """The run a GET /flow-runs/{id} read."""
        match = _ONE_RUN.match(self.path) if self.method == "GET" else None
        return int(match.group(1)) if match else None


class RequestLog:
    """ASGI middleware recording every /api/ request the simulator answers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hits: list[Hit] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        at, status = time.time(), 0

        async def capture(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        query = parse_qs(scope["query_string"].decode())
        self.hits.append(Hit(at, time.time(), scope["method"], scope["path"], query, status))

    def snapshot(self) -> list[Hit]:
        """The hits so far (appended from the server's thread), in arrival order."""
        return sorted(list(self.hits), key=lambda hit: hit.at)


# -- the bot in its own process ----------------------------------------------------------------------

# Child code saying which bot package it imported, so a baseline that runs today's bot (or the
# reverse) is noticed: PYTHONPATH must come before the editable install.
SAY_BOT = """
import os, sys
import bot
print(f"bench-bot {os.path.realpath(bot.__file__)}", file=sys.stderr, flush=True)
"""
# `syncbot run` (bot.cli.main), as `python -m bot run` starts it.
RUN = (
    SAY_BOT
    + """
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""
)
# Child code printing the process's own peak RSS (VmHWM, KiB) on a line of its own.
PRINT_PEAK_KIB = """
import re as _re
print(_re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1], flush=True)
"""


def check_bot(label: str, log: str, src: Path | None) -> None:
    """RuntimeError unless the child said (SAY_BOT) it runs `src`'s bot, or this tree's for None."""
    said = re.search(r"^bench-bot (.+)$", log, re.M)
    expected = os.path.realpath((src or REPO) / "bot" / "__init__.py")
    if said is None or said.group(1) != expected:
        raise RuntimeError(f"{label} runs {said and said.group(1)}, not {expected}")


def clean_environ(src: Path | None = None) -> dict[str, str]:
    """This environment without any of the bot's settings (a developer's exported ones would
    change what is measured), importing `src`'s bot when given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SYNCBOT_", "PATCHWORKS_"))
        and key not in ("DATABASE_URL", "LOG_LEVEL", "PORT", "PYTHONPATH")
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)  # before the editable install of today's bot
    return env


def settings(
    channel: str, sim_url: str, slack_url: str, rpm: int, database: Path, **more: str
) -> dict[str, str]:
    """The bot's settings as environment variables, against the sandbox; `more` adds to them."""
    from syncbot_sandbox.slack_api import DEFAULT_TOKEN

    return {
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "SYNCBOT_CHANNEL": channel,
        "PATCHWORKS_API_URL": sim_url,
        "PATCHWORKS_API_KEY": SIM_KEY,
        "PATCHWORKS_REQUESTS_PER_MINUTE": str(rpm),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        **more,
    }


def free_port() -> int:
    """A port nothing listens on now; the bot binds it a moment later (PORT)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bot:
    """One `syncbot run` process on a free port, its stderr in `log`, run in `log`'s folder."""

    label: str
    env: dict[str, str]  # its settings (see `settings`)
    log: Path
    src: Path | None = None  # an older tree (a baseline) instead of the installed bot
    prelude: str = ""  # child code run first; it takes its own arguments, `args`, off sys.argv
    args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def start(self) -> None:
        self.port = free_port()
        env = {**clean_environ(self.src), **self.env, "PORT": str(self.port)}
        self.started_at = time.time()
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", self.prelude + RUN, *self.args, "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=self.src or self.log.parent,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /healthz answers (200, or 503 while Patchworks looks down) and the right bot runs."""
        import httpx

        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited:\n{self.text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/healthz", timeout=1)
                check_bot(self.label, self.text(), self.src)
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.label} did not answer /healthz")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(40)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def baseline_tree(commit: str) -> Iterator[Path]:
    """The repository at `commit`, extracted (git archive) into a temporary folder, so nothing in
    the work tree changes; the bench exits when it cannot be (a shallow clone)."""
    with tempfile.TemporaryDirectory() as tree:
        try:
            tar = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True)
            with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
                archive.extractall(tree, filter="data")
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"the baseline {commit} cannot be extracted (a shallow clone?): {exc}")
        yield Path(tree)


# -- readings and printing ---------------------------------------------------------------------------


def row(widths: Sequence[int], *cells: object) -> str:
    """A table's line: each cell right-aligned in its column (left-aligned for a negative width),
    so a header and its rows share one set of widths; a short row leaves the last columns out."""
    return " ".join(
        f"{cell:<{-width}}" if width < 0 else f"{cell:>{width}}"
        for width, cell in zip(widths, cells, strict=False)
    )


def memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in KiB (neither once it has exited)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(value) for key, value in re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M)}


def blur(line: str) -> str:
    """A log line as a kind of message: its time stamp dropped, numbers as N, cut to 160."""
    return re.sub(r"\d+", "N", re.sub(r"^\d{4}-\d\d-\d\d [\d:,]+ ", "", line))[:160]


def until(check: Callable[[], T], within: float, step: float = 0.05) -> T | None:
    """What `check` gives once it is truthy; None after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found or time.monotonic() >= deadline:
            return found or None
        time.sleep(step)


async def wait_for(what: str, check: Callable[[], T], within: float, step: float = 0.05) -> T:
    """In the event loop: what `check` gives once it is truthy; RuntimeError after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(step)
    raise RuntimeError(f"timed out after {within:.0f}s waiting for {what}")


def until_quiet(count: Callable[[], T], quiet: Callable[[T], float], within: float) -> None:
    """Until `count()` has not changed for `quiet(count())` seconds, at most `within`."""
    deadline, last, since = time.monotonic() + within, count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet(now):
            return
