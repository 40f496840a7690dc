"""The HTTP edge in front of Bolt for POST /slack/events: bounded bodies, Slack's signature checked
over the raw bytes before anything parses them, unreadable bodies answered 400, and uvicorn settings
that close idle, slow and half-open connections and refuse oversized headers, with either of
uvicorn's HTTP/1.1 protocols (httptools, the default, or h11)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

import h11
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "BODY_TIMEOUT_S",
    "DEFAULT_LIMITS",
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "MAX_JSON_DEPTH",
    "SIGNATURE_MAX_AGE_S",
    "EdgeLimits",
    "HttpProtocol",
    "SlackEdge",
    "body_problem",
    "sign",
    "signature_problem",
    "uvicorn_options",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576  # Slack's payloads are a few KiB; a modal with every block is far below this
MAX_HEADER_BYTES = 16_384  # request line and headers together
MAX_JSON_DEPTH = 64  # Slack nests about a dozen levels; the bound keeps later code far from recursion limits
SIGNATURE_MAX_AGE_S = 300  # Slack's own rule: a request older than five minutes may be a replay
HEADER_TIMEOUT_S = 10.0  # Slack gives up on an answer after 3 s, so a slower sender is not Slack
BODY_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
# Slack delivers bursts of 100 interactions at once (one connection each); past this uvicorn
# answers 503. An unsigned body is never parsed, so a flood holds at most one raw copy per
# connection (256 MiB at 1 MiB each); signed bodies, which are parsed, come only from Slack.
MAX_CONNECTIONS = 256

HttpProtocol = Literal["httptools", "h11"]  # uvicorn's two HTTP/1.1 implementations

_TIMESTAMP = re.compile(r"\d{1,12}", re.ASCII)


@dataclass(frozen=True)
class EdgeLimits:
    """Size and time limits at the edge; the defaults are the production values."""

    max_body_bytes: int = MAX_BODY_BYTES
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S
    keep_alive_s: int = KEEP_ALIVE_S
    max_connections: int = MAX_CONNECTIONS


DEFAULT_LIMITS = EdgeLimits()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":", hashlib.sha256)
    mac.update(body)
    return "v0=" + mac.hexdigest()


def signature_problem(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """Why the request is not Slack's (unsigned, stale, forged), or None when it is."""
    if not timestamp or not signature:
        return "unsigned"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "unreadable timestamp"
    if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE_S:
        return "stale timestamp"
    # Header values arrive latin-1 decoded; comparing bytes keeps non-ASCII input from raising.
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("latin-1")):
        return "bad signature"
    return None


def _too_deep(value: Any, limit: int) -> bool:
    # Iterative on purpose: a recursive walk would hit the recursion limit it is meant to guard.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_problem(text: str) -> str | None:
    try:
        value = json.loads(text)
    except RecursionError:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as exc:  # JSONDecodeError included
        return f"unreadable JSON ({type(exc).__name__})"
    if not isinstance(value, dict):
        return "JSON is not an object"
    if _too_deep(value, MAX_JSON_DEPTH):
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return None


def body_problem(text: str, content_type: str | None) -> str | None:
    """Why Bolt could not read this body safely, or None; it decides JSON or form as Bolt does."""
    if not text:
        return None
    if content_type == "application/json" or text.startswith("{"):
        return _json_problem(text)
    if "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        return None if payload is None else _json_problem(payload)
    return None  # a plain form (slash commands): parse_qsl reads any text


class _TooLarge(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class SlackEdge:
    """POST /slack/events: size, time and signature checks on raw bytes, then Bolt."""

    def __init__(
        self,
        bolt: AsyncApp,
        signing_secret: str,
        limits: EdgeLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            raise ValueError("HTTP mode needs a signing secret")
        self._bolt = bolt
        self._secret = signing_secret
        self._limits = limits or DEFAULT_LIMITS
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        """Answer one request: 413/408/401/400 at the edge, or whatever Bolt answers."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limits.max_body_bytes:
            log.info("request to /slack/events refused: Content-Length %s is over the limit", declared)
            return _error(413, "request body too large")
        try:
            raw = await self._read(request)
        except _TooLarge:
            log.info("request to /slack/events refused: body over %d bytes", self._limits.max_body_bytes)
            return _error(413, "request body too large")
        except TimeoutError:
            log.info("request to /slack/events refused: body not received in time")
            return _error(408, "request body not received in time", {"connection": "close"})
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening for the answer

        headers = request.headers
        problem = signature_problem(
            self._secret,
            headers.get("x-slack-request-timestamp"),
            headers.get("x-slack-signature"),
            raw,
            self._clock(),
        )
        if problem is not None:
            log.info("request to /slack/events refused: %s", problem)
            return _error(401, "invalid request")
        return await self._dispatch(request, raw)

    async def _read(self, request: Request) -> bytes:
        # Counting while streaming covers chunked bodies and lying clients alike; the rest of an
        # oversized body is never read into memory (uvicorn discards it after the answer).
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self._limits.body_timeout_s):
            async with contextlib.aclosing(request.stream()) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > self._limits.max_body_bytes:
                        raise _TooLarge
                    chunks.append(chunk)
        return b"".join(chunks)

    async def _dispatch(self, request: Request, raw: bytes) -> Response:
        content_type = request.headers.get("content-type")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._unreadable("body is not UTF-8")
        problem = body_problem(text, content_type.split(";")[0] if content_type else None)
        if problem is not None:
            return self._unreadable(problem)
        headers: dict[str, str | Sequence[str]] = {
            key: request.headers.getlist(key) for key in request.headers
        }
        try:
            bolt_request = AsyncBoltRequest(body=text, query=request.url.query, headers=headers)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            # A JSON object of an unexpected shape (e.g. `"authorizations": [1]`) trips Bolt's
            # context extraction; it is bad input, not a server fault.
            return self._unreadable(f"unexpected payload shape ({type(exc).__name__})")
        return to_starlette_response(await self._bolt.async_dispatch(bolt_request))

    def _unreadable(self, reason: str) -> Response:
        log.warning("signed request to /slack/events rejected: %s", reason)
        return _error(400, "invalid request body")


class _Deadlines:
    """Deadlines for what the client owes (`_owes`: "headers", "body" or None); mixed into both of
    uvicorn's protocols, which call `_watch` whenever that may have changed."""

    limits: ClassVar[EdgeLimits] = DEFAULT_LIMITS
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _deadline: asyncio.TimerHandle | None = None
    _owed: str | None = None

    def _owes(self) -> str | None:
        raise NotImplementedError

    # Both protocols end a response and lose a connection the same way.
    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _watch(self) -> None:
        owed = self._owes()
        if owed == self._owed:
            return  # never extend a running deadline: a byte at a time must not keep it open
        self._disarm()
        self._owed = owed
        if owed is not None:
            delay = self.limits.header_timeout_s if owed == "headers" else self.limits.body_timeout_s
            self._deadline = self.loop.call_later(delay, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class _GuardedH11Protocol(_Deadlines, H11Protocol):
    """uvicorn's h11 protocol with deadlines for what the client owes: the request headers (from
    connect or the end of the previous response), and the rest of a body already answered (413).
    Its header size limit is h11's own (`h11_max_incomplete_event_size`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def _owes(self) -> str | None:
        if self.transport.is_closing():
            return None
        theirs, ours = self.conn.their_state, self.conn.our_state
        if theirs is h11.IDLE and ours is h11.IDLE:
            return "headers"
        if theirs is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE):
            return "body"
        return None  # a request in progress: the endpoint bounds its own body read


# Where httptools is in the request it is reading.
_IDLE, _HEADERS, _BODY, _DONE = "idle", "headers", "body", "done"


class _GuardedHttpToolsProtocol(_Deadlines, HttpToolsProtocol):
    """uvicorn's httptools protocol with the same deadlines as `_GuardedH11Protocol`, and the
    header size limit h11 enforces with `h11_max_incomplete_event_size` (httptools has none)."""

    _phase: str = _IDLE
    _begun: int = 0  # requests begun while parsing the current chunk
    _header_bytes: int = 0  # bytes of the header block being read (request line included)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        started = self._phase
        self._begun = 0
        super().data_received(data)  # the parser calls the on_* methods below
        if self._phase == _HEADERS and not self.transport.is_closing():
            if self._begun == 0:
                self._header_bytes += len(data)  # the whole chunk continues the header block
            elif self._begun == 1 and started in (_IDLE, _DONE):
                self._header_bytes = len(data)  # the chunk starts with this request
            # Otherwise the request began after another one's body in this chunk: counting starts
            # with the next chunk, so the bound is the limit plus one read, never unbounded.
            if self._header_bytes > MAX_HEADER_BYTES:
                log.info("request refused: headers over %d bytes", MAX_HEADER_BYTES)
                self.send_400_response("Invalid HTTP request received.")
        self._watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._header_bytes = _HEADERS, 0
        self._begun += 1

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _DONE
        super().on_message_complete()

    def _owes(self) -> str | None:
        if self.transport.is_closing():
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # a request in progress: the endpoint bounds its own body read
        # Answered (or none yet): the rest of an answered body, or the next request's headers.
        return "body" if self._phase == _BODY else "headers"


def _protocol(limits: EdgeLimits, http: HttpProtocol) -> type[H11Protocol | HttpToolsProtocol]:
    bound = limits
    if http == "h11":

        class GuardedH11Protocol(_GuardedH11Protocol):
            limits = bound

        return GuardedH11Protocol

    class GuardedHttpToolsProtocol(_GuardedHttpToolsProtocol):
        limits = bound

    return GuardedHttpToolsProtocol


def uvicorn_options(limits: EdgeLimits | None = None, http: HttpProtocol = "httptools") -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config that enforce the edge's connection limits, with
    uvicorn's httptools protocol (the faster) or its h11 one; both keep every limit."""
    chosen = limits or DEFAULT_LIMITS
    return {
        "http": _protocol(chosen, http),
        "ws": "none",  # nothing here speaks WebSocket; refuse upgrades instead of handing them on
        "timeout_keep_alive": chosen.keep_alive_s,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,  # h11's header limit; httptools': above
        "limit_concurrency": chosen.max_connections,
    }
