"""GET /metrics: Prometheus' text format from the real HTTP app, parsed with prometheus_client's
own parser, after the bot has polled and resynced against the simulator and the local Slack."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_ts
from support.waiting import eventually

from blocks.ids import Action
from blocks.model import JobState
from bot.metrics import Metrics
from bot.patchworks.core_api import CoreApiReport
from bot.patchworks.errors import Unavailable
from bot.patchworks.lanes import Lane
from bot.scheduler import PollerLease, poll_if_leader
from bot.services import Services
from bot.states import ResyncOutcome

ANA = "U0ADA"
ERROR = "NetSuite: Field 'shipping_method' not found"


async def scrape(bot: RunningBot) -> tuple[httpx.Response, dict[str, list[Sample]]]:
    async with httpx.AsyncClient(base_url=str(bot.url)) as client:
        response = await client.get("/metrics")
    families = {family.name: family.samples for family in text_string_to_metric_families(response.text)}
    return response, families


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert found, f"no sample {name}{labels}"
    return sum(found)


async def test_metrics_after_a_poll_and_a_resync(http_bot: RunningBot, sim: Sim, slack: FakeSlack) -> None:
    services = http_bot.services
    runs = sim.world.add_failures(2, minutes_ago=2, flow_id=101, error=ERROR)
    await poll_if_leader(services, PollerLease(services, 300))
    assert services.last_poll_error is None
    await http_bot.desk.click(
        ANA, CHANNEL, digest_ts(slack), Action.RESYNC, value=f'{{"v":1,"run":{runs[0]},"msg":1}}'
    )
    await eventually(lambda: sim.world.retry_calls)

    response, families = await scrape(http_bot)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    polls = families["syncbot_polls"]
    assert value(polls, "syncbot_polls_total", result="ok") == 1
    assert value(polls, "syncbot_polls_total", result="error") == 0
    assert value(families["syncbot_poll_duration_seconds"], "syncbot_poll_duration_seconds_count") == 1
    assert value(families["syncbot_failures_seen"], "syncbot_failures_seen_total") == 2
    requests = families["syncbot_patchworks_requests"]
    assert value(requests, "syncbot_patchworks_requests_total", lane="poll", status="200") > 0
    assert value(requests, "syncbot_patchworks_requests_total", lane="resync") >= 1  # the retry
    calls = families["syncbot_slack_calls"]
    assert value(calls, "syncbot_slack_calls_total", method="chat.postMessage", ok="true") >= 1
    # The store's view: one cause (both runs share the error), one of its runs resynced.
    assert value(families["syncbot_open_causes"], "syncbot_open_causes") == 1
    resyncs = families["syncbot_resyncs"]
    # Requested (its answer not recorded yet), queued, or already followed to OK: one resync.
    assert (
        sum(value(resyncs, "syncbot_resyncs", outcome=outcome) for outcome in ("requested", "queued", "ok"))
        == 1
    )
    assert {s.labels["outcome"] for s in resyncs} == {outcome.value for outcome in ResyncOutcome}
    jobs = families["syncbot_bulk_jobs"]
    assert {s.labels["state"] for s in jobs} == {state.value for state in JobState}
    assert sum(s.value for s in jobs) == 0
    assert value(families["syncbot_outage"], "syncbot_outage") == 0
    assert value(families["syncbot_poller"], "syncbot_poller") == 1
    remaining = value(families["syncbot_patchworks_budget_remaining"], "syncbot_patchworks_budget_remaining")
    limit = value(families["syncbot_patchworks_budget_limit"], "syncbot_patchworks_budget_limit")
    assert 0 < remaining < limit == services.settings.patchworks_requests_per_minute
    assert {s.labels["lane"] for s in families["syncbot_patchworks_waiting"]} == {lane.value for lane in Lane}


async def test_an_outage_and_a_failed_poll_show(http_bot: RunningBot, sim: Sim) -> None:
    services = http_bot.services
    sim.config.api_key = "rotated-key"  # the bot's key is refused: 401, Patchworks is unusable
    await poll_if_leader(services, PollerLease(services, 300))

    _, families = await scrape(http_bot)

    assert value(families["syncbot_polls"], "syncbot_polls_total", result="error") == 1
    assert value(families["syncbot_outage"], "syncbot_outage") == 1
    requests = families["syncbot_patchworks_requests"]
    assert value(requests, "syncbot_patchworks_requests_total", lane="poll", status="401") >= 1


async def test_the_process_counters_still_show_when_the_store_cannot_be_read(
    http_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> object:
        raise OSError("database unreachable")

    monkeypatch.setattr(http_bot.services.store, "unit_of_work", broken)

    response, families = await scrape(http_bot)

    assert response.status_code == 200
    assert "syncbot_polls" in families
    assert "syncbot_slack_calls" in families
    assert "syncbot_patchworks_budget_remaining" in families  # the pacer is this process's
    assert "syncbot_open_causes" not in families
    assert "syncbot_outage" not in families


async def test_metrics_are_not_behind_the_slack_signature(http_bot: RunningBot) -> None:
    async with httpx.AsyncClient(base_url=str(http_bot.url)) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.post("/metrics")).status_code == 405
        assert (await client.post("/slack/events", content=b"{}")).status_code == 401  # the edge, as before
        # No hook without SYNCBOT_HOOK_SECRET.
        assert (
            await client.post("/patchworks/hook", headers={"authorization": "Bearer x"})
        ).status_code == 404


async def test_a_request_patchworks_never_answered_counts_as_an_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    metrics = Metrics()
    report = CoreApiReport(
        "http://patchworks.test/api/v1",
        "key-123456789",
        app_url="http://app.test",
        transport=httpx.MockTransport(refuse),
        max_retries=1,
        sleep=_no_sleep,
    )
    report.on_request = metrics.patchworks_request
    with pytest.raises(Unavailable):
        await report.entry(5)
    await report.aclose()

    value = metrics.registry.get_sample_value
    assert value("syncbot_patchworks_requests_total", {"lane": "poll", "status": "error"}) == 2


async def _no_sleep(_: float) -> None:
    return None


def test_each_app_has_its_own_registry(services: Services) -> None:
    first, second = Metrics(), Metrics()
    first.slack_call("chat.postMessage", True)
    labels = {"method": "chat.postMessage", "ok": "true"}
    assert first.registry.get_sample_value("syncbot_slack_calls_total", labels) == 1
    assert second.registry.get_sample_value("syncbot_slack_calls_total", labels) is None
    assert services.metrics.registry not in (first.registry, second.registry)
