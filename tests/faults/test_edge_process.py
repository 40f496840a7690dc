"""`syncbot run` as a real process under hostile HTTP: oversized and unsigned bodies are refused
without the memory they ask for, a deeply nested signed payload gets a 400 and no traceback, and
connections that never finish their headers are closed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from support.harness import SIGNING_SECRET, FakeSlack

from syncbot_sandbox.desk import Desk

pytestmark = pytest.mark.slow

MiB = 1 << 20
PEAK_RSS_LIMIT = 200 * MiB  # was 2.2 GB before the edge; about 85 MB at rest
HEADER_TIMEOUT_S = 1.0
# `python -m bot run`, with a header deadline short enough for a test (production waits 10 s).
LAUNCH = (
    "import dataclasses, runpy, bot.edge\n"
    "bot.edge.DEFAULT_LIMITS = dataclasses.replace(\n"
    f"    bot.edge.DEFAULT_LIMITS, header_timeout_s={HEADER_TIMEOUT_S})\n"
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)\n"
)


@dataclass
class Process:
    """A running `syncbot run` and where it listens."""

    popen: subprocess.Popen[str]
    url: str
    port: int
    stderr_path: Path

    def stop(self) -> str:
        """SIGTERM, wait, and return everything it wrote to stderr."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(timeout=20)
        return self.stderr_path.read_text()

    def peak_rss(self) -> int:
        """The process's high-water resident set size, in bytes."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def bot_process(settings_env: dict[str, str], tmp_path: Path) -> Iterator[Process]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stderr_path = tmp_path / "stderr.log"
    # A file, not a pipe: nobody reads a pipe while the test runs, and a full one would stall the bot.
    with stderr_path.open("w") as stderr:
        popen = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "run"],
            env={**os.environ, **settings_env, "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    process = Process(popen, f"http://127.0.0.1:{port}", port, stderr_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert popen.poll() is None, process.stderr_path.read_text()
            assert time.monotonic() < deadline, "syncbot run did not start listening"
            try:
                if httpx.get(f"{process.url}/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process
    finally:
        process.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def timed_post(
    client: httpx.AsyncClient, url: str, content: bytes | AsyncIterator[bytes]
) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.post(url, content=content)
    return response.status_code, time.monotonic() - started


async def test_oversized_and_unsigned_floods_are_refused_in_bounded_memory(
    bot_process: Process, client: httpx.AsyncClient
) -> None:
    url = f"{bot_process.url}/slack/events"
    big = b"payload=" + b"x" * (24 * MiB)

    async def chunked(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // (256 * 1024)):
            yield b"x" * (256 * 1024)

    at_rest = bot_process.peak_rss()
    requests = [timed_post(client, url, big) for _ in range(6)]
    requests += [timed_post(client, url, chunked(24 * MiB)) for _ in range(3)]
    requests += [timed_post(client, url, b"payload=" + b"x" * (MiB - 100)) for _ in range(3)]
    answers = await asyncio.gather(*requests)
    peak = bot_process.peak_rss()

    print(f"\npeak RSS {peak / MiB:.0f} MiB (at rest {at_rest / MiB:.0f} MiB); answers {answers}")
    assert [status for status, _ in answers] == [413] * 9 + [401] * 3
    assert max(seconds for _, seconds in answers) < 5
    assert peak < PEAK_RSS_LIMIT
    assert (await client.get(f"{bot_process.url}/healthz")).status_code == 200
    assert "Traceback" not in bot_process.stop()


async def test_a_signed_payload_nested_100000_deep_gets_400_and_no_traceback(
    bot_process: Process, client: httpx.AsyncClient, slack: FakeSlack
) -> None:
    url = f"{bot_process.url}/slack/events"
    desk = Desk(slack.workspace, url, SIGNING_SECRET, slack_url=slack.url, http=client)
    body = "payload=" + quote("[" * 100_000 + "]" * 100_000)

    response = await client.post(url, content=body, headers=desk.signed_headers(body))

    assert response.status_code == 400
    assert (await client.get(f"{bot_process.url}/healthz")).status_code == 200
    stderr = bot_process.stop()
    assert "Traceback" not in stderr
    warnings = [line for line in stderr.splitlines() if " WARNING bot.edge" in line]
    assert len(warnings) == 1
    assert "signed request to /slack/events rejected" in warnings[0]
    assert "[[" not in stderr
    assert "%5B" not in stderr


@pytest.mark.parametrize(
    "head",
    [b"", b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Le"],
    ids=["silent", "partial-headers"],
)
async def test_connections_that_never_finish_their_headers_are_closed(
    bot_process: Process, head: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bot_process.port)
    try:
        writer.write(head)
        await writer.drain()
        started = time.monotonic()
        received = await asyncio.wait_for(reader.read(), 10)
        waited = time.monotonic() - started
    finally:
        writer.close()
        await writer.wait_closed()

    assert received == b""
    assert HEADER_TIMEOUT_S - 0.2 < waited < HEADER_TIMEOUT_S + 2
