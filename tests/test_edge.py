"""The HTTP edge in front of Bolt: oversized bodies get 413 before they are read, unsigned ones 401
before they are parsed, unreadable signed ones 400 without a traceback, and slow or silent
connections are closed; a real uvicorn server on a free port, requests over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.routing import Route
from support.harness import CHANNEL, SIGNING_SECRET, FakeSlack, RunningBot

from blocks.ids import Command
from bot.edge import (
    MAX_JSON_DEPTH,
    EdgeLimits,
    SlackEdge,
    body_problem,
    sign,
    signature_problem,
    uvicorn_options,
)

ANA = "U0ADA"
NOW = 1_700_000_000
MiB = 1 << 20
DEEP = "[" * 100_000 + "]" * 100_000
SHORT = EdgeLimits(header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=5)


def nested(depth: int) -> str:
    """A JSON object holding lists `depth` levels deep in all."""
    return '{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_the_signature_is_slacks_own() -> None:
    body = b"command=%2Ffailed-syncs&text=help"
    expected = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=str(NOW), body=body)
    assert sign(SIGNING_SECRET, str(NOW), body) == expected


@pytest.mark.parametrize(
    ("timestamp", "signature", "age", "problem"),
    [
        (None, None, 0, "unsigned"),
        (str(NOW), None, 0, "unsigned"),
        ("12e3", "v0=00", 0, "unreadable timestamp"),
        ("١٢٣", "v0=00", 0, "unreadable timestamp"),  # Arabic-Indic digits pass str.isdigit
        (str(NOW), "v0=" + "0" * 64, 0, "bad signature"),
        (str(NOW), "v0=é", 0, "bad signature"),
        (str(NOW), "good", 301, "stale timestamp"),
        (str(NOW), "good", -301, "stale timestamp"),
        (str(NOW), "good", 299, None),
    ],
)
def test_signature_problems(
    timestamp: str | None, signature: str | None, age: int, problem: str | None
) -> None:
    body = b"payload=%7B%7D"
    if signature == "good":
        signature = sign(SIGNING_SECRET, str(NOW), body)
    assert signature_problem(SIGNING_SECRET, timestamp, signature, body, NOW + age) == problem


@pytest.mark.parametrize(
    ("text", "content_type", "readable"),
    [
        ("", None, True),
        ("command=%2Ffailed-syncs&text=%5B%5B", "application/x-www-form-urlencoded", True),
        ("payload=%7B%22type%22%3A%22block_actions%22%7D", "application/x-www-form-urlencoded", True),
        ('{"type":"event_callback"}', "application/json", True),
        ("payload=" + quote(nested(MAX_JSON_DEPTH)), None, True),
        ("payload=" + quote(nested(MAX_JSON_DEPTH + 1)), None, False),
        ("payload=%5B%5D", None, False),
        ("payload=", None, False),
        ('{"type":"event_callback","event":{', "application/json", False),
        ("[1]", "application/json", False),
        (DEEP, "application/json", False),
    ],
)
def test_body_problems(text: str, content_type: str | None, readable: bool) -> None:
    assert (body_problem(text, content_type) is None) is readable


# -- through the bot's real HTTP app ---------------------------------------------------------------


async def status_line(url: str, head: bytes) -> bytes:
    """Send raw request bytes and return the response's status line."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_an_oversized_content_length_gets_413_before_the_body_is_sent(http_bot: RunningBot) -> None:
    head = (
        b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % (24 * MiB)
    )
    assert (await status_line(http_bot.url, head)).startswith(b"HTTP/1.1 413")


async def test_an_oversized_chunked_body_gets_413(http_bot: RunningBot) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(32):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{http_bot.url}/slack/events", content=chunks())
    assert response.status_code == 413
    assert sent == 2 * MiB  # it really was sent, chunked, past the limit


@pytest.mark.parametrize("body", ["payload=%5B%5D", "payload=" + quote(DEEP), "command=%2Ffailed-syncs"])
@pytest.mark.parametrize("forgery", ["unsigned", "bad signature", "stale"])
async def test_unsigned_forged_and_stale_requests_get_401_and_are_never_parsed(
    http_bot: RunningBot, caplog: pytest.LogCaptureFixture, body: str, forgery: str
) -> None:
    caplog.set_level(logging.INFO)
    if forgery == "unsigned":
        response = await http_bot.desk._http.post(f"{http_bot.url}/slack/events", content=body)
    elif forgery == "bad signature":
        response = await http_bot.desk.send(body, headers={"x-slack-signature": "v0=" + "0" * 64})
    else:
        response = await http_bot.desk.send(body, timestamp=int(time.time()) - 301)

    assert response.status_code == 401
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # nothing was parsed
    for fragment in ("%5B", "[[", "failed-syncs"):
        assert fragment not in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=" + quote(DEEP), "application/x-www-form-urlencoded"),
        ('{"type":"event_callback","event":' + DEEP + "}", "application/json"),
    ],
)
async def test_a_signed_payload_nested_100000_deep_gets_400_without_a_traceback(
    http_bot: RunningBot, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)

    response = await http_bot.desk.send(body, headers={"content-type": content_type})

    assert response.status_code == 400
    assert response.json() == {"error": "invalid request body"}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.exc_info) for r in warnings] == [("bot.edge", None)]
    assert "Traceback" not in caplog.text
    assert "[[" not in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
        (b"payload=%7B%22type%22%3A%22block_actions%22", "application/x-www-form-urlencoded"),
        (b'{"type":"event_callback","event":{"type":"app_mention"', "application/json"),
        (b"payload=\xff\xfe%7B%7D", "application/x-www-form-urlencoded"),
        (b'{"type":"event_callback","event":"\xc3\x28"}', "application/json"),
        (b'{"type":"block_actions","authorizations":[1]}', "application/json"),
    ],
    ids=["payload-list", "cut-off-payload", "cut-off-json", "latin-1-form", "invalid-utf8-json", "odd-shape"],
)
async def test_unreadable_signed_bodies_get_400_and_one_warning(
    http_bot: RunningBot, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    stamp = str(int(time.time()))
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": sign(SIGNING_SECRET, stamp, body),
    }

    response = await http_bot.desk._http.post(f"{http_bot.url}/slack/events", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid request body"}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.exc_info) for r in warnings] == [("bot.edge", None)]
    assert "Traceback" not in caplog.text


async def test_a_signed_slash_command_still_gets_its_answer(http_bot: RunningBot, slack: FakeSlack) -> None:
    response = await http_bot.desk.command(ANA, CHANNEL, Command.FAILED_SYNCS, "help")

    assert response.status_code == 200
    deadline = time.monotonic() + 8
    while not slack.workspace.ephemerals.get((CHANNEL, ANA)):
        assert time.monotonic() < deadline, "no reply"
        await asyncio.sleep(0.05)
    assert "/failed-syncs" in str(slack.workspace.ephemerals[(CHANNEL, ANA)][-1].blocks)


async def test_url_verification_is_still_answered(http_bot: RunningBot) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})

    response = await http_bot.desk.send(body, headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}


# -- connection deadlines (uvicorn with the edge's options, short limits) ---------------------------


@pytest.fixture(params=["httptools", "h11"])
async def guarded(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    """/slack/events behind the edge with SHORT limits, served with the edge's uvicorn options,
    over each of uvicorn's HTTP protocols."""
    bolt = AsyncApp(token="xoxb-unused", signing_secret=SIGNING_SECRET)
    edge = SlackEdge(bolt, SIGNING_SECRET, SHORT)
    app = Starlette(routes=[Route("/slack/events", edge.handle, methods=["POST"])])
    options = uvicorn_options(SHORT, http=request.param)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


async def until_closed(
    address: tuple[str, int], head: bytes, *, dribble: bool = False
) -> tuple[bytes, float]:
    """Send `head` (then a header byte every 0.1 s if `dribble`); what came back before the server
    closed the connection, and how long after `head` that was."""
    reader, writer = await asyncio.open_connection(*address)

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(0.1)
                writer.write(b"a")
                await writer.drain()

    writer.write(head)
    await writer.drain()
    started = time.monotonic()
    dribbler = asyncio.create_task(trickle()) if dribble else None
    try:
        return await asyncio.wait_for(_read_until_closed(reader), 5), time.monotonic() - started
    finally:
        if dribbler is not None:
            dribbler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dribbler
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before closing. A server closing while bytes we sent are still
    unread sends a reset, not a clean end: what it sent before still counts."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


PARTIAL = b"POST /slack/events HTTP/1.1\r\nHost: t\r\nX-Pad: "


@pytest.mark.parametrize(
    ("head", "dribble"),
    [(b"", False), (PARTIAL, False), (PARTIAL, True)],
    ids=["silent", "partial-headers", "a-byte-every-100ms"],
)
async def test_connections_that_do_not_finish_their_headers_are_closed(
    guarded: tuple[str, int], head: bytes, dribble: bool
) -> None:
    received, waited = await until_closed(guarded, head, dribble=dribble)

    assert received == b""
    assert SHORT.header_timeout_s - 0.1 < waited < SHORT.header_timeout_s + 1.0


async def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(
    guarded: tuple[str, int],
) -> None:
    first = b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"

    received, waited = await until_closed(guarded, first + PARTIAL, dribble=True)

    assert received.startswith(b"HTTP/1.1 401")
    assert waited < SHORT.header_timeout_s + 1.0


async def test_a_body_that_stops_arriving_gets_408_and_the_connection_closed(
    guarded: tuple[str, int],
) -> None:
    head = b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npayload=%7B"

    received, waited = await until_closed(guarded, head)

    assert received.startswith(b"HTTP/1.1 408")
    assert SHORT.body_timeout_s - 0.1 < waited < SHORT.body_timeout_s + 1.0


async def test_the_rest_of_a_refused_body_is_not_awaited_forever(guarded: tuple[str, int]) -> None:
    head = b"POST /slack/events HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\nxx" % (24 * MiB)

    received, waited = await until_closed(guarded, head)

    assert received.startswith(b"HTTP/1.1 413")
    assert waited < SHORT.body_timeout_s + 1.0


async def test_headers_past_the_limit_are_refused_without_waiting_for_their_end(
    guarded: tuple[str, int],
) -> None:
    head = PARTIAL + b"a" * 20_000

    received, _ = await until_closed(guarded, head)

    assert received.startswith(b"HTTP/1.1 400")
