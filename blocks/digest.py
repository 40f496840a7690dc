"""The failed-sync digest, organised by cause: one message per outage.

A poll's new causes go into one message in the channel (part 1); what does not fit goes into its
thread (parts 2, 3, … of the same digest). Each cause shows its error as Patchworks wrote it, how
many runs it covers, where and since when, a suggested next step, "Resync all N…" and its newest
runs with their own actions. New failures of a cause already open in a recent digest are added
to it, and the message is rewritten in place.
"""

from __future__ import annotations

from collections.abc import Sequence

from blocks.bulk import bulk_actions, bulk_progress
from blocks.elements import (
    Block,
    actions,
    button,
    context,
    divider,
    header,
    mrkdwn,
    plain_text,
    seal,
    section,
    verbatim,
)
from blocks.entry import ENTRY_BLOCKS as _ENTRY_BLOCKS
from blocks.entry import entry_list, systems_label
from blocks.ids import Action
from blocks.limits import MAX_MESSAGE_BLOCKS, MESSAGE_TEXT_BUDGET, visible_text_length
from blocks.model import CauseView, Digest, FlowSnoozeView, JobState
from blocks.snooze import snooze_menu
from blocks.text import escape_entities, escaped, one_line, slack_date, truncate, user_mention
from blocks.values import CauseRef, SnoozeRef, encode

__all__ = ["CAUSES_PER_MESSAGE", "ENTRIES_PER_MESSAGE", "build_digest", "cause_blocks"]

# Causes per message: a cause's frame costs CAUSE_FRAME blocks, so four leave room for entries.
CAUSES_PER_MESSAGE = 4
# Runs shown per message, over all its causes (each run costs _ENTRY_BLOCKS blocks).
ENTRIES_PER_MESSAGE = 12
# Divider, the cause's head (with "Resync all N…"), its error, its context, its actions ("I'm on
# it", Snooze) and "+N more".
CAUSE_FRAME = 6
# The message's header and context, the selection row and its bulk progress line.
_MESSAGE_FRAME = 4
# Headroom under the text budget for what the estimate cannot see.
_TEXT_MARGIN = 200
_FLOWS_SHOWN = 3
# A cause's error in the digest: four of them stay well inside the message's text budget (the
# Details modal shows every line in full).
_EXAMPLE_CHARS = 1200
_MIN_EXAMPLE_CHARS = 300
# About the least visible text a run's entry takes, however tight its budget (its flow and run).
_ENTRY_TEXT_FLOOR = 120
_FLOWS_CHARS = 300
# Snoozed flows named in a cause's context (two elements each, within its ten).
_FLOW_SNOOZES_SHOWN = 2
_FLOW_NAME_CHARS = 150


def _allot(causes: Sequence[CauseView], capacity: int) -> list[int]:
    """How many runs each cause shows: round robin, newest causes' runs first, within capacity."""
    shown = [0] * len(causes)
    left = capacity
    while left > 0:
        progressed = False
        for index, cause in enumerate(causes):
            if left and shown[index] < len(cause.items):
                shown[index] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return shown


def _health_text(cause: CauseView) -> str:
    return " · ".join(f"⚠️ {escaped(item.system, 40)}: {item.health.value}" for item in cause.health[:3])


def _head_text(cause: CauseView) -> str:
    runs = "run" if cause.count == 1 else "runs"
    status = _status_text(cause)
    if cause.resolved:
        resolved = f"✅ *Resolved* · {cause.count} {runs}"
        return f"{resolved}\n{status}" if status else resolved
    parts = [f"*{cause.count} failed {runs}*"]
    if cause.open_runs != cause.count:
        parts.append(f"{cause.open_runs} still open")
    if cause.systems:
        parts.append(systems_label(cause.systems))
    if cause.first_seen is not None and cause.last_seen is not None:
        if cause.first_seen == cause.last_seen:
            parts.append(f"at {slack_date(cause.first_seen)}")
        else:
            parts.append(f"first {slack_date(cause.first_seen)}, last {slack_date(cause.last_seen)}")
    head = " · ".join(parts)
    return f"{head}\n{status}" if status else head


def _status_text(cause: CauseView) -> str:
    """Who is on the cause and until when it is snoozed (syncbot's words, mentions real)."""
    parts: list[str] = []
    if cause.owner:
        parts.append(f"👤 {user_mention(cause.owner)} is on it")
    if cause.snoozed_until is not None:
        by = f" by {user_mention(cause.snoozed_by)}" if cause.snoozed_by else ""
        snoozed = f"💤 Snoozed{by} until {slack_date(cause.snoozed_until)}"
        if cause.held:
            snoozed += f" · {cause.held} new {'failure' if cause.held == 1 else 'failures'} held"
        parts.append(snoozed)
    return " · ".join(parts)


def _cause_actions(cause: CauseView, message_id: int, key: str) -> Block | None:
    """ "I'm on it" or "Hand back", and the Snooze menu or "Unsnooze"."""
    ref = encode(CauseRef(msg=message_id, cause=cause.cause_id))
    elements: list[Block] = []
    if cause.owner:
        elements.append(
            button(
                "Hand back",
                Action.CAUSE_HAND_BACK,
                value=ref,
                accessibility_label="Hand this cause back: nobody is on it any more",
            )
        )
    elif not cause.resolved:
        elements.append(
            button(
                "🙋 I'm on it",
                Action.CAUSE_TAKE,
                value=ref,
                accessibility_label="Tell the channel you are handling this cause",
            )
        )
    if cause.snoozed_until is not None:
        elements.append(button("Unsnooze", Action.CAUSE_UNSNOOZE, value=ref))
    elif not cause.resolved:
        elements.append(
            snooze_menu(
                Action.CAUSE_SNOOZE,
                lambda span: encode(SnoozeRef(msg=message_id, cause=cause.cause_id, span=span)),
                "💤 Snooze…",
            )
        )
    return actions(*elements, key=key) if elements else None


def _resync_all(cause: CauseView, message_id: int) -> Block | None:
    running = cause.bulk is not None and cause.bulk.state is JobState.RUNNING
    snoozed = cause.snoozed_until is not None
    if cause.resolved or running or snoozed or cause.retryable <= 0:
        return None
    return button(
        f"Resync all {cause.retryable}…",
        Action.CAUSE_RESYNC_ALL,
        value=encode(CauseRef(msg=message_id, cause=cause.cause_id)),
        accessibility_label=f"Resync all {cause.retryable} open runs of this cause",
    )


def _flow_snooze_elements(snoozes: Sequence[FlowSnoozeView], shown: int = _FLOW_SNOOZES_SHOWN) -> list[Block]:
    """Context elements for snoozed flows: each name verbatim, then who snoozed it until when."""
    elements: list[Block] = []
    for snooze in snoozes[:shown]:
        held = f" · {snooze.held} new held" if snooze.held else ""
        elements.append(verbatim(f"💤 {one_line(snooze.flow)}", _FLOW_NAME_CHARS))
        elements.append(
            mrkdwn(f"snoozed by {user_mention(snooze.by_user)} until {slack_date(snooze.until)}{held}")
        )
    if len(snoozes) > shown:
        elements.append(plain_text(f"+{len(snoozes) - shown} more snoozed flows"))
    return elements


def _context_block(cause: CauseView, key: str) -> Block:
    """Flows (untrusted: plain_text), health and the next step (syncbot's words: mrkdwn)."""
    elements: list[Block] = []
    flows = [f"{one_line(name)} ({count})" for name, count in cause.flows[:_FLOWS_SHOWN]]
    if len(cause.flows) > _FLOWS_SHOWN:
        flows.append(f"+{len(cause.flows) - _FLOWS_SHOWN} more flows")
    if flows:
        elements.append(verbatim(" · ".join(flows), _FLOWS_CHARS))
    health = _health_text(cause)
    if health and not cause.resolved:
        elements.append({"type": "mrkdwn", "text": health, "verbatim": True})
    if not cause.resolved:
        elements.append({"type": "mrkdwn", "text": f"💡 {escaped(cause.next_step, 300)}", "verbatim": True})
    elements += _flow_snooze_elements(cause.snoozed_flows)
    if not elements:
        elements.append(plain_text("All runs resynced OK."))
    return {"type": "context", "block_id": key, "elements": elements}


def cause_blocks(
    cause: CauseView,
    index: int,
    *,
    message_id: int,
    shown: int,
    text_budget: int,
    example_chars: int = _EXAMPLE_CHARS,
) -> list[Block]:
    """One cause: its head with "Resync all N…", its error verbatim, context, its newest runs."""
    key = f"c{index}"
    blocks: list[Block] = [divider(key=f"{key}d")]
    blocks.append(section(_head_text(cause), key=f"{key}h", accessory=_resync_all(cause, message_id)))
    example = cause.example if cause.example.strip() else "Patchworks gave no error details."
    blocks.append(section(verbatim(example, example_chars), key=f"{key}x"))
    blocks.append(_context_block(cause, f"{key}c"))
    controls = _cause_actions(cause, message_id, f"{key}a")
    if controls is not None:
        blocks.append(controls)
    if cause.bulk is not None:
        blocks += [{**block, "block_id": f"{key}{block['block_id']}"} for block in bulk_progress(cause.bulk)]
    items = cause.items[:shown]
    if items:
        rendered = entry_list(
            items, message_id=message_id, text_budget=text_budget, block_budget=shown * _ENTRY_BLOCKS
        )
        # Flow headings are numbered per list: the cause's key keeps them unique in the message.
        blocks += [{**block, "block_id": f"{key}{block['block_id']}"} for block in rendered]
    hidden = cause.count - len(items)
    if hidden > 0:
        more = f"+{hidden} more {'run' if hidden == 1 else 'runs'} of this cause not shown"
        more += "; “Resync all” covers them." if _resync_all(cause, message_id) is not None else "."
        blocks.append(context(more, key=f"{key}m"))
    return blocks


def _title(digest: Digest) -> str:
    runs = digest.runs
    causes = len(digest.causes)
    noun = "cause" if causes == 1 else "causes"
    if digest.part > 1:
        return f"… {causes} more {noun} ({runs} runs), part {digest.part} of {digest.parts}"
    if digest.causes and all(cause.resolved for cause in digest.causes):
        return f"✅ {runs} failed {'sync' if runs == 1 else 'syncs'}: all resolved"
    total = f"⚠️ {runs} failed {'sync' if runs == 1 else 'syncs'} · {causes} {noun}"
    return total + (f" (part 1 of {digest.parts})" if digest.parts > 1 else "")


def build_digest(digest: Digest) -> tuple[str, list[Block]]:
    """One digest message: its causes, each with its newest runs, always within Slack's limits.

    Raises ValueError on a digest without causes: callers do not post one.
    """
    if not digest.causes:
        raise ValueError("a digest without causes is not posted")
    causes = digest.causes[:CAUSES_PER_MESSAGE]
    title = _title(digest)
    when = [f"Posted {slack_date(digest.created_at)}"]
    if digest.updated_at is not None and digest.updated_at > digest.created_at:
        when.append(f"updated {slack_date(digest.updated_at)}")
    held = sum(cause.held for cause in causes)
    if held:
        when.append(f"💤 {held} snoozed")
    head = [header(truncate(title, 150), key="head"), context(" · ".join(when), key="when")]
    tail: list[Block] = []
    selection = bulk_actions(digest.items, message_id=digest.message_id, every=False)
    if selection is not None:
        tail.append(divider(key="div"))
        tail.append(selection)
    if digest.bulk is not None:
        tail += bulk_progress(digest.bulk)
    hidden = digest.causes[CAUSES_PER_MESSAGE:]
    if hidden:
        # The last part of a digest of very many causes: say what it does not show.
        runs = sum(cause.count for cause in hidden)
        tail.append(
            context(
                f"+{len(hidden)} more causes ({runs} runs) not shown here: `/failed-syncs` lists them.",
                key="morecauses",
            )
        )
    frames = len(head) + len(tail) + CAUSE_FRAME * len(causes) + sum(1 for c in causes if c.bulk)
    capacity = min(ENTRIES_PER_MESSAGE, max(0, (MAX_MESSAGE_BLOCKS - frames) // _ENTRY_BLOCKS))
    shown = _allot(causes, capacity)
    budget = MESSAGE_TEXT_BUDGET - visible_text_length(head + tail) - _TEXT_MARGIN
    # Each cause's frame first (its error up to 3,000 characters), then entries share the rest.
    per_cause = max(0, budget // max(1, len(causes)))
    body: list[Block] = []
    for index, cause in enumerate(causes):
        frame = cause_blocks(cause, index, message_id=digest.message_id, shown=0, text_budget=0)
        # A frame over its share (long flows, snoozed flows' names) gives up some of its error,
        # keeping room for its runs' shortest lines: the Details modal shows the error in full.
        over = visible_text_length(frame) + shown[index] * _ENTRY_TEXT_FLOOR - per_cause
        example_chars = max(_MIN_EXAMPLE_CHARS, _EXAMPLE_CHARS - max(0, over))
        if over > 0:
            frame = cause_blocks(
                cause,
                index,
                message_id=digest.message_id,
                shown=0,
                text_budget=0,
                example_chars=example_chars,
            )
        entries_budget = max(0, per_cause - visible_text_length(frame))
        body += cause_blocks(
            cause,
            index,
            message_id=digest.message_id,
            shown=shown[index],
            text_budget=entries_budget,
            example_chars=example_chars,
        )
    names = ", ".join(truncate(one_line(cause.example), 60) for cause in causes[:2])
    text = truncate(escape_entities(f"{title}: {names}"), 300)
    return text, seal(head + body + tail)
