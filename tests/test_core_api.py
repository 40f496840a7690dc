"""The Core API adapter against httpx.MockTransport: paging, parsing, retries, errors, pacing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from bot.patchworks._parse import parse_bool, parse_run, parse_time
from bot.patchworks.core_api import CoreApiReport
from bot.patchworks.errors import (
    AuthFailed,
    BadResponse,
    NotFound,
    PatchworksError,
    RateLimited,
    ResyncRefused,
    Unavailable,
)
from bot.patchworks.models import RunStatus
from bot.patchworks.report import SyncReport

KEY = "pk_live_SECRET_1234567890"
BASE = "https://core.example.test/api/v1"
APP = "https://app.example.test/"
SINCE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SINCE_MS = "1795773600000"
UNTIL = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UNTIL_MS = "1795780800000"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that only moves when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay


def make(handler: Handler, **kwargs: Any) -> tuple[CoreApiReport, FakeTime]:
    fake = FakeTime()
    options: dict[str, Any] = {"requests_per_minute": 10_000, "sleep": fake.sleep, "clock": fake.clock}
    options.update(kwargs)
    report = CoreApiReport(BASE, KEY, app_url=APP, transport=httpx.MockTransport(handler), **options)
    return report, fake


def run(run_id: int, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": run_id,
        "name": f"#{run_id}",
        "status": 3,
        "trigger": "Schedule",
        "summary": "Step failed",
        "started_at": "2026-11-27T10:32:00.000000Z",
        "finished_at": "2026-11-27T10:33:00.000000Z",
        "flow_id": 7,
        "flow_version_id": 70,
        "retry_flow_run_id": None,
        "retried_flow_run": None,
        "flow": {"id": 7, "name": "Shopify > NetSuite orders", "is_enabled": True, "status": "Deployed"},
        "error_warning_logs": [
            {
                "id": run_id * 10,
                "log_level": "ERROR",
                "log_message": "NetSuite: 401 Unauthorized",
                "flow_step_id": 3,
                "flow_step": {"id": 3, "name": "Send to NetSuite"},
                "created_at": "2026-11-27T10:32:30.000000Z",
            }
        ],
    }
    item.update(fields)
    return item


def page(items: list[Any], current: int, last: int) -> dict[str, Any]:
    return {
        "data": items,
        "meta": {"current_page": current, "last_page": last, "per_page": 100, "total": 250},
        "links": {"next": f"{BASE}/flow-runs?page={current + 1}" if current < last else None},
    }


def ok(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


# ---- paging -----------------------------------------------------------------------------------


async def test_failed_pages_follows_meta_across_three_pages_with_exact_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        number = int(request.url.params["page"])
        return ok(page([run(number * 100 + i) for i in range(2)], number, 3))

    report, _ = make(handler)
    pages = [entries async for entries in report.failed_pages(SINCE, until=UNTIL, search="SO-1")]
    await report.aclose()

    assert [[entry.run_id for entry in entries] for entries in pages] == [[100, 101], [200, 201], [300, 301]]
    assert [request.url.path for request in seen] == ["/api/v1/flow-runs"] * 3
    for number, request in enumerate(seen, start=1):
        assert dict(request.url.params) == {
            "filter[status]": "3,5",
            "filter[started_after]": SINCE_MS,
            "filter[started_before]": UNTIL_MS,
            "filter[search]": "SO-1",
            "include": "flow,errorWarningLogs,retriedFlowRun",
            "sort": "started_at",
            "per_page": "100",
            "page": str(number),
        }
        assert request.method == "GET"
        assert request.headers["Authorization"] == KEY
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
    assert report.requests_made == 3


async def test_failed_pages_omits_optional_filters_and_parses_flat_runs() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        retried = run(2, status="5", retried_flow_run={"id": 9, "status": 2}, name="")
        return ok(page([run(1), retried], 1, 1))

    report, _ = make(handler)
    pages = [entries async for entries in report.failed_pages(SINCE)]
    await report.aclose()

    params = dict(seen[0].url.params)
    assert "filter[started_before]" not in params
    assert "filter[search]" not in params
    first, second = pages[0]
    assert first.status is RunStatus.FAILURE
    assert first.reference == "#1"
    assert first.url == "https://app.example.test/flow-run-logs/1"
    assert first.flow is not None
    assert (first.flow.id, first.flow.name, first.flow.enabled) == (7, "Shopify > NetSuite orders", True)
    assert first.errors[0].step == "Send to NetSuite"
    assert first.errors[0].at == datetime(2026, 11, 27, 10, 32, 30, tzinfo=UTC)
    assert first.started_at == datetime(2026, 11, 27, 10, 32, tzinfo=UTC)
    assert first.retried_as is None
    assert second.status is RunStatus.PARTIAL_SUCCESS
    assert second.reference is None
    assert second.retried_as == 9


async def test_failed_pages_is_lazy_one_request_per_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return ok(page([run(number)], number, 5))

    report, _ = make(handler)
    pages = report.failed_pages(SINCE)
    first = await anext(pages)
    assert first[0].run_id == 1
    assert report.requests_made == 1
    await pages.aclose()
    await report.aclose()


async def test_missing_meta_stops_on_short_page() -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        seen.append(number)
        count = 100 if number == 1 else 3
        return ok({"data": [run(number * 1000 + i) for i in range(count)]})

    report, _ = make(handler)
    sizes = [len(entries) async for entries in report.failed_pages(SINCE)]
    await report.aclose()
    assert sizes == [100, 3]
    assert seen == [1, 2]


async def test_missing_meta_stops_on_empty_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        return ok({"data": [run(i) for i in range(100)] if number == 1 else []})

    report, _ = make(handler)
    sizes = [len(entries) async for entries in report.failed_pages(SINCE)]
    await report.aclose()
    assert sizes == [100]
    assert report.requests_made == 2


async def test_links_next_null_stops_without_meta() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok({"data": [run(i) for i in range(100)], "links": {"next": None}})

    report, _ = make(handler)
    pages = [entries async for entries in report.failed_pages(SINCE)]
    await report.aclose()
    assert len(pages) == 1
    assert report.requests_made == 1


async def test_server_repeating_the_same_page_does_not_loop_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ok({"data": [run(i) for i in range(100)]})

    report, _ = make(handler)
    pages = [entries async for entries in report.failed_pages(SINCE)]
    await report.aclose()
    assert len(pages) == 1
    assert report.requests_made == 2


# ---- tolerant parsing ------------------------------------------------------------------------


def jsonapi_run(run_id: int, status: Any) -> dict[str, Any]:
    return {
        "type": "flowRuns",
        "id": str(run_id),
        "attributes": {
            "name": "SO-10023",
            "status": status,
            "trigger": "Webhook",
            "summary": "Partial",
            "startedAt": "2026-11-27T11:32:00+01:00",
            "finished_at": 1795778000000,
            "retry_flow_run_id": 40,
        },
        "relationships": {
            "flow": {"data": {"type": "flows", "id": "8"}},
            "errorWarningLogs": {"data": [{"type": "flowRunLogs", "id": "501"}]},
            "retriedFlowRun": {"data": {"type": "flowRuns", "id": "77"}},
        },
    }


async def test_jsonapi_runs_with_included_relations() -> None:
    body = {
        "data": [jsonapi_run(41, "3")],
        "included": [
            {"type": "flows", "id": "8", "attributes": {"name": "Peoplevox stock", "is_enabled": "0"}},
            {
                "type": "flowRunLogs",
                "id": "501",
                "attributes": {"log_level": "warning", "log_message": "Peoplevox timed out"},
                "relationships": {"flowStep": {"data": {"type": "flowSteps", "id": "3"}}},
            },
            {"type": "flowSteps", "id": "3", "attributes": {"name": "Peoplevox GET"}},
        ],
        "meta": {"current_page": 1, "last_page": 1},
    }
    report, _ = make(lambda request: ok(body))
    pages = [entries async for entries in report.failed_pages(SINCE)]
    await report.aclose()

    (entry,) = pages[0]
    assert entry.run_id == 41
    assert entry.status is RunStatus.FAILURE
    assert entry.reference == "SO-10023"
    assert entry.flow is not None
    assert (entry.flow.id, entry.flow.name, entry.flow.enabled) == (8, "Peoplevox stock", False)
    assert entry.retry_of == 40
    assert entry.retried_as == 77
    assert entry.started_at == datetime(2026, 11, 27, 10, 32, tzinfo=UTC)
    assert entry.finished_at == datetime.fromtimestamp(1795778000, tz=UTC)
    assert [(line.level, line.message, line.step) for line in entry.errors] == [
        ("WARNING", "Peoplevox timed out", "Peoplevox GET")
    ]


def test_jsonapi_relation_missing_from_included_keeps_the_flow_id() -> None:
    item = jsonapi_run(42, 5)
    entry = parse_run(item, app_url=APP)
    assert entry.flow is not None
    assert (entry.flow.id, entry.flow.name) == (8, "Flow 8")
    assert entry.errors == ()
    assert entry.status is RunStatus.PARTIAL_SUCCESS


def test_flow_from_flow_id_only_and_camel_case_logs() -> None:
    item = run(3, flow=None, error_warning_logs=None)
    item["errorWarningLogs"] = [{"log_level": "FATAL", "log_message": "boom", "flow_step": None}]
    item["retried_flow_run_id"] = 12
    entry = parse_run(item, app_url=APP)
    assert entry.flow is not None
    assert (entry.flow.id, entry.flow.name, entry.flow.enabled) == (7, "Flow 7", None)
    assert [(line.level, line.step) for line in entry.errors] == [("FATAL", None)]
    assert entry.retried_as == 12


async def test_unparseable_items_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    items: list[Any] = [
        run(1),
        {"id": "not-a-number", "status": 3},
        run(2, status=99),
        "just a string",
        run(3, status="3"),
        run(4, started_at="yesterday-ish"),
    ]
    report, _ = make(lambda request: ok({"data": items}))
    with caplog.at_level(logging.WARNING):
        pages = [entries async for entries in report.failed_pages(SINCE)]
    await report.aclose()

    assert [entry.run_id for entry in pages[0]] == [1, 3, 4]
    assert pages[0][2].started_at is None  # a bad timestamp does not cost the run
    skipped = [
        record for record in caplog.records if "skipped an unreadable Patchworks run" in record.message
    ]
    assert len(skipped) == 3
    assert all(KEY not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-27T10:32:00.000000Z", datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        ("2026-11-27T12:32:00+02:00", datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        ("2026-11-27 10:32:00", datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        (1795775520000, datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        (1795775520, datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        ("1795775520000", datetime(2026, 11, 27, 10, 32, tzinfo=UTC)),
        (None, None),
        ("garbage", None),
        (True, None),
    ],
)
def test_parse_time_variants(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("true", True),
        ("False", False),
        (None, None),
        ("maybe", None),
        (2, None),
    ],
)
def test_parse_bool_variants(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"), [(True, True), (0, False), ("1", True), ("false", False), (None, None)]
)
async def test_flow_reads_is_enabled_variants(raw: object, expected: bool | None) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return ok({"data": {"id": 7, "name": "Orders", "is_enabled": raw, "status": "Deployed"}})

    report, _ = make(handler)
    flow = await report.flow(7)
    await report.aclose()
    assert seen == ["/api/v1/flows/7"]
    assert (flow.id, flow.name, flow.enabled) == (7, "Orders", expected)


async def test_flow_in_jsonapi_shape() -> None:
    body = {"data": {"type": "flows", "id": "7", "attributes": {"name": "Orders", "is_enabled": 1}}}
    report, _ = make(lambda request: ok(body))
    flow = await report.flow(7)
    await report.aclose()
    assert (flow.id, flow.name, flow.enabled) == (7, "Orders", True)


# ---- single run, logs, resync ----------------------------------------------------------------


async def test_entry_reads_one_run_with_includes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"data": run(123)})

    report, _ = make(handler)
    entry = await report.entry(123)
    await report.aclose()
    assert seen[0].url.path == "/api/v1/flow-runs/123"
    assert dict(seen[0].url.params) == {"include": "flow,errorWarningLogs,retriedFlowRun"}
    assert entry.run_id == 123
    assert entry.error_summary == "NetSuite: 401 Unauthorized"
    assert report.requests_made == 1


async def test_entry_without_included_logs_falls_back_to_the_log_endpoint() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/flow-run-logs"):
            number = int(request.url.params["page"])
            levels = ["INFO", "warning"] if number == 1 else ["ERROR", "DEBUG", "critical"]
            logs = [
                {"id": number * 10 + i, "log_level": level, "log_message": f"{level} line"}
                for i, level in enumerate(levels)
            ]
            return ok(page(logs, number, 2))
        return ok({"data": run(123, error_warning_logs=[])})

    report, _ = make(handler)
    entry = await report.entry(123)
    await report.aclose()
    assert [request.url.path for request in seen] == [
        "/api/v1/flow-runs/123",
        "/api/v1/flow-runs/123/flow-run-logs",
        "/api/v1/flow-runs/123/flow-run-logs",
    ]
    assert dict(seen[1].url.params) == {"sort": "id", "per_page": "100", "page": "1"}
    assert [line.level for line in entry.errors] == ["WARNING", "ERROR", "CRITICAL"]


async def test_entry_404_is_not_found() -> None:
    report, _ = make(lambda request: ok({"message": "No query results for model [FlowRun] 123"}, 404))
    with pytest.raises(NotFound) as caught:
        await report.entry(123)
    await report.aclose()
    assert str(caught.value) == "run 123 not found in Patchworks (run logs are kept 7 days)"


async def test_resync_posts_and_returns_the_new_run_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"data": {"id": 999, "status": 1, "trigger": "Retry", "retry_flow_run_id": 123}})

    report, _ = make(handler)
    assert await report.resync(123) == 999
    await report.aclose()
    assert seen[0].method == "POST"
    assert seen[0].url.path == "/api/v1/flow-runs/123/retry"
    assert seen[0].headers["Authorization"] == KEY


async def test_resync_unreadable_success_says_it_was_accepted() -> None:
    report, _ = make(lambda request: httpx.Response(202))
    with pytest.raises(BadResponse, match="accepted the retry of run 123"):
        await report.resync(123)
    await report.aclose()
    assert report.requests_made == 1


async def test_resync_unknown_run_is_not_found() -> None:
    report, _ = make(lambda request: ok({"message": "No query results for model [FlowRun] 123"}, 404))
    with pytest.raises(NotFound, match="run 123 not found"):
        await report.resync(123)
    await report.aclose()


async def test_resync_422_is_resync_refused_with_patchworks_message() -> None:
    body = {"message": "This flow run has already been retried.", "errors": {}}
    report, fake = make(lambda request: ok(body, 422))
    with pytest.raises(ResyncRefused) as caught:
        await report.resync(123)
    await report.aclose()
    assert str(caught.value) == "This flow run has already been retried."
    assert report.requests_made == 1
    assert fake.delays == []


async def test_resync_500_is_not_retried_and_says_outcome_unknown() -> None:
    report, fake = make(lambda request: ok({"message": "Server Error"}, 500))
    with pytest.raises(Unavailable) as caught:
        await report.resync(123)
    await report.aclose()
    assert report.requests_made == 1
    assert fake.delays == []
    assert "outcome is unknown" in str(caught.value)


async def test_resync_timeout_is_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    report, _ = make(handler)
    with pytest.raises(Unavailable, match="outcome is unknown"):
        await report.resync(123)
    await report.aclose()
    assert report.requests_made == 1


async def test_resync_retried_when_the_connection_never_opened() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return ok({"data": {"id": 1000}})

    report, _ = make(handler)
    assert await report.resync(123) == 1000
    await report.aclose()
    assert report.requests_made == 2


async def test_resync_429_honours_retry_after_then_succeeds() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return ok({"message": "Too Many Attempts."}, 429, **{"Retry-After": "3"})
        return ok({"data": {"type": "flowRuns", "id": "1001", "attributes": {"status": 1}}})

    report, fake = make(handler)
    assert await report.resync(123) == 1001
    await report.aclose()
    assert fake.delays == [3.0]


# ---- retries and errors ----------------------------------------------------------------------


async def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return ok({"message": "Too Many Attempts."}, 429, **{"Retry-After": "7"})
        return ok({"data": {"id": 7, "name": "Orders"}})

    report, fake = make(handler)
    flow = await report.flow(7)
    await report.aclose()
    assert flow.name == "Orders"
    assert fake.delays == [7.0]
    assert report.requests_made == 2


async def test_429_with_http_date_retry_after() -> None:
    calls: list[int] = []
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return ok({"message": "Too Many Attempts."}, 429, **{"Retry-After": when})
        return ok({"data": {"id": 7, "name": "Orders"}})

    report, fake = make(handler)
    await report.flow(7)
    await report.aclose()
    assert len(fake.delays) == 1
    assert 25 <= fake.delays[0] <= 30


async def test_429_forever_is_rate_limited() -> None:
    report, fake = make(lambda request: ok({"message": "Too Many Attempts."}, 429, **{"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        await report.flow(7)
    await report.aclose()
    assert caught.value.retry_after == 2.0
    assert report.requests_made == 5  # the first try and max_retries=4 more
    assert fake.delays == [2.0] * 4


async def test_429_without_retry_after_backs_off() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return ok({}, 429) if len(calls) == 1 else ok({"data": {"id": 7, "name": "Orders"}})

    report, fake = make(handler)
    await report.flow(7)
    await report.aclose()
    assert len(fake.delays) == 1
    assert 0 <= fake.delays[0] <= 0.5


async def test_huge_retry_after_is_not_waited_out() -> None:
    report, fake = make(lambda request: ok({}, 429, **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        await report.flow(7)
    await report.aclose()
    assert caught.value.retry_after == 3600.0
    assert fake.delays == []


async def test_get_5xx_then_success_backs_off_with_jitter() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 2:
            return ok({"message": "Server Error"}, 503)
        return ok({"data": run(5)})

    report, fake = make(handler)
    entry = await report.entry(5)
    await report.aclose()
    assert entry.run_id == 5
    assert report.requests_made == 3
    assert len(fake.delays) == 2
    assert 0 <= fake.delays[0] <= 0.5
    assert 0 <= fake.delays[1] <= 1.0


async def test_get_timeout_then_success() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("read timed out", request=request)
        return ok({"data": {"id": 7, "name": "Orders"}})

    report, _ = make(handler)
    assert (await report.flow(7)).name == "Orders"
    await report.aclose()
    assert report.requests_made == 2


async def test_get_5xx_forever_is_unavailable() -> None:
    report, fake = make(lambda request: ok({}, 502), max_retries=2)
    with pytest.raises(Unavailable, match=r"HTTP 502 to GET /flows/7 after 3 attempts"):
        await report.flow(7)
    await report.aclose()
    assert report.requests_made == 3
    assert len(fake.delays) == 2


async def test_connection_failure_forever_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    report, _ = make(handler, max_retries=1)
    with pytest.raises(Unavailable, match="could not be reached"):
        await report.flow(7)
    await report.aclose()
    assert report.requests_made == 2


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_failure(status: int) -> None:
    report, fake = make(lambda request: ok({"message": "Unauthenticated."}, status))
    with pytest.raises(AuthFailed) as caught:
        await report.flow(7)
    await report.aclose()
    assert str(caught.value) == (f"Patchworks rejected the API key (HTTP {status}); check PATCHWORKS_API_KEY")
    assert report.requests_made == 1
    assert fake.delays == []
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


async def test_malformed_json_is_bad_response_naming_path_and_status() -> None:
    body = "<html>" + "x" * 1000 + f" Authorization: {KEY}</html>"
    report, _ = make(lambda request: httpx.Response(200, text=body))
    with pytest.raises(BadResponse) as caught:
        await report.flow(7)
    await report.aclose()
    message = str(caught.value)
    assert "GET /flows/7" in message
    assert "HTTP 200" in message
    assert "<html>" in message
    assert len(message) < 320


async def test_key_echoed_in_a_short_body_is_redacted() -> None:
    report, _ = make(lambda request: httpx.Response(200, text=f"bad key {KEY}"))
    with pytest.raises(BadResponse) as caught:
        await report.flow(7)
    await report.aclose()
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert "[redacted]" in str(caught.value)


@pytest.mark.parametrize("body", [[1, 2], {"data": "nope"}, {"items": []}, {"data": {"id": 1}}])
async def test_wrong_envelope_on_a_list_is_bad_response(body: Any) -> None:
    report, _ = make(lambda request: ok(body))
    with pytest.raises(BadResponse, match=r"GET /flow-runs \(HTTP 200\)"):
        async for _ in report.failed_pages(SINCE):
            pass
    await report.aclose()


async def test_single_object_without_data_is_bad_response() -> None:
    report, _ = make(lambda request: ok({"id": 7, "name": "Orders"}))
    with pytest.raises(BadResponse, match="no `data` object"):
        await report.flow(7)
    await report.aclose()


async def test_other_4xx_is_patchworks_error_with_message() -> None:
    report, _ = make(lambda request: ok({"message": "The per page must not be greater than 100."}, 400))
    with pytest.raises(PatchworksError) as caught:
        await report.flow(7)
    await report.aclose()
    assert type(caught.value) is PatchworksError
    assert str(caught.value) == (
        "Patchworks refused GET /flows/7 (HTTP 400): The per page must not be greater than 100."
    )


async def test_key_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    report, _ = make(lambda request: ok({}, 503), max_retries=1)
    assert KEY not in repr(report)
    assert KEY not in str(report)
    with caplog.at_level(logging.DEBUG), pytest.raises(Unavailable) as caught:
        await report.flow(7)
    await report.aclose()
    assert KEY not in str(caught.value)
    assert caplog.records  # the retry was logged
    assert all(KEY not in record.getMessage() for record in caplog.records)


async def test_adapter_satisfies_the_port() -> None:
    report: SyncReport = CoreApiReport(BASE, KEY, app_url=APP)  # mypy checks the structural match
    assert isinstance(report, CoreApiReport)
    await report.aclose()


# ---- pacing (the pacer itself, lanes and shared reads: tests/test_pacer.py) ---------------------


async def test_every_request_including_retries_goes_through_the_pacer() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 2:
            return ok({}, 429, **{"Retry-After": "0"})
        return ok({"data": {"id": 7, "name": "Orders"}})

    # 3 a minute, one kept for people: a poll's call and its first retry spend the other two, so
    # the second retry waits for the first send to leave the 60.5 s window.
    report, fake = make(handler, requests_per_minute=3)
    await report.flow(7)
    await report.aclose()
    assert report.requests_made == 3
    assert fake.now == pytest.approx(60.5)


async def test_a_429_pauses_the_next_call_too() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return ok({}, 429, **{"Retry-After": "9"})
        return ok({"data": {"id": 7, "name": "Orders"}})

    report, fake = make(handler, max_retries=0)
    with pytest.raises(RateLimited):
        await report.flow(7)
    assert report.budget.paused_for == pytest.approx(9.0)
    await report.flow(8)  # another call, with no retry of its own to wait in, still waits
    await report.aclose()
    assert fake.delays == [9.0]
    assert report.budget.used_in_window == 2


# ---- the key echoed back: never passed on, whole or in pieces ---------------------------------

ECHOES = {
    "whole": f"Authorization: {KEY} is not valid",
    # The key starts at 190: cut to 200 characters before the scrub, its first 10 would survive.
    "straddling the cut": ("x" * 190 + KEY + "y" * 100)[:230],
    "a 10-character piece": f"token {KEY[5:15]}… rejected",
    "split by a newline": f"{KEY[:12]}\n{KEY[12:]}",
}


def key_pieces_in(text: str) -> list[str]:
    """Every 8-character piece of the key found in text."""
    return sorted({KEY[i : i + 8] for i in range(len(KEY) - 7)} & {text[i : i + 8] for i in range(len(text))})


def echoing(where: str, echo: str) -> Handler:
    """A Patchworks that puts `echo` into the answer that `where` names."""

    def handler(request: httpx.Request) -> httpx.Response:
        if where == "unreadable body":
            return httpx.Response(200, text=echo)
        if where == "4xx message":
            return ok({"message": echo}, 400)
        if where == "422 refusal":
            return ok({"message": echo}, 422)
        if where == "unknown status":
            return ok({"data": run(5, status=echo)})
        raise httpx.ConnectError(echo, request=request)

    return handler


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
@pytest.mark.parametrize(
    "where", ["unreadable body", "4xx message", "422 refusal", "unknown status", "connection error"]
)
async def test_an_echoed_key_never_survives_in_any_piece(
    where: str, echo: str, caplog: pytest.LogCaptureFixture
) -> None:
    report, _ = make(echoing(where, echo), max_retries=0)
    call = report.resync(5) if where == "422 refusal" else report.entry(5)
    with caplog.at_level(logging.DEBUG), pytest.raises(PatchworksError) as caught:
        await call
    await report.aclose()
    assert key_pieces_in(str(caught.value)) == []
    assert key_pieces_in(repr(caught.value)) == []
    assert all(key_pieces_in(record.getMessage()) == [] for record in caplog.records)
    if where != "unknown status":  # that message quotes only the first 40 characters
        assert "[redacted]" in str(caught.value)
    assert len(str(caught.value)) < 400


async def test_remote_text_is_cut_to_the_snippet_after_the_scrub() -> None:
    body = "x" * 150 + KEY + "y" * 5000
    report, _ = make(lambda request: ok({"message": body}, 400))
    with pytest.raises(PatchworksError) as caught:
        await report.flow(7)
    await report.aclose()
    # 150 x's, one marker where the key was, and y's up to 200 characters in all.
    assert str(caught.value).endswith(": " + ("x" * 150 + "[redacted]" + "y" * 5000)[:200])
