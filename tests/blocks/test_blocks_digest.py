"""The digest message: counts, grouping, bulk actions, overflow, splitting and hostile input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from support.blockkit import (
    ADMIN,
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
    section_texts,
)

from blocks.digest import ENTRIES_PER_MESSAGE, build_digest, split_for_messages
from blocks.ids import Action
from blocks.limits import visible_text_length
from blocks.model import Digest, DigestItem, EntryState
from blocks.values import MAX_LIST_MINUTES, BulkRef, ListRef, decode
from bot.patchworks.models import ErrorLine


def digest(items: list[DigestItem], **extra: Any) -> Digest:
    return Digest(message_id=42, created_at=NOW, items=tuple(items), **extra)


def many(n: int, flows: int = 3) -> list[DigestItem]:
    return [item(entry(1000 + i, flow=f"Flow {i % flows}", flow_id=i % flows + 1)) for i in range(n)]


def select_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return find(blocks, lambda n: n.get("type") == "multi_static_select")


def test_empty_digest_is_not_built() -> None:
    with pytest.raises(ValueError, match="not posted"):
        build_digest(digest([]))


@pytest.mark.parametrize("n", [1, 19, 20])
def test_edge_counts_are_valid_and_show_every_entry(n: int) -> None:
    text, blocks = build_digest(digest(many(n)))
    assert_valid_message(text, blocks)
    assert len(buttons(blocks, Action.DETAILS)) == n
    assert blocks[0]["text"]["text"] == f"⚠️ {n} failed {'sync' if n == 1 else 'syncs'}"
    assert text.startswith(f"⚠️ {n} failed")


def test_more_than_a_message_holds_is_counted_as_not_shown() -> None:
    text, blocks = build_digest(digest(many(21)))
    assert_valid_message(text, blocks)
    assert len(buttons(blocks, Action.DETAILS)) == ENTRIES_PER_MESSAGE
    assert any(t.startswith("+1 more failure not shown") for t in section_texts(blocks))


def test_header_names_the_part_and_context_counts_flows() -> None:
    text, blocks = build_digest(digest(many(6, flows=5), part=2, parts=3))
    assert blocks[0]["text"]["text"] == "⚠️ 6 failed syncs (part 2 of 3)"
    context = blocks[1]["elements"]
    assert context[0]["text"] == "*Flow 0*: 2 · *Flow 1*: 1 · *Flow 2*: 1 · +2 more flows"
    assert context[1]["text"].startswith("Posted <!date^")
    assert "(part 2 of 3): Flow 0 (2)" in text


def test_context_tallies_outcomes() -> None:
    items = [
        item(entry(1), EntryState.OK, new_run=11),
        item(entry(2), EntryState.QUEUED, new_run=12),
        item(entry(3)),
    ]
    _, blocks = build_digest(digest(items))
    assert blocks[1]["elements"][1]["text"].endswith("· 1 resynced OK · 1 queued")


def test_bulk_actions_offer_resyncable_entries_only() -> None:
    items = [item(entry(1)), item(entry(2, enabled=False)), item(entry(3), EntryState.OK), item(entry(4))]
    _, blocks = build_digest(digest(items))
    (select,) = select_of(blocks)
    assert select["action_id"] == Action.BULK_SELECT
    assert select["placeholder"]["text"] == "Select entries to resync"
    assert [o["value"] for o in select["options"]] == ["1", "4"]
    assert select["options"][0]["text"]["text"] == "run 1 · #1045 · Shopify orders to NetSuite"
    (selected,) = buttons(blocks, Action.BULK_RESYNC_SELECTED)
    (every,) = buttons(blocks, Action.BULK_RESYNC_ALL)
    assert selected["text"]["text"] == "Resync selected…"
    assert decode(BulkRef, selected["value"]) == BulkRef(msg=42)
    assert decode(BulkRef, every["value"]) == BulkRef(msg=42, runs=(1, 4))
    assert "confirm" not in selected
    assert "confirm" not in every


def test_no_bulk_actions_without_resyncable_entries() -> None:
    items = [item(entry(1), EntryState.OK), item(entry(2), EntryState.QUEUED), item(entry(3, enabled=False))]
    text, blocks = build_digest(digest(items))
    assert_valid_message(text, blocks)
    assert not select_of(blocks)
    assert not buttons(blocks, Action.BULK_RESYNC_ALL)


def test_option_labels_are_cut_to_75() -> None:
    _, blocks = build_digest(digest([item(entry(1, flow="F" * 500, reference="R" * 500))]))
    (select,) = select_of(blocks)
    assert len(select["options"][0]["text"]["text"]) == 75


def test_overflow_lists_flows_and_links_to_the_listing() -> None:
    d = digest(many(3), overflow=200, overflow_flows=(("Flow A", 120), ("Flow B", 80)))
    text, blocks = build_digest(d)
    assert_valid_message(text, blocks)
    more = next(b for b in blocks if b["block_id"].startswith("more:"))
    assert more["text"]["text"] == "+200 more failures not shown (*Flow A*: 120 · *Flow B*: 80)"
    assert more["accessory"]["action_id"] == Action.SHOW_ALL
    assert more["accessory"]["text"]["text"] == "List them"
    # No start time known: the margin alone, a day.
    assert decode(ListRef, more["accessory"]["value"]) == ListRef(minutes=24 * 60)


def list_them_minutes(d: Digest) -> int:
    (show_all,) = buttons(build_digest(d)[1], Action.SHOW_ALL)
    return decode(ListRef, show_all["value"]).minutes


@pytest.mark.parametrize(
    ("age", "hours"),
    [
        (timedelta(0), 24),
        (timedelta(minutes=10), 25),  # rounded up to whole hours
        (timedelta(hours=6), 30),
        (timedelta(days=3), 3 * 24 + 24),
        (timedelta(days=3, seconds=1), 3 * 24 + 25),
        (timedelta(days=14), 15 * 24),  # capped at what a listing accepts
        (timedelta(days=400), 15 * 24),
        (-timedelta(hours=2), 24),  # a start after the post (clock skew) is not negative reach
    ],
)
def test_list_them_reaches_back_to_the_oldest_overflow_failure_plus_a_margin(
    age: timedelta, hours: int
) -> None:
    d = digest(many(3), overflow=5, overflow_since=NOW - age)
    assert list_them_minutes(d) == hours * 60


def test_list_them_also_reaches_items_past_the_message_capacity() -> None:
    # 21 items: the last one is counted in "+1 more", not shown.
    old = entry(9999, flow="Zeta").model_copy(update={"started_at": NOW - timedelta(days=2)})
    items = [*many(20, flows=1), item(old)]
    assert list_them_minutes(digest(items)) == (2 * 24 + 24) * 60
    assert (
        list_them_minutes(digest(items, overflow=1, overflow_since=NOW - timedelta(days=5)))
        == (5 + 1) * 24 * 60
    )


def test_overflow_window_is_clamped_to_what_the_listing_accepts() -> None:
    d = digest(many(1), overflow=1, overflow_since=NOW - timedelta(days=10_000))
    assert list_them_minutes(d) == 360 * 60 == MAX_LIST_MINUTES


def test_one_flow_gets_a_heading_and_entries_skip_the_name() -> None:
    _, blocks = build_digest(digest(many(5, flows=1)))
    assert blocks[2]["type"] == "context"
    assert blocks[2]["elements"][0]["text"].startswith("*Flow 0*")
    assert all(not t.startswith("*Flow 0*") for t in section_texts(blocks))


def test_split_for_messages_sorts_by_flow_and_chunks() -> None:
    items = many(300, flows=7)
    chunks = split_for_messages(reversed(items))
    assert [len(c) for c in chunks] == [20] * 15
    flat = [i.entry.flow_name for c in chunks for i in c]
    assert flat == sorted(flat)
    assert split_for_messages([]) == []


def test_three_hundred_items_make_fifteen_valid_messages() -> None:
    chunks = split_for_messages(many(300, flows=7))
    for part, chunk in enumerate(chunks, start=1):
        text, blocks = build_digest(
            Digest(message_id=100 + part, part=part, parts=len(chunks), created_at=NOW, items=tuple(chunk))
        )
        assert_valid_message(text, blocks)
        assert f"(part {part} of 15)" in blocks[0]["text"]["text"]


def test_block_ids_are_unique_and_change_when_an_entry_changes() -> None:
    before_items = many(5)
    after_items = [
        *before_items[:2],
        item(before_items[2].entry, EntryState.QUEUED, new_run=9),
        *before_items[3:],
    ]
    _, before = build_digest(digest(before_items))
    _, after = build_digest(digest(after_items))
    ids_before = [b["block_id"] for b in before]
    ids_after = [b["block_id"] for b in after]
    assert len(set(ids_before)) == len(ids_before)
    assert not set(ids_before) & set(ids_after)
    assert "e1002:failed:" in " ".join(ids_before)
    assert "e1002:queued:" in " ".join(ids_after)
    assert build_digest(digest(before_items))[1] == before  # same content, same ids


def test_hostile_text_is_escaped_everywhere() -> None:
    items = [
        item(
            entry(
                5000 + i,
                flow=bad,
                reference=bad,
                message=bad,
                errors=(ErrorLine(level="ERROR", message=bad, step=bad),),
            ),
            EntryState.ERROR,
            detail=bad,
        )
        for i, bad in enumerate(HOSTILE)
    ]
    text, blocks = build_digest(digest(items, overflow=1, overflow_flows=((HOSTILE[0], 1),)))
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
    everything = all_text(text, blocks)
    for escaped_form in (
        "&lt;!channel&gt;",
        "&lt;@U123&gt;",
        "&lt;http://x|y&gt;",
        "Tom &amp; Jerry",
        "&amp;amp;",
    ):
        assert escaped_form in everything
    assert "مرحبا" in everything
    assert "🎉" in everything
    assert "\u2217bold\u2217" in everything
    assert "\x00" not in everything
    assert "\u202e" not in everything


def test_worst_case_input_still_fits() -> None:
    """Every field maxed out, every entry a different flow, with an outcome and a reason."""
    items = []
    for i in range(ENTRIES_PER_MESSAGE):
        bad = f"{i} &<>" * 2000 + LONG
        sync_entry = entry(
            2**53 - i,
            flow=bad,
            flow_id=i,
            reference=bad,
            message="Shopify NetSuite Brightpearl Peoplevox " + bad,
            url="https://app.wearepatchworks.com/flow-runs/" + "9" * 250,
            retry_of=1,
        )
        items.append(item(sync_entry, EntryState.FAILED_AGAIN, by="W" + "Z" * 31, new_run=2**53, detail=bad))
    d = digest(
        items, part=999, parts=999, overflow=10**9, overflow_flows=tuple((f"{LONG}{i}", i) for i in range(50))
    )
    text, blocks = build_digest(d)
    assert_valid_message(text, blocks)
    assert visible_text_length(blocks) <= 10_000
    assert len(blocks) <= 50


def test_outcome_mentions_only_valid_users() -> None:
    _, blocks = build_digest(digest([item(entry(1), EntryState.OK, by="<!channel>", new_run=2)]))
    text = all_text("", blocks)
    assert "<!channel>" not in text
    assert f"<@{ADMIN}>" not in text
