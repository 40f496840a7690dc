"""Escaping and truncation of untrusted text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.text import (
    chunks,
    escape,
    escape_entities,
    escaped,
    first_line,
    link,
    one_line,
    plain,
    slack_date,
    truncate,
    user_mention,
    web_url,
)

PARTIAL = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?…?$")


def test_escape_replaces_ampersand_first_then_angle_brackets() -> None:
    assert escape_entities("a & b <c> &amp;") == "a &amp; b &lt;c&gt; &amp;amp;"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<!subteam^S1>", "&lt;!subteam^S1&gt;"),
        ("<http://x|y>", "&lt;http://x|y&gt;"),
    ],
)
def test_escape_defuses_mentions_and_links(raw: str, shown: str) -> None:
    assert escape(raw) == shown


def test_escape_neutralises_mrkdwn_styling_and_quotes() -> None:
    out = escape("*bold* _it_ ~s~ `code`\n> quote\n  >nested")
    assert not set("*_~`") & set(out)
    assert "\u2217bold\u2217" in out
    assert "'code'" in out
    assert "\n\u203a" in out
    assert "&gt;" not in out  # a quote marker is not rendered as a quote either


def test_escape_strips_control_and_bidi_characters_but_keeps_tabs_and_newlines() -> None:
    assert escape("a\x00b\x07c\x1b\x7f\x85d\te\r\nf\rg\u202eh\u2066i") == "abc\nd\te\nf\ngh" + "i"


def test_plain_escapes_entities_but_keeps_styling_characters() -> None:
    assert plain("*a* <b> & _c_", 100) == "*a* &lt;b&gt; &amp; _c_"
    assert len(plain("x" * 500, 75)) == 75


def test_truncate_keeps_short_text_and_marks_cuts() -> None:
    assert truncate("hello", 5) == "hello"
    assert truncate("hello world", 8) == "hello w…"
    assert truncate("hello", 1) == "…"
    assert truncate("hello", 0) == ""


@pytest.mark.parametrize("limit", range(2, 30))
def test_truncate_never_cuts_inside_an_entity(limit: int) -> None:
    text = escape("a&b<c>d&&<<>>e" * 3)
    cut = truncate(text, limit)
    assert len(cut) <= limit
    body = cut.removesuffix("…")
    assert not PARTIAL.search(body) or body.endswith((";",))
    assert re.sub(r"&(amp|lt|gt);", "", body).count("&") == 0


def test_first_line_and_one_line() -> None:
    assert first_line("\n  \n  first   line \nsecond") == "first line"
    assert first_line("") == ""
    assert one_line("a\nb\t c\r\n") == "a b c"


def test_chunks_split_without_breaking_entities_and_rejoin() -> None:
    text = escape("&<>" * 2000 + " word" * 500)
    pieces = chunks(text, 2900)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= 2900 for piece in pieces)
    assert all(not re.search(r"&[a-z]{0,3}$", piece) for piece in pieces)
    assert chunks("", 10) == [""]


@pytest.mark.parametrize("user", ["U123", "W0ABC9", "U0ADMIN42"])
def test_user_mention_for_valid_ids(user: str) -> None:
    assert user_mention(user) == f"<@{user}>"


@pytest.mark.parametrize(
    "user", ["u123", "U123>", "<!channel>", "U123\n", "C123", "U", "U12 3", "U" + "1" * 40]
)
def test_user_mention_escapes_anything_else(user: str) -> None:
    out = user_mention(user)
    assert "<" not in out
    assert not out.startswith("<@")


def test_slack_date_localises_with_utc_fallback() -> None:
    at = datetime(2026, 11, 27, 10, 32, tzinfo=timezone(timedelta(hours=2)))
    assert slack_date(at) == "<!date^1795768320^{date_short_pretty} {time}|2026-11-27 08:32 UTC>"
    naive = datetime(2026, 11, 27, 8, 32)
    assert slack_date(naive, "{date}") == "<!date^1795768320^{date}|2026-11-27 08:32 UTC>"
    assert "|" not in slack_date(at, "{date}|x>").split("^")[2].split("|")[0]


def test_link_escapes_label_and_refuses_odd_urls() -> None:
    assert link("https://a.example/x?a=1&b=2", "run <1>") == "<https://a.example/x?a=1&amp;b=2|run &lt;1&gt;>"
    assert link("javascript:alert(1)", "run 1") == "run 1"
    assert link("https://a.example/x|y", "run 1") == "run 1"
    assert link(None, "run 1") == "run 1"
    assert web_url("https://a.example/" + "x" * 3000) is None


@given(st.text())
def test_escaped_text_has_no_angle_brackets_or_styling(text: str) -> None:
    out = escape(text)
    assert "<" not in out
    assert ">" not in out
    assert not set("*_~`") & set(out)


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_escaped_truncation_fits_and_ends_cleanly(text: str, limit: int) -> None:
    out = escaped(text, limit)
    assert len(out) <= limit
    assert re.sub(r"&(amp|lt|gt);", "", out).count("&") == 0


def test_naive_and_aware_utc_agree() -> None:
    assert slack_date(datetime(2026, 1, 1, tzinfo=UTC)) == slack_date(datetime(2026, 1, 1))
