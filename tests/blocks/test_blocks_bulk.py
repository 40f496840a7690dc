"""Bulk resync: confirmation modal, thread summary, and reading the selection back."""

from __future__ import annotations

import pytest
from support.blockkit import (
    ADMIN,
    HOSTILE,
    all_text,
    assert_valid_message,
    assert_valid_modal,
    entry,
    raw_tokens,
    section_texts,
)

from blocks.bulk import build_bulk_confirm_modal, build_bulk_summary, bulk_progress, selected_runs
from blocks.ids import Action, ViewId
from blocks.model import BulkPlan, BulkProgress, JobState, Skipped
from blocks.values import MAX_RUNS, InvalidValue, JobRef, decode


def plan(n: int, *, skipped: int = 0, message_id: int | None = 42, base: int = 1) -> BulkPlan:
    entries = tuple(entry(base + i, flow=f"Flow {i % 3}", flow_id=i % 3 + 1) for i in range(n))
    skips = tuple(
        Skipped(entry=entry(900 + i), reason="already retried" if i < 2 else "flow is disabled")
        for i in range(skipped)
    )
    return BulkPlan(message_id=message_id, to_resync=entries, skipped=skips, job_id=7 if n else None)


def test_nothing_to_resync_has_no_submit_and_says_why() -> None:
    view = build_bulk_confirm_modal(plan(0, skipped=3))
    assert_valid_modal(view)
    assert "submit" not in view
    assert view["close"]["text"] == "Close"
    texts = section_texts(view["blocks"])
    assert texts[0].startswith("*Nothing to resync.*")
    assert texts[-1] == "3 skipped: already retried (runs 900, 901) · flow is disabled (run 902)"
    assert view["private_metadata"] == ""  # no job: nothing to start


def test_one_entry() -> None:
    view = build_bulk_confirm_modal(plan(1))
    assert_valid_modal(view)
    assert view["callback_id"] == ViewId.BULK_CONFIRM
    assert view["title"]["text"] == "Resync entries"
    assert view["submit"]["text"] == "Resync 1"
    assert view["close"]["text"] == "Cancel"
    texts = section_texts(view["blocks"])
    assert texts[0].startswith("*Resync 1 entry?*")
    assert texts[1] == "• run 1 · #1045 · Flow 0"
    assert decode(JobRef, view["private_metadata"]) == JobRef(job=7)


def test_hundred_fifty_entries_with_skips() -> None:
    view = build_bulk_confirm_modal(plan(150, skipped=2, message_id=None))
    assert_valid_modal(view)
    assert view["submit"]["text"] == "Resync 150"
    text = all_text("", view["blocks"])
    assert "Flow 0 (50) · Flow 1 (50) · Flow 2 (50)" in text
    assert "• run 40 · #1045 · Flow 0" in text
    assert "• run 41 ·" not in text
    assert "+110 more" in text
    assert "2 skipped: already retried (runs 900, 901)" in text
    assert decode(JobRef, view["private_metadata"]) == JobRef(job=7)


@pytest.mark.parametrize("count", [200, 1_000, 5_000])
def test_big_plans_are_not_capped_the_job_holds_the_runs(count: int) -> None:
    view = build_bulk_confirm_modal(plan(count))
    assert_valid_modal(view)
    assert view["submit"]["text"] == f"Resync {count}"
    assert section_texts(view["blocks"])[0].startswith(f"*Resync {count} entries?*")
    assert f"+{count - 40} more" in all_text("", view["blocks"])
    assert decode(JobRef, view["private_metadata"]) == JobRef(job=7)


def test_a_plan_without_a_job_cannot_be_submitted() -> None:
    view = build_bulk_confirm_modal(plan(3).model_copy(update={"job_id": None}))
    assert "submit" not in view


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        (
            BulkProgress(job_id=3, state=JobState.RUNNING, by_user=ADMIN, total=200, queued=120, skipped=3),
            f"⏳ Bulk resync by <@{ADMIN}>: 120/200 queued · 3 skipped",
        ),
        (
            BulkProgress(
                job_id=3, state=JobState.DONE, by_user=ADMIN, total=200, queued=196, skipped=3, failed=1
            ),
            f"✅ Bulk resync by <@{ADMIN}> finished: 196/200 queued · 3 skipped · 1 failed",
        ),
        (
            BulkProgress(
                job_id=3, state=JobState.CANCELLED, by_user=ADMIN, total=200, queued=120, cancelled_by="U0BO"
            ),
            f"⏹️ Bulk resync by <@{ADMIN}>, cancelled by <@U0BO>: 120/200 queued · 80 not resynced",
        ),
    ],
    ids=["running", "done", "cancelled"],
)
def test_the_progress_line(progress: BulkProgress, expected: str) -> None:
    [block] = bulk_progress(progress)
    assert all_text("", [block]) == expected or expected in all_text("", [block])
    cancel = block.get("accessory")
    if progress.state is JobState.RUNNING:
        assert cancel is not None
        assert cancel["action_id"] == Action.BULK_CANCEL
        assert decode(JobRef, cancel["value"]) == JobRef(job=3)
    else:
        assert cancel is None


def test_hostile_names_in_the_modal_are_escaped() -> None:
    entries = tuple(entry(i + 1, flow=bad, reference=bad) for i, bad in enumerate(HOSTILE))
    skipped = tuple(Skipped(entry=entry(500 + i), reason=bad) for i, bad in enumerate(HOSTILE))
    view = build_bulk_confirm_modal(BulkPlan(message_id=1, to_resync=entries, skipped=skipped))
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []


def test_summary_reports_queued_skipped_and_failed() -> None:
    queued = [(entry(i), 5000 + i) for i in range(1, 19)]
    skipped = [
        Skipped(entry=entry(901), reason="already retried"),
        Skipped(entry=entry(902), reason="already retried"),
    ]
    failed = [(entry(77), "Patchworks said 500 <!channel>\nmore")]
    text, blocks = build_bulk_summary(queued, skipped, failed, ADMIN)
    assert_valid_message(text, blocks)
    assert text == f"Bulk resync by <@{ADMIN}>: 18 queued, 2 skipped, 1 failed"
    summary, why = section_texts(blocks)[:2]
    assert summary == f"Bulk resync by <@{ADMIN}>: 18 queued, 2 skipped, 1 failed"
    # Why is Patchworks' text (or quotes it): plain_text, as written.
    assert why == "2 skipped: already retried (runs 901, 902)\n1 failed: Patchworks said 500 &lt;!channel&gt;"
    assert blocks[1]["text"]["type"] == "plain_text"
    rest = "\n".join(section_texts(blocks)[2:])
    assert "• run 1 → run 5001 queued" in rest
    assert "• run 77 failed: Patchworks said 500 &lt;!channel&gt;" in rest


def test_large_summary_stays_valid() -> None:
    queued = [(entry(i), 10_000 + i) for i in range(1, 201)]
    failed = [(entry(300 + i), "x" * 5000) for i in range(50)]
    skipped = [Skipped(entry=entry(600 + i), reason=f"reason {i % 20} " + "y" * 500) for i in range(100)]
    text, blocks = build_bulk_summary(queued, skipped, failed, "not-a-user-id")
    assert_valid_message(text, blocks)
    assert "+180 more queued" in all_text(text, blocks)
    assert "+40 more failed" in all_text(text, blocks)
    assert "<@" not in all_text(text, blocks)


def test_selected_runs_reads_the_state_by_action_id() -> None:
    state = {
        "bulk:abc": {
            Action.BULK_SELECT: {"selected_options": [{"value": "12"}, {"value": "7"}, {"value": "12"}]}
        },
        "other": {"x": {"value": "99"}},
        "empty": {Action.BULK_SELECT: {"selected_options": []}},
    }
    assert selected_runs(state) == (12, 7)
    assert selected_runs(None) == ()
    assert selected_runs({"b": {Action.BULK_SELECT: {"selected_options": None}}}) == ()
    largest = {"b": {Action.BULK_SELECT: {"selected_options": [{"value": str(2**53)}]}}}
    assert selected_runs(largest) == (2**53,)


@pytest.mark.parametrize(
    "option",
    [
        {"value": "1" + "0" * 22},  # 23 digits: "Python int too large" for SQLite, once
        {"value": str(2**53 + 1)},
        {"value": "9" * 16},
        {"value": "-1"},
        {"value": "0"},
        {"value": "012"},
        {"value": "1.5"},
        {"value": "1e3"},
        {"value": " 12"},
        {"value": "١٢"},
        {"value": ""},
        {"value": 12},
        {"value": None},
        {},
        5,
    ],
)
def test_a_forged_option_refuses_the_whole_selection(option: object) -> None:
    state = {"b": {Action.BULK_SELECT: {"selected_options": [{"value": "12"}, option]}}}
    with pytest.raises(InvalidValue):
        selected_runs(state)


def test_a_selection_bigger_than_any_select_is_refused() -> None:
    options = [{"value": str(run)} for run in range(1, MAX_RUNS + 2)]
    with pytest.raises(InvalidValue):
        selected_runs({"b": {Action.BULK_SELECT: {"selected_options": options}}})
    with pytest.raises(InvalidValue):
        selected_runs({"b": {Action.BULK_SELECT: {"selected_options": "12"}}})
