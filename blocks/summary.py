"""The daily summary a channel receives at SYNCBOT_SUMMARY_AT: the last 24 hours in one message.

Failures, resyncs by outcome and their success rate, the top causes, the oldest failure still
unresolved, who is on which cause ("I'm on it"), and the snoozes ending in the next 24 hours.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from blocks.elements import Block, context, divider, header, line_sections, seal, section, verbatim
from blocks.model import FlowSnoozeView
from blocks.snooze import snooze_lines
from blocks.text import escaped, link, one_line, slack_date, truncate, user_mention

__all__ = [
    "OWNERS_SHOWN",
    "TOP_CAUSES",
    "OldestFailure",
    "SummaryCause",
    "SummaryModel",
    "SummaryOwner",
    "SummarySnooze",
    "build_summary",
]

TOP_CAUSES = 5
SNOOZES_SHOWN = 10
# One line each; more would push the message towards its 50 blocks and bury the figures.
OWNERS_SHOWN = 10
_EXAMPLE_CHARS = 300
_OUTCOMES = (("ok", "✅ OK"), ("failed", "❌ failed again"), ("queued", "⏳ queued"), ("error", "⚠️ refused"))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SummaryCause(_Frozen):
    """A cause with its failures of the last 24 hours."""

    cause_id: str
    example: str  # untrusted
    flow: str = ""  # untrusted
    runs: int


class SummarySnooze(_Frozen):
    """A snooze ending soon."""

    cause_id: str
    example: str = ""  # untrusted
    until: datetime
    by_user: str | None = None


class SummaryOwner(_Frozen):
    """A cause someone took ("I'm on it")."""

    cause_id: str
    owner: str  # Slack user ID
    since: datetime | None = None
    example: str = ""  # untrusted
    flow: str = ""  # untrusted


class OldestFailure(_Frozen):
    """The oldest failure still unresolved."""

    run_id: int
    flow: str  # untrusted
    started_at: datetime
    url: str | None = None


class SummaryModel(_Frozen):
    """Everything one channel's daily summary shows."""

    day: str  # YYYY-MM-DD in SYNCBOT_TIMEZONE
    since: datetime
    failures: int = 0
    resyncs: tuple[tuple[str, int], ...] = ()  # (ResyncOutcome value, count) over the 24 hours
    top_causes: tuple[SummaryCause, ...] = ()
    oldest: OldestFailure | None = None
    snoozes_ending: tuple[SummarySnooze, ...] = ()
    flow_snoozes_ending: tuple[FlowSnoozeView, ...] = ()  # flows snoozed from Details
    owners: tuple[SummaryOwner, ...] = ()  # longest-held first
    owners_total: int = 0  # all the channel's owned causes; `owners` may hold only the first few

    @property
    def resync_total(self) -> int:
        return sum(count for _, count in self.resyncs)

    @property
    def success_rate(self) -> float | None:
        """OK out of the resyncs that ended (OK or failed again); None when none ended."""
        counts = dict(self.resyncs)
        ended = counts.get("ok", 0) + counts.get("failed", 0)
        return None if ended == 0 else counts.get("ok", 0) / ended


def _resync_line(model: SummaryModel) -> str:
    if not model.resync_total:
        return "*Resyncs:* none"
    counts = dict(model.resyncs)
    counts["queued"] = counts.get("queued", 0) + counts.get("requested", 0)
    parts = [f"{label} {counts[key]}" for key, label in _OUTCOMES if counts.get(key)]
    rate = model.success_rate
    success = f" · success rate {rate:.0%}" if rate is not None else ""
    return f"*Resyncs:* {model.resync_total} ({', '.join(parts)}){success}"


def _owner_sections(model: SummaryModel) -> list[Block]:
    if not model.owners:
        return []
    lines = ["*Who is on what*"]
    for owned in model.owners[:OWNERS_SHOWN]:
        since = f" since {slack_date(owned.since)}" if owned.since is not None else ""
        example = escaped(one_line(owned.example) or one_line(owned.flow) or owned.cause_id, 120)
        lines.append(f"👤 {user_mention(owned.owner)}{since} · {example}")
    more = max(model.owners_total, len(model.owners)) - min(len(model.owners), OWNERS_SHOWN)
    if more > 0:
        lines.append(f"+{more} more")
    return line_sections(lines, key="owners")


def build_summary(model: SummaryModel) -> tuple[str, list[Block]]:
    """The summary message's fallback text and blocks."""
    failures = "1 failed run" if model.failures == 1 else f"{model.failures} failed runs"
    text = f"Daily summary {model.day}: {failures}, {model.resync_total} resyncs"
    blocks: list[Block] = [
        header(f"Daily summary · {model.day}", key="head"),
        context(f"The 24 hours since {slack_date(model.since)}", key="since"),
        section(f"*Failures:* {failures}\n{_resync_line(model)}", key="counts"),
    ]
    if model.top_causes:
        blocks.append(divider(key="d1"))
        blocks.append(section("*Top causes*", key="causes"))
        for index, cause in enumerate(model.top_causes[:TOP_CAUSES]):
            runs = "1 run" if cause.runs == 1 else f"{cause.runs} runs"
            head = f"{runs} · {one_line(cause.flow)}" if cause.flow else runs
            blocks.append(
                section(
                    verbatim(truncate(f"{head}\n{one_line(cause.example)}", _EXAMPLE_CHARS)),
                    key=f"cause{index}",
                )
            )
    if model.oldest is not None:
        oldest = model.oldest
        run = link(oldest.url, f"run {oldest.run_id}") if oldest.url else f"run {oldest.run_id}"
        blocks.append(
            section(
                f"*Oldest unresolved failure:* {run} · {escaped(one_line(oldest.flow), 200)}"
                f" · since {slack_date(oldest.started_at)}",
                key="oldest",
            )
        )
    else:
        blocks.append(context("No unresolved failures.", key="oldest"))
    blocks += _owner_sections(model)
    if model.snoozes_ending or model.flow_snoozes_ending:
        causes = [(s.example or s.cause_id, s.until, s.by_user) for s in model.snoozes_ending]
        lines = snooze_lines(causes, model.flow_snoozes_ending, shown=SNOOZES_SHOWN)
        lines.insert(0, "*Snoozes ending in the next 24 hours*")
        blocks += line_sections(lines, key="snoozes")
    return text, seal(blocks)
