"""Only listed users and user-group members may resync, checked on the server for every action
and submission; every attempt, allowed or refused, lands in the audit log."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time

import pytest
from conftest import CHANNEL, FakeSlack, RunningBot, Sim, forged_click
from support.store import audit_rows

from blocks.ids import Action, ViewId
from blocks.values import BulkRef, EntryRef, ListRef, encode

ADMIN, MANAGER, VIEWER = "U0ADA", "U0MAX", "U0VIC"  # listed, in S0MANAGERS, neither

# Actions that change something in Patchworks; everything else is reading.
RESYNC_ACTIONS = {Action.RESYNC, Action.RESYNC_ANYWAY, Action.BULK_RESYNC_SELECTED, Action.BULK_RESYNC_ALL}
READ_ACTIONS = set(Action) - RESYNC_ACTIONS


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "SYNCBOT_RESYNC_USERS": ADMIN, "SYNCBOT_RESYNC_GROUPS": "S0MANAGERS"}


def value_for(action: Action, run: int) -> str:
    if action in (Action.BULK_RESYNC_SELECTED, Action.BULK_RESYNC_ALL):
        return encode(BulkRef(msg=1, runs=(run,)))
    if action in (Action.LIST_PREV, Action.LIST_NEXT, Action.SHOW_ALL):
        return encode(ListRef(minutes=24 * 60))
    return encode(EntryRef(run=run, msg=1))


async def settle(check: object = None, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while callable(check) and not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def told(slack: FakeSlack, user: str) -> list[str]:
    return [e.text for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


def test_every_action_is_classified_as_reading_or_resyncing() -> None:
    assert set(Action) == RESYNC_ACTIONS | READ_ACTIONS


@pytest.mark.parametrize("action", sorted(RESYNC_ACTIONS))
async def test_a_viewer_is_refused_on_every_resync_action(
    bot: RunningBot, sim: Sim, slack: FakeSlack, action: Action
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    response = await bot.desk.send_payload(forged_click(slack, VIEWER, ts, action, value_for(action, run)))

    assert response.status_code == 200
    await settle(lambda: told(slack, VIEWER))
    assert "not allowed to resync" in told(slack, VIEWER)[-1]
    await asyncio.sleep(0.2)
    assert sim.world.retry_calls == []
    assert slack.workspace.calls("views.open") == []
    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.result) for row in audit] == [(VIEWER, "refused")]


async def test_a_viewer_submitting_a_bulk_confirmation_is_refused(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    forged = {
        "type": "modal",
        "callback_id": ViewId.BULK_CONFIRM,
        "title": {"type": "plain_text", "text": "Resync entries"},
        "submit": {"type": "plain_text", "text": "Resync 1"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1 entry"}}],
        "private_metadata": encode(BulkRef(runs=(run,), ch=CHANNEL)),
    }
    slack.workspace.open_view(VIEWER, forged)

    response = await bot.desk.submit_view(VIEWER)

    assert response.status_code == 200
    assert "not allowed" in json.dumps(response.json())
    await asyncio.sleep(0.3)
    assert sim.world.retry_calls == []


@pytest.mark.parametrize("action", sorted(READ_ACTIONS - {Action.BULK_SELECT, Action.OPEN_IN_PATCHWORKS}))
async def test_reading_stays_open_to_viewers(
    bot: RunningBot, sim: Sim, slack: FakeSlack, action: Action
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    await bot.desk.send_payload(forged_click(slack, VIEWER, ts, action, value_for(action, run)))

    await settle(lambda: slack.workspace.calls("response_url") or slack.workspace.calls("views.update"))
    answers = [call.args.get("text", "") for call in slack.workspace.calls("response_url")]
    assert not any("not allowed" in str(text) for text in answers)
    assert sim.world.retry_calls == []


async def test_group_members_may_resync_and_the_audit_command_prints_it(
    bot: RunningBot, sim: Sim, slack: FakeSlack, settings_env: dict[str, str]
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    await bot.desk.click(MANAGER, CHANNEL, ts, Action.RESYNC)
    await settle(lambda: sim.world.retry_calls)
    await bot.desk.send_payload(forged_click(slack, VIEWER, ts, Action.RESYNC, value_for(Action.RESYNC, run)))
    await settle(lambda: told(slack, VIEWER))

    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "1h"],
        env={**settings_env, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert any(MANAGER in line and "queued" in line and str(run) in line for line in lines)
    assert any(VIEWER in line and "refused" in line for line in lines)


# -- forged ids: out of range is "not a button syncbot understands", never a crash ----------

BIG = 10**22  # 23 digits: once "Python int too large to convert to SQLite INTEGER"


def stuck_loading(slack: FakeSlack) -> list[str]:
    """Users left looking at a "Loading…" placeholder modal."""
    return [
        user
        for user, stack in slack.workspace.modals.items()
        for view in stack
        if "Loading" in json.dumps(view.payload)
    ]


@pytest.mark.parametrize(
    ("action", "value"),
    [
        (Action.DETAILS, f'{{"v":1,"run":{BIG},"msg":1}}'),
        (Action.RESYNC, f'{{"v":1,"run":{BIG},"msg":1}}'),
        (Action.RESYNC_ANYWAY, f'{{"v":1,"run":{BIG},"msg":null}}'),
        (Action.BULK_RESYNC_ALL, f'{{"v":1,"msg":null,"runs":[{BIG}],"ch":"{CHANNEL}"}}'),
        (Action.BULK_RESYNC_SELECTED, str(BIG)),  # the option value; the button's own value is fine
    ],
)
async def test_a_23_digit_run_id_is_a_stale_button_not_a_crash(
    bot: RunningBot, sim: Sim, slack: FakeSlack, caplog: pytest.LogCaptureFixture, action: Action, value: str
) -> None:
    sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    click = forged_click(slack, ADMIN, ts, action, value)
    if action == Action.BULK_RESYNC_SELECTED:
        click["actions"][0]["value"] = encode(BulkRef(msg=None, ch=CHANNEL))
        click["state"]["values"]["b"]["bulk_select"]["selected_options"] = [
            {"text": {"type": "plain_text", "text": "forged"}, "value": value}
        ]

    with caplog.at_level(logging.WARNING):
        response = await bot.desk.send_payload(click)
        assert response.status_code == 200
        await settle(lambda: told(slack, ADMIN))
        await asyncio.sleep(0.3)

    assert told(slack, ADMIN) == ["That button is not one syncbot understands any more. Nothing was changed."]
    assert slack.workspace.calls("views.open") == []
    assert stuck_loading(slack) == []
    assert sim.world.retry_calls == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_bulk_confirmation_carrying_a_23_digit_run_id_expires(
    bot: RunningBot, sim: Sim, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    forged = {
        "type": "modal",
        "callback_id": ViewId.BULK_CONFIRM,
        "title": {"type": "plain_text", "text": "Resync entries"},
        "submit": {"type": "plain_text", "text": "Resync 1"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1 entry"}}],
        "private_metadata": f'{{"v":1,"msg":null,"runs":[{BIG}],"ch":"{CHANNEL}"}}',
    }
    slack.workspace.open_view(ADMIN, forged)

    with caplog.at_level(logging.WARNING):
        response = await bot.desk.submit_view(ADMIN)

    assert response.status_code == 200
    assert "This confirmation expired." in json.dumps(slack.workspace.modals[ADMIN][-1].payload)
    await asyncio.sleep(0.3)
    assert sim.world.retry_calls == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_details_of_a_run_patchworks_does_not_know_replaces_the_loading_modal(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    value = encode(EntryRef(run=2**53, msg=1))  # the largest id a value may carry; Patchworks: 404

    await bot.desk.send_payload(forged_click(slack, VIEWER, ts, Action.DETAILS, value))

    await slack.workspace.wait_for("views.update")
    [view] = slack.workspace.modals[VIEWER]
    assert f"Run {2**53} no longer exists in Patchworks" in json.dumps(view.payload)
    assert stuck_loading(slack) == []
