"""The failed-sync digest: one Slack message per part of a poll's new failures.

Callers split a poll's items with `split_for_messages` and post one message per chunk; an
empty digest is not posted at all, so `build_digest` refuses zero items.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from blocks.bulk import bulk_actions, bulk_progress
from blocks.elements import Block, button, context, divider, header, seal, section
from blocks.entry import counts_text, entry_list, flow_counts, unique_runs
from blocks.ids import Action
from blocks.limits import MAX_MESSAGE_BLOCKS, MESSAGE_TEXT_BUDGET, visible_text_length
from blocks.model import Digest, DigestItem, EntryState
from blocks.text import escape, one_line, plain, slack_date, truncate
from blocks.values import MAX_LIST_MINUTES, ListRef, encode

__all__ = ["ENTRIES_PER_MESSAGE", "OVERFLOW_MARGIN", "build_digest", "split_for_messages"]

# 20 entries of 2 blocks plus the frame stay under 50 blocks, and ~450 characters per entry
# under the 10,000-character text budget.
ENTRIES_PER_MESSAGE = 20
# Added to the age of the oldest overflow failure: "List them" still finds it when clicked this
# long after the digest was posted (and it is the whole window when no start time is known).
OVERFLOW_MARGIN = timedelta(hours=24)
# Headroom under the budget for what the frame estimate cannot see (rounding, future tweaks).
_TEXT_MARGIN = 200
_TALLY = (
    (EntryState.OK, "resynced OK"),
    (EntryState.QUEUED, "queued"),
    (EntryState.FAILED_AGAIN, "failed again"),
    (EntryState.ERROR, "resync errors"),
)


def _sort_key(item: DigestItem) -> tuple[str, int, int]:
    flow = item.entry.flow
    return (item.entry.flow_name.casefold(), flow.id if flow else 0, item.entry.run_id)


def split_for_messages(items: Iterable[DigestItem]) -> list[list[DigestItem]]:
    """Items sorted by flow, then run, in chunks of at most ENTRIES_PER_MESSAGE (one per message)."""
    ordered = sorted(items, key=_sort_key)
    return [ordered[i : i + ENTRIES_PER_MESSAGE] for i in range(0, len(ordered), ENTRIES_PER_MESSAGE)]


def _title(count: int, digest: Digest) -> str:
    title = f"⚠️ {count} failed {'sync' if count == 1 else 'syncs'}"
    return title + (f" (part {digest.part} of {digest.parts})" if digest.parts > 1 else "")


def _overflow(digest: Digest, hidden: list[DigestItem]) -> tuple[int, list[tuple[str, int]]]:
    """Failures not shown: the poll's overflow plus items beyond this message's capacity."""
    flows: Counter[str] = Counter(dict(digest.overflow_flows))
    flows.update(item.entry.flow_name for item in hidden)
    counts = sorted(flows.items(), key=lambda pair: (-pair[1], pair[0]))
    return digest.overflow + len(hidden), counts


def build_digest(digest: Digest) -> tuple[str, list[Block]]:
    """The digest message: top-level fallback text and blocks, always within Slack's limits.

    Items past ENTRIES_PER_MESSAGE are counted in the "+N more" line rather than shown.
    Raises ValueError on a digest without items: callers do not post one.
    """
    unique = unique_runs(digest.items)
    if not unique:
        raise ValueError("a digest without items is not posted")
    shown, hidden = unique[:ENTRIES_PER_MESSAGE], unique[ENTRIES_PER_MESSAGE:]
    title = _title(len(shown), digest)
    counts = flow_counts(item.entry for item in shown)
    tally = Counter(item.outcome.state for item in shown)
    when = " · ".join(
        [f"Posted {slack_date(digest.created_at)}"]
        + [f"{tally[state]} {label}" for state, label in _TALLY if tally[state]]
    )
    head = [header(plain(title, 150), key="head"), context(counts_text(counts), when, key="summary")]
    tail: list[Block] = []
    bulk = bulk_actions(shown, message_id=digest.message_id)
    if bulk is not None:
        tail.append(bulk)
    if digest.bulk is not None:
        tail += bulk_progress(digest.bulk)
    more, more_flows = _overflow(digest, hidden)
    if more > 0:
        tail.append(_more_section(digest, hidden, more, more_flows))
    if tail:
        tail.insert(0, divider(key="div"))
    frame = head + tail
    entries = entry_list(
        shown,
        message_id=digest.message_id,
        text_budget=MESSAGE_TEXT_BUDGET - visible_text_length(frame) - _TEXT_MARGIN,
        block_budget=MAX_MESSAGE_BLOCKS - len(frame),
    )
    flows = ", ".join(f"{one_line(name)} ({count})" for name, count in counts[:3])
    extra = f", +{len(counts) - 3} more flows" if len(counts) > 3 else ""
    text = truncate(escape(f"{title}: {flows}{extra}"), 300)
    return text, seal(head + entries + tail)


def _window_hours(digest: Digest, hidden: list[DigestItem]) -> int:
    """The listing window, in hours, that "List them" opens.

    A listing reaches back from the moment it is clicked, so the window covers the oldest failure
    not shown (the poll's overflow, or an item past this message's capacity) as seen from the
    digest's posting, plus OVERFLOW_MARGIN for the time between the post and the click; never
    more than a listing accepts (15 days).
    """
    starts = [item.entry.started_at for item in hidden if item.entry.started_at is not None]
    if digest.overflow_since is not None:
        starts.append(digest.overflow_since)
    reach = OVERFLOW_MARGIN
    if starts:
        reach += max(digest.created_at - min(starts), timedelta(0))
    hours = math.ceil(reach.total_seconds() / 3600)
    return min(max(hours, 1), MAX_LIST_MINUTES // 60)


def _more_section(digest: Digest, hidden: list[DigestItem], more: int, flows: list[tuple[str, int]]) -> Block:
    hours = _window_hours(digest, hidden)
    text = f"+{more} more {'failure' if more == 1 else 'failures'} not shown"
    if flows:
        text += f" ({counts_text(flows)})"
    return section(
        text,
        key="more",
        accessory=button(
            "List them",
            Action.SHOW_ALL,
            value=encode(ListRef(minutes=hours * 60)),
            accessibility_label=f"List all failed syncs of the last {hours} hours",
        ),
    )
