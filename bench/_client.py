"""What people send the bot in the benches: Slack's signed requests (built by the sandbox's Desk,
v0 HMAC-SHA256 over `v0:{ts}:{body}`) and bursts of raw HTTP requests, each on its own connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from _harness import SECRET

if TYPE_CHECKING:
    from syncbot_sandbox.desk import Desk
    from syncbot_sandbox.store import Workspace

Signed = tuple[bytes, dict[str, str]]  # a request's body and headers, as Slack sends them


def signing_desk(workspace: Workspace, app_url: str, slack_url: str, **options: Any) -> Desk:
    """People at Slack, sending signed requests to the bot at `app_url`."""
    from syncbot_sandbox.desk import Desk

    return Desk(workspace, app_url, SECRET, slack_url=slack_url, **options)


@contextlib.asynccontextmanager
async def recording(
    workspace: Workspace, app_url: str, slack_url: str
) -> AsyncIterator[tuple[Desk, list[Signed]]]:
    """A Desk whose requests are kept, signed, instead of sent: a burst is built before it is
    fired, so building it is not part of what is measured."""
    import httpx

    kept: list[Signed] = []

    def keep(request: httpx.Request) -> httpx.Response:
        kept.append((request.content, dict(request.headers)))
        return httpx.Response(200)

    people = signing_desk(
        workspace, app_url, slack_url, http=httpx.AsyncClient(transport=httpx.MockTransport(keep))
    )
    try:
        yield people, kept
    finally:
        await people.aclose()


def buttons(blocks: list[dict[str, Any]], action_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(block id, element) of each element with this action in a message's actions blocks."""
    return [
        (str(block.get("block_id", "")), element)
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("action_id") == action_id
    ]


def post(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    """A signed request to /slack/events, as raw HTTP/1.1."""
    lines = [b"POST /slack/events HTTP/1.1", b"host: 127.0.0.1:%d" % port]
    for name in ("content-type", "x-slack-request-timestamp", "x-slack-signature"):
        lines.append(f"{name}: {headers[name]}".encode())
    lines += [b"content-length: %d" % len(body), b"connection: close", b"", b""]
    return b"\r\n".join(lines) + body


def get(port: int, path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nhost: 127.0.0.1:%d\r\nconnection: close\r\n\r\n" % (path.encode(), port)


@dataclass(frozen=True)
class Answer:
    """How one request of a burst went."""

    sent: float  # epoch s, just before connecting
    seconds: float  # from then to the last byte of the answer (or to the failure)
    status: int  # the HTTP status; 0 when there was no answer


async def _one(port: int, request: bytes) -> Answer:
    sent, started = time.time(), time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        answer = await reader.read()  # to the end: every request says connection: close
        seconds = time.perf_counter() - started
        writer.close()
    except OSError:
        return Answer(sent, time.perf_counter() - started, 0)
    return Answer(sent, seconds, int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0)


def fire(port: int, requests: Sequence[bytes]) -> list[Answer]:
    """Send every request at once, each on its own connection; their answers, in order."""

    async def burst() -> list[Answer]:
        return await asyncio.gather(*(_one(port, request) for request in requests))

    return asyncio.run(burst())
