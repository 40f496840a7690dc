"""conversations.replies for the local Slack Web API, and the paging arguments it shares with
conversations.history (`slack_api` registers both methods).

As Slack documents it: `ts` names a thread's parent or any reply in it, and a message without
replies is a thread of one; the parent comes first, then the replies oldest first; `oldest`,
`latest` and `inclusive` bound the replies; `limit` (default 1000) and `cursor` page through them;
metadata only with `include_all_metadata`; `thread_not_found` for a ts the channel does not hold.
Slack does not document whether later pages start with the parent again (reports differ), so here
only the first page does, whatever the time bounds: a client should pick messages out by what they
are, never by where they sit on a page.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import TYPE_CHECKING

from syncbot_sandbox.store import JsonDict, Message, SlackError, Workspace, ts_key

if TYPE_CHECKING:
    from syncbot_sandbox.slack_api import Ctx

__all__ = ["conversations_replies", "cursor_ts", "limit_arg", "next_cursor", "thread", "ts_arg"]

MAX_REPLIES_LIMIT = 1000  # Slack: "a limit value under 1000" to page; 1000 is also the default


def conversations_replies(ctx: Ctx) -> JsonDict:
    """Answer conversations.replies: one page of a thread, its parent heading the first."""
    channel = ctx.required("channel", "channel_not_found")
    ts = ctx.required("ts", "thread_not_found")
    limit = limit_arg(ctx, default=MAX_REPLIES_LIMIT, most=MAX_REPLIES_LIMIT)
    latest, oldest = ts_arg(ctx, "latest"), ts_arg(ctx, "oldest")
    cursor = ctx.optional("cursor")
    after = cursor_ts(cursor) if cursor else None
    parent, *replies = thread(ctx.ws, channel, ts)
    hi, lo = (ts_key(latest) if latest else None), (ts_key(oldest) if oldest else None)
    replies = [m for m in replies if _within(ts_key(m.ts), lo, hi, inclusive=ctx.flag("inclusive"))]
    # A cursor carries on after the last reply of the page before; only the first page has the parent.
    listed = [parent, *replies] if after is None else [m for m in replies if ts_key(m.ts) > after]
    page, rest = listed[:limit], listed[limit:]
    with_metadata = ctx.flag("include_all_metadata")
    messages = []
    for message in page:
        shaped = message.to_slack(with_metadata=with_metadata)
        if message is not parent:
            shaped["parent_user_id"] = parent.user
        messages.append(shaped)
    return {
        "messages": messages,
        "has_more": bool(rest),
        "response_metadata": {"next_cursor": next_cursor(page[-1].ts) if rest else ""},
    }


def thread(ws: Workspace, channel_id: str, ts: str) -> list[Message]:
    """The thread `ts` is in: its parent, then its replies oldest first; thread_not_found if none."""
    with ws.lock:
        chan = ws.channel(channel_id)
        found = chan.messages.get(ts)
        if found is None:
            raise SlackError("thread_not_found")
        # A reply whose parent the channel does not hold (posted with an unknown thread_ts) stands
        # alone, as conversations.history also shows it.
        parent = chan.messages.get(found.thread_ts or found.ts, found)
        replies = [chan.messages[reply] for reply in parent.replies if reply in chan.messages]
        return [parent, *sorted(replies, key=lambda m: ts_key(m.ts))]


def _within(key: Decimal, lo: Decimal | None, hi: Decimal | None, *, inclusive: bool) -> bool:
    if hi is not None and (key > hi or (key == hi and not inclusive)):
        return False
    return not (lo is not None and (key < lo or (key == lo and not inclusive)))


def limit_arg(ctx: Ctx, *, default: int, most: int) -> int:
    """Return the `limit` argument within 1..`most`, or raise invalid_limit."""
    try:
        return max(1, min(int(ctx.optional("limit") or default), most))
    except ValueError as exc:
        raise SlackError("invalid_limit") from exc


def ts_arg(ctx: Ctx, name: str) -> str | None:
    """Return a ts argument (`oldest`, `latest`), or raise invalid_ts_<name> when it is not one."""
    value = ctx.optional(name)
    if value is not None:
        try:
            ts_key(value)
        except ValueError as exc:
            raise SlackError(f"invalid_ts_{name}") from exc
    return value


def next_cursor(ts: str) -> str:
    """The cursor of the page after the one ending at `ts`: base64 of "next_ts:<ts>", as Slack's look."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def cursor_ts(cursor: str) -> Decimal:
    """Return the ts a cursor from `next_cursor` carries, or raise invalid_cursor."""
    try:
        prefix, _, ts = base64.b64decode(cursor, validate=True).decode().partition(":")
        if prefix != "next_ts":
            raise ValueError(prefix)
        return ts_key(ts)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise SlackError("invalid_cursor") from exc
