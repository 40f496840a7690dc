"""The store is the mirror: `/failed-syncs` answers from it, backfills once what it lacks, says how
fresh it is, and the poll prunes it without breaking a posted digest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_messages

from blocks.ids import Action, Command
from blocks.listing import build_listing
from bot.listing import Lister
from bot.patchworks.errors import Unavailable
from bot.patchworks.models import Flow, RunStatus, SyncEntry
from bot.patchworks.report import SyncReport
from bot.states import Placement
from bot.store import Store
from syncbot_sandbox.blockkit import message_problems
from syncbot_sandbox.store import User

ANA = "U0ADA"
LIST_PAGE = 100  # runs per Patchworks list request


async def ask(bot: RunningBot, slack: FakeSlack, text: str, user: str = ANA) -> str:
    """Type the command and return the blocks of the ephemeral answer `user` sees, as text."""
    before = len(slack.workspace.ephemerals.get((CHANNEL, user), []))
    response = await bot.desk.command(user, CHANNEL, Command.FAILED_SYNCS, text)
    assert response.status_code == 200
    return await _answer(slack, user, before)


async def click(bot: RunningBot, slack: FakeSlack, action: str, user: str = ANA) -> str:
    """Click Previous/Next on the newest listing, and return the page it is replaced with."""
    newest = slack.workspace.ephemerals[(CHANNEL, user)][-1]
    shown = str(newest.blocks)
    await bot.desk.click(user, CHANNEL, newest.ts, action)
    deadline = time.monotonic() + 10
    while str(slack.workspace.ephemerals[(CHANNEL, user)][-1].blocks) == shown:
        assert time.monotonic() < deadline, "the page did not turn"
        await asyncio.sleep(0.05)
    answer = slack.workspace.ephemerals[(CHANNEL, user)][-1]
    assert message_problems(answer.text, answer.blocks) == []
    return str(answer.blocks)


async def _answer(slack: FakeSlack, user: str, before: int) -> str:
    deadline = time.monotonic() + 10
    while len(slack.workspace.ephemerals.get((CHANNEL, user), [])) <= before:
        assert time.monotonic() < deadline, "no reply"
        await asyncio.sleep(0.05)
    answer = slack.workspace.ephemerals[(CHANNEL, user)][-1]
    assert message_problems(answer.text, answer.blocks) == []
    return str(answer.blocks)


def runs_in(listed: str, runs: list[int]) -> int:
    return sum(f"run {run}" in listed for run in runs)


async def entries_placed(store: Store, placement: Placement) -> int:
    async with store.unit_of_work() as uow:
        page = await uow.entries.page("", datetime(2000, 1, 1, tzinfo=UTC), offset=0, limit=10_000)
    return sum(row.placement is placement for row in page.rows)


async def test_a_listing_and_its_page_turns_read_no_patchworks_after_a_poll(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    brightpearl = sim.world.add_failures(20, minutes_ago=30, flow_id=102)
    others = sim.world.add_failures(3, minutes_ago=30, flow_id=101)
    await bot.services.poller.run_once()
    requests = sim.world.requests

    first = await ask(bot, slack, "brightpearl 2h")
    second = await click(bot, slack, Action.LIST_NEXT)
    back = await click(bot, slack, Action.LIST_PREV)

    assert sim.world.requests == requests  # zero Patchworks requests
    assert "20 failed syncs" in first
    assert "(page 1 of 2)" in first
    assert runs_in(first, brightpearl) == 15
    assert runs_in(first, others) == 0
    assert "page 2 of 2" in second
    assert runs_in(second, brightpearl) == 5
    assert "page 1 of 2" in back
    assert runs_in(back, brightpearl) == 15
    assert "As of <!date^" in first
    assert "just now" in first
    assert runs_in(first + second, brightpearl) == 20  # each run on one page


async def test_fifteen_days_on_day_one_backfills_once_for_everyone(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    # Before the first poll's window (SYNCBOT_LOOKBACK_HOURS: 5 days, plus the overlap).
    old = sim.world.add_failures(250, minutes_ago=7 * 24 * 60)
    recent = sim.world.add_failures(4, minutes_ago=10)
    await bot.services.poller.run_once()
    posted = len(digest_messages(slack.workspace))
    requests = sim.world.requests

    users = [f"U0USER{i}" for i in range(5)]
    for user in users:
        slack.workspace.users[user] = User(user, user.lower(), f"User {user}")
    answers = await asyncio.gather(*(ask(bot, slack, "15d", user) for user in users))

    assert sim.world.requests - requests == -(-len(old) // LIST_PAGE)  # 3 list requests, once
    assert bot.services.lister.backfills == 1
    for answer in answers:
        assert f"{len(old) + len(recent)} failed syncs" in answer
    requests = sim.world.requests
    again = await ask(bot, slack, "15d")
    assert sim.world.requests == requests
    assert f"{len(old) + len(recent)} failed syncs" in again

    # (e) the backfilled runs are MIRROR entries: later polls never post them, even a poll whose
    # window reaches back over them.
    assert await entries_placed(bot.services.store, Placement.MIRROR) == len(old)
    await bot.services.poller.run_once()
    async with bot.services.store.unit_of_work() as uow:
        await uow.meta.set("watermark", (datetime.now(UTC) - timedelta(days=8)).isoformat())
    result = await bot.services.poller.run_once()
    assert result.error is None
    assert result.new == 0
    assert result.fetched >= len(old)
    assert len(digest_messages(slack.workspace)) == posted
    assert await entries_placed(bot.services.store, Placement.MIRROR) == len(old)


class Down:
    """A sync report whose every read fails, as Patchworks does in an outage."""

    def failed_pages(self, since: datetime, **_: object) -> AsyncIterator[list[SyncEntry]]:
        raise Unavailable("Patchworks answered HTTP 503")


async def test_a_backfill_patchworks_cannot_serve_is_said_and_the_mirror_still_shown(
    bot: RunningBot, sim: Sim
) -> None:
    sim.world.add_failures(3, minutes_ago=7 * 24 * 60)  # older than the first poll reads (5 days)
    recent = sim.world.add_failures(2, minutes_ago=10, flow_id=101)
    await bot.services.poller.run_once()
    lister = Lister(cast(SyncReport, Down()), bot.services.store)

    listing = await lister.page("", 15 * 24 * 60, 1)

    assert listing.notice is not None
    assert "Patchworks could not be reached" in listing.notice
    assert {item.entry.run_id for item in listing.items} == set(recent)
    _, blocks = build_listing(listing)
    assert "Patchworks could not be reached" in str(blocks)
    assert "As of" in str(blocks)
    # Patchworks back: the same window is backfilled and complete.
    assert (await bot.services.lister.page("", 15 * 24 * 60, 1)).total == 5


async def test_filters_by_flow_run_and_reference_from_the_store(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    netsuite = sim.world.add_failures(4, minutes_ago=20, flow_id=101)
    brightpearl = sim.world.add_failures(3, minutes_ago=20, flow_id=102)
    await bot.services.poller.run_once()
    async with bot.services.store.unit_of_work() as uow:
        target = (await uow.entries.for_runs([brightpearl[0]]))[brightpearl[0]].entry
    requests = sim.world.requests

    by_flow = await ask(bot, slack, "brightpearl")
    by_system = await ask(bot, slack, "NETSUITE 1h")
    by_run = await ask(bot, slack, str(netsuite[1]))

    assert runs_in(by_flow, brightpearl) == 3
    assert runs_in(by_flow, netsuite) == 0
    assert runs_in(by_system, netsuite) == 4
    assert runs_in(by_system, brightpearl) == 0
    assert runs_in(by_run, netsuite) == 1
    assert f"run {netsuite[1]}" in by_run
    if target.reference:
        by_reference = await ask(bot, slack, f"#{target.reference.lstrip('#')}")
        assert f"run {target.run_id}" in by_reference
    assert sim.world.requests == requests


async def test_the_poll_prunes_old_entries_but_keeps_a_recent_digests(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    store = bot.services.store
    long_ago = datetime.now(UTC) - timedelta(days=20)

    def old(run_id: int) -> SyncEntry:
        return SyncEntry(
            run_id=run_id,
            status=RunStatus.FAILURE,
            flow=Flow(id=101, name="Shopify > NetSuite: Sales orders"),
            started_at=long_ago,
        )

    async with store.unit_of_work() as uow:
        await uow.entries.add([old(1), old(2)])  # waiting to be posted: the poll posts them
        await uow.entries.add([old(3)], Placement.MIRROR)  # nothing shows it
    result = await bot.services.poller.run_once()

    assert result.pruned == 1
    async with store.unit_of_work() as uow:
        kept = await uow.entries.for_runs([1, 2, 3])
        assert sorted(kept) == [1, 2]
        message_id = kept[1].message_id
        assert message_id is not None
        digest = await uow.messages.digest(message_id, items=5)
    assert digest is not None
    assert {item.entry.run_id for item in digest.items} == {1, 2}
    assert len(digest_messages(slack.workspace)) == 1


class Slow:
    """A sync report that counts list reads and takes its time over each."""

    def __init__(self, entries: list[SyncEntry]) -> None:
        self.entries = entries
        self.reads: list[tuple[datetime, datetime | None]] = []

    async def failed_pages(
        self, since: datetime, *, until: datetime | None = None, **_: object
    ) -> AsyncIterator[list[SyncEntry]]:
        self.reads.append((since, until))
        await asyncio.sleep(0.2)
        yield [e for e in self.entries if e.started_at and since <= e.started_at <= (until or e.started_at)]


async def test_askers_at_the_same_moment_share_one_backfill(bot: RunningBot) -> None:
    store = bot.services.store
    now = datetime.now(UTC)
    async with store.unit_of_work() as uow:
        await uow.meta.extend_mirror(now - timedelta(hours=1))
    old = [
        SyncEntry(
            run_id=9000 + i,
            status=RunStatus.FAILURE,
            flow=Flow(id=101, name="Shopify > NetSuite"),
            started_at=now - timedelta(days=i + 1),
        )
        for i in range(3)
    ]
    report = Slow(old)
    lister = Lister(cast(SyncReport, report), store)

    listings = await asyncio.gather(*(lister.page("", 15 * 24 * 60, 1) for _ in range(5)))

    assert len(report.reads) == 1
    assert lister.backfills == 1
    assert [listing.total for listing in listings] == [3] * 5
    await lister.page("", 15 * 24 * 60, 1)
    assert len(report.reads) == 1
    assert await entries_placed(store, Placement.MIRROR) == 3


async def test_connector_health_for_a_resync_is_read_from_the_mirror(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=10, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    value = f'{{"v":1,"run":{run},"msg":1}}'

    before = sim.world.requests
    await bot.desk.click(ANA, CHANNEL, ts, Action.RESYNC, value=value)
    resync_cost = sim.world.requests - before

    # The run is re-read right before acting, then retried: nothing else, no report pages.
    assert [original for original, _ in sim.world.retry_calls] == [run]
    assert resync_cost == 2
