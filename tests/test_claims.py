"""Resync claims under concurrency, on SQLite and PostgreSQL: one winner, never an exception."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.store import claim, open_store, resync_of

from bot.states import ResyncOutcome
from bot.store import Store

RUN = 4242


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store on each backend."""
    async with open_store(request.param, tmp_path) as opened:
        yield opened


async def fail(store: Store, run_id: int, user: str) -> None:
    """Record that `user`'s resync of the run ended in error (Patchworks refused it)."""
    async with store.unit_of_work() as uow:
        claim = await uow.resyncs.claim(run_id, user, run_id)
        assert claim.created
        await uow.resyncs.record(run_id, ResyncOutcome.ERROR, detail="refused")


async def test_many_first_claims_have_exactly_one_winner(store: Store) -> None:
    claims = await asyncio.gather(*(claim(store, RUN, f"U{i:04d}") for i in range(60)))

    winners = [claim for claim in claims if claim.created]
    assert len(winners) == 1
    # Every loser is told who holds the run, not handed an error.
    assert {claim.resync.requested_by for claim in claims} == {winners[0].resync.requested_by}


@pytest.mark.parametrize("rounds", [3])
async def test_concurrent_reclaims_of_a_run_that_ended_in_error_have_one_winner(
    store: Store, rounds: int
) -> None:
    await fail(store, RUN, "U0FIRST")
    for round_ in range(rounds):
        claims = await asyncio.gather(*(claim(store, RUN, f"U{round_}{i:03d}") for i in range(100)))

        winners = [claim for claim in claims if claim.created]
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        held = await resync_of(store, RUN)
        assert held is not None
        assert held.outcome is ResyncOutcome.REQUESTED
        assert held.requested_by == winners[0].resync.requested_by
        async with store.unit_of_work() as uow:
            await uow.resyncs.record(RUN, ResyncOutcome.ERROR, detail="refused again")


async def test_a_claim_that_is_queued_or_finished_is_never_taken_over(store: Store) -> None:
    for outcome in (ResyncOutcome.REQUESTED, ResyncOutcome.QUEUED, ResyncOutcome.OK, ResyncOutcome.FAILED):
        run_id = RUN + len(outcome)
        async with store.unit_of_work() as uow:
            await uow.resyncs.claim(run_id, "U0ANA", run_id)
            if outcome is not ResyncOutcome.REQUESTED:
                await uow.resyncs.record(run_id, outcome, new_run_id=run_id + 1)

        again = await claim(store, run_id, "U0MAX")

        assert not again.created, outcome
        assert again.resync.requested_by == "U0ANA"


async def test_a_change_and_its_slack_effects_commit_together_or_not_at_all(store: Store) -> None:
    class Boom(Exception):
        pass

    async def change_then_crash() -> None:
        async with store.unit_of_work() as uow:
            await uow.resyncs.claim(RUN, "U0ANA", RUN)
            await uow.effects.refresh_later(1)
            raise Boom

    with pytest.raises(Boom):
        await change_then_crash()

    assert await resync_of(store, RUN) is None
    async with store.unit_of_work() as uow:
        assert await uow.effects.claim(10, uow.now) == []
