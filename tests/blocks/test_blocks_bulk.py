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

from blocks.bulk import BULK_MAX, build_bulk_confirm_modal, build_bulk_summary, selected_runs
from blocks.ids import Action, ViewId
from blocks.model import BulkPlan, Skipped
from blocks.values import MAX_RUNS, BulkRef, InvalidValue, decode


def plan(n: int, *, skipped: int = 0, message_id: int | None = 42, base: int = 1) -> BulkPlan:
    entries = tuple(entry(base + i, flow=f"Flow {i % 3}", flow_id=i % 3 + 1) for i in range(n))
    skips = tuple(
        Skipped(entry=entry(900 + i), reason="already retried" if i < 2 else "flow is disabled")
        for i in range(skipped)
    )
    return BulkPlan(message_id=message_id, to_resync=entries, skipped=skips)


def test_nothing_to_resync_has_no_submit_and_says_why() -> None:
    view = build_bulk_confirm_modal(plan(0, skipped=3))
    assert_valid_modal(view)
    assert "submit" not in view
    assert view["close"]["text"] == "Close"
    texts = section_texts(view["blocks"])
    assert texts[0].startswith("*Nothing to resync.*")
    assert texts[-1] == "3 skipped: already retried (runs 900, 901) · flow is disabled (run 902)"
    assert decode(BulkRef, view["private_metadata"]) == BulkRef(msg=42, runs=())


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
    assert decode(BulkRef, view["private_metadata"]) == BulkRef(msg=42, runs=(1,))


def test_hundred_fifty_entries_with_skips() -> None:
    view = build_bulk_confirm_modal(plan(150, skipped=2, message_id=None))
    assert_valid_modal(view)
    assert view["submit"]["text"] == "Resync 150"
    text = all_text("", view["blocks"])
    assert "*Flow 0*: 50 · *Flow 1*: 50 · *Flow 2*: 50" in text
    assert "• run 40 · #1045 · Flow 0" in text
    assert "• run 41 ·" not in text
    assert "+110 more" in text
    assert "2 skipped: already retried (runs 900, 901)" in text
    ref = decode(BulkRef, view["private_metadata"])
    assert ref.msg is None
    assert ref.runs == tuple(range(1, 151))


def test_big_plans_are_capped_and_say_so() -> None:
    view = build_bulk_confirm_modal(plan(250))
    assert_valid_modal(view)
    assert view["submit"]["text"] == f"Resync {BULK_MAX}"
    assert f"Only the first {BULK_MAX} of 250 are resynced now" in section_texts(view["blocks"])[0]
    assert len(decode(BulkRef, view["private_metadata"]).runs) == BULK_MAX


def test_huge_run_ids_are_capped_by_metadata_size() -> None:
    longest_channel = "C" * 32
    big = plan(200, base=2**53 - 300).model_copy(update={"channel": longest_channel})
    view = build_bulk_confirm_modal(big)
    assert_valid_modal(view)
    ref = decode(BulkRef, view["private_metadata"])  # decode refuses more than 2000 characters
    kept = len(ref.runs)
    assert kept < 200
    assert ref.ch == longest_channel
    assert view["submit"]["text"] == f"Resync {kept}"
    assert f"Only the first {kept} of 200" in section_texts(view["blocks"])[0]
    assert len(view["private_metadata"]) <= 2000


def test_a_listing_plan_keeps_its_channel_for_the_summary() -> None:
    view = build_bulk_confirm_modal(plan(3, message_id=None).model_copy(update={"channel": "C0SYNCBOT"}))
    ref = decode(BulkRef, view["private_metadata"])
    assert (ref.msg, ref.ch, len(ref.runs)) == (None, "C0SYNCBOT", 3)


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
    summary = section_texts(blocks)[0]
    assert summary == (
        f"Bulk resync by <@{ADMIN}>: 18 queued, 2 skipped: already retried (runs 901, 902), "
        "1 failed: Patchworks said 500 &lt;!channel&gt;"
    )
    rest = "\n".join(section_texts(blocks)[1:])
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
