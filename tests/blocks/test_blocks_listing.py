"""The slash command's replies: paging, bulk actions, empty result and help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.blockkit import (
    HOSTILE,
    all_text,
    assert_valid_message,
    buttons,
    entry,
    find,
    item,
    raw_tokens,
    section_texts,
)

from blocks.ids import Action
from blocks.limits import MAX_MESSAGE_BLOCKS
from blocks.listing import (
    LISTING_PAGE_SIZE,
    build_empty_listing,
    build_help,
    build_listing,
    freshness,
    window_label,
)
from blocks.model import Listing
from blocks.values import BulkRef, ListRef, decode


def listing(page: int = 1, pages: int = 3, n: int = LISTING_PAGE_SIZE, query: str = "netsuite") -> Listing:
    items = tuple(item(entry(100 * page + i, flow=f"Flow {i % 4}", flow_id=i % 4 + 1)) for i in range(n))
    return Listing(items=items, query=query, minutes=120, page=page, pages=pages, total=40)


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 3, [Action.LIST_NEXT]),
        (2, 3, [Action.LIST_PREV, Action.LIST_NEXT]),
        (3, 3, [Action.LIST_PREV]),
        (1, 1, []),
    ],
)
def test_paging_buttons_follow_the_page(page: int, pages: int, expected: list[str]) -> None:
    text, blocks = build_listing(listing(page, pages))
    assert_valid_message(text, blocks)
    pager = [b for b in buttons(blocks) if b["action_id"] in (Action.LIST_PREV, Action.LIST_NEXT)]
    assert [b["action_id"] for b in pager] == expected
    for button in pager:
        step = -1 if button["action_id"] == Action.LIST_PREV else 1
        assert decode(ListRef, button["value"]) == ListRef(q="netsuite", minutes=120, page=page + step)


def test_header_names_count_filter_window_and_page() -> None:
    text, blocks = build_listing(listing(2, 3))
    # The filter is shown as typed, so the whole line is plain_text.
    assert blocks[0]["text"] == {
        "type": "plain_text",
        "text": "40 failed syncs matching “netsuite” in the last 2h (page 2 of 3)",
        "emoji": False,
    }
    assert text == "40 failed syncs matching “netsuite” (page 2 of 3)"
    _, unfiltered = build_listing(listing(query="  "))
    assert section_texts(unfiltered)[0] == "40 failed syncs in the last 2h (page 1 of 3)"
    text, blocks = build_listing(listing(query="INVENTORY_CLAIM_FAILED *x* <!here>"))
    shown = "40 failed syncs matching “INVENTORY_CLAIM_FAILED *x* &lt;!here&gt;” in the last 2h (page 1 of 3)"
    assert section_texts(blocks)[0] == shown
    assert text == "40 failed syncs matching “INVENTORY_CLAIM_FAILED *x* &lt;!here&gt;” (page 1 of 3)"


def test_listing_has_bulk_actions_without_a_digest() -> None:
    _, blocks = build_listing(listing())
    assert decode(BulkRef, buttons(blocks, Action.BULK_RESYNC_SELECTED)[0]["value"]) == BulkRef(msg=None)
    [every_button] = buttons(blocks, Action.BULK_RESYNC_ALL)
    # 40 matching failures over 3 pages: "all" is every one of them, named by the filter.
    assert every_button["text"]["text"] == "Resync all 40…"
    every = decode(BulkRef, every_button["value"])
    assert (every.msg, every.runs, every.q, every.minutes) == (None, (), "netsuite", 120)
    _, one_page = build_listing(listing(n=3).model_copy(update={"total": 3, "pages": 1, "page": 1}))
    single = decode(BulkRef, buttons(one_page, Action.BULK_RESYNC_ALL)[0]["value"])
    assert len(single.runs) == 3
    entry_button = buttons(blocks, Action.DETAILS)[0]
    assert '"msg":null' in entry_button["value"]


def test_more_than_a_page_of_items_is_cut_to_the_page_size() -> None:
    text, blocks = build_listing(listing(n=40))
    assert_valid_message(text, blocks)
    assert len(buttons(blocks, Action.DETAILS)) == LISTING_PAGE_SIZE


def test_a_full_page_with_every_frame_block_fits_fifty_blocks() -> None:
    as_of = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    full = listing(n=40).model_copy(update={"as_of": as_of, "now": as_of, "notice": "Partly unreachable"})
    text, blocks = build_listing(full)
    assert_valid_message(text, blocks)
    assert len(buttons(blocks, Action.DETAILS)) == LISTING_PAGE_SIZE
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    assert [b["block_id"].split(":")[0] for b in blocks[:2]] == ["head", "fresh"]
    assert [b["block_id"].split(":")[0] for b in blocks[-3:]] == ["div", "bulk", "pager"]


def test_no_items_is_the_empty_reply() -> None:
    assert build_listing(listing(n=0)) == build_empty_listing("netsuite", 120)


def test_empty_listing() -> None:
    text, blocks = build_empty_listing("<!here> *x*", 72 * 60)
    assert_valid_message(text, blocks)
    assert section_texts(blocks)[0] == "No failed syncs matching “&lt;!here&gt; *x*” in the last 3d."
    assert blocks[0]["text"]["type"] == "plain_text"
    hint = blocks[1]["elements"][0]
    assert hint == {
        "type": "plain_text",
        "text": "Try a longer window, e.g. “/failed-syncs &lt;!here&gt; *x* 15d”, or “/failed-syncs help”.",
        "emoji": False,
    }
    assert raw_tokens(text, blocks) == []
    text, blocks = build_empty_listing("", 24 * 60)
    assert section_texts(blocks)[0] == "No failed syncs in the last 24h."
    assert "`/failed-syncs 15d`" in all_text(text, blocks)


def test_help() -> None:
    text, blocks = build_help()
    assert_valid_message(text, blocks)
    shown = all_text(text, blocks)
    for needle in (
        "/failed-syncs [filter] [since]",
        "flow name",
        "run id",
        "reference",
        "30m",
        "15d",
        "help",
    ):
        assert needle in shown
    assert "the last 24h" in shown


def test_hostile_query_and_items() -> None:
    items = tuple(item(entry(i + 1, flow=bad, reference=bad, message=bad)) for i, bad in enumerate(HOSTILE))
    bad_query = " ".join(HOSTILE) + "x" * 500
    text, blocks = build_listing(
        Listing(items=items, query=bad_query, minutes=21_600, page=1, pages=2, total=14)
    )
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
    (next_button,) = buttons(blocks, Action.LIST_NEXT)
    assert decode(ListRef, next_button["value"]).q == bad_query[:200]


def test_pager_stays_within_listref_bounds() -> None:
    _, blocks = build_listing(
        Listing(items=listing().items, query="", minutes=99_999, page=10_000, pages=20_000, total=1)
    )
    (prev,) = find(blocks, lambda n: n.get("action_id") == Action.LIST_PREV)
    assert decode(ListRef, prev["value"]) == ListRef(q="", minutes=21_600, page=9_999)
    assert not find(blocks, lambda n: n.get("action_id") == Action.LIST_NEXT)


@pytest.mark.parametrize(
    ("minutes", "label"),
    [
        (1, "1m"),
        (30, "30m"),
        (90, "90m"),
        (60, "1h"),
        (120, "2h"),
        (1440, "24h"),
        (2160, "36h"),
        (4320, "3d"),
        (21_600, "15d"),
    ],
)
def test_window_label(minutes: int, label: str) -> None:
    assert window_label(minutes) == label


def test_the_listing_says_how_fresh_it_is_and_what_it_could_not_read() -> None:
    as_of = datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    fresh = listing().model_copy(update={"as_of": as_of, "now": as_of + timedelta(minutes=2, seconds=30)})
    text, blocks = build_listing(fresh)
    assert_valid_message(text, blocks)
    line = "As of <!date^1795773900^{time}|2026-11-27 10:05 UTC>, 2 min ago"
    assert line in all_text(text, blocks)
    assert freshness(as_of, as_of).endswith("just now")
    assert freshness(as_of, as_of + timedelta(hours=3)).endswith("3 h ago")

    partial = fresh.model_copy(update={"notice": "Patchworks could not be reached <!here>", "items": ()})
    text, blocks = build_listing(partial)
    assert_valid_message(text, blocks)
    shown = all_text(text, blocks)
    assert "⚠️ Patchworks could not be reached &lt;!here&gt;" in shown
    assert raw_tokens(text, blocks) == []
    assert line in shown
