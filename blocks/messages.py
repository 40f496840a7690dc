"""Small messages: ephemeral notices, outcome replies, outage notices, the resync-anyway prompt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from blocks.elements import Block, actions, button, modal, seal, section
from blocks.entry import run_label
from blocks.ids import Action
from blocks.limits import MODAL_TITLE, SECTION_TEXT
from blocks.model import EntryState, Outcome
from blocks.text import escape, escaped, first_line, one_line, slack_date, truncate, user_mention, utc_text
from blocks.values import EntryRef, encode
from bot.patchworks.models import Health, SyncEntry, SystemHealth

__all__ = [
    "loading_modal",
    "mrkdwn_notice",
    "notice",
    "notice_modal",
    "outage_notice",
    "outcome_reply",
    "recovery_notice",
    "resync_anyway_prompt",
]


def _message(text: str, fallback: str, key: str) -> tuple[str, list[Block]]:
    """One-section message; `fallback` is the top-level text (no date tokens, for notifications)."""
    return truncate(fallback, 3000), seal([section(truncate(text, SECTION_TEXT), key=key)])


def notice(text: str) -> tuple[str, list[Block]]:
    """An ephemeral notice; all of `text` is escaped, so it cannot mention or link."""
    safe = escape(text).strip() or "(no message)"
    return _message(safe, safe, "notice")


def mrkdwn_notice(text: str) -> tuple[str, list[Block]]:
    """An ephemeral notice from mrkdwn the caller built safely (untrusted parts escaped)."""
    safe = text.strip() or "(no message)"
    return _message(safe, safe, "notice")


def notice_modal(title: str, text: str) -> Block:
    """A modal that only says something (e.g. an error instead of the expected content).

    `title` is syncbot's own and is cut to 24 characters; `text` is escaped.
    """
    body = escape(text).strip() or "(no message)"
    return modal(title[:MODAL_TITLE], [section(truncate(body, SECTION_TEXT), key="notice")])


def mrkdwn_notice_modal(title: str, text: str) -> Block:
    """A notice modal from mrkdwn the caller built safely (untrusted parts escaped, mentions real)."""
    body = text.strip() or "(no message)"
    return modal(title[:MODAL_TITLE], [section(truncate(body, SECTION_TEXT), key="notice")])


def loading_modal(title: str) -> Block:
    """A placeholder opened at once (trigger ids expire in 3 s) and updated when data arrives."""
    return modal(title[:MODAL_TITLE], [section("⏳ Loading…", key="loading")])


def outcome_reply(entry: SyncEntry, outcome: Outcome) -> tuple[str, list[Block]]:
    """Thread reply when a resync changes state, e.g. `✅ Run 123 resynced OK as run 456`."""
    run = run_label(entry.run_id).capitalize()
    new = f" as {run_label(outcome.new_run_id)}" if outcome.new_run_id else ""
    by = user_mention(outcome.by_user) if outcome.by_user else None
    detail = escaped(first_line(outcome.detail or ""), 300)
    match outcome.state:
        case EntryState.OK:
            text = f"✅ {run} resynced OK{new}" + (f" (queued by {by})" if by else "")
        case EntryState.FAILED_AGAIN:
            text = f"❌ {run} failed again{new}" + (f": {detail}" if detail else "")
        case EntryState.QUEUED:
            text = f"⏳ {run} resync queued{new}" + (f" by {by}" if by else "")
        case EntryState.ERROR:
            text = f"⚠️ Resync of {run_label(entry.run_id)} failed" + (f": {detail}" if detail else "")
        case _:
            text = f"{run} is failed"
    return _message(text, text, "outcome")


def outage_notice(since: datetime, reason: str) -> tuple[str, list[Block]]:
    """Channel notice that the Patchworks API cannot be reached."""
    why = escaped(first_line(reason) or "no response", 300)
    tail = f": {why}. Polling continues; digests resume when it recovers."
    return _message(
        f"🔌 Patchworks API unreachable since {slack_date(since)}{tail}",
        f"🔌 Patchworks API unreachable since {utc_text(since)}{tail}",
        "outage",
    )


def _duration(seconds: float) -> str:
    minutes = max(int(seconds // 60), 1)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(part for part in parts if part)


def recovery_notice(down_since: datetime, recovered_at: datetime) -> tuple[str, list[Block]]:
    """Channel notice that the Patchworks API answers again."""
    down = _duration((recovered_at - down_since).total_seconds())
    tail = f" (down for {down}). Digests resume with the next poll."
    return _message(
        f"✅ Patchworks API reachable again at {slack_date(recovered_at)}{tail}",
        f"✅ Patchworks API reachable again at {utc_text(recovered_at)}{tail}",
        "recovery",
    )


def _health_warning(entry: SyncEntry, health: Sequence[SystemHealth]) -> tuple[str, str]:
    """(which entry, what looks broken) as safe mrkdwn."""
    reference = f" (ref {escaped(one_line(entry.reference), 40)})" if entry.reference else ""
    what = (
        f"*{run_label(entry.run_id).capitalize()}* of *{escaped(one_line(entry.flow_name), 80)}*{reference}"
    )
    warnings = [
        f"*{escaped(one_line(item.system), 40)}* looks like *{item.health.value}*"
        + (f" (last error: {escaped(first_line(item.evidence), 200)})" if item.evidence else "")
        + "."
        for item in health
        if item.health is not Health.OPERATIONAL
    ][:5]
    if not warnings:
        return what, "No connector problems were detected."
    return what, " ".join(warnings) + " A resync will probably fail again until it is fixed."


def resync_anyway_prompt(
    entry: SyncEntry, health: Sequence[SystemHealth], ref: EntryRef
) -> tuple[str, list[Block]]:
    """Ephemeral warning before a resync likely to fail, with a "Resync anyway" button."""
    what, warning = _health_warning(entry, health)
    anyway = button(
        "Resync anyway",
        Action.RESYNC_ANYWAY,
        value=encode(ref),
        style="danger",
        accessibility_label=f"Resync {run_label(entry.run_id)} anyway",
    )
    text = truncate(f"⚠️ {what}: {warning}", SECTION_TEXT)
    fallback = truncate(f"⚠️ {run_label(entry.run_id).capitalize()}: {warning}", 3000)
    return fallback, seal([section(text, key="warning"), actions(anyway, key="anyway")])
