"""Notices, outcome replies, outage notices and the resync-anyway prompt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.blockkit import (
    ADMIN,
    NOW,
    all_text,
    assert_valid_message,
    assert_valid_modal,
    buttons,
    entry,
    raw_tokens,
    section_texts,
)

from blocks.ids import Action
from blocks.messages import (
    joined_reply,
    loading_modal,
    mrkdwn_notice,
    notice,
    notice_modal,
    outage_notice,
    outcome_reply,
    recovery_notice,
    resync_anyway_prompt,
)
from blocks.model import EntryState, Outcome
from blocks.text import slack_date
from blocks.values import EntryRef, decode
from bot.patchworks.models import Health, SystemHealth


def test_notice_is_shown_as_written_and_pings_no_one() -> None:
    text, blocks = notice("You may not resync <!channel> <@U1> & co (Slack said fatal_error, *x*)")
    assert_valid_message(text, blocks)
    assert text == "You may not resync &lt;!channel&gt; &lt;@U1&gt; &amp; co (Slack said fatal_error, *x*)"
    assert blocks[0]["text"] == {"type": "plain_text", "text": text, "emoji": False}
    assert raw_tokens(text, blocks) == []
    assert notice("")[0] == "(no message)"
    assert_valid_message(*notice("x" * 20_000))


def test_mrkdwn_notice_keeps_the_callers_formatting() -> None:
    text, blocks = mrkdwn_notice(f"*Queued* by <@{ADMIN}>  ")
    assert_valid_message(text, blocks)
    assert text == f"*Queued* by <@{ADMIN}>"
    assert mrkdwn_notice(" ")[0] == "(no message)"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (
            Outcome(state=EntryState.OK, new_run_id=456, by_user=ADMIN),
            f"✅ Run 123 resynced OK as run 456 (queued by <@{ADMIN}>)",
        ),
        (Outcome(state=EntryState.OK, new_run_id=456), "✅ Run 123 resynced OK as run 456"),
        (
            Outcome(state=EntryState.FAILED_AGAIN, new_run_id=456, detail="Timeout_ERR <!here>\nmore"),
            "❌ Run 123 failed again as run 456: Timeout_ERR &lt;!here&gt;",
        ),
        (
            Outcome(state=EntryState.QUEUED, new_run_id=456, by_user=ADMIN),
            f"⏳ Run 123 resync queued as run 456 by <@{ADMIN}>",
        ),
        (
            Outcome(state=EntryState.ERROR, detail="429 Too Many Attempts."),
            "⚠️ Resync of run 123 failed: 429 Too Many Attempts.",
        ),
    ],
)
def test_outcome_replies(outcome: Outcome, expected: str) -> None:
    text, blocks = outcome_reply(entry(123), outcome)
    assert_valid_message(text, blocks)
    assert text == expected
    assert section_texts(blocks) == [expected]
    # Quoting Patchworks, the reply names no one: plain_text; with a mention it is mrkdwn.
    quotes = outcome.state in (EntryState.FAILED_AGAIN, EntryState.ERROR)
    assert blocks[0]["text"]["type"] == ("plain_text" if quotes else "mrkdwn")


def test_outage_and_recovery_notices() -> None:
    text, blocks = outage_notice(NOW, "Connection refused <!channel>\ntrace")
    assert_valid_message(text, blocks)
    assert section_texts(blocks) == [
        f"🔌 Patchworks API unreachable since {slack_date(NOW)}. "
        "Polling continues; digests resume when it recovers."
    ]
    assert blocks[1]["elements"] == [
        {"type": "plain_text", "text": "Last error: Connection refused &lt;!channel&gt;", "emoji": False}
    ]
    assert text.startswith("🔌 Patchworks API unreachable since 2026-11-27 10:32 UTC: Connection refused")
    assert raw_tokens(text, blocks) == []
    text, blocks = recovery_notice(NOW, NOW + timedelta(hours=1, minutes=5))
    assert_valid_message(text, blocks)
    assert "(down for 1 h 5 min)" in text
    assert "Digests resume with the next poll." in text
    assert "(down for 1 min)" in recovery_notice(NOW, NOW)[0]


HEALTH = [
    SystemHealth(system="Shopify", health=Health.OPERATIONAL),
    SystemHealth(
        system="NetSuite", health=Health.AUTH_FAILED, evidence="401 invalid token <@U9>", failures=2
    ),
]


def test_resync_anyway_prompt() -> None:
    ref = EntryRef(run=123, msg=9)
    text, blocks = resync_anyway_prompt(entry(123), HEALTH, ref)
    assert_valid_message(text, blocks)
    (anyway,) = buttons(blocks, Action.RESYNC_ANYWAY)
    assert decode(EntryRef, anyway["value"]) == ref
    assert "Failed Authentication" in text
    assert raw_tokens(text, blocks) == []
    shown = all_text(text, blocks)
    assert section_texts(blocks) == [
        "⚠️ *Run 123*: *NetSuite* looks like *Failed Authentication*. "
        "A resync will probably fail again until it is fixed."
    ]
    # The entry and the evidence are Patchworks' words: plain_text, as written.
    assert [(e["type"], e["text"]) for e in blocks[1]["elements"]] == [
        ("plain_text", "Shopify orders to NetSuite (ref #1045)"),
        ("plain_text", "NetSuite, last error: 401 invalid token &lt;@U9&gt;"),
    ]
    assert "Shopify* looks like" not in shown


def test_notice_and_loading_modals() -> None:
    view = notice_modal("A title that is far too long for Slack", "Run 5 is gone <!here> (RUN_GONE)")
    assert_valid_modal(view)
    assert section_texts(view["blocks"]) == ["Run 5 is gone &lt;!here&gt; (RUN_GONE)"]
    assert view["blocks"][0]["text"]["type"] == "plain_text"
    assert_valid_modal(loading_modal("Failed sync"))


def test_the_joined_reply_tells_new_failures_from_those_a_snooze_held() -> None:
    since = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
    new = joined_reply(20, since)[0]
    assert new == "+20 new failures since 2026-03-02 10:05 UTC"
    assert joined_reply(3, since, held=3)[0] == "+3 failures a snooze held until now"
    both, blocks = joined_reply(5, since, held=2)
    assert both == "+5 failures: 3 new since 2026-03-02 10:05 UTC, 2 a snooze held until now"
    assert_valid_message(both, blocks)
    assert "the digest above is updated" in all_text(both, blocks)
