"""Escaping of untrusted text and truncation to Slack's limits.

Untrusted text (Patchworks data, slash-command input) is shown verbatim: `plain` makes it ready
for a plain_text object (see elements.verbatim), where Slack applies no mrkdwn. Only `&`, `<`, `>`
become entities, so no `<!here>`, `<@U…>`, `<!subteam^…>` or `<url|label>` token can survive
(Slack shows the entities as the characters), and control and bidi characters are removed; `_`,
`*`, `~`, backticks, `>`, emoji and right-to-left letters are left exactly as written.

mrkdwn is for syncbot's own words. `escape` is for the rare untrusted text that must sit inside
mrkdwn (a link label, a junk user id): it also swaps the styling characters for look-alikes, so
the text cannot restyle the message, at the price of no longer reading exactly as written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = [
    "chunks",
    "escape",
    "escape_entities",
    "escaped",
    "first_line",
    "link",
    "one_line",
    "plain",
    "slack_date",
    "truncate",
    "user_mention",
    "utc_text",
    "web_url",
]

# C0 controls except \t and \n, DEL, C1 controls, BOM, and the bidi embedding/override/isolate
# controls, which can make text display in a different order than it is stored (spoofing).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")
# mrkdwn styling: *bold*, _italic_, ~strike~, `code`. Look-alikes keep the text readable but
# inert; a line-leading ">" (a quote, also written &gt;) becomes a single right-pointing angle.
_STYLE = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "'"})
_QUOTE = re.compile(r"^([ \t]*)>", re.MULTILINE)
# The tail of a string cut inside one of the three entities escaping produces.
_PARTIAL_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{1,31}")
_DATE_TOKEN_UNSAFE = re.compile(r"[|<>^]")
_URL_UNSAFE = re.compile(r"[\s<>|\x00-\x1f\x7f]")

ELLIPSIS = "…"


def _clean(s: str) -> str:
    """Normalise line breaks and drop characters that are invisible or reorder text."""
    return _INVISIBLE.sub("", _NEWLINES.sub("\n", s))


def escape_entities(s: str) -> str:
    """Control characters removed and `&`, `<`, `>` escaped (in that order); for plain_text."""
    return _clean(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(s: str) -> str:
    """Untrusted text made inert for mrkdwn: no mentions, links, styling or quotes.

    Prefer `plain` in a plain_text object, which keeps the text exactly as written.
    """
    return escape_entities(_QUOTE.sub("\\1\u203a", _clean(s).translate(_STYLE)))


def truncate(s: str, limit: int, marker: str = ELLIPSIS) -> str:
    """At most `limit` characters, ending in `marker` when cut; never cuts inside an entity."""
    if len(s) <= limit:
        return s
    if limit <= len(marker):
        return marker[: max(limit, 0)]
    cut = s[: limit - len(marker)]
    partial = _PARTIAL_ENTITY.search(cut)
    if partial:
        cut = cut[: partial.start()]
    return cut.rstrip() + marker


def escaped(s: str, limit: int) -> str:
    """`escape` then `truncate`: safe mrkdwn of at most `limit` characters."""
    return truncate(escape(s), limit)


def plain(s: str, limit: int) -> str:
    """Untrusted text for a plain_text object of at most `limit` characters, shown verbatim."""
    return truncate(escape_entities(s), limit)


def one_line(s: str) -> str:
    """Runs of whitespace, line breaks included, collapsed to single spaces."""
    return " ".join(_clean(s).split())


def first_line(s: str) -> str:
    """The first non-blank line, with its whitespace collapsed."""
    for line in _clean(s).split("\n"):
        if line.strip():
            return " ".join(line.split())
    return ""


def chunks(s: str, size: int) -> list[str]:
    """Escaped text split into pieces of at most `size` characters, never inside an entity.

    Prefers to break at a line break or space in the last tenth of a piece, so words survive.
    """
    pieces: list[str] = []
    rest = s
    while len(rest) > size:
        piece = rest[:size]
        partial = _PARTIAL_ENTITY.search(piece)
        if partial:
            piece = piece[: partial.start()]
        soft = max(piece.rfind("\n"), piece.rfind(" "))
        if soft >= len(piece) - size // 10 and soft > 0:
            piece = piece[: soft + 1]
        pieces.append(piece)
        rest = rest[len(piece) :]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def user_mention(user_id: str) -> str:
    """`<@U123>` for a well-formed Slack user ID; anything else is shown as escaped text."""
    if _SLACK_USER.fullmatch(user_id):
        return f"<@{user_id}>"
    return escaped(user_id, 40)


def web_url(url: str | None, limit: int = 3000) -> str | None:
    """The URL if it is a plain http(s) URL of at most `limit` characters, else None."""
    if not url or len(url) > limit or not url.startswith(("https://", "http://")):
        return None
    return None if _URL_UNSAFE.search(url) else url


def link(url: str | None, label: str) -> str:
    """A mrkdwn link to a trusted URL with an untrusted label; just the label if the URL is odd.

    URLs over 1000 characters count as odd: a link must leave room in its text object.
    """
    safe_label = escape(label).replace("|", "\u2223")
    checked = web_url(url, 1000)
    return f"<{escape_entities(checked)}|{safe_label}>" if checked else safe_label


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def utc_text(dt: datetime) -> str:
    """`2026-11-27 10:32 UTC`, for places where Slack cannot localise; naive means UTC."""
    return _aware(dt).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_date(dt: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A time every reader sees in their own time zone, with a UTC fallback; naive means UTC."""
    token = _DATE_TOKEN_UNSAFE.sub("", fmt) or "{date_short_pretty} {time}"
    return f"<!date^{int(_aware(dt).timestamp())}^{token}|{utc_text(dt)}>"
