"""POST /patchworks/hook: a Patchworks process flow asks for a poll now. Through the real runtime
(schedule, lease, HTTP server) against the simulator: the right secret polls within seconds, a
wrong or missing one gets 401 and starts nothing, a burst of calls is one poll, and without
SYNCBOT_HOOK_SECRET there is no endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from support.harness import FakeSlack, Sim, make_services
from support.slack import digest_messages
from support.waiting import eventually

import bot.scheduler
from bot.config import ConfigError, Settings, load_settings
from bot.hook import bearer_problem
from bot.runtime import Runtime, running
from bot.scheduler import PollerLease, PollNow

HOOK_SECRET = "hook-secret-0123456789abcdef"
ERROR = "NetSuite: Field 'shipping_method' not found"


@pytest.fixture
def hook_settings(settings_env: dict[str, str]) -> Settings:
    env = {key.lower(): value for key, value in settings_env.items()}
    return load_settings(_env_file=None, **env, syncbot_hook_secret=HOOK_SECRET)


def polls(runtime: Runtime) -> float:
    """Poll cycles the bot has run (read from its metrics)."""
    value = runtime.services.metrics.registry.get_sample_value("syncbot_polls_total", {"result": "ok"})
    return value or 0.0


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Runtime]:
    """The bot as `syncbot run` runs it, once its start-up poll is done."""
    services = await make_services(settings)
    async with running(services, host="127.0.0.1", port=0) as runtime:
        await eventually(lambda: polls(runtime) == 1, timeout=30)
        yield runtime


async def hook(runtime: Runtime, authorization: str | None = f"Bearer {HOOK_SECRET}") -> httpx.Response:
    # Bytes: a header value may carry non-ASCII characters (sent as UTF-8).
    headers = {"authorization": authorization.encode()} if authorization is not None else {}
    async with httpx.AsyncClient(base_url=runtime.url) as client:
        return await client.post("/patchworks/hook", headers=headers, content=b'{"flow": "ignored"}')


async def test_the_right_secret_polls_within_two_seconds(
    hook_settings: Settings, sim: Sim, slack: FakeSlack
) -> None:
    async with started(hook_settings) as runtime:
        [run] = sim.world.add_failures(1, minutes_ago=0.05, flow_id=101, error=ERROR)
        before = sim.world.requests
        called = time.monotonic()

        response = await hook(runtime)

        assert response.status_code == 202
        assert response.json() == {"poll": "queued"}
        await eventually(lambda: sim.world.requests > before, timeout=2)
        assert time.monotonic() - called < 2
        # ... and the failure that called reaches Slack in seconds, not at the next scheduled poll.
        await eventually(
            lambda: any(str(run) in str(m.blocks) for m in digest_messages(slack.workspace)), timeout=20
        )
        await eventually(lambda: polls(runtime) == 2, timeout=20)


BAD = [
    None,
    "",
    "Bearer",
    "Bearer wrong-secret-0123456789",
    f"Basic {HOOK_SECRET}",
    HOOK_SECRET,
    "Bearer hoök",
]


async def test_a_wrong_or_missing_secret_gets_401_and_starts_nothing(
    hook_settings: Settings, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(hook_settings) as runtime:
        before = sim.world.requests

        responses = [await hook(runtime, authorization) for authorization in BAD]

        assert [r.status_code for r in responses] == [401] * len(BAD)
        assert all(r.headers["www-authenticate"].startswith("Bearer") for r in responses)
        assert all("poll" not in r.json() for r in responses)
        await asyncio.sleep(bot.scheduler.SETTLE_SECONDS + 0.5)
        assert sim.world.requests == before  # not one request to Patchworks
        assert polls(runtime) == 1
        refused = runtime.services.metrics.registry.get_sample_value(
            "syncbot_hook_requests_total", {"result": "refused"}
        )
        assert refused == len(BAD)
    # What a caller sent is never logged, right or wrong.
    assert HOOK_SECRET not in caplog.text
    assert "wrong-secret" not in caplog.text


async def test_a_hundred_calls_in_one_second_make_one_poll(
    hook_settings: Settings, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Room for a slow, shared machine: the whole burst arrives before the queued poll starts.
    monkeypatch.setattr(bot.scheduler, "SETTLE_SECONDS", 15.0)
    async with started(hook_settings) as runtime:
        sim.world.add_failures(3, minutes_ago=0.05, flow_id=101, error=ERROR)
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=runtime.url, limits=limits) as client:
            headers = {"authorization": f"Bearer {HOOK_SECRET}"}
            responses = await asyncio.gather(
                *(client.post("/patchworks/hook", headers=headers) for _ in range(100))
            )

        assert {r.status_code for r in responses} == {202}
        answers = [r.json()["poll"] for r in responses]
        assert answers.count("queued") == 1
        assert answers.count("already queued") == 99
        hooks = runtime.services.metrics.registry.get_sample_value
        assert hooks("syncbot_hook_requests_total", {"result": "queued"}) == 1
        assert hooks("syncbot_hook_requests_total", {"result": "coalesced"}) == 99
        await eventually(lambda: polls(runtime) == 2, timeout=30)
        await asyncio.sleep(1)
        assert polls(runtime) == 2


async def test_without_a_secret_there_is_no_endpoint(settings: Settings, sim: Sim) -> None:
    assert settings.syncbot_hook_secret is None
    async with started(settings) as runtime:
        before = sim.world.requests

        response = await hook(runtime)

        assert response.status_code == 404
        await asyncio.sleep(bot.scheduler.SETTLE_SECONDS + 0.5)
        assert sim.world.requests == before
        assert polls(runtime) == 1


async def test_a_request_during_a_poll_queues_exactly_one_more(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = await make_services(settings)
    cycles: list[str] = []
    release = asyncio.Event()

    async def slow_poll(*_: object) -> None:
        cycles.append("start")
        await release.wait()
        cycles.append("end")

    monkeypatch.setattr(bot.scheduler, "poll_if_leader", slow_poll)
    poll_now = PollNow(services, PollerLease(services, 300), settle=0.01)
    try:
        assert poll_now.request() is True
        await eventually(lambda: cycles == ["start"])
        # While that poll runs (it may have read Patchworks already): one more is queued...
        assert poll_now.request() is True
        # ... and everything after it is covered by that one.
        assert [poll_now.request() for _ in range(50)] == [False] * 50
        release.set()
        await eventually(lambda: cycles == ["start", "end", "start", "end"])
        await asyncio.sleep(0.2)
        assert cycles == ["start", "end", "start", "end"]
        # The schedule's poll never runs beside a requested one.
        release.clear()
        assert poll_now.request() is True
        await eventually(lambda: len(cycles) == 5)
        scheduled = asyncio.create_task(poll_now.scheduled())
        await asyncio.sleep(0.1)
        assert len(cycles) == 5
        release.set()
        await scheduled
        assert cycles[-2:] == ["start", "end"]
        assert len(cycles) == 8
    finally:
        await poll_now.close()
        await services.aclose()


async def test_shutdown_drops_a_requested_poll_not_started_yet(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = await make_services(settings)
    ran: list[str] = []

    async def poll(*_: object) -> None:
        ran.append("poll")

    monkeypatch.setattr(bot.scheduler, "poll_if_leader", poll)
    poll_now = PollNow(services, PollerLease(services, 300), settle=5)
    try:
        assert poll_now.request() is True
        await poll_now.close()
        assert poll_now.request() is False  # nothing is started after shutdown
        await asyncio.sleep(0.05)
        assert ran == []
    finally:
        await services.aclose()


@pytest.mark.parametrize(
    ("authorization", "problem"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization header"),
        ("Token abc", "not a Bearer token"),
        (f"Bearer {HOOK_SECRET[:-1]}", "wrong bearer token"),
        (f"Bearer {HOOK_SECRET}x", "wrong bearer token"),
        ("Bearer h\u00e9llo", "wrong bearer token"),  # non-ASCII: compared as bytes, never raises
        (f"Bearer {HOOK_SECRET}", None),
        (f"bearer  {HOOK_SECRET} ", None),  # the scheme is case-insensitive (RFC 7235)
    ],
)
def test_bearer_problem(authorization: str | None, problem: str | None) -> None:
    assert bearer_problem(HOOK_SECRET, authorization) == problem


def test_a_short_hook_secret_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, syncbot_hook_secret="too-short")
    assert str(caught.value).startswith("SYNCBOT_HOOK_SECRET: expected at least 16 characters")
    assert "too-short" not in str(caught.value)
    # Set but empty (a blank line in .env): the endpoint stays off, as if unset.
    assert load_settings(_env_file=None, syncbot_hook_secret="").syncbot_hook_secret is None
    assert "hook-secret" not in repr(load_settings(_env_file=None, syncbot_hook_secret=HOOK_SECRET))
