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
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import forged_click
from support.store import audit_rows

from blocks.ids import ACTING_ACTIONS, ACTING_VIEWS, Action, ViewId
from blocks.values import BulkRef, EntryRef, ListRef, encode

ADMIN, MANAGER, VIEWER = "U0ADA", "U0MAX", "U0VIC"  # listed, in S0MANAGERS, neither


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "SYNCBOT_RESYNC_USERS": ADMIN, "SYNCBOT_RESYNC_GROUPS": "S0MANAGERS"}


def value_for(action: str, run: int) -> str:
    """The value syncbot writes on that control; an id this test does not know gets an entry,
    the value of every control that resyncs one run."""
    if action in (Action.BULK_RESYNC_SELECTED, Action.BULK_RESYNC_ALL):
        return encode(BulkRef(msg=1, runs=(run,)))
    if action in (Action.LIST_PREV, Action.LIST_NEXT, Action.SHOW_ALL):
        return encode(ListRef(minutes=24 * 60))
    return encode(EntryRef(run=run, msg=1))


def metadata_for(view_id: str, run: int) -> str:
    """The private_metadata syncbot writes on that modal (a bulk run list when unknown)."""
    if view_id == ViewId.DETAILS:
        return encode(EntryRef(run=run, msg=1))
    return encode(BulkRef(runs=(run,), ch=CHANNEL))


async def settle(check: object = None, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while callable(check) and not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def told(slack: FakeSlack, user: str) -> list[str]:
    return [e.text for e in slack.workspace.ephemerals.get((CHANNEL, user), [])]


async def finished(bot: RunningBot) -> None:
    """Wait until every listener, and every refusal's audit and explanation, has finished."""
    assert await bot.services.inflight.drain(8) == 0


# -- every acting id is declared: a user who may not resync changes nothing, whatever they click --
#
# These click every Action and submit every ViewId as a user who may not resync, and follow any
# modal that opens to its submit button. An id declared acting (blocks.ids) must be refused and
# audited; any other id must not reach Patchworks either. So an id that resyncs but was not
# declared acting fails here.


@pytest.mark.parametrize("action", list(Action))
async def test_every_button_a_viewer_clicks_is_refused_when_acting_and_never_resyncs(
    bot: RunningBot, sim: Sim, slack: FakeSlack, action: Action
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    click = forged_click(slack, VIEWER, ts, action, value_for(action, run))
    # Something selected, so "Resync selected…" would go on to its confirmation if let through.
    click["state"]["values"]["b"]["bulk_select"]["selected_options"] = [
        {"text": {"type": "plain_text", "text": f"run {run}"}, "value": str(run)}
    ]

    response = await bot.desk.send_payload(click)
    assert response.status_code == 200
    await finished(bot)
    opened = bot.desk.open_view(VIEWER)
    if opened is not None and "submit" in opened.payload:
        await bot.desk.submit_view(VIEWER)
        await finished(bot)

    assert sim.world.retry_calls == []
    if action in ACTING_ACTIONS:
        assert "not allowed to resync" in told(slack, VIEWER)[-1]
        assert slack.workspace.calls("views.open") == []
        audit = await audit_rows(bot.services.store)
        assert [(row.user_id, row.run_ids, row.result) for row in audit] == [(VIEWER, (run,), "refused")]


@pytest.mark.parametrize("view_id", list(ViewId))
async def test_every_modal_a_viewer_submits_is_refused_when_acting_and_never_resyncs(
    bot: RunningBot, sim: Sim, slack: FakeSlack, view_id: ViewId
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    forged = {
        "type": "modal",
        "callback_id": view_id,
        "title": {"type": "plain_text", "text": "Resync entries"},
        "submit": {"type": "plain_text", "text": "Resync 1"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "1 entry"}}],
        "private_metadata": metadata_for(view_id, run),
    }
    slack.workspace.open_view(VIEWER, forged)

    response = await bot.desk.submit_view(VIEWER)

    assert response.status_code == 200
    await finished(bot)
    assert sim.world.retry_calls == []
    if view_id in ACTING_VIEWS:
        assert json.loads(response.text)["response_action"] == "update"
        assert "not allowed to resync" in json.dumps(slack.workspace.modals[VIEWER][-1].payload)
        audit = await audit_rows(bot.services.store)
        assert [(row.user_id, row.run_ids, row.result) for row in audit] == [(VIEWER, (run,), "refused")]


async def test_a_refused_bulk_confirmation_is_audited_as_a_bulk_resync(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    runs = sim.world.add_failures(2, minutes_ago=2, flow_id=101)
    slack.workspace.open_view(
        VIEWER,
        {
            "type": "modal",
            "callback_id": ViewId.BULK_CONFIRM,
            "title": {"type": "plain_text", "text": "Resync entries"},
            "submit": {"type": "plain_text", "text": "Resync 2"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "2 entries"}}],
            "private_metadata": encode(BulkRef(runs=tuple(runs), ch=CHANNEL)),
        },
    )

    await bot.desk.submit_view(VIEWER)

    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.action, row.run_ids, row.result) for row in audit] == [
        (VIEWER, "bulk_resync", tuple(runs), "refused")
    ]


async def test_a_refused_click_with_a_value_syncbot_never_wrote_is_audited_without_runs(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    await bot.desk.send_payload(forged_click(slack, VIEWER, ts, Action.RESYNC, "drop tables"))
    await finished(bot)

    assert "not allowed to resync" in told(slack, VIEWER)[-1]
    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.action, row.run_ids, row.result) for row in audit] == [
        (VIEWER, Action.RESYNC.value, (), "refused")
    ]


async def test_a_viewer_clicking_resync_in_the_details_modal_is_told_in_the_modal(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))
    await bot.desk.click(VIEWER, CHANNEL, ts, Action.DETAILS)
    await finished(bot)
    slack.workspace.clear_calls()

    response = await bot.desk.click_in_view(VIEWER, Action.RESYNC)

    assert response.status_code == 200
    await finished(bot)
    shown = json.dumps(slack.workspace.modals[VIEWER][-1].payload)
    assert "not allowed to resync" in shown
    assert sim.world.retry_calls == []
    audit = await audit_rows(bot.services.store)
    assert [(row.user_id, row.action, row.result) for row in audit] == [(VIEWER, "resync", "refused")]


async def test_an_allowed_click_is_acked_once_by_the_middleware_and_works(
    bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    response = await bot.desk.send_payload(
        forged_click(slack, ADMIN, ts, Action.RESYNC, value_for(Action.RESYNC, run))
    )

    # The middleware's ack and the listener's both mean "200, empty": Slack sees one answer.
    assert (response.status_code, response.text) == (200, "")
    await finished(bot)
    assert [original for original, _ in sim.world.retry_calls] == [run]
    assert await audit_rows(bot.services.store)  # the resync's own audit lines, no refusal
    assert all(row.result != "refused" for row in await audit_rows(bot.services.store))


@pytest.mark.parametrize(
    "action",
    # Link buttons (and the selection) only ack: nothing to answer.
    sorted(
        set(Action)
        - ACTING_ACTIONS
        - {Action.BULK_SELECT, Action.OPEN_IN_PATCHWORKS, Action.HOME_OPEN_DIGEST}
    ),
)
async def test_reading_stays_open_to_viewers(
    bot: RunningBot, sim: Sim, slack: FakeSlack, action: Action
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101)
    await bot.services.poller.run_once()
    ts = next(iter(slack.workspace.channel(CHANNEL).messages))

    await bot.desk.send_payload(forged_click(slack, VIEWER, ts, action, value_for(action, run)))

    answered = ("response_url", "views.open", "views.update")
    await settle(lambda: any(slack.workspace.calls(method) for method in answered))
    answers = [call.args.get("text", "") for call in slack.workspace.calls("response_url")]
    assert not any("not allowed" in str(text) for text in answers)
    assert sim.world.retry_calls == []
    await finished(bot)
    assert await audit_rows(bot.services.store) == []


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
