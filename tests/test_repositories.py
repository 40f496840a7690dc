"""Each repository of the store, on SQLite and on PostgreSQL, through units of work."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.store import open_store

from blocks.model import EntryState, Outcome
from bot.patchworks.models import ErrorLine, Flow, RunStatus, SyncEntry
from bot.states import EffectKind, EffectState, MessageState, Placement, ResyncOutcome
from bot.store import Store, UnitOfWork

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store on each backend."""
    async with open_store(request.param, tmp_path) as opened:
        yield opened


def failed(
    run_id: int, flow: str = "Shopify > NetSuite: Orders", minutes_ago: int = 5, error: str | None = None
) -> SyncEntry:
    return SyncEntry(
        run_id=run_id,
        status=RunStatus.FAILURE,
        flow=Flow(id=abs(hash(flow)) % 1000, name=flow),
        started_at=T0 - timedelta(minutes=minutes_ago),
        errors=(ErrorLine(level="ERROR", message=error),) if error else (),
    )


def place(uow: UnitOfWork, poll_id: str, *, per_message: int = 4, max_messages: int = 5) -> Any:
    return uow.messages.place_unassigned(
        channel="C1",
        poll_id=poll_id,
        reopen_since=uow.now - timedelta(hours=24),
        causes_per_message=per_message,
        max_messages=max_messages,
    )


# -- meta ---------------------------------------------------------------------------------------


async def test_meta_values_are_set_replaced_and_forgotten(store: Store) -> None:
    async with store.unit_of_work() as uow:
        assert await uow.meta.get("k") is None
        await uow.meta.set("k", "one")
        await uow.meta.set("k", "two")
    async with store.unit_of_work() as uow:
        assert await uow.meta.get("k") == "two"
        await uow.meta.set("k", None)
    async with store.unit_of_work() as uow:
        assert await uow.meta.get("k") is None


async def test_the_watermark_never_moves_backwards(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.meta.move_watermark(T0)
        await uow.meta.move_watermark(T0 - timedelta(hours=1))
    async with store.unit_of_work() as uow:
        assert await uow.meta.watermark() == T0


# -- entries ------------------------------------------------------------------------------------


async def test_entries_are_recorded_once_whoever_reports_them_again(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        assert await uow.entries.add([failed(1), failed(2), failed(2)]) == 2
        # A run created by a resync is not a new failure to alert on.
        await uow.resyncs.claim(1, "U0ANA", 1)
        await uow.resyncs.record(1, ResyncOutcome.QUEUED, new_run_id=10)
    async with store.unit_of_work(T0) as uow:
        assert await uow.entries.add([failed(1), failed(2), failed(10), failed(3)]) == 1
        assert await uow.entries.known_run_ids([1, 2, 3, 4, 10]) == {1, 2, 3, 10}


async def test_an_entry_is_found_by_its_original_or_its_current_run(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(1)])
        entry = await uow.entries.for_run(1)
        assert entry is not None
        assert entry.placement is Placement.UNASSIGNED
        again = failed(11)
        outcome = Outcome(
            state=EntryState.FAILED_AGAIN, by_user="U0ANA", at=T0, new_run_id=11, detail="still bad"
        )
        await uow.entries.set_outcome(1, outcome, current=again)
    async with store.unit_of_work() as uow:
        by_original, by_current = await uow.entries.for_run(1), await uow.entries.for_run(11)
        keyed = await uow.entries.for_runs([1])
    assert by_original == by_current
    assert by_current is not None
    assert by_current.current_run_id == 11
    assert by_current.outcome.state is EntryState.FAILED_AGAIN
    assert by_current.outcome.detail == "still bad"
    assert list(keyed) == [11]  # keyed by the current run


# -- the mirror: listing pages and pruning ------------------------------------------------------


def listed(run_id: int, flow: str, *, reference: str | None = None, step: str | None = None) -> SyncEntry:
    errors = (ErrorLine(level="ERROR", message="boom", step=step),) if step else ()
    return failed(run_id, flow, minutes_ago=run_id).model_copy(
        update={"reference": reference, "errors": errors}
    )


async def test_a_listing_page_filters_in_sql_like_the_listing_does(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add(
            [
                listed(1, "Shopify > NetSuite: Orders", reference="#1045"),
                listed(2, "Orders export", step="Xero: Post invoice"),  # a system only its steps name
                listed(3, "Refunds 100%_off", reference="R-77"),
                listed(4, "Brightpearl stock"),
            ]
        )
        await uow.entries.add([listed(5, "Old mirror", reference="#1045")], Placement.MIRROR)

    async def runs(query: str, hours: int = 1) -> list[int]:
        async with store.unit_of_work() as uow:
            page = await uow.entries.page(query, T0 - timedelta(hours=hours), offset=0, limit=50)
        assert page.total == len(page.rows)
        return [row.run_id for row in page.rows]

    assert await runs("") == [1, 2, 3, 4, 5]  # newest first, MIRROR entries too
    assert await runs("NETSUITE") == [1]  # flow name, any case
    assert await runs("xero") == [2]  # a system
    assert await runs("#1045") == await runs("1045") == [1, 5]  # reference, with or without #
    assert await runs("3") == [3]  # run id
    assert await runs("100%_") == [3]  # LIKE wildcards are literal
    assert await runs("%") == [3]
    assert await runs("shopify", hours=0) == []  # outside the window


async def test_a_listing_page_pages_newest_first(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(run, minutes_ago=run) for run in range(1, 8)])
        first = await uow.entries.page("", T0 - timedelta(hours=1), offset=0, limit=3)
        third = await uow.entries.page("", T0 - timedelta(hours=1), offset=6, limit=3)
    assert [row.run_id for row in first.rows] == [1, 2, 3]
    assert [row.run_id for row in third.rows] == [7]
    assert first.total == third.total == 7


async def test_a_failed_again_entry_is_found_by_its_new_run(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(1)])
        again = listed(77, "Shopify > NetSuite: Orders", reference="#2001")
        await uow.entries.set_outcome(1, Outcome(state=EntryState.FAILED_AGAIN, new_run_id=77), current=again)
        by_new_run = await uow.entries.page("77", T0 - timedelta(hours=1), offset=0, limit=5)
        by_reference = await uow.entries.page("2001", T0 - timedelta(hours=1), offset=0, limit=5)
    assert [row.run_id for row in by_new_run.rows] == [1]
    assert [row.entry.run_id for row in by_reference.rows] == [77]


async def test_pruning_keeps_what_a_recent_digest_holds(store: Store) -> None:
    old = T0 - timedelta(days=20)
    async with store.unit_of_work(old) as uow:  # a digest posted 20 days ago: prunable
        await uow.entries.add([failed(1, minutes_ago=20 * 24 * 60, error="A_FAILED")])
        await place(uow, "p-old")
    async with store.unit_of_work(T0) as uow:  # a recent digest of old runs
        await uow.entries.add([failed(run, minutes_ago=16 * 24 * 60, error="B_FAILED") for run in (2, 3)])
        await place(uow, "p-new")
        await uow.entries.add([failed(4, minutes_ago=16 * 24 * 60)], Placement.MIRROR)
        await uow.entries.add([failed(5, minutes_ago=60)], Placement.MIRROR)
    async with store.unit_of_work(T0) as uow:
        assert await uow.entries.prune(T0 - timedelta(days=15)) == 2
        kept = await uow.entries.for_runs([1, 2, 3, 4, 5])
    assert sorted(kept) == [2, 3, 5]


# -- digest messages ----------------------------------------------------------------------------


async def test_a_poll_places_its_causes_in_one_digest_of_parts_most_runs_first(store: Store) -> None:
    codes = ["ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO"]
    errors = {run: f"{codes[run % 5]}_FAILED" for run in range(1, 16)}  # five causes of three runs
    errors[16] = errors[17] = "ALPHA_FAILED"  # the first cause has five runs
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(run, error=error) for run, error in errors.items()])
        placed = await place(uow, "p1", per_message=2, max_messages=2)
    assert len(placed.new) == 2
    assert placed.joined == {}
    async with store.unit_of_work(T0) as uow:
        first = await uow.messages.digest(placed.new[0], items=2)
        last = await uow.messages.digest(placed.new[1], items=2)
        unposted = await uow.messages.unposted("C1")
        again = await place(uow, "p2")
    assert first is not None
    assert last is not None
    assert (first.part, first.parts, [c.count for c in first.causes]) == (1, 2, [5, 3])
    # The last part takes every cause that does not fit two parts.
    assert (last.part, last.parts, [c.count for c in last.causes]) == (2, 2, [3, 3, 3])
    assert [len(c.items) for c in first.causes] == [2, 2]
    assert first.runs + last.runs == 17
    assert [m.id for m in unposted] == placed.new
    assert all(m.state is MessageState.PENDING for m in unposted)
    assert again.new == []  # nothing left unassigned
    assert again.joined == {}


async def test_new_failures_of_a_recent_cause_join_its_digest_others_open_a_new_one(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(run, error="SAME_FAILED") for run in (1, 2)])
        [first] = (await place(uow, "p1")).new
    async with store.unit_of_work(T0 + timedelta(hours=1)) as uow:
        await uow.entries.add([failed(3, error="SAME_FAILED"), failed(4, error="OTHER_FAILED")])
        placed = await place(uow, "p2")
    assert placed.joined == {first: 1}
    assert len(placed.new) == 1
    async with store.unit_of_work(T0 + timedelta(hours=30)) as uow:  # past the reopen window
        await uow.entries.add([failed(5, error="SAME_FAILED")])
        later = await place(uow, "p3")
    assert later.joined == {}
    assert len(later.new) == 1


async def test_a_message_goes_pending_posting_posted_or_is_parked(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.entries.add([failed(1, error="A_FAILED"), failed(2, error="B_FAILED")])
        first, second = (await place(uow, "p", per_message=1, max_messages=2)).new
        await uow.messages.mark_posting(first)
    async with store.unit_of_work(T0) as uow:
        posting = await uow.messages.get(first)
        assert posting is not None
        assert (posting.state, posting.attempts, posting.posting_at) == (MessageState.POSTING, 1, T0)
        await uow.messages.mark_posted(first, "1700000000.000100")
        await uow.messages.mark_unposted(second, "msg_too_long", give_up=True)
    async with store.unit_of_work() as uow:
        posted, parked = await uow.messages.get(first), await uow.messages.get(second)
        assert await uow.messages.unposted("C1") == []
        root = await uow.messages.root(second)
    assert posted is not None
    assert (posted.state, posted.ts) == (MessageState.POSTED, "1700000000.000100")
    assert parked is not None
    assert (parked.state, parked.last_error) == (MessageState.FAILED, "msg_too_long")
    assert root is not None
    assert root.id == first  # the second part's thread hangs on the first


# -- resyncs ------------------------------------------------------------------------------------


async def test_a_resync_goes_requested_queued_finished_and_its_history_reads_back(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        claim = await uow.resyncs.claim(5, "U0ANA", 5)
        assert claim.created
        assert claim.resync.outcome is ResyncOutcome.REQUESTED
    async with store.unit_of_work(T0 + timedelta(seconds=1)) as uow:
        assert [row.run_id for row in await uow.resyncs.requested_before(T0 + timedelta(seconds=1))] == [5]
        await uow.resyncs.record(5, ResyncOutcome.QUEUED, new_run_id=50)
        assert [row.new_run_id for row in await uow.resyncs.queued()] == [50]
        await uow.resyncs.record(5, ResyncOutcome.FAILED, detail="failed again")
    async with store.unit_of_work() as uow:
        row = await uow.resyncs.for_run(5)
        history = await uow.resyncs.attempts(5)
        assert await uow.resyncs.queued() == []
        assert list(await uow.resyncs.for_runs([5, 6])) == [5]
    assert row is not None
    assert (row.outcome, row.new_run_id, row.detail) == (ResyncOutcome.FAILED, 50, "failed again")
    assert [(a.by_user, a.state, a.new_run_id) for a in history] == [("U0ANA", EntryState.FAILED_AGAIN, 50)]


async def test_a_stranded_claim_is_settled_or_released_once(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.resyncs.claim(7, "U0ANA", 7)
        await uow.resyncs.claim(8, "U0ANA", 8)
    async with store.unit_of_work() as uow:
        assert await uow.resyncs.settle(7, ResyncOutcome.QUEUED, new_run_id=70, detail=None)
        assert not await uow.resyncs.settle(7, ResyncOutcome.QUEUED, new_run_id=71, detail=None)
        assert await uow.resyncs.release(8)
        assert not await uow.resyncs.release(8)
        assert not await uow.resyncs.release(7)  # queued, not requested: never freed
        assert await uow.resyncs.for_run(8) is None


async def test_an_answer_that_arrives_after_its_claim_was_freed_is_still_recorded(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.resyncs.claim(9, "U0ANA", 9)
        await uow.resyncs.release(9)
        await uow.resyncs.record(9, ResyncOutcome.QUEUED, new_run_id=90, user_id="U0ANA", entry_run_id=9)
    async with store.unit_of_work() as uow:
        row = await uow.resyncs.for_run(9)
    assert row is not None
    assert (row.outcome, row.new_run_id, row.requested_by) == (ResyncOutcome.QUEUED, 90, "U0ANA")


# -- audit and leases ---------------------------------------------------------------------------


async def test_audit_lines_are_appended_and_read_back_in_order(store: Store) -> None:
    for minute, result in enumerate(("requested", "queued", "refused")):
        async with store.unit_of_work(T0 + timedelta(minutes=minute)) as uow:
            await uow.audit.append(
                user_id="U0ANA", action="resync", run_ids=[1, 2], result=result, detail="x" * 3000
            )
    async with store.unit_of_work() as uow:
        lines = await uow.audit.since(T0 + timedelta(seconds=30))
    assert [line.result for line in lines] == ["queued", "refused"]
    assert lines[0].run_ids == (1, 2)
    assert len(lines[0].detail or "") == 2000  # cut, not refused


async def test_a_lease_is_held_until_released_or_expired(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        assert await uow.leases.acquire("poller", "a", T0 + timedelta(seconds=30))
        assert not await uow.leases.acquire("poller", "b", T0 + timedelta(seconds=30))
        assert await uow.leases.acquire("poller", "a", T0 + timedelta(seconds=60))
    async with store.unit_of_work(T0 + timedelta(seconds=61)) as uow:  # a's lease ran out
        assert await uow.leases.acquire("poller", "b", T0 + timedelta(seconds=90))
        await uow.leases.release("poller", "a")  # not a's any more: nothing happens
        assert not await uow.leases.acquire("poller", "a", T0 + timedelta(seconds=90))


async def test_concurrent_first_acquires_of_a_lease_have_one_winner(store: Store) -> None:
    async def take(holder: str) -> bool:
        async with store.unit_of_work() as uow:
            return await uow.leases.acquire("job", holder, datetime.now(UTC) + timedelta(seconds=30))

    won = await asyncio.gather(*(take(f"h{i}") for i in range(20)))
    assert sum(won) == 1


# -- Slack effects ------------------------------------------------------------------------------


async def test_effects_are_claimed_once_finished_or_taken_back_when_stale(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        await uow.effects.refresh_later(1)
        await uow.effects.reply_later(1, "✅ OK", [{"type": "section"}])
    async with store.unit_of_work(T0) as uow:
        claimed = await uow.effects.claim(10, T0 - timedelta(minutes=2))
    async with store.unit_of_work(T0) as uow:
        assert await uow.effects.claim(10, T0 - timedelta(minutes=2)) == []  # already taken
    assert [(e.kind, e.message_id, e.attempts) for e in claimed] == [
        (EffectKind.REFRESH, 1, 1),
        (EffectKind.REPLY, 1, 1),
    ]
    assert json.loads(claimed[1].body or "{}")["text"] == "✅ OK"
    async with store.unit_of_work(T0) as uow:
        await uow.effects.finish([claimed[0].id], EffectState.DONE)
    later = T0 + timedelta(minutes=5)
    async with store.unit_of_work(later) as uow:  # the reply's deliverer died: take it back
        again = await uow.effects.claim(10, later - timedelta(minutes=2))
    assert [(e.id, e.attempts) for e in again] == [(claimed[1].id, 2)]


async def test_concurrent_deliverers_never_claim_the_same_effect(store: Store) -> None:
    async with store.unit_of_work(T0) as uow:
        for message_id in range(1, 41):
            await uow.effects.refresh_later(message_id)

    async def deliverer() -> list[int]:
        async with store.unit_of_work(T0) as uow:
            return [effect.id for effect in await uow.effects.claim(15, T0 - timedelta(minutes=2))]

    batches = await asyncio.gather(*(deliverer() for _ in range(4)))
    taken = [effect for batch in batches for effect in batch]
    assert len(taken) == len(set(taken)) == 40
