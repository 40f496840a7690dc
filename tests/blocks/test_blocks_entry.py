"""One entry as a user sees it, in each state."""

from __future__ import annotations

from typing import Any

import pytest
from support.blockkit import ADMIN, APP_URL, NOW, buttons, entry, item

from blocks.entry import COMPACT, ENTRY_BLOCKS, entry_blocks, entry_list, offers_resync, systems_label
from blocks.ids import Action
from blocks.limits import visible_text_length
from blocks.model import DigestItem, EntryState
from blocks.text import slack_date
from blocks.values import EntryRef, decode
from bot.patchworks.models import RunStatus


def render(digest_item: DigestItem, message_id: int | None = 9) -> tuple[str, list[dict[str, Any]]]:
    """The entry's visible text (its verbatim section, then each context element) and blocks."""
    blocks = entry_blocks(digest_item, message_id=message_id)
    assert len(blocks) == ENTRY_BLOCKS
    texts = [blocks[0]["text"]["text"], *(element["text"] for element in blocks[1]["elements"])]
    return "\n".join(texts), blocks


def test_failed_entry_shows_what_failed_where_and_offers_resync() -> None:
    _, blocks = render(item())
    section, about, row = blocks
    # Patchworks' words, exactly as written, in plain_text.
    assert section["text"] == {
        "type": "plain_text",
        "text": "Shopify orders to NetSuite · ref #1045\nError: Customer not found for order #1045",
        "emoji": False,
    }
    # syncbot's words in mrkdwn.
    assert about["type"] == "context"
    assert about["elements"] == [
        {
            "type": "mrkdwn",
            "text": f"<{APP_URL}/1001|run 1001> · started {slack_date(NOW)} · attempt 1 · failure"
            " · Shopify → NetSuite",
            "verbatim": True,
        }
    ]
    assert row["type"] == "actions"
    assert [b["action_id"] for b in buttons(blocks)] == [Action.DETAILS, Action.RESYNC]


def test_resync_button_confirms_naming_the_entry() -> None:
    resync = buttons(render(item())[1], Action.RESYNC)[0]
    assert resync["style"] == "primary"
    assert resync["accessibility_label"] == "Resync run 1001"
    dialog = resync["confirm"]
    assert dialog["title"]["text"] == "Resync this entry?"
    assert "run 1001" in dialog["text"]["text"]
    assert "Shopify orders to NetSuite" in dialog["text"]["text"]
    assert "#1045" in dialog["text"]["text"]
    assert (dialog["confirm"]["text"], dialog["deny"]["text"]) == ("Resync", "Cancel")


def test_button_values_decode_to_the_entry() -> None:
    for button in buttons(render(item(), message_id=9)[1]):
        assert decode(EntryRef, button["value"]) == EntryRef(run=1001, msg=9)
    listing_button = buttons(render(item(), message_id=None)[1])[0]
    assert decode(EntryRef, listing_button["value"]) == EntryRef(run=1001, msg=None)


def test_queued_shows_who_and_when_and_hides_resync() -> None:
    text, blocks = render(item(state=EntryState.QUEUED, new_run=2002))
    assert f"⏳ Resync queued by <@{ADMIN}> at {slack_date(NOW)} (new run 2002)" in text
    assert not buttons(blocks, Action.RESYNC)
    assert buttons(blocks, Action.DETAILS)


def test_ok_shows_new_run_and_who() -> None:
    text, blocks = render(item(state=EntryState.OK, new_run=2002))
    assert f"✅ OK (run 2002) — resynced by <@{ADMIN}>" in text
    assert not buttons(blocks, Action.RESYNC)
    assert "Resync not offered" not in text


def test_failed_again_shows_new_error_and_offers_resync_again() -> None:
    retry = entry(2002, retry_of=1001, message="Still broken\nsecond line")
    text, blocks = render(
        item(retry, EntryState.FAILED_AGAIN, new_run=2002, detail="Timeout talking to NetSuite")
    )
    assert "❌ Failed again (run 2002):\nTimeout talking to NetSuite" in text
    assert blocks[1]["elements"][2]["type"] == "plain_text"
    assert "Error: Still broken" in text
    assert "second line" not in text
    assert "attempt 2" in text
    (again,) = buttons(blocks, Action.RESYNC)
    assert again["text"]["text"] == "Resync again"
    assert decode(EntryRef, again["value"]).run == 2002


def test_error_state_shows_why_and_offers_resync() -> None:
    _, blocks = render(item(state=EntryState.ERROR, detail="Patchworks said 429 <!here>"))
    assert blocks[1]["elements"][1:] == [
        {"type": "mrkdwn", "text": "⚠️ Resync failed:", "verbatim": True},
        {"type": "plain_text", "text": "Patchworks said 429 &lt;!here&gt;", "emoji": False},
    ]
    assert buttons(blocks, Action.RESYNC)[0]["text"]["text"] == "Resync"


@pytest.mark.parametrize(
    ("sync_entry", "reason"),
    [
        (entry(enabled=False), "flow is disabled"),
        (entry(retried_as=3003), "already retried as run 3003"),
        (entry(message="Order already exists in NetSuite"), "already processed (duplicate)"),
        (entry(status=RunStatus.SUCCESS), "run is not failed (success)"),
    ],
)
def test_not_resyncable_says_why_and_has_no_resync(sync_entry: Any, reason: str) -> None:
    text, blocks = render(item(sync_entry))
    assert text.endswith(f"Resync not offered: {reason}")
    assert not buttons(blocks, Action.RESYNC)
    assert not offers_resync(item(sync_entry))


def test_partial_success_status_and_unknown_systems() -> None:
    odd = entry(flow="Nightly stock", status=RunStatus.PARTIAL_SUCCESS, reference=None, url=None, errors=())
    text, _ = render(item(odd))
    assert text.split("\n") == [
        "Nightly stock",
        "Error: No error details returned by Patchworks",
        f"run 1001 · started {slack_date(NOW)} · attempt 1 · partial success",
    ]


def test_error_summary_is_first_line_escaped_and_cut() -> None:
    long = "<!channel> " + "y" * 5000 + "\nsecond"
    text, _ = render(item(entry(message=long)))
    error = text.split("\n")[1]
    assert error.startswith("Error: &lt;!channel&gt; yyy")
    assert error.endswith("…")
    assert len(error) <= len("Error: ") + 300


def test_systems_label() -> None:
    assert systems_label(["Shopify", "NetSuite"]) == "Shopify → NetSuite"
    assert systems_label(["Shopify"]) == "Shopify"
    assert systems_label(["A", "B", "C"]) == "A, B, C"


def test_block_ids_carry_run_and_state() -> None:
    _, blocks = render(item(state=EntryState.QUEUED))
    assert [b["block_id"] for b in blocks] == ["e1001:queued", "i1001:queued", "a1001:queued"]


def test_typical_entry_fits_its_share_of_the_budget() -> None:
    assert visible_text_length(entry_blocks(item(), message_id=1)) <= 450


def test_entry_list_drops_repeated_runs_and_groups_one_flow_under_a_heading() -> None:
    items = [item(entry(1)), item(entry(2)), item(entry(1))]
    blocks = entry_list(items, message_id=1, text_budget=10_000, block_budget=45)
    assert [b["type"] for b in blocks] == ["context", *["section", "context", "actions"] * 2]
    name, facts = blocks[0]["elements"]
    assert name == {"type": "plain_text", "text": "Shopify orders to NetSuite", "emoji": False}
    assert facts["text"] == "Shopify → NetSuite  ·  2 entries"
    assert blocks[1]["text"]["text"].startswith("ref #1045\nError:")  # the heading names the flow
    assert "Shopify → NetSuite" not in blocks[2]["elements"][0]["text"]


def test_entry_list_drops_headings_when_blocks_are_short() -> None:
    items = [item(entry(1)), item(entry(2))]
    blocks = entry_list(items, message_id=1, text_budget=10_000, block_budget=2 * ENTRY_BLOCKS)
    assert len(blocks) == 2 * ENTRY_BLOCKS
    assert blocks[0]["text"]["text"].startswith("Shopify orders to NetSuite · ref #1045")


def test_entry_list_steps_down_detail_to_fit_the_budget() -> None:
    items = [item(entry(i, flow=f"Flow {i}", message="e" * 500)) for i in range(1, 21)]
    roomy = entry_list(items, message_id=1, text_budget=100_000, block_budget=50)
    tight = entry_list(items, message_id=1, text_budget=4_000, block_budget=50)
    assert visible_text_length(tight) < visible_text_length(roomy)
    assert "started" not in tight[1]["elements"][0]["text"]  # COMPACT drops dates
    assert "started" in roomy[1]["elements"][0]["text"]
    assert not COMPACT.links
