"""The SyncReport adapter for the Patchworks Core API (dialect: docs/core-api-dialect.md)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.patchworks._pacer import WINDOW_SECONDS, Pacer, SharedWindow, Turn, retry_after_seconds
from bot.patchworks._parse import (
    Included,
    as_int,
    index_included,
    parse_flow,
    parse_logs,
    parse_run,
    parse_runs,
)
from bot.patchworks._responses import Method, ResponseReader, message_of
from bot.patchworks._shared import SharedReads
from bot.patchworks.errors import (
    BadResponse,
    NotFound,
    RateLimited,
    ResyncRefused,
    Unavailable,
)
from bot.patchworks.lanes import Budget, Lane, current_lane
from bot.patchworks.models import ErrorLine, Flow, SyncEntry
from bot.textsafe import Scrubber

__all__ = ["CoreApiReport"]

logger = logging.getLogger(__name__)

_PER_PAGE = 100  # the documented maximum page size (docs/core-api-dialect.md)
_RUN_INCLUDES = "flow,errorWarningLogs,retriedFlowRun"
_FAILED_STATUSES = "3,5"  # failure and partial success
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 30.0
# A Retry-After longer than this is not waited out inside one call: the caller gets RateLimited,
# and so does every call until it has passed.
_MAX_RETRY_AFTER = 120.0
# Guards against a server that ignores `page` and sends no meta: never loop forever.
_MAX_PAGES = 10_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> str:
    # Naive datetimes are taken as UTC, the API's own zone; integer maths avoids float rounding.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return str((aware - _EPOCH) // timedelta(milliseconds=1))


def _has_next(payload: Mapping[str, Any], count: int, per_page: int) -> bool:
    """Whether a list page says more pages follow; without meta or links, a full page means maybe."""
    if count == 0:
        return False
    meta = payload.get("meta")
    if isinstance(meta, Mapping):
        current, last = as_int(meta.get("current_page")), as_int(meta.get("last_page"))
        if current is not None and last is not None:
            return current < last
    links = payload.get("links")
    if isinstance(links, Mapping) and "next" in links:
        return bool(links["next"])
    if isinstance(meta, Mapping) and (size := as_int(meta.get("per_page"))):
        per_page = size  # the server may clamp per_page below what we asked
    return count >= per_page


class CoreApiReport:
    """Failed flow runs, their logs and retries, read from the Patchworks Core API.

    Every request waits for the one pacer (bot/patchworks/_pacer.py) in the caller's lane
    (bot/patchworks/lanes.py); identical GETs in flight at once are sent once (_shared.py).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        app_url: str,
        requests_per_minute: int = 240,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW_SECONDS,
        shared_window: SharedWindow | None = None,
    ) -> None:
        """`shared_window`: the account's window as every replica spends it (None: this process
        has the budget to itself)."""
        self._base_url = base_url.rstrip("/")
        self._app_url = app_url
        self._read = ResponseReader(Scrubber([api_key]))
        self._max_retries = max(0, max_retries)
        self._sleep = sleep
        self._pacer = Pacer(
            requests_per_minute,
            clock=clock,
            sleep=sleep,
            window=window,
            max_pause=_MAX_RETRY_AFTER,
            shared=shared_window,
        )
        self._reads: SharedReads[Mapping[str, Any]] = SharedReads()
        self._client = httpx.AsyncClient(
            base_url=self._base_url + "/",
            headers={
                "Authorization": api_key,  # the raw key, no "Bearer" (docs/core-api-dialect.md)
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self.requests_made = 0
        # Told of every request sent: its lane and HTTP status, None when no answer came (metrics).
        self.on_request: Callable[[Lane, int | None], None] = lambda lane, status: None

    def __repr__(self) -> str:
        return f"CoreApiReport(base_url={self._base_url!r}, app_url={self._app_url!r})"

    async def __aenter__(self) -> CoreApiReport:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release connections (after sharing any pause with the other replicas)."""
        await self._pacer.aclose()
        await self._client.aclose()

    @property
    def budget(self) -> Budget:
        """The request budget now: used, paused, and calls waiting in each lane."""
        return self._pacer.budget(shared_reads=len(self._reads))

    # ---- the SyncReport port -------------------------------------------------------------

    async def failed_pages(
        self, since: datetime, *, until: datetime | None = None, search: str | None = None
    ) -> AsyncGenerator[list[SyncEntry], None]:
        """Failed entries started at or after `since`, oldest first, one page at a time."""
        params = {
            "filter[status]": _FAILED_STATUSES,
            "filter[started_after]": _ms(since),
            "include": _RUN_INCLUDES,
            "sort": "started_at",
        }
        if until is not None:
            params["filter[started_before]"] = _ms(until)
        if search:
            params["filter[search]"] = search
        async for items, included in self._pages("/flow-runs", params):
            entries = parse_runs(items, included=included, app_url=self._app_url)
            if entries:
                yield entries

    async def entry(self, run_id: int) -> SyncEntry:
        """One entry with its flow and error lines, read fresh."""
        path = f"/flow-runs/{run_id}"
        payload = await self._get(path, {"include": _RUN_INCLUDES}, not_found=_run_gone(run_id))
        data = payload["data"]
        try:
            found = parse_run(data, included=index_included(payload.get("included")), app_url=self._app_url)
        except ValueError as exc:  # ParseError, or pydantic's ValidationError
            raise BadResponse(
                f"Patchworks sent run {run_id} in a shape we cannot read: {self._read.shown(str(exc))}"
            ) from None
        if found.errors:
            return found
        # The include may be unsupported or empty; the log endpoint is the authoritative source.
        try:
            lines = await self.error_lines(run_id)
        except NotFound:
            return found
        return found.model_copy(update={"errors": tuple(lines)}) if lines else found

    async def error_lines(self, run_id: int) -> list[ErrorLine]:
        """All error and warning lines of a run's log."""
        lines: list[ErrorLine] = []
        params = {"sort": "id"}
        async for items, included in self._pages(
            f"/flow-runs/{run_id}/flow-run-logs", params, not_found=_run_gone(run_id)
        ):
            lines.extend(parse_logs(items, included))
        return lines

    async def flow(self, flow_id: int) -> Flow:
        """A flow's name and whether it is enabled."""
        path = f"/flows/{flow_id}"
        payload = await self._get(path, None, not_found=f"flow {flow_id} not found in Patchworks")
        try:
            return parse_flow(payload["data"], index_included(payload.get("included")))
        except ValueError as exc:  # ParseError, or pydantic's ValidationError
            raise BadResponse(
                f"Patchworks sent flow {flow_id} in a shape we cannot read: {self._read.shown(str(exc))}"
            ) from None

    async def resync(self, run_id: int) -> int:
        """Retry a run; returns the id of the new run."""
        path = f"/flow-runs/{run_id}/retry"
        response = await self._send("POST", path, None, Turn(current_lane()))
        if response.status_code == 422:
            message = message_of(response)
            raise ResyncRefused(
                self._read.shown(message)
                if message
                else f"Patchworks refused to retry run {run_id} (HTTP 422)"
            )
        try:
            payload = self._read.payload("POST", path, response, not_found=_run_gone(run_id))
        except BadResponse as exc:
            if response.is_success:
                # The retry probably started: say so rather than invite a second one.
                raise BadResponse(
                    f"Patchworks accepted the retry of run {run_id}; its answer was unreadable: {exc}"
                ) from None
            raise
        new_id = as_int(payload["data"].get("id"))
        if new_id is None:
            raise BadResponse(
                f"Patchworks accepted the retry of run {run_id} (HTTP {response.status_code}) "
                "but did not say the new run's id"
            )
        logger.info("retried Patchworks run %s as run %s", run_id, new_id)
        return new_id

    # ---- transport -------------------------------------------------------------------------

    async def _pages(
        self, path: str, params: Mapping[str, str], *, not_found: str | None = None
    ) -> AsyncGenerator[tuple[list[Any], Included], None]:
        """Raw `data` and `included` of each page of a list endpoint, fetched one at a time."""
        previous_ids: list[object] | None = None
        for page in range(1, _MAX_PAGES + 1):
            query = {**params, "per_page": str(_PER_PAGE), "page": str(page)}
            payload = await self._get(path, query, not_found=not_found, list_data=True)
            items: list[Any] = payload["data"]
            ids = [item.get("id") if isinstance(item, Mapping) else None for item in items]
            if items and ids == previous_ids:
                logger.warning("Patchworks sent page %s of %s again; stopping there", page, path)
                return
            previous_ids = ids
            yield items, index_included(payload.get("included"))
            if not _has_next(payload, len(items), _PER_PAGE):
                return
        logger.warning("stopped reading %s after %s pages", path, _MAX_PAGES)

    async def _get(
        self,
        path: str,
        params: Mapping[str, str] | None,
        *,
        not_found: str | None = None,
        list_data: bool = False,
    ) -> Mapping[str, Any]:
        """A GET's payload; a caller asking while the same GET is in flight shares its answer."""

        async def fetch(turn: Turn) -> Mapping[str, Any]:
            response = await self._send("GET", path, params, turn)
            return self._read.payload("GET", path, response, not_found=not_found, list_data=list_data)

        key = ("GET", path, tuple(sorted((params or {}).items())))
        return await self._reads.read(key, current_lane(), fetch)

    async def _send(
        self, method: Method, path: str, params: Mapping[str, str] | None, turn: Turn
    ) -> httpx.Response:
        """One request with pacing and retries; returns the first response that is not retried."""
        idempotent = method == "GET"
        attempts = self._max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            await self._pacer.acquire(turn)
            self.requests_made += 1
            try:
                response = await self._client.request(method, path.lstrip("/"), params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                self.on_request(turn.lane, None)
                # Nothing reached Patchworks, so even a POST is safe to send again.
                if last:
                    raise Unavailable(self._unreachable(method, path, exc, attempts)) from None
                await self._backoff(method, path, attempt, type(exc).__name__)
                continue
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self.on_request(turn.lane, None)
                if not idempotent:
                    raise Unavailable(self._outcome_unknown(path, type(exc).__name__)) from None
                if last:
                    raise Unavailable(self._unreachable(method, path, exc, attempts)) from None
                await self._backoff(method, path, attempt, type(exc).__name__)
                continue
            status = response.status_code
            self.on_request(turn.lane, status)
            remaining = response.headers.get("X-RateLimit-Remaining", "")
            if remaining.isdigit() and len(remaining) < 7:
                self._pacer.observe_remaining(int(remaining))
            if status == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None:
                    self._pacer.pause(wait)  # the account is over budget: every lane waits
                if last or (wait is not None and wait > _MAX_RETRY_AFTER):
                    raise RateLimited(
                        f"Patchworks kept rate-limiting {method} {path} (HTTP 429 after {attempt + 1} "
                        "attempts); try again shortly",
                        retry_after=wait,
                    )
                if wait is None:
                    await self._backoff(method, path, attempt, "HTTP 429")
                else:
                    # The next acquire waits the pause out, with every other call.
                    logger.warning("Patchworks rate-limited %s %s; pausing %.1fs", method, path, wait)
                continue
            if status >= 500:
                if not idempotent:
                    raise Unavailable(self._outcome_unknown(path, f"HTTP {status}"))
                if last:
                    raise Unavailable(
                        f"Patchworks answered HTTP {status} to {method} {path} after {attempts} attempts"
                    )
                await self._backoff(method, path, attempt, f"HTTP {status}")
                continue
            return response
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def _backoff(self, method: Method, path: str, attempt: int, reason: str) -> None:
        # Full jitter: spreads retries from many callers instead of synchronising them.
        delay = random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        logger.warning("%s %s failed (%s); retrying in %.2fs", method, path, reason, delay)
        await self._sleep(delay)

    def _unreachable(self, method: Method, path: str, exc: Exception, attempts: int) -> str:
        return self._read.scrub(
            f"Patchworks could not be reached for {method} {path} after {attempts} attempts "
            f"({type(exc).__name__}: {self._read.shown(str(exc))})"
        )

    @staticmethod
    def _outcome_unknown(path: str, reason: str) -> str:
        return (
            f"POST {path} got no clear answer from Patchworks ({reason}); the retry may or may not "
            "have started, so the outcome is unknown: check the run in Patchworks before retrying again"
        )


def _run_gone(run_id: int) -> str:
    return f"run {run_id} not found in Patchworks (run logs are kept 7 days)"
