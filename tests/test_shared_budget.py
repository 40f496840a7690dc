"""Replicas on one PostgreSQL database spend one Patchworks budget: the shared window in
bot/store/budget.py, taken by every replica's pacer.

Each replica here is a Store of its own (its own engine and connections, as a process would have)
on the same database. Time is real: windows are a second or a few, so the tests stay short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from support.harness import SIM_KEY, Sim, make_services

from bot.config import Settings
from bot.patchworks._pacer import Pacer
from bot.patchworks.core_api import CoreApiReport
from bot.patchworks.errors import RateLimited
from bot.patchworks.lanes import Lane, patchworks_lane
from bot.store import Store
from bot.store.budget import BudgetWindow
from syncbot_sandbox.simulator import SimulatorConfig, limits

pytestmark = pytest.mark.postgres

APP = "https://app.example.test/"

# The simulator's limit over a short window, and syncbot's budget to match: the same number of
# requests, over the same window plus the half second of slack the pacer keeps in production.
SIM_LIMIT = 20
SIM_WINDOW = 3.0
PACER_WINDOW = SIM_WINDOW + 0.5


@pytest.fixture
def sim_config(monkeypatch: pytest.MonkeyPatch) -> SimulatorConfig:
    """A simulator allowing SIM_LIMIT requests per SIM_WINDOW seconds (its window is a constant)."""
    monkeypatch.setattr(limits, "WINDOW_S", SIM_WINDOW)
    return SimulatorConfig(seed=7, api_key=SIM_KEY, initial_failures=0, rate_limit_per_minute=SIM_LIMIT)


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two replicas' stores on one PostgreSQL database."""
    first = await Store.open(pg_url)
    second = await Store.open(pg_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


class Recording:
    """A shared window that notes the epoch time of every send it records."""

    def __init__(self, inner: BudgetWindow, taken: list[float]) -> None:
        self._inner = inner
        self.taken = taken

    async def take(self, lane_ceiling: int, now_epoch: float, window: float) -> float:
        wait = await self._inner.take(lane_ceiling, now_epoch, window)
        if wait == 0:
            self.taken.append(now_epoch)
        return wait

    async def pause(self, until_epoch: float) -> None:
        await self._inner.pause(until_epoch)

    def paused_until(self) -> float:
        return self._inner.paused_until()


def most_in_any_window(times: list[float], window: float) -> int:
    """The most of `times` that fall inside one window [t, t + window), wherever it starts."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        most = max(most, end - start + 1)
    return most


# ---- two pacers, one window --------------------------------------------------------------------


async def test_two_pacers_sharing_a_window_never_exceed_the_limit(stores: tuple[Store, Store]) -> None:
    limit, window = 5, 1.0
    taken: list[float] = []
    pacers = [
        Pacer(limit, window=window, shared=Recording(store.patchworks_budget(SIM_KEY), taken))
        for store in stores
    ]
    sent: list[float] = []

    async def call(pacer: Pacer) -> None:
        await pacer.acquire(Lane.DETAILS)
        sent.append(time.time())

    await asyncio.gather(*(call(pacer) for pacer in pacers for _ in range(10)))

    assert len(taken) == len(sent) == 20
    # The recorded send times: exactly the limit in the fullest window, never more.
    assert most_in_any_window(taken, window) == limit
    # 20 sends at 5 a window take four windows whichever replica sends them.
    assert max(taken) - min(taken) >= 3 * window
    # When the calls were let go (a database round trip after their recorded time).
    assert most_in_any_window(sent, window - 0.2) <= limit


async def test_lanes_still_order_the_calls_of_one_replica(stores: tuple[Store, Store]) -> None:
    limit, window = 4, 1.0  # polls leave a slot of each window to people
    mine, other = (Pacer(limit, window=window, shared=store.patchworks_budget(SIM_KEY)) for store in stores)
    for _ in range(limit):
        await other.acquire(Lane.DETAILS)  # the other replica spends the whole window
    order: list[str] = []

    async def call(lane: Lane, name: str) -> None:
        await mine.acquire(lane)
        order.append(name)

    polls = [asyncio.create_task(call(Lane.POLL, f"poll {n}")) for n in range(2)]
    await asyncio.sleep(0.1)  # the polls wait for the shared window first
    resyncs = [asyncio.create_task(call(Lane.RESYNC, f"resync {n}")) for n in range(2)]
    assert mine.waiting()[Lane.POLL] == 2
    await asyncio.gather(*polls, *resyncs)

    # The second poll waits another window: the first filled what polls may use.
    assert order == ["resync 0", "resync 1", "poll 0", "poll 1"]


# ---- pauses --------------------------------------------------------------------------------------


async def test_a_pause_one_replica_met_pauses_the_other(stores: tuple[Store, Store]) -> None:
    first, second = (Pacer(10, shared=store.patchworks_budget(SIM_KEY)) for store in stores)
    first.pause(1.0)  # a 429 with Retry-After: 1
    await first.aclose()  # the pause is written

    async def look() -> float:
        await asyncio.sleep(0.3)
        return second.paused_for()

    started = time.monotonic()
    paused_for, _ = await asyncio.gather(look(), second.acquire(Lane.RESYNC))
    assert 0.9 <= time.monotonic() - started < 3
    assert 0.4 < paused_for < 0.8  # the second replica shows the pause while it waits it out


async def test_a_pause_too_long_to_wait_fails_every_replicas_calls(stores: tuple[Store, Store]) -> None:
    first, second = (Pacer(10, shared=store.patchworks_budget(SIM_KEY), max_pause=120) for store in stores)
    first.pause(600)
    await first.aclose()

    results = await asyncio.gather(
        second.acquire(Lane.RESYNC), second.acquire(Lane.POLL), return_exceptions=True
    )

    assert all(isinstance(result, RateLimited) for result in results)
    assert second.budget().paused_until is not None


async def test_a_database_error_falls_back_to_the_local_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'budget.db'}")
    pacer = Pacer(3, shared=BudgetWindow(engine, "account"))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.patchworks._pacer"):
            for _ in range(3):
                await asyncio.wait_for(pacer.acquire(Lane.RESYNC), 5)
            with pytest.raises(TimeoutError):  # the local window still holds the limit
                await asyncio.wait_for(pacer.acquire(Lane.RESYNC), 0.2)
    finally:
        await engine.dispose()
    assert pacer.used() == 3
    unavailable = [r for r in caplog.records if "shared Patchworks budget is unavailable" in r.message]
    assert len(unavailable) == 1  # said once, not once a call


# ---- the real thing: two replicas' clients against the simulator -------------------------------


class Statuses(httpx.AsyncBaseTransport):
    """The network, noting the status of every response the simulator sends."""

    def __init__(self, limited: asyncio.Event) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.seen: Counter[int] = Counter()
        self._limited = limited

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.seen[response.status_code] += 1
        if response.status_code == 429:
            self._limited.set()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "each-its-own"])
async def test_two_replicas_under_load_meet_no_429(
    shared: bool, sim: Sim, stores: tuple[Store, Store]
) -> None:
    reads = 24  # per replica: 48 in all, more than two windows' worth
    runs = sim.world.add_failures(2 * reads)
    limited = asyncio.Event()
    transports = [Statuses(limited), Statuses(limited)]
    reports = [
        CoreApiReport(
            sim.url,
            SIM_KEY,
            app_url=APP,
            requests_per_minute=SIM_LIMIT,
            window=PACER_WINDOW,
            transport=transport,
            shared_window=store.patchworks_budget(SIM_KEY) if shared else None,
        )
        for store, transport in zip(stores, transports, strict=True)
    ]
    started = time.monotonic()
    work = asyncio.gather(
        *(
            report.error_lines(run)
            for n, report in enumerate(reports)
            for run in runs[n * reads : (n + 1) * reads]
        )
    )
    try:
        if shared:
            await asyncio.wait_for(work, 25)
        else:
            # Without the shared window each replica spends the whole budget: the first 429 comes
            # in the first burst, and shows the load is enough to need the shared window.
            await asyncio.wait_for(limited.wait(), 10)
    finally:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        for report in reports:
            await report.aclose()
    elapsed = time.monotonic() - started

    statuses = sum((transport.seen for transport in transports), Counter[int]())
    if not shared:
        assert statuses[429] > 0
        return
    assert statuses == Counter({200: 2 * reads})
    assert sim.world.requests == 2 * reads  # the simulator refused nothing, and saw nothing else
    # Polls use all but a tenth of each window: 18, 18, then 12.
    assert elapsed >= 2 * PACER_WINDOW


# ---- wiring -----------------------------------------------------------------------------------


async def test_replicas_built_from_settings_on_postgresql_share_the_budget(
    sim: Sim, settings: Settings, pg_url: str
) -> None:
    on_pg = settings.model_copy(update={"database_url": pg_url, "patchworks_requests_per_minute": 3})
    first = await make_services(on_pg)
    second = await make_services(on_pg)
    try:
        flows = list(sim.world.flows)[:4]
        with patchworks_lane(Lane.DETAILS):
            for flow_id in flows[:3]:
                await first.report.flow(flow_id)
            with pytest.raises(TimeoutError):  # the budget is spent, by the other replica
                await asyncio.wait_for(second.report.flow(flows[3]), 0.5)
    finally:
        await first.aclose()
        await second.aclose()
    assert sim.world.requests == 3
