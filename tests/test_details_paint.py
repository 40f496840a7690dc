"""Details is painted from the store at once; Patchworks is read only to fill in a log the store
may not have whole, and what the user sees is checked at each step."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from support.harness import CHANNEL, FakeSlack, RunningBot, Sim
from support.slack import digest_ts, forged_click
from support.waiting import eventually

from blocks.ids import Action
from blocks.values import EntryRef, encode
from bot.handlers import details
from bot.handlers.details import stored_lines_complete
from bot.patchworks.models import ErrorLine, RunStatus, SyncEntry
from syncbot_sandbox.blockkit import view_problems
from syncbot_sandbox.store import Call

ANA = "U0ADA"
ERROR = "Field 'shipping_method' not found in mapping table"


@dataclass(frozen=True)
class Shown:
    """A modal Slack accepted, and how many Patchworks requests had been made when it arrived."""

    method: str
    text: str
    patchworks_requests: int


def watch_modals(monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, sim: Sim) -> list[Shown]:
    """Every modal the bot opens or updates, in order, beside the simulator's request count then."""
    shown: list[Shown] = []
    record = slack.workspace.record

    def recording(call: Call) -> None:
        if call.method in ("views.open", "views.update") and call.error is None:
            assert view_problems(call.args["view"]) == []
            shown.append(Shown(call.method, json.dumps(call.args["view"]), sim.world.requests))
        record(call)

    monkeypatch.setattr(slack.workspace, "record", recording)
    return shown


async def store_as_polled(bot: RunningBot, entry: SyncEntry) -> None:
    """Store an entry as a poll would have read it, then let the poll post it (it is known, so kept)."""
    async with bot.services.store.unit_of_work() as uow:
        await uow.entries.add([entry])
    await bot.services.poller.run_once()


async def without_lines(bot: RunningBot, sim: Sim) -> int:
    """A failed run whose poll read returned no error lines (an include Patchworks left empty)."""
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101, error=ERROR)
    full = await bot.services.report.entry(run)
    assert ERROR in json.dumps([line.message for line in full.errors])
    await store_as_polled(bot, full.model_copy(update={"errors": (), "summary": None}))
    return run


async def test_a_stored_run_is_painted_at_once_without_a_patchworks_request(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=2, flow_id=101, error=ERROR)
    await bot.services.poller.run_once()
    shown = watch_modals(monkeypatch, slack, sim)
    before = sim.world.requests

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS)

    [first] = shown  # opened with the content: no placeholder, and nothing left to fill
    assert first.method == "views.open"
    assert first.patchworks_requests == before
    assert "shipping_method" in first.text
    assert f"flow-run-logs/{run}" in first.text
    assert "Loading" not in first.text
    assert sim.world.requests == before


async def test_lines_the_store_may_not_have_whole_are_filled_in_from_patchworks(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await without_lines(bot, sim)
    shown = watch_modals(monkeypatch, slack, sim)
    before = sim.world.requests

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS)

    first, filled = shown
    assert first.method == "views.open"
    assert first.patchworks_requests == before
    assert "loading the full error log from Patchworks" in first.text
    assert "shipping_method" not in first.text
    assert filled.method == "views.update"
    assert filled.patchworks_requests > before
    assert "shipping_method" in filled.text
    assert "Loading" not in filled.text
    assert "loading" not in filled.text
    assert f"flow-run-logs/{run}" in filled.text


@pytest.mark.parametrize("failure", ["key refused", "run gone"])
async def test_when_patchworks_cannot_fill_the_log_the_stored_paint_stays_and_says_so(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    if failure == "key refused":
        await without_lines(bot, sim)
        sim.config.api_key = "rotated"  # every Patchworks request is now answered 401
        click = bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS)
    else:
        sim.world.add_failures(1, minutes_ago=2, flow_id=101)
        await bot.services.poller.run_once()
        ts = digest_ts(slack)
        gone = SyncEntry(run_id=2**40, status=RunStatus.FAILURE, reference="SO-GONE")  # unknown to Patchworks
        await store_as_polled(bot, gone)
        click = bot.desk.send_payload(
            forged_click(slack, ANA, ts, Action.DETAILS, encode(EntryRef(run=gone.run_id)))
        )
    shown = watch_modals(monkeypatch, slack, sim)

    await click

    first, filled = shown
    assert "loading the full error log" in first.text
    assert filled.method == "views.update"
    assert "this is what syncbot stored when it polled" in filled.text
    if failure == "key refused":
        assert "could not be read from Patchworks" in filled.text
        assert "rejected the API key" in filled.text
    else:
        assert "no longer exists in Patchworks" in filled.text
        assert "SO-GONE" in filled.text  # the stored facts are still shown
    assert "No error lines returned." in filled.text


async def test_a_modal_replaced_while_it_was_being_filled_is_left_as_it_is(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await without_lines(bot, sim)
    shown = watch_modals(monkeypatch, slack, sim)
    sim.config.latency_s = 0.5  # the fill waits on Patchworks...

    click = asyncio.create_task(bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS))
    await eventually(lambda: shown)
    view = bot.desk.open_view(ANA)
    assert view is not None
    # ...while a resync from the modal rewrites it, as bot/handlers/resync.py does.
    newer: dict[str, Any] = {
        **view.payload,
        "blocks": [{"type": "section", "text": _mrkdwn("Resync queued")}],
    }
    slack.workspace.update_view(newer, view_id=view.id)
    await click

    assert [modal.method for modal in shown] == ["views.open"]
    after = bot.desk.open_view(ANA)
    assert after is not None
    assert "Resync queued" in json.dumps(after.payload)
    assert "shipping_method" not in json.dumps(after.payload)


async def test_a_store_too_slow_for_the_trigger_gets_a_placeholder_then_the_stored_paint(
    bot: RunningBot, sim: Sim, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.world.add_failures(1, minutes_ago=2, flow_id=101, error=ERROR)
    await bot.services.poller.run_once()
    monkeypatch.setattr(details, "_STORE_WAIT", 0)  # the store never answers in time
    shown = watch_modals(monkeypatch, slack, sim)
    before = sim.world.requests

    await bot.desk.click(ANA, CHANNEL, digest_ts(slack), Action.DETAILS)

    placeholder, painted = shown
    assert "Loading" in placeholder.text
    assert "shipping_method" in painted.text
    assert sim.world.requests == before


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _entry(lines: int) -> SyncEntry:
    errors = tuple(ErrorLine(level="ERROR", message=f"line {n}") for n in range(lines))
    return SyncEntry(run_id=1, status=RunStatus.FAILURE, errors=errors)


@pytest.mark.parametrize(("lines", "whole"), [(0, False), (1, True), (99, True), (100, False), (250, False)])
def test_stored_lines_are_taken_as_the_whole_log_below_a_page_of_them(lines: int, whole: bool) -> None:
    assert stored_lines_complete(_entry(lines)) is whole
