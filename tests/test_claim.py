""" "I'm on it": anyone allowed to act takes a cause; the digest shows the owner; two people at once,
one wins and the other is told who has it; the owner or anyone allowed hands it back; a user who
may not act is refused before anything changes."""

from __future__ import annotations

import asyncio
import json

import pytest
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_messages, digest_ts, forged_click

from blocks.ids import Action
from blocks.values import CauseRef, encode
from bot.store.cause_states import CauseStateRepo

ANA, MAX, VIC = "U0ADA", "U0MAX", "U0VIC"  # listed, in S0MANAGERS, neither


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "SYNCBOT_RESYNC_USERS": ANA, "SYNCBOT_RESYNC_GROUPS": "S0MANAGERS"}


def digest_text(slack: FakeSlack) -> str:
    return json.dumps(digest_messages(slack.workspace)[0].blocks, ensure_ascii=False)


def told(slack: FakeSlack, user: str) -> list[str]:
    return [e.text for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


async def one_digest(bot: RunningBot, sim: Sim) -> None:
    for n in range(3):
        error = f"Order #{n}: SKU-{n}A could not be claimed: INVENTORY_CLAIM_FAILED"
        sim.world.add_failures(1, flow_id=101, minutes_ago=0.05, error=error)
    await bot.services.poller.run_once()


async def test_two_people_clicking_im_on_it_at_once_one_wins_and_the_other_is_told(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    await one_digest(bot, sim)
    ts = digest_ts(slack)

    await asyncio.gather(
        bot.desk.click(ANA, CHANNEL, ts, Action.CAUSE_TAKE),
        bot.desk.click(MAX, CHANNEL, ts, Action.CAUSE_TAKE),
    )
    await bot.services.inflight.drain(8)

    shown = digest_text(slack)
    winners = [user for user in (ANA, MAX) if f"👤 <@{user}> is on it" in shown]
    assert len(winners) == 1
    [winner] = winners
    loser = MAX if winner == ANA else ANA
    assert told(slack, loser)[-1] == f"<@{winner}> is already on it."
    assert told(slack, winner) == []
    assert "I'm on it" not in shown
    assert "Hand back" in shown


async def test_the_store_lets_exactly_one_of_many_concurrent_takes_through(bot: RunningBot) -> None:
    store = bot.services.store
    users = [f"U0USER{n}" for n in range(8)]

    async def take(user: str) -> tuple[bool, str | None]:
        async with store.unit_of_work() as uow:
            return await uow.cause_states.take("0123456789abcdef", user)

    results = await asyncio.gather(*(take(user) for user in users))
    winners = [user for user, (taken, _) in zip(users, results, strict=True) if taken]
    assert len(winners) == 1
    assert {owner for _, owner in results} == {winners[0]}


async def test_the_owner_or_anyone_allowed_hands_it_back(bot: RunningBot, sim: Sim, slack: FakeSlack) -> None:
    await one_digest(bot, sim)
    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_TAKE)
    assert f"👤 <@{ANA}> is on it" in digest_text(slack)

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_HAND_BACK)
    assert "is on it" not in digest_text(slack)
    assert "I'm on it" in digest_text(slack)

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_TAKE)
    await bot.desk.click(MAX, CHANNEL, digest_ts(slack), Action.CAUSE_HAND_BACK)  # someone else allowed
    assert "is on it" not in digest_text(slack)
    await bot.desk.click(MAX, CHANNEL, digest_ts(slack), Action.CAUSE_TAKE)
    assert f"👤 <@{MAX}> is on it" in digest_text(slack)


async def test_a_user_who_may_not_act_cannot_take_or_snooze_a_cause(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    await one_digest(bot, sim)
    before = digest_text(slack)
    await bot.desk.click(VIC, CHANNEL, digest_ts(slack), Action.CAUSE_TAKE)
    await bot.services.inflight.drain(8)
    assert "not allowed" in told(slack, VIC)[-1]
    assert digest_text(slack) == before
    async with bot.services.store.unit_of_work() as uow:
        assert isinstance(uow.cause_states, CauseStateRepo)
        assert await uow.cause_states.owned() == []


async def test_a_forged_cause_is_refused_as_a_stale_button(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    await one_digest(bot, sim)
    click = forged_click(
        slack, ANA, digest_ts(slack), Action.CAUSE_TAKE, encode(CauseRef(msg=1, cause="f" * 16))
    )
    await bot.desk.send_payload(click)
    await bot.services.inflight.drain(8)
    assert "not one syncbot understands" in told(slack, ANA)[-1]
    async with bot.services.store.unit_of_work() as uow:
        assert await uow.cause_states.owned() == []
