"""The one Patchworks budget: a sliding window, lanes by who waits, 429 pauses, shared reads.

Time is virtual: `VirtualTime` moves the clock only when every task is blocked, straight to the
earliest sleeper's deadline, so minutes of pacing run in milliseconds and nothing is timed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from support.harness import SIM_KEY, Sim

from blocks.values import EntryRef
from bot.handlers.details import details_model
from bot.patchworks._pacer import Pacer, Turn, default_reserve
from bot.patchworks.core_api import CoreApiReport
from bot.patchworks.errors import NotFound, PatchworksError, RateLimited
from bot.patchworks.lanes import Lane, current_lane, lane_outranks, patchworks_lane
from bot.services import Services
from syncbot_sandbox.simulator import SimulatorConfig, create_app

T = TypeVar("T")

BASE = "https://core.example.test/api/v1"
APP = "https://app.example.test/"
WINDOW = 60.5  # the pacer's window: Patchworks' minute plus slack for network jitter


class VirtualTime:
    """A clock that moves only when every task waits: then to the earliest sleeper's deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), future))
        await future

    async def at(self, moment: float) -> None:
        """Sleep until the clock reads `moment`."""
        await self.sleep(moment - self.now)

    async def run(self, *calls: Coroutine[Any, Any, T]) -> list[T]:
        """Run the calls concurrently to the end, moving the clock whenever all of them wait."""
        tasks = [asyncio.ensure_future(call) for call in calls]
        loop = asyncio.get_running_loop()
        while not all(task.done() for task in tasks):
            await _idle(loop)
            while self._sleepers and self._sleepers[0][2].done():  # cancelled sleeps
                heapq.heappop(self._sleepers)
            if all(task.done() for task in tasks):
                break
            if not self._sleepers:
                raise AssertionError("every task waits and none sleeps: a lost wake-up")
            self.now = max(self.now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
        return [task.result() for task in tasks]


async def _idle(loop: asyncio.AbstractEventLoop) -> None:
    """Yield until no callback is ready to run: every task waits on a sleep, an event or I/O."""
    quiet = 0
    while quiet < 3:
        await asyncio.sleep(0)
        quiet = quiet + 1 if not loop._ready else 0  # type: ignore[attr-defined]


def windows_exceeding(sent: list[float], limit: int, window: float = 60.0) -> list[float]:
    """Starts of the windows of `window` seconds (at any send) holding more than `limit` sends."""
    times = sorted(sent)
    return [start for i, start in enumerate(times) if sum(1 for t in times[i:] if t < start + window) > limit]


def busiest_window(sent: list[float], window: float = 60.0) -> int:
    times = sorted(sent)
    return max((sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times)), default=0)


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


# ---- the sliding window ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
async def test_no_60_second_window_ever_holds_more_than_the_limit(vt: VirtualTime, seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([7, 20, 60])
    pacer = Pacer(limit, clock=vt.clock, sleep=vt.sleep)
    count = rng.randint(3 * limit, 6 * limit)
    burst = rng.uniform(0, 300)  # half the calls come in one 10-second burst
    arrivals = sorted(rng.uniform(0, 400) if i % 2 else rng.uniform(burst, burst + 10) for i in range(count))
    lanes = [rng.choice(list(Lane)) for _ in arrivals]
    sent: list[tuple[float, int]] = []  # (time, request) in the order they went

    async def call(index: int) -> None:
        await vt.at(arrivals[index])
        await pacer.acquire(lanes[index])
        sent.append((vt.now, index))

    await vt.run(*(call(i) for i in range(len(arrivals))))

    times = [moment for moment, _ in sent]
    assert len(sent) == len(arrivals)
    assert windows_exceeding(times, limit) == []
    assert busiest_window(times) >= limit - pacer.reserve  # the budget was spent, not wasted
    # FIFO within a lane, and no call went while an earlier call of a higher lane still waited.
    for lane in Lane:
        ours = [index for _, index in sent if lanes[index] is lane]
        assert ours == sorted(ours)
    position = {index: place for place, (_, index) in enumerate(sent)}
    for place, (moment, index) in enumerate(sent):
        overtaken = [
            other
            for other in range(len(arrivals))
            if arrivals[other] < moment
            and position[other] > place
            and lane_outranks(lanes[other], lanes[index])
        ]
        assert overtaken == [], (lanes[index], moment)


async def test_the_window_is_tight_and_slides(vt: VirtualTime) -> None:
    pacer = Pacer(20, clock=vt.clock, sleep=vt.sleep)

    async def call(arrival: float) -> float:
        await vt.at(arrival)
        await pacer.acquire(Lane.RESYNC)
        return vt.now

    sent = await vt.run(*(call(0.0) for _ in range(10)), *(call(30.0) for _ in range(25)))

    assert sent[:20] == [0.0] * 10 + [30.0] * 10
    # Each later call goes the moment a send of its window ages out, not a token later.
    assert sent[20:] == [pytest.approx(WINDOW)] * 10 + [pytest.approx(30.0 + WINDOW)] * 5
    assert windows_exceeding(sent, 20) == []


def test_a_budget_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Pacer(0)
    with pytest.raises(ValueError, match="reserve"):
        Pacer(5, reserve=5)


def test_the_reserve_for_people_is_a_tenth_at_least_one() -> None:
    assert [default_reserve(n) for n in (1, 2, 6, 60, 240)] == [0, 1, 1, 6, 24]


# ---- lanes -----------------------------------------------------------------------------------


async def test_a_resync_arriving_after_waiting_polls_is_sent_first_when_a_slot_frees(
    vt: VirtualTime,
) -> None:
    pacer = Pacer(3, clock=vt.clock, sleep=vt.sleep, reserve=0)
    sent: list[tuple[str, float]] = []

    async def call(name: str, lane: Lane, arrival: float) -> None:
        await vt.at(arrival)
        await pacer.acquire(lane)
        sent.append((name, vt.now))

    await vt.run(
        *(call(f"fill-{i}", Lane.POLL, i * 10.0) for i in range(3)),  # the budget, spent at 0, 10, 20
        call("poll-1", Lane.POLL, 30),
        call("poll-2", Lane.POLL, 31),
        call("bulk", Lane.BULK, 32),
        call("details", Lane.DETAILS, 33),
        call("resync", Lane.RESYNC, 34),
    )

    assert [name for name, _ in sent] == [
        "fill-0",
        "fill-1",
        "fill-2",
        "resync",
        "details",
        "bulk",
        "poll-1",
        "poll-2",
    ]
    # Each goes when a slot frees: 60.5 s after the send whose place it takes.
    assert [moment for _, moment in sent[3:]] == pytest.approx([60.5, 70.5, 80.5, 121.0, 131.0])


async def test_calls_of_one_lane_go_in_the_order_they_came(vt: VirtualTime) -> None:
    pacer = Pacer(2, clock=vt.clock, sleep=vt.sleep, reserve=0)
    sent: list[int] = []

    async def call(number: int, arrival: float) -> None:
        await vt.at(arrival)
        await pacer.acquire(Lane.DETAILS)
        sent.append(number)

    rng = random.Random(3)
    arrivals = [0.0, 0.5, *sorted(rng.uniform(1, 50) for _ in range(8))]
    await vt.run(*(call(number, arrival) for number, arrival in reversed(list(enumerate(arrivals)))))
    assert sent == list(range(10))


async def test_polls_leave_the_reserve_to_people(vt: VirtualTime) -> None:
    pacer = Pacer(10, clock=vt.clock, sleep=vt.sleep)  # a reserve of 1
    sent: list[tuple[str, float]] = []

    async def call(name: str, lane: Lane, arrival: float) -> None:
        await vt.at(arrival)
        await pacer.acquire(lane)
        sent.append((name, vt.now))

    await vt.run(
        *(call(f"poll-{i}", Lane.POLL, 0) for i in range(10)),
        call("bulk", Lane.BULK, 1),
        call("resync", Lane.RESYNC, 2),
        call("details", Lane.DETAILS, 3),
    )

    at = dict(sent)
    assert [at[f"poll-{i}"] for i in range(9)] == [0.0] * 9  # polls fill all but the reserve
    assert at["resync"] == 2.0  # a click finds the reserved slot at once
    assert at["details"] == pytest.approx(WINDOW)  # the window is full now: next free slot
    assert at["bulk"] == pytest.approx(WINDOW)
    assert at["poll-9"] == pytest.approx(WINDOW)
    assert [name for name, _ in sent][-3:] == ["details", "bulk", "poll-9"]


async def lane_in_a_task() -> Lane:
    return current_lane()


async def test_the_lane_is_the_callers_context() -> None:
    assert current_lane() is Lane.POLL
    with patchworks_lane(Lane.BULK):
        assert current_lane() is Lane.BULK
        with patchworks_lane(Lane.RESYNC, unless_chosen=True) as lane:
            assert lane is Lane.BULK  # a bulk job's single resyncs stay bulk work
        with patchworks_lane(Lane.RESYNC):
            assert current_lane() is Lane.RESYNC
        assert await asyncio.create_task(lane_in_a_task()) is Lane.BULK  # tasks inherit the lane
    assert current_lane() is Lane.POLL
    with patchworks_lane(Lane.RESYNC, unless_chosen=True):
        assert current_lane() is Lane.RESYNC


async def test_a_cancelled_waiter_leaves_the_queue_and_wakes_the_next(vt: VirtualTime) -> None:
    pacer = Pacer(1, clock=vt.clock, sleep=vt.sleep)
    sent: list[str] = []

    async def call(name: str, lane: Lane, arrival: float) -> None:
        await vt.at(arrival)
        await pacer.acquire(lane)
        sent.append(name)

    async def cancel_resync_at(moment: float, task: asyncio.Task[None]) -> None:
        await vt.at(moment)
        assert pacer.waiting()[Lane.RESYNC] == 1
        task.cancel()

    resync = asyncio.ensure_future(call("resync", Lane.RESYNC, 2))
    await vt.run(call("first", Lane.POLL, 0), call("poll", Lane.POLL, 1), cancel_resync_at(30, resync))
    await asyncio.gather(resync, return_exceptions=True)
    assert resync.cancelled()
    assert sent == ["first", "poll"]
    assert pacer.waiting() == dict.fromkeys(Lane, 0)


# ---- 429: every lane pauses ------------------------------------------------------------------


def flows_handler(
    seen: list[tuple[str, float]], vt: VirtualTime, answer: Callable[[httpx.Request], httpx.Response]
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path.removeprefix("/api/v1"), vt.now))
        return answer(request)

    return handler


def flow_body(request: httpx.Request) -> httpx.Response:
    flow_id = int(request.url.path.rsplit("/", 1)[1])
    return httpx.Response(200, json={"data": {"id": flow_id, "name": f"Flow {flow_id}"}})


def report_on(vt: VirtualTime, handler: Callable[[httpx.Request], Any], **kwargs: Any) -> CoreApiReport:
    options: dict[str, Any] = {"requests_per_minute": 240, "sleep": vt.sleep, "clock": vt.clock}
    options.update(kwargs)
    return CoreApiReport(BASE, "pk_test", app_url=APP, transport=httpx.MockTransport(handler), **options)


async def test_a_429_with_retry_after_pauses_every_lane(vt: VirtualTime) -> None:
    seen: list[tuple[str, float]] = []
    refused: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/flows/1") and not refused:
            refused.append(1)
            return httpx.Response(429, json={"message": "Too Many Attempts."}, headers={"Retry-After": "30"})
        return flow_body(request)

    report = report_on(vt, flows_handler(seen, vt, answer))

    async def poll() -> None:
        await report.flow(1)

    async def click_at(moment: float, flow_id: int, lane: Lane) -> None:
        await vt.at(moment)
        with patchworks_lane(lane):
            await report.flow(flow_id)

    async def look_at(moment: float) -> None:
        await vt.at(moment)
        budget = report.budget
        assert budget.paused_for == pytest.approx(30 - moment)
        assert budget.paused_until is not None
        assert budget.waiting[Lane.RESYNC] == 1
        assert budget.waiting[Lane.POLL] == 1

    await vt.run(poll(), click_at(1, 2, Lane.RESYNC), look_at(5), click_at(45, 3, Lane.DETAILS))
    await report.aclose()

    # The person's resync, with budget to spare, still waited out the pause, and went first.
    assert seen == [("/flows/1", 0.0), ("/flows/2", 30.0), ("/flows/1", 30.0), ("/flows/3", 45.0)]
    assert report.budget.paused_for == 0
    assert report.budget.paused_until is None


async def test_a_pause_too_long_to_wait_fails_every_call_at_once_without_sending(vt: VirtualTime) -> None:
    seen: list[tuple[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/flows/1"):
            return httpx.Response(429, headers={"Retry-After": "3600"})
        return flow_body(request)

    report = report_on(vt, flows_handler(seen, vt, answer))

    async def call_at(moment: float, flow_id: int) -> float | None:
        await vt.at(moment)
        try:
            with patchworks_lane(Lane.RESYNC):
                await report.flow(flow_id)
        except RateLimited as exc:
            return exc.retry_after
        return None

    waits = await vt.run(call_at(0, 1), call_at(10, 2))
    assert waits == [3600.0, pytest.approx(3590.0)]
    assert seen == [("/flows/1", 0.0)]  # the second call was refused without spending a request
    vt.now = 3601.0
    assert (await report.flow(2)).name == "Flow 2"
    await report.aclose()


async def test_a_long_pause_fails_calls_already_waiting(vt: VirtualTime) -> None:
    pacer = Pacer(1, clock=vt.clock, sleep=vt.sleep, max_pause=120)
    outcomes: list[str] = []

    async def call(name: str, arrival: float) -> None:
        await vt.at(arrival)
        try:
            await pacer.acquire(Lane.DETAILS)
            outcomes.append(f"{name} sent at {vt.now}")
        except RateLimited:
            outcomes.append(f"{name} refused at {vt.now}")

    async def pause_at(moment: float) -> None:
        await vt.at(moment)
        pacer.pause(600)

    await vt.run(call("a", 0), call("b", 1), call("c", 2), pause_at(5))
    # "b" sleeps as the head until its slot (it learns of the pause then); "c" learns at once.
    assert outcomes == ["a sent at 0.0", "c refused at 5.0", "b refused at 60.5"]


# ---- shared in-flight reads ------------------------------------------------------------------


def counting(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[Counter[str], Any]:
    """A handler that counts requests by path and query, and keeps each one in flight a moment."""
    requests: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        requests[f"{request.url.path.removeprefix('/api/v1')}?{request.url.query.decode()}"] += 1
        await asyncio.sleep(0)
        return answer(request)

    return requests, handler


async def test_ten_identical_reads_in_flight_are_one_request(vt: VirtualTime) -> None:
    requests, handler = counting(flow_body)
    report = report_on(vt, handler)

    flows = await vt.run(*(report.flow(7) for _ in range(10)))

    assert [flow.name for flow in flows] == ["Flow 7"] * 10
    assert sum(requests.values()) == 1
    assert report.requests_made == 1
    await report.flow(7)  # nothing is kept after the read completed
    assert sum(requests.values()) == 2
    await report.aclose()


async def test_a_shared_read_shares_its_error(vt: VirtualTime) -> None:
    requests, handler = counting(lambda request: httpx.Response(404, json={"message": "Not found"}))
    report = report_on(vt, handler)

    async def read() -> PatchworksError:
        with pytest.raises(NotFound) as caught:
            await report.entry(5)
        return caught.value

    errors = await vt.run(*(read() for _ in range(10)))
    assert len({id(error) for error in errors}) == 1
    assert "run 5 not found" in str(errors[0])
    assert sum(requests.values()) == 1
    await report.aclose()


async def test_reads_that_differ_in_path_or_params_are_separate_requests(vt: VirtualTime) -> None:
    requests, handler = counting(lambda request: httpx.Response(200, json={"data": []}))
    report = report_on(vt, handler)
    since = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    async def pages(**filters: Any) -> None:
        async for _ in report.failed_pages(since, **filters):
            pass

    await vt.run(*(pages() for _ in range(3)), *(pages(search="SO-1") for _ in range(3)))
    await vt.run(*(report.error_lines(run) for run in (1, 2, 1, 2)))

    assert sorted(requests.values()) == [1, 1, 1, 1]
    assert len(requests) == 4  # the two listings differ only in their query
    await report.aclose()


async def test_a_waiter_leaving_a_shared_read_does_not_cancel_it_for_the_others(vt: VirtualTime) -> None:
    requests, handler = counting(flow_body)
    report = report_on(vt, handler, requests_per_minute=1)
    await report.flow(1)  # spends the whole budget
    leaving = asyncio.ensure_future(report.flow(7))
    staying = asyncio.ensure_future(report.flow(7))

    async def leave_at(moment: float) -> None:
        await vt.at(moment)
        leaving.cancel()

    await vt.run(staying, leave_at(10))
    assert leaving.cancelled()
    assert staying.result().name == "Flow 7"
    assert requests["/flows/7?"] == 1
    await report.aclose()


async def test_a_person_joining_a_queued_poll_read_lifts_it_to_their_lane(vt: VirtualTime) -> None:
    seen: list[tuple[str, float]] = []
    report = report_on(vt, flows_handler(seen, vt, flow_body), requests_per_minute=2)
    report._pacer.reserve = 0  # only the order matters here

    async def read_at(moment: float, flow_id: int, lane: Lane) -> str:
        await vt.at(moment)
        with patchworks_lane(lane):
            return (await report.flow(flow_id)).name

    names = await vt.run(
        read_at(0, 100, Lane.POLL),  # the budget: spent at 0 and 10
        read_at(10, 101, Lane.POLL),
        read_at(20, 8, Lane.POLL),  # queued first
        read_at(21, 7, Lane.POLL),  # queued behind it
        read_at(22, 7, Lane.DETAILS),  # a person wants the same read: it moves up to DETAILS
        read_at(23, 9, Lane.DETAILS),  # a person's own read queues behind the lifted one
    )

    assert names[3] == names[4] == "Flow 7"
    assert seen[2:] == [("/flows/7", 60.5), ("/flows/9", 70.5), ("/flows/8", 121.0)]
    await report.aclose()


async def test_a_sent_turn_is_not_moved(vt: VirtualTime) -> None:
    pacer = Pacer(5, clock=vt.clock, sleep=vt.sleep)
    turn = Turn(Lane.POLL)
    await pacer.acquire(turn)
    assert not turn.queued
    turn.raise_to(Lane.RESYNC)
    turn.raise_to(Lane.BULK)  # never lowered
    assert turn.lane is Lane.RESYNC
    assert pacer.waiting() == dict.fromkeys(Lane, 0)


# ---- through the simulator -------------------------------------------------------------------


class StatusCounter(httpx.AsyncBaseTransport):
    """Counts the status of every answer that reaches syncbot."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response


@dataclass
class Traffic:
    """What mixed calls against the simulator came to."""

    statuses: Counter[int]  # the status of every answer syncbot saw
    simulator_counted: int  # API requests the simulator counted
    syncbot_made: int  # requests syncbot sent
    rate_limited: int  # calls that ended in RateLimited
    seconds: float  # virtual time the calls took


async def mixed_calls(syncbot_per_minute: int, *, calls: int = 100) -> Traffic:
    """`calls` mixed calls in every lane, concurrently, against a simulator allowing 60 a minute,
    on one virtual clock (the simulator's clock hook), so minutes of pacing take milliseconds."""
    vt = VirtualTime()
    epoch = datetime.now(UTC).timestamp()
    config = SimulatorConfig(
        seed=11, api_key=SIM_KEY, initial_failures=0, retry_delay_s=5, rate_limit_per_minute=60
    )
    app = create_app(config, clock=lambda: epoch + vt.now)
    world = app.state.world
    runs = world.add_failures(40, minutes_ago=30)
    flows = sorted(world.flows)
    transport = StatusCounter(httpx.ASGITransport(app=app))
    report = CoreApiReport(
        "http://simulator.test/api/v1",
        SIM_KEY,
        app_url=APP,
        requests_per_minute=syncbot_per_minute,
        transport=transport,
        sleep=vt.sleep,
        clock=vt.clock,
    )
    rng = random.Random(5)
    since = datetime.fromtimestamp(epoch - 3600, UTC)
    to_retry = iter(runs)
    limited: list[RateLimited] = []

    async def one(arrival: float, kind: str, lane: Lane) -> None:
        await vt.at(arrival)
        with patchworks_lane(lane):
            try:
                if kind == "entry":
                    await report.entry(rng.choice(runs[:10]))  # often the same run: shared reads
                elif kind == "logs":
                    await report.error_lines(rng.choice(runs))
                elif kind == "flow":
                    await report.flow(rng.choice(flows))
                elif kind == "list":
                    async for _ in report.failed_pages(since):
                        pass
                else:
                    await report.resync(next(to_retry))
            except RateLimited as exc:
                limited.append(exc)
            except PatchworksError:
                pass  # e.g. a run the simulator will not retry (422): not what is counted here

    kinds = ["entry"] * 40 + ["logs"] * 20 + ["flow"] * 20 + ["list"] * 10 + ["resync"] * 10
    plan = [(rng.uniform(0, 90), rng.choice(kinds), rng.choice(list(Lane))) for _ in range(calls)]
    await vt.run(*(one(*call) for call in plan))
    await report.aclose()
    return Traffic(transport.statuses, world.requests, report.requests_made, len(limited), vt.now)


async def test_a_hundred_mixed_calls_through_the_simulator_never_meet_a_429() -> None:
    traffic = await mixed_calls(60)

    assert traffic.statuses[429] == 0
    assert traffic.rate_limited == 0
    assert traffic.simulator_counted == traffic.syncbot_made == traffic.statuses.total()
    assert traffic.syncbot_made > 60  # more than a minute's budget: the pacer had to hold calls
    assert traffic.seconds > 60


async def test_without_the_budget_the_same_calls_do_meet_429s(monkeypatch: pytest.MonkeyPatch) -> None:
    # The control: with syncbot's budget above the simulator's (and Patchworks' word on what is
    # left ignored), the same calls are refused, so the test above would have seen a 429 had the
    # pacer let one through.
    monkeypatch.setattr(Pacer, "observe_remaining", lambda self, remaining: None)
    traffic = await mixed_calls(10_000)
    assert traffic.statuses[429] > 0


# ---- the lanes syncbot's callers choose ------------------------------------------------------


async def test_callers_choose_their_lanes(
    services: Services, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = sim.world.add_failures(3, minutes_ago=5, error="Shopify: 503 Service Unavailable")
    report = services.report
    lanes: list[tuple[str, Lane]] = []

    def recording(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            lanes.append((name, current_lane()))
            return await method(*args, **kwargs)

        return call

    for name in ("entry", "resync"):
        monkeypatch.setattr(report, name, recording(name, getattr(report, name)))
    original_pages = report.failed_pages

    def pages(*args: Any, **kwargs: Any) -> Any:
        lanes.append(("failed_pages", current_lane()))
        return original_pages(*args, **kwargs)

    monkeypatch.setattr(report, "failed_pages", pages)

    def seen() -> set[Lane]:
        found = {lane for _, lane in lanes}
        lanes.clear()
        return found

    await services.poller.run_once()
    assert seen() == {Lane.POLL}
    await services.resyncer.resync_one(runs[0], "U0ANA")
    assert seen() == {Lane.RESYNC}
    plan = await services.jobs.propose([runs[1]], "U0ANA", message_id=None, channel=None)
    assert plan.job_id is not None
    await services.jobs.start(plan.job_id, "U0ANA")
    await services.jobs.work_once()
    assert seen() == {Lane.BULK}
    await details_model(services, EntryRef(run=runs[2]))
    assert seen() == {Lane.DETAILS}
    assert current_lane() is Lane.POLL


async def test_bulk_may_use_all_but_a_fortieth_of_the_window_and_polls_all_but_a_tenth(
    vt: VirtualTime,
) -> None:
    pacer = Pacer(240, clock=vt.clock, sleep=vt.sleep)
    sent: dict[Lane, int] = {Lane.BULK: 0, Lane.POLL: 0}

    async def call(lane: Lane) -> None:
        await pacer.acquire(lane)
        if vt.now == 0.0:
            sent[lane] += 1

    await vt.run(*(call(Lane.POLL) for _ in range(240)))
    assert sent[Lane.POLL] == 216  # 24 slots kept for people
    vt2 = VirtualTime()
    pacer = Pacer(240, clock=vt2.clock, sleep=vt2.sleep)
    bulk_at_zero = 0

    async def bulk() -> None:
        nonlocal bulk_at_zero
        await pacer.acquire(Lane.BULK)
        bulk_at_zero += vt2.now == 0.0

    await vt2.run(*(bulk() for _ in range(240)))
    assert bulk_at_zero == 234  # 6 kept for people: a bulk job runs at 97.5 % of the budget


async def test_patchworks_saying_less_is_left_fills_the_window_so_it_never_overfills(vt: VirtualTime) -> None:
    # A process restarted a moment after its predecessor: Patchworks still counts the
    # predecessor's requests, and says so in X-RateLimit-Remaining.
    pacer = Pacer(10, clock=vt.clock, sleep=vt.sleep, reserve=0)
    await pacer.acquire(Lane.POLL)
    pacer.observe_remaining(3)  # not 9: six requests of someone else's count in this window
    sent: list[float] = []

    async def call() -> None:
        await pacer.acquire(Lane.POLL)
        sent.append(vt.now)

    pacer.observe_remaining(50)  # more than we think is left: never frees a slot
    assert pacer.used() == 7
    await vt.run(*(call() for _ in range(4)))
    assert sent[:3] == [0.0, 0.0, 0.0]
    assert sent[3] == pytest.approx(WINDOW)  # the fourth waits for the window to move on
