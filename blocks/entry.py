"""Blocks for one entry of a digest or listing, and the pieces the other builders share.

An entry costs exactly two blocks (a section and an actions row), so 20 entries plus the
digest's frame stay within 50 blocks; the state and "not offered" lines live in the section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from blocks.elements import Block, actions, button, confirm_dialog, context, section
from blocks.ids import Action
from blocks.limits import CONFIRM_TEXT, visible_text_length
from blocks.model import DigestItem, EntryState, Outcome
from blocks.text import escaped, first_line, link, one_line, plain, slack_date, user_mention, web_url
from blocks.values import EntryRef, encode
from bot.patchworks.models import SyncEntry

__all__ = [
    "COMPACT",
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
    "offers_resync",
    "resync_button",
    "run_label",
    "state_line",
    "systems_label",
    "unique_runs",
]

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


def state_line(entry: SyncEntry, outcome: Outcome, detail: Detail = FULL) -> str | None:
    """What syncbot did to the entry since it was posted, or None while it is simply failed."""
    by = user_mention(outcome.by_user) if outcome.by_user else None
    new_run = outcome.new_run_id or (entry.run_id if entry.retry_of is not None else None)
    note = escaped(first_line(outcome.detail), detail.note) if outcome.detail else ""
    match outcome.state:
        case EntryState.QUEUED:
            line = "⏳ Resync queued"
            line += f" by {by}" if by else ""
            line += f" at {slack_date(outcome.at)}" if outcome.at and detail.dates else ""
            return line + (f" (new {run_label(new_run)})" if new_run else "")
        case EntryState.OK:
            line = "✅ OK" + (f" ({run_label(new_run)})" if new_run else "")
            return line + (f" — resynced by {by}" if by else "")
        case EntryState.FAILED_AGAIN:
            line = "❌ Failed again" + (f" ({run_label(new_run)})" if new_run else "")
            # The entry is the retry by now, so its error line may already say the same thing.
            repeated = first_line(outcome.detail or "") == first_line(entry.error_summary)
            return line + (f": {note}" if note and not repeated else "")
        case EntryState.ERROR:
            return "⚠️ Resync failed" + (f": {note}" if note else "")
    return None


def _summary_lines(item: DigestItem, detail: Detail, *, show_flow: bool) -> list[str]:
    entry, outcome = item.entry, item.outcome
    lines: list[str] = []
    if show_flow:
        title = f"*{escaped(one_line(entry.flow_name), detail.flow)}*"
        if detail.systems and entry.systems:
            title += f"  ·  {systems_label(entry.systems)}"
        lines.append(title)
    run = run_label(entry.run_id)
    facts = [link(web_url(entry.url, _MAX_LINK_URL), run) if detail.links else run]
    if entry.reference and one_line(entry.reference):
        facts.append(f"ref {escaped(one_line(entry.reference), detail.reference)}")
    if entry.started_at and detail.dates:
        facts.append(f"started {slack_date(entry.started_at)}")
    facts += [f"attempt {entry.attempt}", entry.status.label]
    lines.append(" · ".join(facts))
    error = first_line(entry.error_summary)
    lines.append(f"Error: {escaped(error, detail.error) if error else 'no details returned'}")
    state = state_line(entry, outcome, detail)
    if state:
        lines.append(state)
    resyncability = entry.resyncability
    if outcome.state in RESYNCABLE_STATES and not resyncability.allowed:
        reason = escaped(one_line(resyncability.reason or "not allowed"), detail.note)
        lines.append(f"Resync not offered: {reason}")
    return lines


def entry_blocks(
    item: DigestItem, *, message_id: int | None, detail: Detail = FULL, show_flow: bool = True
) -> list[Block]:
    """A section describing the entry and an actions row with Details and, if offered, Resync."""
    entry, state = item.entry, item.outcome.state
    buttons = [details_button(entry, message_id=message_id)]
    if offers_resync(item):
        label = "Resync again" if state is EntryState.FAILED_AGAIN else "Resync"
        buttons.append(resync_button(entry, message_id=message_id, label=label))
    text = "\n".join(_summary_lines(item, detail, show_flow=show_flow))
    return [
        section(text, key=f"e{entry.run_id}:{state}"),
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
    """`*Flow A*: 12 · *Flow B*: 5 · +2 more flows` with escaped names."""
    parts = [f"*{escaped(one_line(name), name_limit)}*: {count}" for name, count in counts[:top]]
    if len(counts) > top:
        rest = len(counts) - top
        parts.append(f"+{rest} more {'flow' if rest == 1 else 'flows'}")
    return " · ".join(parts)


def _flow_key(item: DigestItem) -> tuple[int | None, str]:
    flow = item.entry.flow
    return (flow.id if flow else None, item.entry.flow_name)


def _heading(group: list[DigestItem], index: int, detail: Detail) -> Block:
    entry = group[0].entry
    text = f"*{escaped(one_line(entry.flow_name), detail.flow)}*"
    if detail.systems and entry.systems:
        text += f"  ·  {systems_label(entry.systems)}"
    return context(f"{text}  ·  {len(group)} entries", key=f"g{index}")


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
    with_headings = 0 < multi <= block_budget - 2 * len(unique)
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
