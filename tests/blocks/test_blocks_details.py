"""The Details modal: facts, health, history, full error lines within the view limits."""

from __future__ import annotations

import json
from typing import Any

from support.blockkit import (
    ADMIN,
    APP_URL,
    HOSTILE,
    NOW,
    all_text,
    assert_valid_modal,
    buttons,
    entry,
    find,
    raw_tokens,
)

from blocks.details import ERROR_CHUNK, build_details_modal
from blocks.ids import Action, ViewId
from blocks.limits import VIEW_BYTES
from blocks.model import Attempt, DetailsModel, EntryState, Outcome
from blocks.text import escape, user_mention
from blocks.values import EntryRef, decode
from bot.patchworks.models import ErrorLine, Health, SystemHealth


def lines(n: int, size: int = 80, text: str = "x") -> tuple[ErrorLine, ...]:
    return tuple(
        ErrorLine(level="ERROR", message=f"line {i} " + text * size, step="NetSuite: create", at=NOW)
        for i in range(n)
    )


def error_texts(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["block_id"].startswith("line")]


def test_details_show_the_facts() -> None:
    view = build_details_modal(DetailsModel(entry=entry(), message_id=9))
    assert_valid_modal(view)
    assert view["callback_id"] == ViewId.DETAILS
    assert view["title"]["text"] == "Failed sync"
    assert view["close"]["text"] == "Close"
    assert decode(EntryRef, view["private_metadata"]) == EntryRef(run=1001, msg=9)
    assert view["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "Shopify orders to NetSuite",
        "emoji": False,
    }
    # Patchworks' words verbatim in plain_text, syncbot's facts in mrkdwn fields.
    assert view["blocks"][1]["text"] == {
        "type": "plain_text",
        "text": "Reference: #1045\nTrigger: Webhook",
        "emoji": False,
    }
    fields = [f["text"] for f in view["blocks"][2]["fields"]]
    assert fields[0] == f"*Run*\n<{APP_URL}/1001|1001>"
    assert fields[1:4] == ["*Systems*\nShopify → NetSuite", "*Status*\nfailure", "*Attempt*\n1"]
    assert fields[4].startswith("*Started*\n<!date^")
    (link,) = buttons(view["blocks"], Action.OPEN_IN_PATCHWORKS)
    assert link["url"] == f"{APP_URL}/1001"
    (resync,) = buttons(view["blocks"], Action.RESYNC)
    assert resync["confirm"]["title"]["text"] == "Resync this entry?"
    assert decode(EntryRef, resync["value"]) == EntryRef(run=1001, msg=9)


def test_not_resyncable_explains_instead_of_a_button() -> None:
    view = build_details_modal(DetailsModel(entry=entry(enabled=False, url=None)))
    assert_valid_modal(view)
    assert not buttons(view["blocks"])
    assert "Resync not offered: flow is disabled" in all_text("", view["blocks"])


def test_queued_entry_shows_its_state_and_no_resync() -> None:
    outcome = Outcome(state=EntryState.QUEUED, by_user=ADMIN, at=NOW, new_run_id=2002)
    view = build_details_modal(DetailsModel(entry=entry(), outcome=outcome))
    assert any("⏳ Resync queued by" in t for t in [all_text("", view["blocks"])])
    assert not buttons(view["blocks"], Action.RESYNC)


def test_notice_is_syncbots_mrkdwn_with_a_real_mention_and_untrusted_text_escaped() -> None:
    # As bot/resync.py builds it: the user's mention is real, Patchworks' text is escaped.
    notice = f"{user_mention(ADMIN)} already resynced run 5. " + escape("Patchworks said: <!here> *now*")
    view = build_details_modal(DetailsModel(entry=entry(), notice=notice))
    assert_valid_modal(view)
    shown = view["blocks"][1]["text"]["text"]
    assert shown.startswith(f":information_source: <@{ADMIN}> already resynced run 5.")
    assert "&lt;@" not in shown
    assert "&lt;!here&gt;" in shown
    assert "<!here>" not in shown
    assert "*now*" not in shown
    assert raw_tokens("", view["blocks"]) == []


def test_a_long_notice_is_never_cut_inside_a_mention() -> None:
    mention = user_mention(ADMIN)
    for pad in range(1985, 2000):
        view = build_details_modal(DetailsModel(entry=entry(), notice="x" * pad + mention + " resynced"))
        shown = view["blocks"][1]["text"]["text"]
        assert shown.endswith("…"), pad
        assert mention in shown or "<" not in shown, pad  # whole, or not at all
        assert raw_tokens("", view["blocks"]) == []


def test_health_and_history() -> None:
    health = (
        SystemHealth(system="Shopify", health=Health.OPERATIONAL, failures=0),
        SystemHealth(system="NetSuite", health=Health.AUTH_FAILED, evidence="401 " + "z" * 500, failures=3),
        SystemHealth(system="Peoplevox", health=Health.UNREACHABLE, evidence="cURL error 28", failures=1),
    )
    attempts = (
        Attempt(run_id=1001, new_run_id=2002, by_user=ADMIN, at=NOW, state=EntryState.FAILED_AGAIN),
        Attempt(run_id=2002, new_run_id=None, by_user="bogus<>", at=NOW, state=EntryState.ERROR),
    )
    view = build_details_modal(DetailsModel(entry=entry(), health=health, attempts=attempts))
    assert_valid_modal(view)
    text = all_text("", view["blocks"])
    assert "*Connector health* (derived from recent errors)" in text
    assert "✅ Shopify: Connector Operational" in text
    assert "🔑 NetSuite: Failed Authentication — 3 failures · last error: 401 zzz" in text
    assert "🔌 Peoplevox: System Unreachable — 1 failure · last error: cURL error 28" in text
    (health_lines,) = [b for b in view["blocks"] if b["block_id"].startswith("health.")]
    assert health_lines["text"]["type"] == "plain_text"
    assert f"<@{ADMIN}> resynced run 1001 → run 2002: ❌ failed again" in text
    assert "bogus&lt;&gt; resynced run 2002: ⚠️ request failed" in text


def test_few_error_lines_are_all_shown_exactly() -> None:
    errors = (
        ErrorLine(level="error", message="Field customer_id *must* be <set> & valid", step="Map", at=NOW),
        ErrorLine(level="WARNING", message="   "),
    )
    view = build_details_modal(DetailsModel(entry=entry(errors=errors)))
    shown = error_texts(view)
    assert shown == [
        "ERROR · Map · 2026-11-27 10:32 UTC\nField customer_id *must* be &lt;set&gt; &amp; valid",
        "WARNING\n(empty message)",
    ]
    assert all(b["text"]["type"] == "plain_text" for b in view["blocks"] if b["block_id"].startswith("line"))
    assert "Error details* (2 lines)" in all_text("", view["blocks"])
    assert not [b for b in view["blocks"] if b["block_id"].startswith("more")]


def test_a_long_line_is_split_across_sections() -> None:
    view = build_details_modal(DetailsModel(entry=entry(errors=lines(1, size=7000))))
    shown = error_texts(view)
    assert len(shown) == 3
    assert all(len(t) <= ERROR_CHUNK + len("(continued) ") for t in shown)
    assert shown[1].startswith("(continued) ")


def test_a_thousand_huge_lines_stay_within_view_limits() -> None:
    view = build_details_modal(DetailsModel(entry=entry(errors=lines(1000, size=10_000, text="é"))))
    assert_valid_modal(view)
    assert len(view["blocks"]) <= 100
    assert len(json.dumps(view)) < VIEW_BYTES
    footer = view["blocks"][-1]["elements"][0]["text"]
    assert footer.startswith("+")
    assert "more lines" in footer
    assert f"<{APP_URL}/1001|open in Patchworks>" in footer


def test_many_short_lines_are_cut_by_block_count() -> None:
    view = build_details_modal(DetailsModel(entry=entry(errors=lines(1000, size=5))))
    assert_valid_modal(view)
    assert len(view["blocks"]) == 100
    footer = view["blocks"][-1]["elements"][0]["text"]
    shown = len(error_texts(view))
    assert footer.startswith(f"+{1000 - shown} more lines — ")
    assert "cut" not in footer


def test_no_error_lines_shows_the_summary() -> None:
    view = build_details_modal(DetailsModel(entry=entry(errors=(), summary="Flow <b>stopped</b>", url=None)))
    assert_valid_modal(view)
    (summary,) = [b for b in view["blocks"] if b["block_id"].startswith("summary")]
    assert summary["text"] == {
        "type": "plain_text",
        "text": "Flow &lt;b&gt;stopped&lt;/b&gt;",
        "emoji": False,
    }


def test_hostile_details_are_escaped() -> None:
    errors = tuple(ErrorLine(level=bad, message=bad, step=bad) for bad in HOSTILE)
    bad = " ".join(HOSTILE)
    sync_entry = entry(flow=bad, reference=bad, errors=errors, trigger=bad)
    health = (SystemHealth(system=bad, health=Health.AUTH_FAILED, evidence=bad),)
    view = build_details_modal(DetailsModel(entry=sync_entry, health=health, notice=escape(bad)))
    assert_valid_modal(view)
    assert raw_tokens("", view["blocks"]) == []
    assert "&lt;!channel&gt;" in all_text("", view["blocks"])
    assert not find(view["blocks"], lambda n: "\x00" in str(n.get("text", "")))


def test_very_long_urls_are_not_inlined_but_still_offered() -> None:
    url = "https://app.wearepatchworks.com/flow-runs/1001?" + "a=1&" * 700
    view = build_details_modal(DetailsModel(entry=entry(url=url, errors=lines(1000, size=5))))
    assert_valid_modal(view)
    assert view["blocks"][2]["fields"][0]["text"] == "*Run*\n1001"
    assert buttons(view["blocks"], Action.OPEN_IN_PATCHWORKS)[0]["url"] == url
    assert view["blocks"][-1]["elements"][0]["text"].endswith("— open in Patchworks")
