"""Blocks for one entry of a digest or listing, and the pieces the other builders share.

An entry costs exactly ENTRY_BLOCKS (3) blocks: a section showing Patchworks' text verbatim in
plain_text (flow, reference, first error line), a context with syncbot's own words in mrkdwn
(run link, dates, attempt, status, state) and an actions row. Builders size pages with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from blocks.elements import (
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    mrkdwn,
    plain_text,
    section,
    verbatim,
)
from blocks.ids import Action
from blocks.limits import CONFIRM_TEXT, visible_text_length
from blocks.model import DigestItem, EntryState, Outcome
from blocks.text import (
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
from blocks.values import EntryRef, encode
from bot.patchworks.models import SyncEntry

__all__ = [
    "COMPACT",
    "ENTRY_BLOCKS",
    "FULL",
    "LEVELS",
    "RESYNCABLE_STATES",
    "SHORT",
    "Detail",
    "counts_text",
    "details_button",
    "entry_blocks",
    "entry_list",
    "flow_counts",
    "not_offered",
    "offers_resync",
    "resync_button",
    "run_label",
    "state_texts",
    "systems_label",
    "unique_runs",
]

# Blocks per entry: the verbatim section, the context and the actions row.
ENTRY_BLOCKS = 3
# States in which the entry is (still) failed, so a resync makes sense.
RESYNCABLE_STATES = frozenset({EntryState.FAILED, EntryState.FAILED_AGAIN, EntryState.ERROR})
# Longer URLs are not linked from the entry line (the Details modal still offers them).
_MAX_LINK_URL = 300


@dataclass(frozen=True)
class Detail:
    """How much of an entry to show; digests step down until the message fits its text budget."""

    flow: int
    reference: int
    error: int
    note: int
    links: bool = True
    dates: bool = True
    systems: bool = True


FULL = Detail(flow=80, reference=40, error=300, note=200)
SHORT = Detail(flow=60, reference=30, error=150, note=100)
COMPACT = Detail(flow=40, reference=24, error=50, note=50, links=False, dates=False, systems=False)
LEVELS = (FULL, SHORT, COMPACT)


def offers_resync(item: DigestItem) -> bool:
    """Whether the entry's row offers a Resync button (and a place in bulk selections)."""
    return item.outcome.state in RESYNCABLE_STATES and item.entry.resyncability.allowed


def run_label(run_id: int) -> str:
    """How a run is named everywhere: `run 123`."""
    return f"run {run_id}"


def systems_label(systems: Sequence[str]) -> str:
    """`Shopify → NetSuite` for a source and destination, else the systems listed (escaped)."""
    names = [escaped(one_line(name), 30) for name in systems[:4]]
    return " → ".join(names) if len(names) == 2 else ", ".join(names)


def resync_button(entry: SyncEntry, *, message_id: int | None, label: str = "Resync") -> Block:
    """The Resync button with a confirmation dialog naming the entry."""
    ref = one_line(entry.reference or "")
    reference = f" (ref {ref})" if ref else ""
    question = f"Resync {run_label(entry.run_id)} of “{one_line(entry.flow_name)}”{reference}?"
    text = plain(question, CONFIRM_TEXT - 90) + " Patchworks queues a new run; its result is posted here."
    return button(
        label,
        Action.RESYNC,
        value=encode(EntryRef(run=entry.run_id, msg=message_id)),
        style="primary",
        accessibility_label=f"Resync {run_label(entry.run_id)}",
        confirm=confirm_dialog("Resync this entry?", text, "Resync", "Cancel"),
    )


def details_button(entry: SyncEntry, *, message_id: int | None) -> Block:
    """The Details button that opens the entry's modal."""
    return button(
        "Details",
        Action.DETAILS,
        value=encode(EntryRef(run=entry.run_id, msg=message_id)),
        accessibility_label=f"Details of {run_label(entry.run_id)}",
    )


def state_texts(entry: SyncEntry, outcome: Outcome, detail: Detail = FULL) -> list[Block]:
    """What syncbot did to the entry since it was posted, as text objects ([] while simply failed).

    syncbot's words (who, when, which run) are mrkdwn; Patchworks' reason, when there is one,
    follows verbatim in a plain_text object.
    """
    by = user_mention(outcome.by_user) if outcome.by_user else None
    new_run = outcome.new_run_id or (entry.run_id if entry.retry_of is not None else None)
    note = first_line(outcome.detail or "")
    reason = [verbatim(note, detail.note)] if note else []
    match outcome.state:
        case EntryState.QUEUED:
            line = "⏳ Resync queued"
            line += f" by {by}" if by else ""
            line += f" at {slack_date(outcome.at)}" if outcome.at and detail.dates else ""
            return [mrkdwn(line + (f" (new {run_label(new_run)})" if new_run else ""))]
        case EntryState.OK:
            line = "✅ OK" + (f" ({run_label(new_run)})" if new_run else "")
            return [mrkdwn(line + (f" — resynced by {by}" if by else ""))]
        case EntryState.FAILED_AGAIN:
            line = "❌ Failed again" + (f" ({run_label(new_run)})" if new_run else "")
            # The entry is the retry by now, so its error line may already say the same thing.
            if note == first_line(entry.error_summary):
                reason = []
            return [mrkdwn(line + (":" if reason else "")), *reason]
        case EntryState.ERROR:
            return [mrkdwn("⚠️ Resync failed" + (":" if reason else "")), *reason]
    return []


def _identity(entry: SyncEntry, detail: Detail, *, show_flow: bool) -> str:
    """The entry's untrusted text, escaped for plain_text: flow, reference, first error line."""
    names = [plain(one_line(entry.flow_name), detail.flow)] if show_flow else []
    reference = one_line(entry.reference or "")
    if reference:
        names.append(f"ref {plain(reference, detail.reference)}")
    error = first_line(entry.error_summary)
    lines = [" · ".join(names)] if names else []
    lines.append(f"Error: {plain(error, detail.error) if error else 'no details returned'}")
    return "\n".join(lines)


def _facts(entry: SyncEntry, detail: Detail, *, show_flow: bool) -> str:
    """syncbot's facts about the run, as mrkdwn: its link, start, attempt, status, systems."""
    run = run_label(entry.run_id)
    facts = [link(web_url(entry.url, _MAX_LINK_URL), run) if detail.links else run]
    if entry.started_at and detail.dates:
        facts.append(f"started {slack_date(entry.started_at)}")
    facts += [f"attempt {entry.attempt}", entry.status.label]
    if show_flow and detail.systems and entry.systems:
        facts.append(systems_label(entry.systems))
    return " · ".join(facts)


def not_offered(entry: SyncEntry, outcome: Outcome, limit: int = 200) -> Block | None:
    """`Resync not offered: flow is disabled` (plain_text) when a failed entry cannot be resynced."""
    resyncability = entry.resyncability
    if outcome.state not in RESYNCABLE_STATES or resyncability.allowed:
        return None
    reason = one_line(resyncability.reason or "") or "not allowed"
    return verbatim(f"Resync not offered: {reason}", limit)


def entry_blocks(
    item: DigestItem, *, message_id: int | None, detail: Detail = FULL, show_flow: bool = True
) -> list[Block]:
    """ENTRY_BLOCKS blocks: what failed, verbatim; syncbot's facts and state; the actions.

    1. a section whose plain_text shows Patchworks' words exactly: flow, reference, error line;
    2. a context: the run's link, start, attempt, status and systems, then what syncbot did
       (mrkdwn, with mentions and dates), Patchworks' reason for an outcome and why no resync is
       offered (plain_text); at most 4 of the 10 elements a context allows;
    3. an actions row with Details and, if offered, Resync.
    """
    entry, outcome = item.entry, item.outcome
    state = outcome.state
    buttons = [details_button(entry, message_id=message_id)]
    if offers_resync(item):
        label = "Resync again" if state is EntryState.FAILED_AGAIN else "Resync"
        buttons.append(resync_button(entry, message_id=message_id, label=label))
    about: list[Block] = [mrkdwn(_facts(entry, detail, show_flow=show_flow))]
    about += state_texts(entry, outcome, detail)
    why = not_offered(entry, outcome, detail.note + 20)
    if why is not None:
        about.append(why)
    return [
        section(
            plain_text(_identity(entry, detail, show_flow=show_flow), emoji=False),
            key=f"e{entry.run_id}:{state}",
        ),
        context(*about, key=f"i{entry.run_id}:{state}"),
        actions(*buttons, key=f"a{entry.run_id}:{state}"),
    ]


def unique_runs(items: Sequence[DigestItem]) -> list[DigestItem]:
    """Items in order, each run id once (its first occurrence)."""
    seen: set[int] = set()
    unique: list[DigestItem] = []
    for item in items:
        if item.entry.run_id not in seen:
            seen.add(item.entry.run_id)
            unique.append(item)
    return unique


def flow_counts(entries: Iterable[SyncEntry]) -> list[tuple[str, int]]:
    """(flow name, entries) pairs, most entries first."""
    counts = Counter(entry.flow_name for entry in entries)
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def counts_text(counts: Sequence[tuple[str, int]], *, top: int = 3, name_limit: int = 40) -> str:
    """`Flow A (12) · Flow B (5) · +2 more flows`, as written: for `verbatim`, never for mrkdwn."""
    parts = [f"{truncate(one_line(name), name_limit)} ({count})" for name, count in counts[:top]]
    if len(counts) > top:
        rest = len(counts) - top
        parts.append(f"+{rest} more {'flow' if rest == 1 else 'flows'}")
    return " · ".join(parts)


def _flow_key(item: DigestItem) -> tuple[int | None, str]:
    flow = item.entry.flow
    return (flow.id if flow else None, item.entry.flow_name)


def _heading(group: list[DigestItem], index: int, detail: Detail) -> Block:
    """The flow's name (verbatim), then its systems and how many entries follow."""
    entry = group[0].entry
    facts = f"{len(group)} entries"
    if detail.systems and entry.systems:
        facts = f"{systems_label(entry.systems)}  ·  {facts}"
    return context(verbatim(one_line(entry.flow_name), detail.flow), facts, key=f"g{index}")


def entry_list(
    items: Sequence[DigestItem], *, message_id: int | None, text_budget: int, block_budget: int
) -> list[Block]:
    """Entries grouped by flow, at the richest detail whose visible text fits `text_budget`.

    Repeated run ids are shown once (block_ids must be unique). Consecutive entries of one flow
    get a heading, and then omit the flow name, when every such group fits `block_budget`.
    """
    unique = unique_runs(items)
    groups = [list(group) for _, group in groupby(unique, key=_flow_key)]
    multi = sum(1 for group in groups if len(group) > 1)
    with_headings = 0 < multi <= block_budget - ENTRY_BLOCKS * len(unique)
    rendered: list[Block] = []
    for detail in LEVELS:
        rendered = []
        for index, group in enumerate(groups):
            heading = with_headings and len(group) > 1
            if heading:
                rendered.append(_heading(group, index, detail))
            for item in group:
                rendered += entry_blocks(item, message_id=message_id, detail=detail, show_flow=not heading)
        if visible_text_length(rendered) <= text_budget:
            break
    return rendered
