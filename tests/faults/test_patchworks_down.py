"""Patchworks failures: the bot keeps running, says so once, says when it is back, and /healthz
reports degraded meanwhile. (429 storms are covered where the waiting happens: the adapter's
tests honour Retry-After and give up with RateLimited, which counts as an outage here.)"""

from __future__ import annotations

import httpx
import pytest
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim, make_services
from support.slack import digest_messages

from bot.config import Settings


def notices(slack: FakeSlack, words: str) -> list[str]:
    return [m.text for m in slack.workspace.channel(CHANNEL).messages.values() if words in m.text]


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param({"error_rate": 1.0}, id="5xx"),
        pytest.param({"malformed_rate": 1.0}, id="malformed-json"),
    ],
)
async def test_one_outage_notice_then_one_recovery_and_nothing_lost(
    http_bot: RunningBot, sim: Sim, slack: FakeSlack, break_it: dict[str, float]
) -> None:
    bot = http_bot
    created = sim.world.add_failures(3, minutes_ago=5)
    original = {key: getattr(sim.config, key) for key in break_it}
    for key, value in break_it.items():
        setattr(sim.config, key, value)

    async with httpx.AsyncClient(base_url=bot.url) as client:
        for _ in range(3):
            result = await bot.services.poller.run_once()
            assert result.error
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert len(notices(slack, "Patchworks API unreachable")) == 1

        for key, value in original.items():
            setattr(sim.config, key, value)
        result = await bot.services.poller.run_once()
        assert result.error is None
        assert (await client.get("/healthz")).json()["status"] == "ok"

    assert len(notices(slack, "Patchworks API unreachable")) == 1
    assert len(notices(slack, "recovered")) + len(notices(slack, "reachable again")) == 1
    posted = digest_messages(slack.workspace)
    assert posted, "the failures were posted once Patchworks answered"
    assert all(f"run {run}" in str([m.blocks for m in posted]) for run in created)


async def test_a_wrong_api_key_is_reported_once_and_polling_continues(
    sim: Sim, slack: FakeSlack, settings: Settings
) -> None:
    broken = settings.model_copy(
        update={"patchworks_api_key": type(settings.patchworks_api_key)("wrong-key")}
    )
    services = await make_services(broken)
    try:
        first = await services.poller.run_once()
        second = await services.poller.run_once()
    finally:
        await services.aclose()
    assert first.error
    assert "PATCHWORKS_API_KEY" in first.error
    assert second.error
    assert len(notices(slack, "Patchworks API unreachable")) == 1
    assert "wrong-key" not in str([m.text for m in slack.workspace.channel(CHANNEL).messages.values()])


async def test_an_unreachable_api_is_survived(slack: FakeSlack, settings: Settings) -> None:
    gone = settings.model_copy(update={"patchworks_api_url": "http://127.0.0.1:9/api/v1"})
    services = await make_services(gone)
    try:
        result = await services.poller.run_once()
    finally:
        await services.aclose()
    assert result.error
    assert len(notices(slack, "Patchworks API unreachable")) == 1
