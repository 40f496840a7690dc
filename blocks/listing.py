"""The slash command's ephemeral replies: a page of failed syncs, the empty result and help.

The filter as typed and the notices are shown verbatim (plain_text); syncbot's words are mrkdwn.
"""

from __future__ import annotations

from datetime import datetime

from blocks.bulk import bulk_actions
from blocks.elements import Block, actions, button, context, divider, seal, section, verbatim
from blocks.entry import ENTRY_BLOCKS, entry_list, unique_runs
from blocks.ids import Action, Command
from blocks.limits import MAX_MESSAGE_BLOCKS, MESSAGE_TEXT_BUDGET, visible_text_length
from blocks.model import Listing
from blocks.text import escape_entities, one_line, slack_date, truncate
from blocks.values import MAX_LIST_MINUTES, BulkRef, ListRef, encode

__all__ = [
    "LISTING_PAGE_SIZE",
    "build_empty_listing",
    "build_help",
    "build_listing",
    "freshness",
    "window_label",
]

# At most this many blocks frame a page: its head, the notes, a divider, bulk actions, the pager.
_FRAME_BLOCKS = 5
# Entries of ENTRY_BLOCKS blocks that fit with the frame in 50 blocks (15); callers page with it.
LISTING_PAGE_SIZE = (MAX_MESSAGE_BLOCKS - _FRAME_BLOCKS) // ENTRY_BLOCKS
# ListRef limits: the filter is carried as typed up to 200 characters, windows up to 15 days.
_MAX_QUERY = 200
_MAX_PAGE = 10_000
_TEXT_MARGIN = 200


def window_label(minutes: int) -> str:
    """`30m`, `2h`, `24h`, `3d`: the window as the command accepts it."""
    if minutes % 60:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours // 24}d" if hours > 24 and hours % 24 == 0 else f"{hours}h"


def _ago(seconds: float) -> str:
    minutes = int(max(seconds, 0)) // 60
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def freshness(as_of: datetime, now: datetime) -> str:
    """`As of 10:05, 2 min ago` (the time in the reader's zone): when what is listed was read."""
    return f"As of {slack_date(as_of, '{time}')}, {_ago((now - as_of).total_seconds())}"


def _notes(as_of: datetime | None, now: datetime | None, notice: str | None) -> list[Block]:
    """One context: why part of the window is missing (verbatim) and how fresh the page is."""
    elements: list[str | Block] = []
    if notice and one_line(notice):
        elements.append(verbatim(f"⚠️ {one_line(notice)}", 500))
    if as_of is not None and now is not None:
        elements.append(freshness(as_of, now))
    return [context(*elements, key="fresh")] if elements else []


def _page_ref(listing: Listing, page: int) -> str:
    minutes = min(max(listing.minutes, 1), MAX_LIST_MINUTES)
    return encode(ListRef(q=listing.query[:_MAX_QUERY], minutes=minutes, page=page))


def _pager(listing: Listing) -> Block | None:
    buttons = []
    if 1 < listing.page <= _MAX_PAGE + 1:
        buttons.append(button("◀ Previous", Action.LIST_PREV, value=_page_ref(listing, listing.page - 1)))
    if listing.page < min(listing.pages, _MAX_PAGE):
        buttons.append(button("Next ▶", Action.LIST_NEXT, value=_page_ref(listing, listing.page + 1)))
    return actions(*buttons, key="pager") if buttons else None


def build_listing(listing: Listing) -> tuple[str, list[Block]]:
    """One page of the listing, with bulk actions and Previous/Next as the page allows.

    Shows at most LISTING_PAGE_SIZE items; with none it is the empty-listing reply.
    """
    items = unique_runs(listing.items)[:LISTING_PAGE_SIZE]
    if not items:
        return build_empty_listing(
            listing.query, listing.minutes, as_of=listing.as_of, now=listing.now, notice=listing.notice
        )
    count = f"{listing.total} failed {'sync' if listing.total == 1 else 'syncs'}"
    where = f"{_matching(listing.query)} in the last {window_label(listing.minutes)}"
    page = f"(page {listing.page} of {max(listing.pages, listing.page)})"
    # The filter is the user's, as typed: the whole line is plain_text.
    head = [
        section(verbatim(f"{count}{where} {page}"), key="head"),
        *_notes(listing.as_of, listing.now, listing.notice),
    ]
    minutes = min(max(listing.minutes, 1), MAX_LIST_MINUTES)
    whole = BulkRef(q=listing.query[:_MAX_QUERY], minutes=minutes)
    bulk = bulk_actions(items, message_id=None, listing=whole, total=listing.total)
    tail = [block for block in (bulk, _pager(listing)) if block]
    if tail:
        tail.insert(0, divider(key="div"))
    entries = entry_list(
        items,
        message_id=None,
        text_budget=MESSAGE_TEXT_BUDGET - visible_text_length(head + tail) - _TEXT_MARGIN,
        block_budget=MAX_MESSAGE_BLOCKS - len(head) - len(tail),
    )
    text = truncate(escape_entities(f"{count}{_matching(listing.query)} {page}"), 300)
    return text, seal(head + entries + tail)


def _matching(query: str, limit: int = 100) -> str:
    """` matching “netsuite”`, the filter as typed (raw: for plain_text only)."""
    shown = one_line(query)
    return f" matching “{truncate(shown, limit)}”" if shown else ""


def build_empty_listing(
    query: str,
    minutes: int,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    notice: str | None = None,
) -> tuple[str, list[Block]]:
    """The reply when nothing matches: say so and suggest a wider window."""
    window = window_label(minutes)
    text = f"No failed syncs{_matching(query)} in the last {window}."
    shown = truncate(one_line(query), 100)
    if shown:
        # The filter as typed, verbatim: the hint is plain_text, the commands in quotes.
        wider = f"{Command.FAILED_SYNCS} {shown} 15d"
        hint: str | Block = verbatim(
            f"Try a longer window, e.g. “{wider}”, or “{Command.FAILED_SYNCS} help”."
        )
    else:
        hint = f"Try a longer window, e.g. `{Command.FAILED_SYNCS} 15d`, or `{Command.FAILED_SYNCS} help`."
    fallback = truncate(escape_entities(text), 300)
    notes = _notes(as_of, now, notice)
    return fallback, seal([section(verbatim(text), key="empty"), *notes, context(hint, key="hint")])


def build_help(default_minutes: int = 24 * 60) -> tuple[str, list[Block]]:
    """How to use the slash command."""
    cmd = Command.FAILED_SYNCS
    usage = (
        f"*`{cmd} [filter] [since]`* lists failed Patchworks syncs you can inspect and resync.\n"
        "• *filter* matches a flow name, a system (e.g. NetSuite), a run id or a reference "
        "(e.g. #1045); leave it out to list everything.\n"
        f"• *since* is a window such as `30m`, `2h` or `3d`, at most `15d`; "
        f"without it, the last {window_label(default_minutes)}.\n"
        f"• `{cmd} help` shows this message."
    )
    examples = "\n".join(
        [
            "*Examples*",
            f"• `{cmd}` — everything that failed recently",
            f"• `{cmd} netsuite 2h` — NetSuite failures of the last two hours",
            f"• `{cmd} #1045 3d` — one order's failed syncs of the last three days",
            f"• `{cmd} 123456` — one run by its id",
        ]
    )
    text = f"Usage: {cmd} [filter] [since] — e.g. {cmd} netsuite 2h"
    return text, seal([section(usage, key="usage"), section(examples, key="examples")])
