"""Untrusted text is shown verbatim: in plain_text, exactly as Patchworks (or the user) wrote it.

Only `&`, `<`, `>` become entities, which Slack shows as the characters; nothing else changes
(no look-alike characters), no mention or link survives as a token, and no untrusted text is
ever put into mrkdwn. Every shape stays valid against the Block Kit schema and the limits checker.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.blockkit import (
    ADMIN,
    NOW,
    assert_valid_message,
    assert_valid_modal,
    entry,
    find,
    item,
    raw_tokens,
)

from blocks.bulk import build_bulk_confirm_modal, build_bulk_summary
from blocks.details import build_details_modal
from blocks.elements import verbatim
from blocks.entry import ENTRY_BLOCKS, entry_blocks, entry_list
from blocks.listing import build_empty_listing, build_listing
from blocks.messages import notice, notice_modal, outage_notice, outcome_reply, resync_anyway_prompt
from blocks.model import BulkPlan, DetailsModel, EntryState, Listing, Outcome, Skipped
from blocks.text import plain
from blocks.values import EntryRef
from bot.patchworks.models import ErrorLine, Health, SystemHealth

# Every mrkdwn control character, the three entity characters and three would-be tokens.
ERROR = "INVENTORY_CLAIM_FAILED: *required* ~x~ `code` > quote & <!channel> <@U123> <https://evil|x>"
RTL = "خطأ في الطلب 🚚"
REFERENCE = "#SO_1045*B"
STEP = "NetSuite: create_sales_order > lines"
# What `escape` used to swap in for _ * ~ ` > | (and the quote marker): none may be shown.
LOOKALIKES = re.compile("[\u02cd\u2217\u223c\u203a\u2223]")
_ENTITY = re.compile("&(lt|gt|amp);")
_CHARS = {"lt": "<", "gt": ">", "amp": "&"}


def shown(text: str) -> str:
    """What Slack displays for a text object's text: the three entities as characters (one pass)."""
    return _ENTITY.sub(lambda m: _CHARS[m.group(1)], text)


def texts(payload: Any, kind: str) -> list[str]:
    """The displayed text of every text object of `kind` (plain_text or mrkdwn) in the payload."""
    return [shown(obj["text"]) for obj in find(payload, lambda n: n.get("type") == kind and "text" in n)]


def assert_verbatim(payload: Any, *expected: str) -> None:
    """Each expected string is shown exactly in some plain_text object; none is in mrkdwn."""
    plain_texts = "\n".join(texts(payload, "plain_text"))
    for text in expected:
        assert text in plain_texts, text
    for text in texts(payload, "mrkdwn"):
        for untrusted in (ERROR, RTL, REFERENCE, "INVENTORY_CLAIM", "خطأ", "SO_1045", "create_sales"):
            assert untrusted not in text, text
    assert not LOOKALIKES.search(json.dumps(payload, ensure_ascii=False))


def hostile_entry(run: int = 1001, **changes: Any) -> Any:
    errors = (ErrorLine(level="ERROR", message=ERROR + "\nsecond line", step=STEP, at=NOW),)
    changes.setdefault("errors", errors)
    return entry(run, flow=RTL, reference=REFERENCE, trigger="Webhook_v2 *", **changes)


def test_an_entry_shows_flow_reference_and_error_verbatim_in_plain_text() -> None:
    blocks = entry_blocks(item(hostile_entry()), message_id=9)
    assert len(blocks) == ENTRY_BLOCKS
    section, about, _ = blocks
    assert section["text"]["type"] == "plain_text"
    assert section["text"]["emoji"] is False
    assert shown(section["text"]["text"]) == f"{RTL} · ref {REFERENCE}\nError: {ERROR}"
    assert_verbatim(blocks, RTL, REFERENCE, f"Error: {ERROR}")
    assert all(element["type"] == "mrkdwn" for element in about["elements"])
    assert raw_tokens("", blocks) == []


@pytest.mark.parametrize("state", [EntryState.FAILED_AGAIN, EntryState.ERROR])
def test_an_outcomes_reason_is_verbatim_next_to_syncbots_words(state: EntryState) -> None:
    other = (ErrorLine(level="ERROR", message="Timeout"),)
    digest_item = item(hostile_entry(errors=other), state, new_run=2002, detail=ERROR + "\nmore")
    blocks = entry_blocks(digest_item, message_id=9)
    kinds = [element["type"] for element in blocks[1]["elements"]]
    assert kinds == ["mrkdwn", "mrkdwn", "plain_text"]
    assert_verbatim(blocks, ERROR)
    assert raw_tokens("", blocks) == []


def test_a_flow_heading_names_the_flow_verbatim() -> None:
    items = [item(hostile_entry(1)), item(hostile_entry(2))]
    blocks = entry_list(items, message_id=1, text_budget=10_000, block_budget=45)
    heading = blocks[0]
    assert heading["type"] == "context"
    assert heading["elements"][0] == verbatim(RTL)
    assert shown(heading["elements"][0]["text"]) == RTL
    assert_verbatim(blocks, RTL, f"ref {REFERENCE}\nError: {ERROR}")


def test_a_listing_shows_its_entries_and_the_filter_as_written() -> None:
    items = tuple(item(hostile_entry(run)) for run in range(1, 16))
    listing = Listing(items=items, query=ERROR, minutes=120, page=1, pages=2, total=30, notice=ERROR)
    text, blocks = build_listing(listing)
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
    head = shown(blocks[0]["text"]["text"])
    assert head.startswith(
        "30 failed syncs matching “INVENTORY_CLAIM_FAILED: *required* ~x~ `code` > quote &"
    )
    assert_verbatim(blocks, RTL, f"Error: {ERROR}", f"⚠️ {ERROR}")
    text, blocks = build_empty_listing(ERROR, 120, notice=ERROR)
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
    assert_verbatim(
        blocks, f"No failed syncs matching “{ERROR}” in the last 2h.", f"/failed-syncs {ERROR} 15d"
    )


def test_the_details_modal_shows_every_error_line_and_step_verbatim() -> None:
    errors = (
        ErrorLine(level="error", message=f"{ERROR}\n  {RTL}\n> {ERROR}", step=STEP, at=NOW),
        ErrorLine(level="WARNING", message=RTL, step=RTL),
    )
    health = (SystemHealth(system="NetSuite", health=Health.AUTH_FAILED, evidence=ERROR, failures=2),)
    outcome = Outcome(state=EntryState.ERROR, by_user=ADMIN, at=NOW, detail=ERROR)
    sync_entry = hostile_entry(errors=errors, enabled=False)
    view = build_details_modal(DetailsModel(entry=sync_entry, outcome=outcome, health=health, message_id=9))
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []
    assert view["blocks"][0]["type"] == "header"
    assert shown(view["blocks"][0]["text"]["text"]) == RTL
    assert_verbatim(
        view["blocks"],
        RTL,
        f"Reference: {REFERENCE}\nTrigger: Webhook_v2 *",
        f"ERROR · {STEP} · 2026-11-27 10:32 UTC\n{ERROR}\n  {RTL}\n> {ERROR}",
        f"WARNING · {RTL}\n{RTL}",
        f"last error: {ERROR}",
        "Resync not offered: flow is disabled",
    )


def test_the_bulk_modal_and_summary_show_names_and_reasons_verbatim() -> None:
    entries = tuple(hostile_entry(run) for run in (1, 2))
    skipped = (Skipped(entry=hostile_entry(3), reason=ERROR),)
    view = build_bulk_confirm_modal(BulkPlan(message_id=1, to_resync=entries, skipped=skipped, job_id=4))
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []
    assert_verbatim(
        view["blocks"],
        f"{RTL} (2)",
        f"• run 1 · {REFERENCE} · {RTL}",
        f"1 skipped: {ERROR} (run 3)",
    )
    text, blocks = build_bulk_summary([(entries[0], 10)], list(skipped), [(entries[1], ERROR)], ADMIN)
    assert_valid_message(text, blocks)
    assert raw_tokens(text, blocks) == []
    assert_verbatim(blocks, f"1 skipped: {ERROR} (run 3)", f"1 failed: {ERROR}", f"• run 2 failed: {ERROR}")


def test_messages_quote_patchworks_verbatim() -> None:
    for text, blocks in (
        notice(ERROR),
        outcome_reply(entry(5), Outcome(state=EntryState.FAILED_AGAIN, detail=ERROR)),
        outcome_reply(entry(5), Outcome(state=EntryState.ERROR, detail=ERROR)),
        outage_notice(NOW, ERROR),
        resync_anyway_prompt(
            hostile_entry(),
            [SystemHealth(system="NetSuite", health=Health.UNREACHABLE, evidence=ERROR)],
            EntryRef(run=1001, msg=9),
        ),
    ):
        assert_valid_message(text, blocks)
        assert raw_tokens(text, blocks) == []
        assert_verbatim(blocks, ERROR if "INVENTORY" in json.dumps(blocks) else RTL)
        assert not LOOKALIKES.search(text)
    view = notice_modal("Failed sync", ERROR)
    assert_valid_modal(view)
    assert_verbatim(view["blocks"], ERROR)


# Text without the characters syncbot removes on purpose (controls, bidi overrides, odd breaks).
_KEPT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs"),
        blacklist_characters="\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",
    ),
    max_size=300,
)


@given(_KEPT)
def test_any_text_reads_back_exactly(text: str) -> None:
    shown_text = shown(plain(text, 10_000))
    assert shown_text == text
    assert "<" not in plain(text, 10_000)
    assert ">" not in plain(text, 10_000)


@given(_KEPT.filter(lambda t: bool(t.split())))
def test_any_error_line_reads_back_in_the_entry(text: str) -> None:
    errors = (ErrorLine(level="ERROR", message=text),)
    blocks = entry_blocks(item(entry(errors=errors)), message_id=1)
    error = shown(blocks[0]["text"]["text"]).split("\n")[-1]
    line = " ".join(text.split())  # one line: runs of whitespace collapsed, nothing else changed
    if len(plain(line, 10_000)) <= 300:
        assert error == f"Error: {line}"
    else:
        assert error.endswith("…")
        assert f"Error: {line}".startswith(error.removesuffix("…").rstrip())
    assert raw_tokens("", blocks) == []


def test_verbatim_objects_are_plain_text_without_emoji_codes_and_never_blank() -> None:
    assert verbatim(":rotating_light: <b> & _x_") == {
        "type": "plain_text",
        "text": ":rotating_light: &lt;b&gt; &amp; _x_",
        "emoji": False,
    }
    assert verbatim(" \x00\u202e ")["text"] == "—"
    assert verbatim("", empty="(none)")["text"] == "(none)"
    assert len(verbatim("&" * 1000, 75)["text"]) <= 75
