"""Small messages: ephemeral notices, outcome replies, outage notices, the resync-anyway prompt.

Text from elsewhere (Patchworks, exceptions, the caller's plain text) is shown verbatim in
plain_text; only syncbot's own words, with its mentions and dates, are mrkdwn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from blocks.elements import Block, actions, button, context, modal, plain_text, seal, section, verbatim
from blocks.entry import run_label
from blocks.ids import Action
from blocks.limits import MODAL_TITLE, SECTION_TEXT
from blocks.model import EntryState, Outcome
from blocks.text import (
    escape_entities,
    escaped,
    first_line,
    one_line,
    plain,
    slack_date,
    truncate,
    user_mention,
    utc_text,
)
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


def _verbatim_message(text: str, key: str) -> tuple[str, list[Block]]:
    """One plain_text section showing `text` as written; it cannot mention, link or restyle."""
    shown = plain(text.strip(), SECTION_TEXT).strip() or "(no message)"
    fallback = truncate(escape_entities(text.strip()), 3000).strip() or "(no message)"
    return fallback, seal([section(plain_text(shown, emoji=False), key=key)])


def notice(text: str) -> tuple[str, list[Block]]:
    """An ephemeral notice shown exactly as `text` reads (plain_text), so it cannot mention or link."""
    return _verbatim_message(text, "notice")


def mrkdwn_notice(text: str) -> tuple[str, list[Block]]:
    """An ephemeral notice from mrkdwn the caller built safely (untrusted parts escaped)."""
    safe = text.strip() or "(no message)"
    return _message(safe, safe, "notice")


def notice_modal(title: str, text: str) -> Block:
    """A modal that only says something (e.g. an error instead of the expected content).

    `title` is syncbot's own and is cut to 24 characters; `text` is shown as written (plain_text).
    """
    body = verbatim(text.strip(), SECTION_TEXT, empty="(no message)")
    return modal(title[:MODAL_TITLE], [section(body, key="notice")])


def mrkdwn_notice_modal(title: str, text: str) -> Block:
    """A notice modal from mrkdwn the caller built safely (untrusted parts escaped, mentions real)."""
    body = text.strip() or "(no message)"
    return modal(title[:MODAL_TITLE], [section(truncate(body, SECTION_TEXT), key="notice")])


def loading_modal(title: str) -> Block:
    """A placeholder opened at once (trigger ids expire in 3 s) and updated when data arrives."""
    return modal(title[:MODAL_TITLE], [section("⏳ Loading…", key="loading")])


def outcome_reply(entry: SyncEntry, outcome: Outcome) -> tuple[str, list[Block]]:
    """Thread reply when a resync changes state, e.g. `✅ Run 123 resynced OK as run 456`.

    A reply quoting Patchworks (failed again, request failed) names no one, so it is plain_text.
    """
    run = run_label(entry.run_id).capitalize()
    new = f" as {run_label(outcome.new_run_id)}" if outcome.new_run_id else ""
    by = user_mention(outcome.by_user) if outcome.by_user else None
    detail = truncate(first_line(outcome.detail or ""), 300)
    match outcome.state:
        case EntryState.OK:
            text = f"✅ {run} resynced OK{new}" + (f" (queued by {by})" if by else "")
        case EntryState.FAILED_AGAIN:
            return _verbatim_message(
                f"❌ {run} failed again{new}" + (f": {detail}" if detail else ""), "outcome"
            )
        case EntryState.QUEUED:
            text = f"⏳ {run} resync queued{new}" + (f" by {by}" if by else "")
        case EntryState.ERROR:
            failed = f"⚠️ Resync of {run_label(entry.run_id)} failed" + (f": {detail}" if detail else "")
            return _verbatim_message(failed, "outcome")
        case _:
            text = f"{run} is failed"
    return _message(text, text, "outcome")


def outage_notice(since: datetime, reason: str) -> tuple[str, list[Block]]:
    """Channel notice that the Patchworks API cannot be reached; the error follows verbatim."""
    why = truncate(first_line(reason) or "no response", 300)
    tail = "Polling continues; digests resume when it recovers."
    text = f"🔌 Patchworks API unreachable since {slack_date(since)}. {tail}"
    fallback = escape_entities(f"🔌 Patchworks API unreachable since {utc_text(since)}: {why}. {tail}")
    blocks = [section(text, key="outage"), context(verbatim(f"Last error: {why}"), key="why")]
    return truncate(fallback, 3000), seal(blocks)


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


def _health_warning(entry: SyncEntry, health: Sequence[SystemHealth]) -> tuple[str, list[Block]]:
    """(what looks broken, as mrkdwn; the entry and each system's last error, verbatim).

    System names are the known ones syncbot recognises (escaped all the same).
    """
    broken = [item for item in health if item.health is not Health.OPERATIONAL][:5]
    reference = one_line(entry.reference or "")
    which = truncate(one_line(entry.flow_name), 80) + (
        f" (ref {truncate(reference, 40)})" if reference else ""
    )
    about = [verbatim(which, 300)]
    for item in broken:
        evidence = first_line(item.evidence or "")
        if evidence:
            about.append(
                verbatim(f"{one_line(item.system)[:40]}, last error: {truncate(evidence, 200)}", 300)
            )
    if not broken:
        return "No connector problems were detected.", about
    warnings = [
        f"*{escaped(one_line(item.system), 40)}* looks like *{item.health.value}*." for item in broken
    ]
    return " ".join(warnings) + " A resync will probably fail again until it is fixed.", about


def resync_anyway_prompt(
    entry: SyncEntry, health: Sequence[SystemHealth], ref: EntryRef
) -> tuple[str, list[Block]]:
    """Ephemeral warning before a resync likely to fail, with a "Resync anyway" button."""
    warning, about = _health_warning(entry, health)
    anyway = button(
        "Resync anyway",
        Action.RESYNC_ANYWAY,
        value=encode(ref),
        style="danger",
        accessibility_label=f"Resync {run_label(entry.run_id)} anyway",
    )
    run = run_label(entry.run_id).capitalize()
    text = truncate(f"⚠️ *{run}*: {warning}", SECTION_TEXT)
    fallback = truncate(f"⚠️ {run}: {warning}", 3000)
    blocks = [section(text, key="warning"), context(*about, key="about"), actions(anyway, key="anyway")]
    return fallback, seal(blocks)


def joined_reply(runs: int, since: datetime | None, *, held: int = 0) -> tuple[str, list[Block]]:
    """The one thread reply of a poll whose failures joined a digest: "+20 since 10:05", and how
    many of them a snooze held until now (they are not new)."""
    noun = "failure" if runs == 1 else "failures"
    fresh = runs - held
    when = f" since {slack_date(since)}" if since is not None else ""
    when_text = f" since {utc_text(since)}" if since is not None else ""
    if held <= 0:
        text, fallback = f"+{runs} new {noun}{when}", f"+{runs} new {noun}{when_text}"
    elif fresh <= 0:
        text = fallback = f"+{runs} {noun} a snooze held until now"
    else:
        text = f"+{runs} {noun}: {fresh} new{when}, {held} a snooze held until now"
        fallback = f"+{runs} {noun}: {fresh} new{when_text}, {held} a snooze held until now"
    return _message(f"{text}: the digest above is updated.", fallback, "joined")
