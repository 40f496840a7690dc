"""syncbot's App Home: what is open, who owns it, how Patchworks and syncbot are doing.

Open causes by channel (with their counts, owners and snoozes, and a link to each cause's digest),
derived connector health per system, the last and next poll, the Patchworks request budget,
active snoozes, the last resyncs and how they ended, and a button that lists failed syncs the way
`/failed-syncs` does. Always a valid Home view: at most 100 blocks whatever the number of causes
(the rest is summarised as "+N more").
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from blocks.elements import (
    Block,
    actions,
    button,
    context,
    divider,
    header,
    line_sections,
    mrkdwn,
    seal,
    verbatim,
)
from blocks.elements import section as _section
from blocks.ids import Action
from blocks.model import FlowSnoozeView
from blocks.snooze import snooze_lines
from blocks.text import escaped, one_line, slack_date, truncate, user_mention
from bot.patchworks.models import Health, SystemHealth

__all__ = [
    "CAUSES_SHOWN",
    "HomeBudget",
    "HomeCause",
    "HomeModel",
    "HomeResync",
    "archive_url",
    "build_home",
]

# Causes listed (one block each, plus one heading per channel): at most 60 blocks, and the
# frame around them stays well under 20, so the view never nears Slack's 100.
CAUSES_SHOWN = 30
RESYNCS_SHOWN = 10
SNOOZES_SHOWN = 10
HEALTH_SHOWN = 12
_EXAMPLE_CHARS = 280

_OUTCOME_ICONS = {"requested": "⏳", "queued": "⏳", "ok": "✅", "failed": "❌", "error": "⚠️"}
_HEALTH_ICONS = {Health.OPERATIONAL: "🟢", Health.UNREACHABLE: "🔴", Health.AUTH_FAILED: "🔐"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class HomeCause(_Frozen):
    """One open cause as Home lists it; owner and snooze come from the cause's state, if any."""

    cause_id: str
    channel: str
    ts: str | None = None  # its digest message, when posted
    example: str = ""  # the newest run's first error line, untrusted
    flow: str = ""  # the flow with the most open runs, untrusted
    systems: tuple[str, ...] = ()
    open_runs: int = 0
    last_seen: datetime | None = None
    owner: str | None = None  # Slack user ID
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None


class HomeResync(_Frozen):
    """One resync as syncbot recorded it."""

    run_id: int
    new_run_id: int | None = None
    by_user: str
    at: datetime
    outcome: str  # bot.states.ResyncOutcome value


class HomeBudget(_Frozen):
    """The Patchworks request budget now."""

    used: int
    limit: int
    window_seconds: float = 60.0
    paused_until: datetime | None = None


class HomeModel(_Frozen):
    """Everything a user's Home tab shows."""

    now: datetime
    causes: tuple[HomeCause, ...] = ()  # the open causes shown, most open runs first
    open_causes: int = 0  # all open causes, shown or not
    by_channel: tuple[tuple[str, int], ...] = ()  # (channel, open causes), every channel
    snoozes: tuple[HomeCause, ...] = ()  # causes snoozed now, soonest expiry first
    flow_snoozes: tuple[FlowSnoozeView, ...] = ()  # flows snoozed now (from Details), soonest first
    health: tuple[SystemHealth, ...] = ()
    last_poll: datetime | None = None
    next_poll: datetime | None = None
    poll_error: str | None = None
    outage_since: datetime | None = None
    budget: HomeBudget | None = None
    resyncs: tuple[HomeResync, ...] = ()
    list_channel: str | None = None  # where "List failed syncs" shows its answer


def archive_url(channel: str, ts: str) -> str:
    """A message's permalink in the form Slack resolves for any workspace member who can see it."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _status(model: HomeModel) -> list[str]:
    lines = []
    if model.last_poll is not None:
        polled = f"Last poll {slack_date(model.last_poll, '{time}')}"
    else:
        polled = "No poll yet"
    if model.next_poll is not None:
        polled += f" · next {slack_date(model.next_poll, '{time}')}"
    lines.append(polled)
    if model.outage_since is not None:
        lines.append(f"🔴 Patchworks unreachable since {slack_date(model.outage_since)}")
    elif model.poll_error:
        lines.append(f"⚠️ Last poll failed: {escaped(one_line(model.poll_error), 200)}")
    budget = model.budget
    if budget is not None:
        text = f"Patchworks budget: {budget.used}/{budget.limit} requests"
        text += f" in the last {budget.window_seconds:g} s"
        if budget.paused_until is not None and budget.paused_until > model.now:
            text += f" · paused by Patchworks until {slack_date(budget.paused_until, '{time}')}"
        lines.append(text)
    return lines


def _owner_text(cause: HomeCause, now: datetime) -> str:
    parts = [f"owner {user_mention(cause.owner)}" if cause.owner else "no owner"]
    if cause.snoozed_until is not None and cause.snoozed_until > now:
        parts.append(f"💤 until {slack_date(cause.snoozed_until)}")
    return " · ".join(parts)


def _cause_block(cause: HomeCause, index: int, now: datetime) -> Block:
    head = f"{cause.flow} · {' → '.join(cause.systems)}" if cause.systems else cause.flow
    text = f"{one_line(head)}\n{one_line(cause.example)}" if head else one_line(cause.example)
    runs = "1 open run" if cause.open_runs == 1 else f"{cause.open_runs} open runs"
    if cause.last_seen is not None:
        runs += f" · last {slack_date(cause.last_seen)}"
    block = _section(verbatim(truncate(text, _EXAMPLE_CHARS)), key=f"cause{index}")
    block["fields"] = [mrkdwn(f"*{runs}*"), mrkdwn(_owner_text(cause, now))]
    if cause.ts:
        block["accessory"] = button(
            "Open digest",
            Action.HOME_OPEN_DIGEST,
            url=archive_url(cause.channel, cause.ts),
            value=cause.cause_id,
        )
    return block


def _causes(model: HomeModel) -> list[Block]:
    if not model.open_causes:
        return [_section("✅ No open causes: every failure syncbot posted was resynced OK.", key="none")]
    blocks: list[Block] = []
    counts = dict(model.by_channel)
    shown_causes = model.causes[:CAUSES_SHOWN]
    # Channels in the model's order (most open causes first), then any only the causes name.
    channels = list(dict.fromkeys([c for c, _ in model.by_channel] + [c.channel for c in shown_causes]))
    shown = 0
    for c_index, channel in enumerate(channels):
        of_channel = [cause for cause in shown_causes if cause.channel == channel]
        if not of_channel:
            continue
        total = counts.get(channel, len(of_channel))
        label = "1 open cause" if total == 1 else f"{total} open causes"
        blocks.append(_section(f"*<#{escaped(channel, 32)}>* · {label}", key=f"chan{c_index}"))
        for cause in of_channel:
            blocks.append(_cause_block(cause, shown, model.now))
            shown += 1
    hidden = model.open_causes - shown
    if hidden > 0:
        others = ", ".join(
            f"<#{escaped(channel, 32)}> {count}" for channel, count in model.by_channel[:10] if count
        )
        blocks.append(
            context(
                f"+{hidden} more open causes: see the digests in their channels or list them."
                + (f" By channel: {others}" if others else ""),
                key="more",
            )
        )
    return blocks


def _health(model: HomeModel) -> list[Block]:
    if not model.health:
        return [context("Connector health: no failures in the last hour, nothing to report.", key="health")]
    lines = [
        f"{_HEALTH_ICONS.get(item.health, '•')} {escaped(item.system, 60)}: {item.health.value}"
        + (f" ({item.failures} failures)" if item.failures else "")
        for item in model.health[:HEALTH_SHOWN]
    ]
    if len(model.health) > HEALTH_SHOWN:
        lines.append(f"+{len(model.health) - HEALTH_SHOWN} more systems")
    return line_sections(["*Connector health* (derived from the last hour's failures)", *lines], key="health")


def _snoozes(model: HomeModel) -> list[Block]:
    if not model.snoozes and not model.flow_snoozes:
        return [context("Snoozes: none.", key="snoozes")]
    causes = [(c.example or c.cause_id, c.snoozed_until, c.snoozed_by) for c in model.snoozes]
    lines = snooze_lines(causes, model.flow_snoozes, shown=SNOOZES_SHOWN)
    return line_sections(["*Snoozes*", *lines], key="snoozes")


def _resyncs(model: HomeModel) -> list[Block]:
    if not model.resyncs:
        return [context("Resyncs: none yet.", key="resyncs")]
    lines = ["*Last resyncs*"]
    for resync in model.resyncs[:RESYNCS_SHOWN]:
        icon = _OUTCOME_ICONS.get(resync.outcome, "•")
        new = f" → run {resync.new_run_id}" if resync.new_run_id else ""
        lines.append(
            f"{icon} run {resync.run_id}{new} · {escaped(resync.outcome, 16)}"
            f" · {user_mention(resync.by_user)} · {slack_date(resync.at)}"
        )
    return line_sections(lines, key="resyncs")


def build_home(model: HomeModel) -> Block:
    """The Home tab view for views.publish."""
    where = f" in <#{escaped(model.list_channel, 32)}>" if model.list_channel else ""
    blocks: list[Block] = [
        header("syncbot: failed Patchworks syncs", key="head"),
        context(*_status(model), key="status"),
        actions(
            button("List failed syncs", Action.HOME_LIST, value="list", style="primary"),
            key="list",
        ),
        context(
            f"Shows the first page of `/failed-syncs`{where}, only to you. "
            "Type `/failed-syncs help` in any channel for filters.",
            key="listhint",
        ),
        divider(key="d1"),
        header(f"Open causes ({model.open_causes})", key="causes"),
        *_causes(model),
        divider(key="d2"),
        *_health(model),
        *_snoozes(model),
        *_resyncs(model),
    ]
    return {"type": "home", "blocks": seal(blocks)}
