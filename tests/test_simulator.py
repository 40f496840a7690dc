"""The Core API simulator, served for real by uvicorn and read over HTTP with httpx."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn

from bot.patchworks.causes import signature
from syncbot_sandbox.simulator import Burst, SimulatorConfig, World, create_app
from syncbot_sandbox.simulator.catalogue import CONCURRENCY_ERROR
from syncbot_sandbox.simulator.records import RunQuery
from syncbot_sandbox.simulator.render import run_json

KEY = "sim-key"
T0 = 1_795_773_600.0  # 2026-11-27T10:00:00Z
DUPLICATE_WORDS = ("already", "duplicate")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sim:
    """A running simulator: an authenticated client, an anonymous one, and the world behind it."""

    client: httpx.Client
    anon: httpx.Client
    world: World
    base: str


@contextmanager
def serving(config: SimulatorConfig, clock: Callable[[], float] | None = None) -> Iterator[Sim]:
    """Serve the simulator with uvicorn on a free port in a background thread."""
    app = create_app(config, clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": config.api_key, "Accept": "application/json"}
    try:
        with (
            httpx.Client(base_url=base + "/api/v1", headers=headers, timeout=5) as client,
            httpx.Client(base_url=base, timeout=5) as anon,
        ):
            yield Sim(client, anon, app.state.world, base)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def sim() -> Iterator[Sim]:
    with serving(SimulatorConfig(seed=7, initial_failures=30, retry_delay_s=0.2)) as running:
        yield running


def failed_runs(sim: Sim, **params: Any) -> list[dict[str, Any]]:
    query: dict[str, Any] = {
        "filter[status]": "3,5",
        "per_page": 100,
        "include": "flow,errorWarningLogs,retriedFlowRun",
    }
    response = sim.client.get("/flow-runs", params={**query, **params})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def retryable(sim: Sim) -> dict[str, Any]:
    """A failed run the API will retry and whose error is not a duplicate."""
    for run in failed_runs(sim):
        messages = " ".join(line["log_message"] for line in run["error_warning_logs"]).lower()
        duplicate = any(word in messages for word in DUPLICATE_WORDS)
        if run["flow"]["is_enabled"] and run["retried_flow_run"] is None and not duplicate:
            return run
    raise AssertionError("no retryable run in the seeded world")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---- listing ---------------------------------------------------------------------------------


def test_pagination_envelope_over_three_pages(sim: Sim) -> None:
    seen: list[int] = []
    for page in (1, 2, 3):
        body = sim.client.get(
            "/flow-runs", params={"filter[status]": "3,5", "per_page": 10, "page": page}
        ).json()
        meta, links = body["meta"], body["links"]
        assert meta["current_page"] == page
        assert meta["last_page"] == 3
        assert meta["total"] == 30
        assert meta["per_page"] == 10
        assert (meta["from"], meta["to"]) == ((page - 1) * 10 + 1, page * 10)
        assert meta["path"] == sim.base + "/api/v1/flow-runs"
        assert links["first"].endswith("page=1")
        assert links["last"].endswith("page=3")
        assert (links["prev"] is None) == (page == 1)
        assert (links["next"] is None) == (page == 3)
        assert len(body["data"]) == 10
        seen += [run["id"] for run in body["data"]]
    assert len(set(seen)) == 30
    past = sim.client.get("/flow-runs", params={"filter[status]": "3,5", "per_page": 10, "page": 4}).json()
    assert past["data"] == []
    assert past["meta"] == {**past["meta"], "current_page": 4, "from": None, "to": None, "total": 30}
    assert past["links"]["next"] is None


def test_links_next_is_followable_and_keeps_filters(sim: Sim) -> None:
    url: str | None = sim.base + "/api/v1/flow-runs?filter%5Bstatus%5D=3&per_page=7"
    ids: list[int] = []
    while url:
        body = sim.client.get(url).json()
        ids += [run["id"] for run in body["data"]]
        assert all(run["status"] == 3 for run in body["data"])
        url = body["links"]["next"]
    assert len(ids) == len(set(ids)) == len(failed_runs(sim, **{"filter[status]": "3"}))


def test_per_page_is_clamped_and_validated(sim: Sim) -> None:
    body = sim.client.get("/flow-runs", params={"per_page": 500}).json()
    assert body["meta"]["per_page"] == 100
    bad = sim.client.get("/flow-runs", params={"per_page": 0})
    assert bad.status_code == 422
    assert "per_page" in bad.json()["errors"]


def test_default_order_is_newest_first_and_sort_ascending_works(sim: Sim) -> None:
    newest = [parse_iso(r["started_at"]) for r in failed_runs(sim)]
    oldest = [parse_iso(r["started_at"]) for r in failed_runs(sim, sort="started_at")]
    assert newest == sorted(newest, reverse=True)
    assert oldest == sorted(oldest)
    assert sim.client.get("/flow-runs", params={"sort": "name"}).status_code == 400


def test_status_filter(sim: Sim) -> None:
    successes = failed_runs(sim, **{"filter[status]": "2"})
    assert successes
    assert all(run["status"] == 2 for run in successes)
    failed = failed_runs(sim)
    assert {run["status"] for run in failed} <= {3, 5}
    assert len(failed) == 30
    everything = sim.client.get("/flow-runs", params={"per_page": 1}).json()["meta"]["total"]
    assert everything > 30


def test_started_after_and_before_filters_in_unix_ms(sim: Sim) -> None:
    runs = failed_runs(sim, sort="started_at")
    pivot = runs[10]
    pivot_ms = round(parse_iso(pivot["started_at"]).timestamp() * 1000)
    after = failed_runs(sim, sort="started_at", **{"filter[started_after]": pivot_ms})
    assert after[0]["id"] == pivot["id"]
    assert [r["id"] for r in after] == [r["id"] for r in runs[10:]]
    before = failed_runs(sim, sort="started_at", **{"filter[started_before]": pivot_ms - 1})
    assert [r["id"] for r in before] == [r["id"] for r in runs[:10]]
    assert sim.client.get("/flow-runs", params={"filter[started_after]": "yesterday"}).status_code == 400


def test_search_matches_id_reference_flow_and_step_names(sim: Sim) -> None:
    runs = failed_runs(sim)
    named = next(run for run in runs if run["name"])
    by_name = failed_runs(sim, **{"filter[search]": named["name"].lower()})
    assert named["id"] in {r["id"] for r in by_name}
    assert all(named["name"].lower() in (r["name"] or "").lower() for r in by_name)

    by_id = failed_runs(sim, **{"filter[search]": str(named["id"])})
    assert [r["id"] for r in by_id] == [named["id"]]

    by_flow = failed_runs(sim, **{"filter[search]": "peoplevox"})
    assert by_flow
    assert all("Peoplevox" in r["flow"]["name"] for r in by_flow)

    by_step = failed_runs(sim, **{"filter[search]": "create fulfilment"})
    assert by_step
    assert all(r["flow"]["name"] == "Peoplevox > Shopify: Fulfilments" for r in by_step)


def test_flow_id_filter_and_unknown_filter(sim: Sim) -> None:
    runs = failed_runs(sim, **{"filter[flow_id]": "101,105"})
    assert runs
    assert {r["flow_id"] for r in runs} <= {101, 105}
    refused = sim.client.get("/flow-runs", params={"filter[colour]": "red"})
    assert refused.status_code == 400
    assert "colour" in refused.json()["message"]


# ---- includes, single objects, logs, flows -----------------------------------------------------


def test_relations_only_when_included(sim: Sim) -> None:
    plain = sim.client.get("/flow-runs", params={"filter[status]": "3"}).json()["data"][0]
    assert not {"flow", "error_warning_logs", "retried_flow_run"} & set(plain)
    assert {"id", "name", "status", "trigger", "summary", "started_at", "finished_at"} <= set(plain)
    assert {"flow_id", "flow_version_id", "retry_flow_run_id"} <= set(plain)

    full = failed_runs(sim)
    for run in full:
        assert set(run["flow"]) == {"id", "name", "is_enabled", "status"}
        assert run["flow"]["id"] == run["flow_id"]
        assert 1 <= len(run["error_warning_logs"]) <= 3
        for line in run["error_warning_logs"]:
            assert line["log_level"] in ("ERROR", "WARNING", "FATAL")
            assert line["flow_step"]["name"]
            assert line["flow_step_id"] == line["flow_step"]["id"]
            assert {"id", "log_message", "created_at"} <= set(line)
    assert sim.client.get("/flow-runs", params={"include": "secrets"}).status_code == 400


def test_seeded_world_has_every_non_retryable_kind(sim: Sim) -> None:
    runs = failed_runs(sim)
    assert any(not run["flow"]["is_enabled"] for run in runs)
    retried = [run for run in runs if run["retried_flow_run"] is not None]
    assert retried
    assert all(run["retried_flow_run"]["retry_flow_run_id"] == run["id"] for run in retried)
    messages = [line["log_message"] for run in runs for line in run["error_warning_logs"]]
    assert any(word in m.lower() for m in messages for word in DUPLICATE_WORDS)


def test_one_run_logs_and_flows(sim: Sim) -> None:
    run = failed_runs(sim)[0]
    one = sim.client.get(f"/flow-runs/{run['id']}", params={"include": "flow,errorWarningLogs"}).json()
    assert one["data"]["id"] == run["id"]
    assert one["data"]["error_warning_logs"] == run["error_warning_logs"]

    logs = sim.client.get(f"/flow-runs/{run['id']}/flow-run-logs", params={"sort": "id"}).json()
    ids = [line["id"] for line in logs["data"]]
    assert ids == sorted(ids)
    assert logs["meta"]["total"] == len(ids) > len(run["error_warning_logs"])  # INFO lines too

    flow = sim.client.get(f"/flows/{run['flow_id']}").json()["data"]
    assert flow == run["flow"]
    flows = sim.client.get("/flows", params={"per_page": 100}).json()["data"]
    assert 8 <= len(flows) <= 10
    assert 1 <= sum(not f["is_enabled"] for f in flows) <= 2


def test_unknown_ids_are_404_with_laravel_messages(sim: Sim) -> None:
    missing = sim.client.get("/flow-runs/123")
    assert missing.status_code == 404
    assert missing.json() == {"message": "No query results for model [FlowRun] 123"}
    assert sim.client.get("/flow-runs/123/flow-run-logs").status_code == 404
    assert sim.client.post("/flow-runs/123/retry").json() == {
        "message": "No query results for model [FlowRun] 123"
    }
    assert sim.client.get("/flows/999").json() == {"message": "No query results for model [Flow] 999"}
    assert sim.client.get("/nothing-here").status_code == 404


# ---- auth and rate limit -----------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "wrong-key", f"Bearer {KEY}"])
def test_wrong_or_missing_key_is_401(sim: Sim, header: str | None) -> None:
    headers = {"Accept": "application/json"} | ({"Authorization": header} if header else {})
    response = sim.anon.get("/api/v1/flow-runs", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}


def test_rate_limit_429_with_retry_after_and_401_checked_first() -> None:
    with serving(SimulatorConfig(rate_limit_per_minute=3)) as sim:
        remaining = [sim.client.get("/flows").headers["X-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        # Control endpoints do not use up the allowance.
        assert sim.anon.get("/_simulator/state").status_code == 200
        limited = sim.client.get("/flows")
        assert limited.status_code == 429
        assert limited.json() == {"message": "Too Many Attempts."}
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert sim.anon.get("/api/v1/flows", headers={"Authorization": "nope"}).status_code == 401
        assert sim.anon.post("/_simulator/config", json={"rate_limit_per_minute": 100}).status_code == 200
        assert sim.client.get("/flows").status_code == 200


def test_sliding_window_frees_a_slot_after_sixty_seconds() -> None:
    clock = FakeClock()
    world = World(SimulatorConfig(rate_limit_per_minute=2), clock=clock)
    assert world.admit(KEY).verdict == "ok"
    clock.advance(30)
    assert world.admit(KEY).verdict == "ok"
    refused = world.admit(KEY)
    assert refused.verdict == "limited"
    assert refused.limit is not None
    assert refused.limit.retry_after == 30
    clock.advance(30)
    assert world.admit(KEY).verdict == "ok"
    assert world.requests == 4


# ---- retry ---------------------------------------------------------------------------------


def test_retry_lifecycle_ends_in_forced_success(sim: Sim) -> None:
    original = retryable(sim)
    sim.world.force_outcome(original["id"], "success")
    response = sim.client.post(f"/flow-runs/{original['id']}/retry")
    assert response.status_code == 200
    new = response.json()["data"]
    assert new["status"] == 1
    assert new["trigger"] == "Retry"
    assert new["finished_at"] is None
    assert new["retry_flow_run_id"] == original["id"]
    assert new["id"] != original["id"]
    assert sim.world.retry_calls == [(original["id"], new["id"])]

    back = sim.client.get(f"/flow-runs/{original['id']}", params={"include": "retriedFlowRun"}).json()["data"]
    assert back["retried_flow_run"]["id"] == new["id"]
    assert sim.client.get(f"/flow-runs/{new['id']}").json()["data"]["status"] == 1
    time.sleep(0.3)
    done = sim.client.get(f"/flow-runs/{new['id']}").json()["data"]
    assert done["status"] == 2
    assert done["finished_at"] is not None


def test_retry_forced_failure_gets_fresh_error_lines(sim: Sim) -> None:
    original = retryable(sim)
    sim.world.force_outcome(None, "failure")
    new = sim.client.post(f"/flow-runs/{original['id']}/retry").json()["data"]
    time.sleep(0.3)
    done = sim.client.get(f"/flow-runs/{new['id']}", params={"include": "errorWarningLogs"}).json()["data"]
    assert done["status"] == 3
    assert done["error_warning_logs"]
    started = parse_iso(new["started_at"])
    assert all(parse_iso(line["created_at"]) > started for line in done["error_warning_logs"])
    # A failed retry is itself failed and not yet retried, so it can be retried again.
    assert sim.client.post(f"/flow-runs/{new['id']}/retry").status_code == 200


def test_retry_refusals_are_422(sim: Sim) -> None:
    runs = failed_runs(sim)
    disabled = next(run for run in runs if not run["flow"]["is_enabled"])
    refused = sim.client.post(f"/flow-runs/{disabled['id']}/retry")
    assert refused.status_code == 422
    assert refused.json()["message"] == "The flow is disabled."
    assert refused.json()["errors"]

    original = retryable(sim)
    assert sim.client.post(f"/flow-runs/{original['id']}/retry").status_code == 200
    again = sim.client.post(f"/flow-runs/{original['id']}/retry")
    assert (again.status_code, again.json()["message"]) == (422, "This flow run has already been retried.")

    success = failed_runs(sim, **{"filter[status]": "2"})[0]
    not_failed = sim.client.post(f"/flow-runs/{success['id']}/retry")
    assert (not_failed.status_code, not_failed.json()["message"]) == (
        422,
        "Only failed flow runs can be retried.",
    )
    assert len(sim.world.retry_calls) == 1


def test_retry_after_disabling_a_flow_is_refused(sim: Sim) -> None:
    original = retryable(sim)
    sim.world.set_flow_enabled(original["flow_id"], False)
    refused = sim.client.post(f"/flow-runs/{original['id']}/retry")
    assert refused.json()["message"] == "The flow is disabled."
    assert sim.client.get(f"/flows/{original['flow_id']}").json()["data"]["is_enabled"] is False


def test_retry_outcome_follows_clock_and_seed_without_a_server() -> None:
    clock = FakeClock()
    config = SimulatorConfig(seed=3, retry_delay_s=5, retry_success_rate=1.0)
    world = World(config, clock=clock)
    runs = world.list_runs(RunQuery(statuses=frozenset({3})))
    target = next(
        r
        for r in runs
        if r.flow.is_enabled and r.retried_by is None and not any("already" in x.message for x in r.logs)
    )
    retry = world.retry(target.id)
    clock.advance(4.9)
    assert world.get_run(retry.id) is retry
    assert retry.status == 1
    clock.advance(0.2)
    assert world.get_run(retry.id) is retry
    assert retry.status == 2
    assert retry.finished_at == pytest.approx(retry.started_at + 5)


def test_outage_breaks_new_failures_and_retries() -> None:
    clock = FakeClock()
    world = World(SimulatorConfig(seed=5, retry_delay_s=1, retry_success_rate=1.0), clock=clock)
    world.set_system_outage("netsuite", "auth")
    [fresh] = world.add_failures(1, flow_id=101)
    run = world.get_run(fresh)
    assert run is not None
    assert [x.message for x in run.issue_logs] == ["401 Unauthorized \u2013 invalid or expired access token"]
    assert run.issue_logs[0].step is not None
    assert run.issue_logs[0].step.system == "NetSuite"
    retry = world.retry(fresh)
    clock.advance(2)
    world.get_run(retry.id)
    assert retry.status == 3
    assert "401" in retry.issue_logs[0].message

    world.set_system_outage("NetSuite", "unreachable")
    [timeout] = world.add_failures(1, flow_id=108)
    lines = world.get_run(timeout).issue_logs  # type: ignore[union-attr]
    assert any(line.message.startswith("cURL error 28") for line in lines)
    world.set_system_outage("NetSuite", None)
    assert world.outages == {}


def test_force_outcome_on_a_pending_retry() -> None:
    clock = FakeClock()
    world = World(SimulatorConfig(seed=2, retry_delay_s=1, retry_success_rate=1.0), clock=clock)
    [fresh] = world.add_failures(1, flow_id=103, error="503 Service Unavailable: Too Busy")
    retry = world.retry(fresh)
    world.force_outcome(retry.id, "failure")
    clock.advance(1)
    world.get_run(retry.id)
    assert retry.status == 3
    with pytest.raises(KeyError):
        world.force_outcome(1, "success")


# ---- chaos, latency ----------------------------------------------------------------------------


def test_injected_server_errors_and_malformed_json() -> None:
    with serving(SimulatorConfig(error_rate=1.0)) as sim:
        statuses = {sim.client.get("/flow-runs").status_code for _ in range(20)}
        assert statuses <= {500, 502, 503}
        assert statuses
        assert sim.anon.get("/_simulator/state").status_code == 200  # control is never broken
        sim.anon.post("/_simulator/config", json={"error_rate": 0.0, "malformed_rate": 1.0})
        for _ in range(5):
            response = sim.client.get("/flow-runs", params={"include": "flow"})
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.content)
        # A garbled answer to a retry must not have retried anything.
        assert sim.client.post("/flow-runs/1/retry").status_code == 200
        assert sim.world.retry_calls == []


def test_error_rate_is_a_fraction() -> None:
    world = World(SimulatorConfig(error_rate=0.3, rate_limit_per_minute=10_000))
    verdicts = [world.admit(KEY).verdict for _ in range(1000)]
    assert 200 < verdicts.count("error") < 400


def test_latency_is_added_to_api_requests_only() -> None:
    with serving(SimulatorConfig(latency_s=0.2)) as sim:
        started = time.monotonic()
        assert sim.client.get("/flows").status_code == 200
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        sim.anon.get("/_simulator/state")
        assert time.monotonic() - started < 0.2


# ---- determinism, growth, control ----------------------------------------------------------------


def test_same_seed_same_world_different_seed_different_world() -> None:
    def snapshot(seed: int, start: float) -> list[dict[str, Any]]:
        world = World(SimulatorConfig(seed=seed), clock=FakeClock(start))
        runs = world.list_runs(RunQuery())
        rows = []
        for run in runs:
            row = run_json(run, frozenset({"flow", "errorWarningLogs", "retriedFlowRun"}))
            row["offset"] = run.started_at - world.started_at
            rows.append({k: v for k, v in row.items() if "_at" not in k and k != "retried_flow_run"})
        return rows

    assert snapshot(11, T0) == snapshot(11, T0)
    shifted = snapshot(11, T0 + 3600)
    assert [r["id"] for r in shifted] == [r["id"] for r in snapshot(11, T0)]
    assert [r["offset"] for r in shifted] == pytest.approx([r["offset"] for r in snapshot(11, T0)], abs=1e-3)
    assert snapshot(12, T0) != snapshot(11, T0)


def test_served_worlds_with_same_seed_agree() -> None:
    config = SimulatorConfig(seed=21, initial_failures=12)

    def messages(sim: Sim) -> list[tuple[int, str | None, list[str]]]:
        return [
            (r["id"], r["name"], [x["log_message"] for x in r["error_warning_logs"]])
            for r in failed_runs(sim)
        ]

    with serving(config) as first:
        a = messages(first)
    with serving(SimulatorConfig(seed=21, initial_failures=12)) as second:
        b = messages(second)
    assert a == b
    assert len(a) == 12


def test_failures_appear_on_schedule() -> None:
    clock = FakeClock()
    world = World(SimulatorConfig(initial_failures=5, failures_every_s=2), clock=clock)
    query = RunQuery(statuses=frozenset({3, 5}))
    assert len(world.list_runs(query)) == 5
    clock.advance(10.5)
    runs = world.list_runs(query)
    assert len(runs) == 10
    newest = runs[0]
    assert newest.finished_at == pytest.approx(T0 + 10)
    assert newest.flow.is_enabled


def test_add_failures_minutes_ago_and_error() -> None:
    clock = FakeClock()
    world = World(SimulatorConfig(initial_failures=0), clock=clock)
    ids = world.add_failures(3, flow_id=105, minutes_ago=30, error="Sales order SO-10023 already exists")
    assert len(ids) == 3 == len(set(ids))
    for run_id in ids:
        run = world.get_run(run_id)
        assert run is not None
        assert run.flow.id == 105
        assert run.status == 3
        assert run.finished_at is not None
        assert T0 - 1810 <= run.finished_at <= T0 - 1800
        assert run.issue_logs[0].message == "Sales order SO-10023 already exists"
    with pytest.raises(KeyError):
        world.add_failures(1, flow_id=999)


def test_add_failures_fills_reference_and_sku_into_the_error() -> None:
    world = World(SimulatorConfig(initial_failures=0), clock=FakeClock())
    ids = world.add_failures(2, flow_id=101, error="Order {ref}: SKU {sku} could not be claimed")
    for run_id in ids:
        run = world.get_run(run_id)
        assert run is not None
        assert run.name is not None
        [line] = run.issue_logs
        assert line.message.startswith(f"Order {run.name}: SKU ")
        assert "{" not in line.message


def test_a_burst_fails_one_flow_with_one_cause_over_time() -> None:
    clock = FakeClock()
    burst = Burst(flow_id=101, error=CONCURRENCY_ERROR, count=10, every_s=1.0, after_s=5.0)
    world = World(
        SimulatorConfig(initial_failures=0, retry_delay_s=1, retry_success_rate=1.0, burst=burst), clock=clock
    )
    query = RunQuery(statuses=frozenset({3, 5}))
    assert world.list_runs(query) == []
    clock.advance(5)
    assert len(world.list_runs(query)) == 1
    clock.advance(3.5)
    runs = world.list_runs(query)
    assert len(runs) == 4
    assert runs[0].finished_at == pytest.approx(T0 + 8)
    assert {run.flow.id for run in runs} == {101}
    messages = [run.issue_logs[0].message for run in runs]
    assert all(
        run.issue_logs[0].step is not None and run.issue_logs[0].step.system == "NetSuite" for run in runs
    )
    assert messages[0].startswith(f"Order {runs[0].name}: SSS_REQUEST_LIMIT_EXCEEDED")
    # Every text names its own order; the cause is one.
    assert len({signature(message) for message in messages}) == 1

    # While the burst lasts, a retry of the flow fails the same way.
    during = world.retry(runs[0].id)
    clock.advance(1)
    world.get_run(during.id)
    assert during.status == 3
    assert signature(during.issue_logs[-1].message) == signature(messages[0])

    clock.advance(100)
    assert len(world.list_runs(query)) == 11  # the burst's ten and the failed retry
    assert world.state()["bursts"] == [
        {"flow_id": 101, "count": 10, "failed": 10, "from": T0 + 5, "until": T0 + 15}
    ]
    after = world.retry(runs[1].id)
    clock.advance(1)
    world.get_run(after.id)
    assert after.status == 2  # over: retries go through again


def test_a_burst_started_later_and_over_http(sim: Sim) -> None:
    before = sim.anon.get("/_simulator/state").json()["failed"]
    started = sim.anon.post(
        "/_simulator/burst",
        json={"flow_id": 102, "error": "Order {ref}: 503 Service Unavailable", "count": 3, "every_s": 0.01},
    )
    assert started.status_code == 200
    assert [b["flow_id"] for b in started.json()["bursts"]] == [102]
    time.sleep(0.05)
    assert sim.anon.get("/_simulator/state").json()["failed"] == before + 3
    for body in (
        {"flow_id": 102},
        {"flow_id": 999, "error": "x"},
        {"flow_id": 102, "error": "x", "every_s": 0},
        {"flow_id": 102, "error": "x", "count": -1},
    ):
        assert sim.anon.post("/_simulator/burst", json=body).status_code == 422, body
    with pytest.raises(ValueError, match="every_s > 0"):
        Burst(flow_id=101, error="x", count=1, every_s=0)


def test_ten_thousand_failed_runs_page_cheaply() -> None:
    world = World(SimulatorConfig(initial_failures=10_000))
    query = RunQuery(statuses=frozenset({3, 5}), descending=False)
    started = time.monotonic()
    for _ in range(100):
        rows = world.list_runs(query)
    assert len(rows) == 10_000
    assert time.monotonic() - started < 2


def test_control_endpoints(sim: Sim) -> None:
    before = sim.anon.get("/_simulator/state").json()
    assert before["failed"] == 30
    assert before["retry_calls"] == []
    added = sim.anon.post("/_simulator/failures", json={"count": 2, "flow_id": 101, "minutes_ago": 5})
    assert added.status_code == 200
    assert len(added.json()["ids"]) == 2
    assert sim.anon.post("/_simulator/failures", json={"count": 1, "flow_id": 9}).status_code == 422

    changed = sim.anon.post("/_simulator/config", json={"latency_s": 0.01, "retry_success_rate": 1})
    assert changed.json()["config"]["latency_s"] == 0.01
    assert sim.world.config.retry_success_rate == 1.0
    assert sim.anon.post("/_simulator/config", json={"seed": 2}).status_code == 422
    assert sim.anon.post("/_simulator/config", json={"error_rate": 2}).status_code == 422

    outage = sim.anon.post("/_simulator/outage", json={"system": "shopify", "kind": "unreachable"})
    assert outage.json()["outages"] == {"Shopify": "unreachable"}
    assert sim.anon.post("/_simulator/outage", json={"system": "Shopify", "kind": "flood"}).status_code == 422

    assert sim.anon.post("/_simulator/flows/101", json={"is_enabled": False}).status_code == 200
    assert sim.world.flows[101].is_enabled is False
    assert sim.anon.post("/_simulator/force", json={"outcome": "success"}).status_code == 200

    sim.client.get("/flows")
    after = sim.anon.get("/_simulator/state").json()
    assert after["failed"] == 32
    assert after["requests"] == before["requests"] + 1 == sim.world.requests
