"""The Details modal: everything known about one entry, with its full error lines.

Patchworks' text (flow name, reference, trigger, error lines, step names, health evidence) is
shown verbatim in plain_text; syncbot's facts and history are mrkdwn.
"""

from __future__ import annotations

import json

from blocks.elements import (
    Block,
    actions,
    button,
    context,
    divider,
    header,
    line_sections,
    modal,
    mrkdwn,
    plain_text,
    section,
    verbatim,
)
from blocks.entry import not_offered, offers_resync, resync_button, run_label, state_texts, systems_label
from blocks.ids import Action, ViewId
from blocks.limits import MAX_VIEW_BLOCKS, VIEW_BYTES, view_size
from blocks.model import Attempt, DetailsModel, DigestItem, EntryState
from blocks.snooze import snooze_menu
from blocks.text import (
    ELLIPSIS,
    chunks,
    escape_entities,
    first_line,
    link,
    one_line,
    plain,
    slack_date,
    truncate,
    user_mention,
    utc_text,
    web_url,
)
from blocks.values import EntryRef, FlowSnoozeRef, encode
from bot.patchworks.models import ErrorLine, Health, SyncEntry, SystemHealth

__all__ = ["build_details_modal", "health_line"]

# Error text is cut into sections of this size (Slack allows 3000; keep a margin).
ERROR_CHUNK = 2900
# Room kept free in the view for block_id suffixes, the footer and the modal's own fields.
_BYTES_HEADROOM = 15_000
_MAX_SYSTEMS = 20
_NOTICE_CHARS = 2000
_MAX_ATTEMPTS = 20
_HEALTH_ICON = {Health.OPERATIONAL: "✅", Health.UNREACHABLE: "🔌", Health.AUTH_FAILED: "🔑"}
_STATE_WORDS = {
    EntryState.FAILED: "failed",
    EntryState.QUEUED: "⏳ queued",
    EntryState.OK: "✅ OK",
    EntryState.FAILED_AGAIN: "❌ failed again",
    EntryState.ERROR: "⚠️ request failed",
}


def health_line(health: SystemHealth, evidence_limit: int = 200) -> str:
    """`🔑 NetSuite: Failed Authentication — 3 failures · last error: …`, escaped for plain_text.

    The evidence is Patchworks' error text, shown as written, so the line is plain_text.
    """
    line = f"{_HEALTH_ICON[health.health]} {one_line(health.system)[:40]}: {health.health.value}"
    if health.failures:
        line += f" — {health.failures} {'failure' if health.failures == 1 else 'failures'}"
    line = plain(line, 200)
    if health.evidence and health.health is not Health.OPERATIONAL:
        line += f" · last error: {plain(first_line(health.evidence), evidence_limit)}"
    return line


def _identity(entry: SyncEntry) -> Block | None:
    """Reference and trigger as Patchworks wrote them (plain_text), if it gave either."""
    lines = [
        f"{label}: {plain(value, 200)}"
        for label, value in (
            ("Reference", one_line(entry.reference or "")),
            ("Trigger", one_line(entry.trigger or "")),
        )
        if value
    ]
    return section(plain_text("\n".join(lines), emoji=False), key="ids") if lines else None


def _fields(entry: SyncEntry) -> Block:
    attempt = str(entry.attempt)
    if entry.retry_of is not None:
        attempt += f" (retry of {run_label(entry.retry_of)})"
    if entry.retried_as is not None:
        attempt += f", retried as {run_label(entry.retried_as)}"
    fields = [
        f"*Run*\n{link(entry.url, str(entry.run_id))}",
        f"*Systems*\n{systems_label(entry.systems) or 'not recognised'}",
        f"*Status*\n{entry.status.label}",
        f"*Attempt*\n{attempt}",
        f"*Started*\n{slack_date(entry.started_at) if entry.started_at else '—'}",
        f"*Finished*\n{slack_date(entry.finished_at) if entry.finished_at else '—'}",
    ]
    return {"type": "section", "block_id": "facts", "fields": [mrkdwn(field) for field in fields]}


def _actions(model: DetailsModel) -> list[Block]:
    entry, outcome = model.entry, model.outcome
    elements = []
    url = web_url(entry.url)
    if url:
        elements.append(button("Open in Patchworks", Action.OPEN_IN_PATCHWORKS, url=url))
    if offers_resync(DigestItem(entry=entry, outcome=outcome)):
        label = "Resync again" if outcome.state is EntryState.FAILED_AGAIN else "Resync"
        elements.append(resync_button(entry, message_id=model.message_id, label=label))
    snooze = model.flow_snooze
    if snooze is not None:
        unsnooze = encode(EntryRef(run=entry.run_id, msg=model.message_id))
        elements.append(
            button(
                "Unsnooze flow",
                Action.FLOW_UNSNOOZE,
                value=unsnooze,
                accessibility_label="End this flow's snooze: its held failures are posted at the next poll",
            )
        )
    elif model.snoozable:
        elements.append(
            snooze_menu(
                Action.FLOW_SNOOZE,
                lambda span: encode(FlowSnoozeRef(run=entry.run_id, span=span)),
                "💤 Snooze this flow…",
            )
        )
    blocks = [actions(*elements, key="actions")] if elements else []
    if snooze is not None:
        held = (
            f" · {snooze.held} new {'failure' if snooze.held == 1 else 'failures'} held"
            if snooze.held
            else ""
        )
        blocks.append(
            context(
                verbatim(f"💤 {one_line(snooze.flow)}", 150),
                mrkdwn(
                    f"snoozed by {user_mention(snooze.by_user)} until {slack_date(snooze.until)}{held}:"
                    " its new failures are recorded, not posted, until then"
                ),
                key="snoozed",
            )
        )
    why = not_offered(entry, outcome)
    if why is not None:
        blocks.append(context(why, key="why"))
    return blocks


def _attempt_line(attempt: Attempt) -> str:
    line = (
        f"• {slack_date(attempt.at)} — {user_mention(attempt.by_user)} resynced {run_label(attempt.run_id)}"
    )
    if attempt.new_run_id is not None:
        line += f" → {run_label(attempt.new_run_id)}"
    return f"{line}: {_STATE_WORDS[attempt.state]}"


def _history(model: DetailsModel) -> list[Block]:
    blocks: list[Block] = []
    if model.health:
        blocks.append(section("*Connector health* (derived from recent errors)", key="health"))
        lines = [health_line(health) for health in model.health[:_MAX_SYSTEMS]]
        if len(model.health) > _MAX_SYSTEMS:
            lines.append(f"+{len(model.health) - _MAX_SYSTEMS} more systems")
        blocks += line_sections(lines, key="health.", as_plain=True)
    if model.attempts:
        lines = ["*Resync history*"]
        if len(model.attempts) > _MAX_ATTEMPTS:
            lines.append(f"+{len(model.attempts) - _MAX_ATTEMPTS} earlier attempts")
        lines += [_attempt_line(attempt) for attempt in model.attempts[-_MAX_ATTEMPTS:]]
        blocks += line_sections(lines, key="history")
    return blocks


def _error_text(line: ErrorLine) -> str:
    """Plain text, not mrkdwn: the error reads exactly as Patchworks logged it (only escaped)."""
    head = [one_line(line.level).upper() or "LOG"]
    if line.step and one_line(line.step):
        head.append(one_line(line.step)[:100])
    if line.at is not None:
        head.append(utc_text(line.at))
    message = line.message if line.message.strip() else "(empty message)"
    return escape_entities(" · ".join(head) + "\n" + message)


def _error_blocks(entry: SyncEntry, blocks_left: int, bytes_left: int) -> list[Block]:
    """Each error line in its own section(s), until blocks or bytes run out; then a footer."""
    out: list[Block] = []
    shown, cut = 0, False
    for index, line in enumerate(entry.errors):
        for part, piece in enumerate(chunks(_error_text(line), ERROR_CHUNK)):
            text = piece if part == 0 else f"(continued) {piece}"
            block = section(plain_text(text, emoji=False), key=f"line{index}.{part}")
            cost = len(json.dumps(block)) + 2  # the block plus its separator in the list
            if blocks_left < 1 or cost > bytes_left:
                cut = True
                break
            out.append(block)
            blocks_left, bytes_left = blocks_left - 1, bytes_left - cost
        if cut:
            break
        shown = index + 1
    if cut:
        more = len(entry.errors) - shown
        note = f"+{more} more {'line' if more == 1 else 'lines'}"
        if out and out[-1]["block_id"].split(".")[0] == f"line{shown}":
            note += " (the last one shown is cut)"
        out.append(context(f"{note} — {link(entry.url, 'open in Patchworks')}", key="more"))
    return out


def _notice_text(notice: str) -> str:
    """The notice as the mrkdwn syncbot built (mentions real, untrusted parts already escaped).

    Not escaped again, or a mention would show as a literal `<@U…>`; only cut to size, and never
    inside a `<…>` token, which would leave half a mention or link on screen.
    """
    text = truncate(notice.strip(), _NOTICE_CHARS)
    opened = text.rfind("<")
    if opened > text.rfind(">"):
        text = text[:opened].rstrip() + ELLIPSIS
    return text


def build_details_modal(model: DetailsModel) -> Block:
    """The Details modal for one entry, within Slack's view limits for any error log."""
    entry = model.entry
    item_state = state_texts(entry, model.outcome)
    name = plain(one_line(entry.flow_name), 150).strip() or "Unknown flow"
    blocks = [header(name, key="head", emoji=False)]
    if model.notice and model.notice.strip():
        blocks.append(section(f":information_source: {_notice_text(model.notice)}", key="notice"))
    identity = _identity(entry)
    if identity is not None:
        blocks.append(identity)
    blocks.append(_fields(entry))
    if item_state:
        blocks.append(context(*item_state, key="state"))
    blocks += _actions(model)
    blocks += _history(model)
    count = len(entry.errors)
    blocks.append(divider(key="div"))
    if entry.errors:
        blocks.append(section(f"*Error details* ({count} {'line' if count == 1 else 'lines'})", key="errors"))
    else:
        summary = (entry.summary or "").strip()
        blocks.append(
            section("*Error details*" + ("" if summary else "\nNo error lines returned."), key="errors")
        )
        if summary:
            blocks.append(section(verbatim(summary, 2000), key="summary"))
    metadata = encode(EntryRef(run=entry.run_id, msg=model.message_id))
    frame = modal("Failed sync", blocks, callback_id=ViewId.DETAILS, private_metadata=metadata)
    used = view_size(frame) or 0
    blocks += _error_blocks(
        entry,
        blocks_left=MAX_VIEW_BLOCKS - len(blocks) - 1,  # one kept for the "+N more" footer
        bytes_left=VIEW_BYTES - _BYTES_HEADROOM - used,
    )
    return modal("Failed sync", blocks, callback_id=ViewId.DETAILS, private_metadata=metadata)
