"""The digest message, organised by cause: every shape valid against the Block Kit schema and the
limits checker (a cause of 1, 20, 200 and 5,000 runs; 1 to 60 causes), "Resync all N" per cause,
resolved causes, hostile text, and the parts of one digest."""

from __future__ import annotations

from typing import Any

import pytest
from support.blockkit import (
    HOSTILE,
    LONG,
    NOW,
    all_text,
    assert_valid_message,
    buttons,
    entry,
    find,
    item,
    raw_tokens,
)

from blocks.digest import CAUSES_PER_MESSAGE, ENTRIES_PER_MESSAGE, build_digest
from blocks.ids import Action
from blocks.model import BulkProgress, CauseView, Digest, DigestItem, EntryState, JobState, Outcome
from blocks.values import CauseRef, decode
from bot.patchworks.models import Health, SystemHealth

ERROR = "Order #{n}: SKU-{n} could not be claimed: INVENTORY_CLAIM_FAILED"


def cause(index: int, runs: int, *, shown: int | None = None, **extra: Any) -> CauseView:
    items = tuple(
        item(
            entry(
                10_000 * (index + 1) + i, flow=f"Flow {i % 3}", flow_id=i % 3 + 1, message=ERROR.format(n=i)
            )
        )
        for i in range(min(runs, ENTRIES_PER_MESSAGE if shown is None else shown))
    )
    fields: dict[str, Any] = {
        "cause_id": f"{index:016x}",
        "example": ERROR.format(n=index),
        "next_step": "Fix the data, then resync.",
        "count": runs,
        "open_runs": runs,
        "retryable": runs,
        "flows": (("Flow 0", runs - runs // 3), ("Flow 1", runs // 3)),
        "systems": ("Shopify", "NetSuite"),
        "first_seen": NOW,
        "last_seen": NOW,
        "items": items,
    }
    return CauseView(**{**fields, **extra})


def digest(*causes: CauseView, **extra: Any) -> Digest:
    return Digest(message_id=42, created_at=NOW, causes=causes, **extra)


def test_a_digest_without_causes_is_not_built() -> None:
    with pytest.raises(ValueError, match="not posted"):
        build_digest(digest())


@pytest.mark.parametrize("runs", [1, 20, 200, 5000])
def test_one_cause_of_any_size_is_valid_and_offers_resync_all_of_every_run(runs: int) -> None:
    text, blocks = build_digest(digest(cause(0, runs)))
    assert_valid_message(text, blocks)
    [resync_all] = buttons(blocks, Action.CAUSE_RESYNC_ALL)
    assert resync_all["text"]["text"] == f"Resync all {runs}…"
    assert decode(CauseRef, resync_all["value"]) == CauseRef(msg=42, cause=f"{0:016x}")
    shown = len(buttons(blocks, Action.DETAILS))
    assert shown == min(runs, ENTRIES_PER_MESSAGE)
    assert blocks[0]["text"]["text"] == f"⚠️ {runs} failed {'sync' if runs == 1 else 'syncs'} · 1 cause"
    if runs > shown:
        assert f"+{runs - shown} more runs of this cause not shown" in all_text(text, blocks)


@pytest.mark.parametrize("count", [1, 2, 4, 5, 60])
def test_many_causes_fit_one_message_and_each_shows_at_least_one_run(count: int) -> None:
    causes = [cause(i, 50 - i % 40) for i in range(count)]
    text, blocks = build_digest(digest(*causes))
    assert_valid_message(text, blocks)
    in_message = min(count, CAUSES_PER_MESSAGE)
    assert len(buttons(blocks, Action.CAUSE_RESYNC_ALL)) == in_message
    assert len(buttons(blocks, Action.DETAILS)) >= in_message
    if count > CAUSES_PER_MESSAGE:
        runs = sum(cause.count for cause in causes[CAUSES_PER_MESSAGE:])
        assert f"+{count - CAUSES_PER_MESSAGE} more causes ({runs} runs) not shown here" in all_text(
            text, blocks
        )


def test_the_error_is_shown_exactly_as_patchworks_wrote_it() -> None:
    raw = "INVENTORY_CLAIM_FAILED: *required* ~x~ `code` > quote & <!channel> خطأ 🚚"
    text, blocks = build_digest(digest(cause(0, 3, example=raw)))
    assert_valid_message(text, blocks)
    plain = [node["text"] for node in find(blocks, lambda n: n.get("type") == "plain_text")]
    decoded = [t.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for t in plain]
    assert raw in decoded
    assert raw_tokens(text, blocks) == []


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_text_anywhere_pings_and_links_no_one(bad: str) -> None:
    hostile = cause(0, 3, example=bad, flows=((bad, 3),), next_step=bad, systems=(bad,))
    text, blocks = build_digest(digest(hostile))
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []


def test_long_text_stays_within_the_limits() -> None:
    causes = [cause(i, 30, example=LONG, flows=((LONG, 30),)) for i in range(CAUSES_PER_MESSAGE)]
    text, blocks = build_digest(digest(*causes))
    assert_valid_message(text, blocks)


def test_a_resolved_cause_says_so_and_offers_nothing_to_resync() -> None:
    done = tuple(
        DigestItem(entry=it.entry, outcome=Outcome(state=EntryState.OK, by_user="U0ADA"))
        for it in cause(0, 2).items
    )
    resolved = cause(0, 2, items=done, open_runs=0, retryable=0)
    text, blocks = build_digest(digest(resolved))
    assert_valid_message(text, blocks)
    assert buttons(blocks, Action.CAUSE_RESYNC_ALL) == []
    assert "✅ *Resolved*" in all_text(text, blocks)
    assert blocks[0]["text"]["text"] == "✅ 2 failed syncs: all resolved"


def test_a_running_job_of_a_cause_replaces_its_button_with_progress_and_cancel() -> None:
    job = BulkProgress(job_id=7, state=JobState.RUNNING, by_user="U0ADA", total=200, queued=120, skipped=3)
    text, blocks = build_digest(digest(cause(0, 200, bulk=job)))
    assert_valid_message(text, blocks)
    assert buttons(blocks, Action.CAUSE_RESYNC_ALL) == []
    assert len(buttons(blocks, Action.BULK_CANCEL)) == 1
    assert "⏳ Bulk resync by <@U0ADA>: 120/200 queued · 3 skipped" in all_text(text, blocks)


def test_health_and_next_step_are_shown_for_an_open_cause() -> None:
    broken = (SystemHealth(system="NetSuite", health=Health.UNREACHABLE),)
    text, blocks = build_digest(digest(cause(0, 5, health=broken)))
    shown = all_text(text, blocks)
    assert "⚠️ NetSuite: System Unreachable" in shown
    assert "💡 Fix the data, then resync." in shown


def test_later_parts_say_they_continue_the_digest() -> None:
    text, blocks = build_digest(digest(cause(0, 2), part=2, parts=3))
    assert_valid_message(text, blocks)
    assert blocks[0]["text"]["text"] == "… 1 more cause (2 runs), part 2 of 3"
