"""Bulk resync: the select-and-buttons row, its confirmation modal and the thread summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from blocks.elements import (
    Block,
    actions,
    button,
    context,
    line_sections,
    modal,
    plain_text,
    seal,
    section,
    verbatim,
)
from blocks.entry import counts_text, flow_counts, offers_resync, run_label, unique_runs
from blocks.ids import Action, ViewId
from blocks.limits import MAX_OPTIONS, OPTION_TEXT, SECTION_TEXT
from blocks.model import BulkPlan, BulkProgress, DigestItem, JobState, Skipped
from blocks.text import first_line, one_line, plain, truncate, user_mention
from blocks.values import MAX_RUNS, BulkRef, InvalidValue, JobRef, decode_run_option, encode
from bot.patchworks.models import SyncEntry

__all__ = [
    "build_bulk_confirm_modal",
    "build_bulk_summary",
    "bulk_actions",
    "bulk_progress",
    "selected_runs",
    "skipped_text",
]

# Entries listed by name in the confirmation modal; the rest are counted.
_LISTED = 40
_IDS_PER_REASON = 5
_REASONS = 8


def bulk_actions(
    items: Sequence[DigestItem],
    *,
    message_id: int | None,
    listing: BulkRef | None = None,
    total: int = 0,
    every: bool = True,
) -> Block | None:
    """Select-entries menu plus "Resync selected…" and "Resync all…", if anything is resyncable.

    Both buttons open a confirmation modal server-side, so they carry no confirm dialog.
    "Resync all…" carries the run ids it covers; "Resync selected…" reads the selection from
    the payload's state (see `selected_runs`).
    """
    offered = [item.entry for item in unique_runs(items) if offers_resync(item)][:MAX_OPTIONS]
    if not offered:
        return None
    options = [
        {
            "text": plain_text(plain(_option_label(entry), OPTION_TEXT)),
            "value": str(entry.run_id),
        }
        for entry in offered
    ]
    select = {
        "type": "multi_static_select",
        "action_id": Action.BULK_SELECT,
        "placeholder": plain_text("Select entries to resync"),
        "options": options,
    }
    selected = button(
        "Resync selected…",
        Action.BULK_RESYNC_SELECTED,
        value=encode(BulkRef(msg=message_id)),
        accessibility_label="Resync the selected entries",
    )
    if listing is not None and total > len(items):
        # More pages: "all" means every failure the listing matches, not just this page's.
        all_button = button(
            f"Resync all {total}…",
            Action.BULK_RESYNC_ALL,
            value=encode(listing),
            accessibility_label=f"Resync all {total} failed syncs this listing matches, on every page",
        )
    else:
        all_button = button(
            "Resync all…",
            Action.BULK_RESYNC_ALL,
            value=encode(BulkRef(msg=message_id, runs=tuple(entry.run_id for entry in offered))),
            accessibility_label=f"Resync all {len(offered)} resyncable entries shown",
        )
    return actions(select, selected, *([all_button] if every else []), key="bulk")


def _option_label(entry: SyncEntry) -> str:
    parts = [run_label(entry.run_id)]
    if entry.reference and one_line(entry.reference):
        parts.append(one_line(entry.reference)[:30])
    parts.append(one_line(entry.flow_name))
    return " · ".join(parts)


def selected_runs(state_values: object) -> tuple[int, ...]:
    """Run ids chosen in the bulk select, from a payload's `state.values`, in order, deduplicated.

    The select's block_id changes with every update, so it is found by its action_id. No select
    or no selection gives (); an option value syncbot did not write (not a run id, out of
    range) raises InvalidValue, so a forged selection is refused whole, never half-run.
    """
    runs: dict[int, None] = {}
    blocks = state_values.values() if isinstance(state_values, Mapping) else ()
    for block in blocks:
        chosen = block.get(Action.BULK_SELECT) if isinstance(block, Mapping) else None
        options = chosen.get("selected_options") if isinstance(chosen, Mapping) else None
        if options is not None and not isinstance(options, list):
            raise InvalidValue("selected_options is not a list")
        for option in options or ():
            value = option.get("value") if isinstance(option, Mapping) else None
            runs[decode_run_option(value)] = None
            if len(runs) > MAX_RUNS:
                raise InvalidValue("more options than the select offers")
    return tuple(runs)


def skipped_text(skipped: Sequence[Skipped]) -> str:
    """`2 skipped: already retried (runs 1, 2) · flow is disabled (run 3)`, bounded, for plain_text.

    The reasons are shown as written (escaped for plain_text only, never for mrkdwn).
    """
    by_reason: dict[str, list[int]] = {}
    for item in skipped:
        by_reason.setdefault(one_line(item.reason) or "not allowed", []).append(item.entry.run_id)
    parts = []
    for reason, runs in list(by_reason.items())[:_REASONS]:
        ids = ", ".join(str(run) for run in runs[:_IDS_PER_REASON])
        more = f" +{len(runs) - _IDS_PER_REASON} more" if len(runs) > _IDS_PER_REASON else ""
        parts.append(f"{plain(reason, 150)} ({'run' if len(runs) == 1 else 'runs'} {ids}{more})")
    if len(by_reason) > _REASONS:
        parts.append(f"+{len(by_reason) - _REASONS} other reasons")
    return f"{len(skipped)} skipped: " + " · ".join(parts)


def build_bulk_confirm_modal(plan: BulkPlan) -> Block:
    """The modal that asks before a bulk resync runs: how many, which, and what is skipped.

    Its metadata names the proposed job (the runs stay in the store, so there is no cap on how
    many). With nothing to resync, or no job, it has no submit button.
    """
    chosen = list({entry.run_id: entry for entry in plan.to_resync}.values()) if plan.job_id else []
    metadata = encode(JobRef(job=plan.job_id)) if plan.job_id else ""
    blocks: list[Block] = []
    if not chosen:
        blocks.append(section("*Nothing to resync.* None of these entries can be resynced now.", key="intro"))
    else:
        intro = (
            f"*Resync {len(chosen)} {'entry' if len(chosen) == 1 else 'entries'}?* Each is checked "
            "again right before it runs; Patchworks queues one new run per entry. Progress shows "
            "in the message and a summary follows."
        )
        blocks.append(section(intro, key="intro"))
        blocks.append(context(verbatim(counts_text(flow_counts(chosen), top=10), 2000), key="flows"))
        lines = [_entry_line(entry) for entry in chosen[:_LISTED]]
        if len(chosen) > _LISTED:
            lines.append(f"+{len(chosen) - _LISTED} more")
        blocks += line_sections(lines, key="list", as_plain=True)
    if plan.skipped:
        blocks.append(section(plain_text(skipped_text(plan.skipped), emoji=False), key="skipped"))
    return modal(
        "Resync entries",
        blocks,
        callback_id=ViewId.BULK_CONFIRM,
        private_metadata=metadata,
        submit=f"Resync {len(chosen)}" if chosen else None,
        close="Cancel" if chosen else "Close",
    )


def bulk_progress(progress: BulkProgress) -> list[Block]:
    """The job's line in its digest: "⏳ 120/200 queued · 3 skipped" and Cancel while it runs."""
    counts = [f"{progress.queued}/{progress.total} queued"]
    if progress.skipped:
        counts.append(f"{progress.skipped} skipped")
    if progress.failed:
        counts.append(f"{progress.failed} failed")
    who = user_mention(progress.by_user)
    if progress.state is JobState.RUNNING:
        line = f"⏳ Bulk resync by {who}: " + " · ".join(counts)
        cancel = button(
            "Cancel",
            Action.BULK_CANCEL,
            value=encode(JobRef(job=progress.job_id)),
            accessibility_label="Cancel the bulk resync: entries not yet resynced stay as they are",
        )
        return [section(line, key="bulk-progress", accessory=cancel)]
    if progress.state is JobState.CANCELLED:
        by = user_mention(progress.cancelled_by) if progress.cancelled_by else "someone"
        left = progress.total - progress.done
        line = f"⏹️ Bulk resync by {who}, cancelled by {by}: " + " · ".join(counts)
        line += f" · {left} not resynced" if left > 0 else ""
        return [context(line, key="bulk-progress")]
    return [context(f"✅ Bulk resync by {who} finished: " + " · ".join(counts), key="bulk-progress")]


def _entry_line(entry: SyncEntry) -> str:
    """`• run 1 · #1045 · Flow name`, reference and flow as written (escaped for plain_text)."""
    reference = one_line(entry.reference or "")
    shown = f" · {plain(reference, 30)}" if reference else ""
    return f"• {run_label(entry.run_id)}{shown} · {plain(one_line(entry.flow_name), 60)}"


def build_bulk_summary(
    queued: Sequence[tuple[SyncEntry, int | None]],
    skipped: Sequence[Skipped],
    failed: Sequence[tuple[SyncEntry, str]],
    by_user: str,
    *,
    cancelled_by: str | None = None,
    not_run: int = 0,
) -> tuple[str, list[Block]]:
    """The one thread reply after a bulk resync: `18 queued, 2 skipped: …, 1 failed: …` by whom."""
    who = user_mention(by_user)
    head = f"Bulk resync by {who}"
    if cancelled_by is not None:
        head += f", cancelled by {user_mention(cancelled_by)}"
    counts = [f"{len(queued)} queued"]
    # Why entries were skipped or failed is Patchworks' text (or quotes it): plain_text, verbatim.
    why = []
    if skipped:
        counts.append(f"{len(skipped)} skipped")
        why.append(skipped_text(skipped))
    if failed:
        counts.append(f"{len(failed)} failed")
        reasons = dict.fromkeys(plain(first_line(reason) or "unknown error", 120) for _, reason in failed)
        shown = "; ".join(list(reasons)[:3]) + ("; …" if len(reasons) > 3 else "")
        why.append(f"{len(failed)} failed: {shown}")
    if not_run:
        counts.append(f"{not_run} not resynced")
    summary = f"{head}: " + ", ".join(counts)
    text = f"{head}: {len(queued)} queued, {len(skipped)} skipped, {len(failed)} failed"
    text += f", {not_run} not resynced" if not_run else ""
    lines = [
        f"• {run_label(entry.run_id)} → {run_label(new)} queued"
        if new
        else f"• {run_label(entry.run_id)} queued"
        for entry, new in queued[:20]
    ]
    if len(queued) > 20:
        lines.append(f"+{len(queued) - 20} more queued")
    lines += [
        f"• {run_label(entry.run_id)} failed: {plain(first_line(reason) or 'unknown error', 150)}"
        for entry, reason in failed[:10]
    ]
    if len(failed) > 10:
        lines.append(f"+{len(failed) - 10} more failed")
    blocks = [section(truncate(summary, SECTION_TEXT), key="summary")]
    if why:
        blocks.append(section(plain_text(truncate("\n".join(why), SECTION_TEXT), emoji=False), key="why"))
    blocks += line_sections(lines, key="runs", as_plain=True)
    return text, seal(blocks)
