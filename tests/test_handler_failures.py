"""When syncbot itself fails half-way: the user hears about it, a bulk still resyncs the rest and
always posts its summary, and Bolt is never handed a response after the ack."""

from __future__ import annotations

import logging

import pytest
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_ts, entry_text
from support.waiting import eventually

from blocks.ids import Action, Command
from bot.patchworks.models import SyncEntry
from bot.resync import ResyncResult

ANA = "U0ADA"


def thread_texts(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.workspace.channel(CHANNEL).messages.values() if m.thread_ts]


async def test_a_bug_in_one_bulk_entry_fails_that_entry_only_and_the_summary_is_posted(
    bot: RunningBot,
    sim: Sim,
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = sim.world.add_failures(3, minutes_ago=2, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await bot.services.poller.run_once()
    broken = runs[1]
    retry_checked = bot.services.resyncer.retry_checked

    async def buggy(entry: SyncEntry, user_id: str, *, job_id: int) -> ResyncResult:
        if entry.run_id == broken:
            raise RuntimeError("a bug in syncbot")
        return await retry_checked(entry, user_id, job_id=job_id)

    monkeypatch.setattr(bot.services.resyncer, "retry_checked", buggy)

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)
    await eventually(lambda: slack.workspace.calls("views.update"))
    await bot.desk.submit_view(ANA)

    await eventually(lambda: thread_texts(slack))
    summary = thread_texts(slack)[-1]
    assert "2 queued" in summary
    assert sorted(original for original, _ in sim.world.retry_calls) == sorted([runs[0], runs[2]])
    for run in (runs[0], runs[2]):
        assert "Resync queued by" in entry_text(slack, run)
    assert f"run {broken} failed (ref " in caplog.text  # logged with its reference
    assert "1 failed" in summary


async def test_a_failing_listener_tells_the_user_with_a_reference_and_bolt_keeps_its_ack(
    bot: RunningBot, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the listing broke")

    monkeypatch.setattr(bot.services.lister, "page", broken)

    response = await bot.desk.command(ANA, CHANNEL, Command.FAILED_SYNCS, "")

    assert response.status_code == 200
    await eventually(lambda: slack.workspace.ephemerals.get((CHANNEL, ANA)))
    answer = slack.workspace.ephemerals[(CHANNEL, ANA)][-1].text
    assert "Something went wrong on syncbot's side (ref " in answer
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("handler failed (ref" in message for message in errors)
    assert not any("response must be provided" in message for message in errors)
    assert "didn't call ack" not in caplog.text  # Bolt saw the ack the listener sent


async def test_a_modal_that_cannot_be_built_is_never_left_loading(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.world.add_failures(2, minutes_ago=2, flow_id=101, error="NetSuite: 503 Service Unavailable")
    await bot.services.poller.run_once()

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("planning broke")

    monkeypatch.setattr(bot.services.jobs, "propose", broken)

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.CAUSE_RESYNC_ALL)

    await eventually(lambda: slack.workspace.calls("views.update"))
    view = bot.desk.open_view(ANA)
    assert view is not None
    shown = str(view.payload)
    assert "Loading" not in shown
    assert "Something went wrong on syncbot's side (ref " in shown
    assert sim.world.retry_calls == []
