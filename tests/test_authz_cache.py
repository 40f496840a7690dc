"""The resync allow-list fails closed: user-group membership is trusted for at most
SYNCBOT_GROUP_CACHE_SECONDS, and when Slack cannot say who is in the group the action is refused
with an explanation, never decided from an old member list."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest
from support.harness import BOT_TOKEN, CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import forged_click
from support.store import audit_rows

from blocks.ids import Action, ViewId
from blocks.text import escape_entities
from blocks.values import BulkRef, EntryRef, encode
from bot.authz import Authorizer, Decision, Verdict
from bot.slack import SlackClient, build_web_client

GROUP = "S0MANAGERS"
MANAGER, VIEWER, ADMIN = "U0MAX", "U0VIC", "U0ADA"  # in GROUP, in no group, listed by ID
TTL = 60.0
METHOD = "usergroups.users.list"
EXPLANATION = (
    "syncbot could not check your membership of the resync user group (Slack said fatal_error); "
    "try again in a minute. Nothing was changed."
)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def slack_client(slack: FakeSlack) -> AsyncIterator[SlackClient]:
    """syncbot's Slack client talking real HTTP to the fake Web API."""
    client = SlackClient(build_web_client(BOT_TOKEN, slack.api_url), post_interval=0)
    yield client
    session = getattr(client.web, "session", None)
    if session is not None and not session.closed:
        await session.close()


def authorizer(client: SlackClient, clock: Callable[[], float], ttl: float = TTL) -> Authorizer:
    return Authorizer(client, [ADMIN], [GROUP], ttl=ttl, clock=clock)


def lookups(slack: FakeSlack) -> int:
    return len(slack.workspace.calls(METHOD))


def set_members(slack: FakeSlack, *members: str) -> None:
    with slack.workspace.lock:
        slack.workspace.usergroups[GROUP] = list(members)


def authz_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.authz" and r.levelno == logging.ERROR]


async def test_membership_is_trusted_for_the_ttl_then_re_read_and_fails_closed(
    slack: FakeSlack, slack_client: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    authz = authorizer(slack_client, clock)

    assert await authz.decide(MANAGER) == Decision(Verdict.ALLOWED)
    assert await authz.decide(VIEWER) == Decision(Verdict.REFUSED)
    assert lookups(slack) == 1  # the second answer came from the fresh list

    # Removed from the group: the list read 59 s ago is still used (documented staleness ≤ ttl).
    set_members(slack)
    clock.advance(TTL - 1)
    assert await authz.decide(MANAGER) == Decision(Verdict.ALLOWED)
    assert lookups(slack) == 1

    # Stale, and Slack cannot answer: refused with the reason, not decided from the old list.
    slack.workspace.fail(METHOD, "fatal_error", times=None)
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="bot.authz"):
        decision = await authz.decide(MANAGER)
    assert decision == Decision(Verdict.UNVERIFIED, "fatal_error")
    assert not decision.allowed
    assert not await authz.can_resync(MANAGER)
    assert decision.explanation == EXPLANATION
    [logged, *_] = authz_errors(caplog)
    assert GROUP in logged
    assert "fatal_error" in logged
    assert "last read 60s ago" in logged
    # A listed user does not depend on the group, so Slack being down changes nothing for them.
    assert await authz.decide(ADMIN) == Decision(Verdict.ALLOWED)

    # Slack recovers: the decision follows the membership it now reports.
    slack.workspace.clear_calls()
    assert await authz.decide(MANAGER) == Decision(Verdict.REFUSED)
    set_members(slack, MANAGER)
    clock.advance(TTL)
    assert await authz.decide(MANAGER) == Decision(Verdict.ALLOWED)
    assert lookups(slack) == 2


async def test_a_group_never_read_and_unreadable_is_unverified(
    slack: FakeSlack, slack_client: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    slack.workspace.fail(METHOD, "missing_scope")
    authz = authorizer(slack_client, FakeClock())

    with caplog.at_level(logging.ERROR, logger="bot.authz"):
        decision = await authz.decide(MANAGER)

    assert decision == Decision(Verdict.UNVERIFIED, "missing_scope")
    assert "Slack said missing_scope" in decision.explanation
    assert "never read" in authz_errors(caplog)[0]
    assert await authz.decide(MANAGER) == Decision(Verdict.ALLOWED)  # the failure was one-off


async def test_ttl_zero_re_reads_every_time(slack: FakeSlack, slack_client: SlackClient) -> None:
    authz = authorizer(slack_client, FakeClock(), ttl=0)

    assert await authz.decide(MANAGER) == Decision(Verdict.ALLOWED)
    set_members(slack)
    assert await authz.decide(MANAGER) == Decision(Verdict.REFUSED)
    assert lookups(slack) == 2


async def test_another_group_that_says_yes_is_enough(slack: FakeSlack, slack_client: SlackClient) -> None:
    # S0ADMINS (Ada) answers; the unreadable second group cannot change a "yes".
    authz = Authorizer(slack_client, [], ["S0ADMINS", "S0NOSUCH"], clock=FakeClock())

    assert await authz.decide(ADMIN) == Decision(Verdict.ALLOWED)
    assert await authz.decide(VIEWER) == Decision(Verdict.UNVERIFIED, "no_such_subteam")


async def test_nothing_configured_means_everyone_without_asking_slack(
    slack: FakeSlack, slack_client: SlackClient
) -> None:
    authz = Authorizer(slack_client, [], [], clock=FakeClock())
    assert await authz.decide(VIEWER) == Decision(Verdict.ALLOWED)
    assert await authz.decide("") == Decision(Verdict.REFUSED)
    assert lookups(slack) == 0


# -- through the running app ---------------------------------------------------------------


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {
        **settings_env,
        "SYNCBOT_RESYNC_USERS": ADMIN,
        "SYNCBOT_RESYNC_GROUPS": GROUP,
        "SYNCBOT_GROUP_CACHE_SECONDS": "0",  # every click re-reads, so the failure is always met
    }


def told(slack: FakeSlack, user: str) -> list[str]:
    return [e.text for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


async def settle(check: Callable[[], object], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_resync_click_while_slack_cannot_say_who_is_in_the_group_is_refused(
    bot: RunningBot, sim: Sim, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    slack.workspace.fail(METHOD, "fatal_error", times=None)

    with caplog.at_level(logging.ERROR, logger="bot.authz"):
        response = await bot.desk.send_payload(
            forged_click(slack, MANAGER, ts, Action.RESYNC, encode(EntryRef(run=run, msg=1)))
        )
        assert response.status_code == 200
        await settle(lambda: told(slack, MANAGER))

    # Shown as written (plain_text: "fatal_error" keeps its underscore), only &, <, > as entities.
    assert told(slack, MANAGER) == [escape_entities(EXPLANATION)]
    assert authz_errors(caplog)
    await asyncio.sleep(0.3)
    assert sim.world.retry_calls == []
    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.action, row.result, row.detail) for row in audit] == [
        (MANAGER, "resync", "unverified", "fatal_error")
    ]

    # Slack answers again: the same click goes through.
    slack.workspace.clear_calls()
    await bot.desk.send_payload(
        forged_click(slack, MANAGER, ts, Action.RESYNC, encode(EntryRef(run=run, msg=1)))
    )
    await settle(lambda: sim.world.retry_calls)


async def test_a_bulk_confirmation_while_slack_cannot_say_who_is_in_the_group_is_refused(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    confirmation = {
        "type": "modal",
        "callback_id": ViewId.BULK_CONFIRM,
        "title": {"type": "plain_text", "text": "Resync entries"},
        "submit": {"type": "plain_text", "text": "Resync 1"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1 entry"}}],
        "private_metadata": encode(BulkRef(runs=(run,), ch=CHANNEL)),
    }
    slack.workspace.open_view(MANAGER, confirmation)
    slack.workspace.fail(METHOD, "fatal_error", times=None)

    response = await bot.desk.submit_view(MANAGER)

    assert response.status_code == 200
    assert json.loads(response.text)["response_action"] == "update"
    shown = json.dumps(slack.workspace.modals[MANAGER][-1].payload)
    assert "could not check your membership" in shown
    assert "Nothing was changed" in shown
    await asyncio.sleep(0.3)
    assert sim.world.retry_calls == []
    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.action, row.result) for row in audit] == [
        (MANAGER, "bulk_resync", "unverified")
    ]
