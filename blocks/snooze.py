"""The Snooze menu, one for a cause (digest) and for a flow (Details): the same spans, labels and
order everywhere. The times are the server's (bot.handlers.causes.snooze_until)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from blocks.elements import Block, plain_text
from blocks.ids import Action
from blocks.model import FlowSnoozeView
from blocks.text import escaped, one_line, slack_date, user_mention
from blocks.values import SnoozeFor

__all__ = ["SNOOZE_LABELS", "CauseSnooze", "snooze_lines", "snooze_menu"]

# A snoozed cause as a line names it: (its error or id, until, who snoozed it).
CauseSnooze = tuple[str, datetime | None, str | None]

SNOOZE_LABELS = {
    SnoozeFor.HOUR: "1 hour",
    SnoozeFor.FOUR_HOURS: "4 hours",
    SnoozeFor.TOMORROW: "Until 09:00 tomorrow",
    SnoozeFor.WEEK: "1 week",
}


def snooze_menu(action: Action, value_of: Callable[[SnoozeFor], str], placeholder: str) -> Block:
    """A static_select of every span, each option's value made by `value_of`."""
    return {
        "type": "static_select",
        "action_id": action,
        "placeholder": plain_text(placeholder),
        "options": [
            {"text": plain_text(label), "value": value_of(span)} for span, label in SNOOZE_LABELS.items()
        ],
    }


def _line(name: str, until: datetime | None, by_user: str | None, held: int = 0) -> str:
    held_text = f" · {held} held" if held else ""
    by = f" by {user_mention(by_user)}" if by_user else ""
    when = slack_date(until) if until is not None else "?"
    return f"💤 {name}{held_text} · until {when}{by}"


def snooze_lines(causes: Sequence[CauseSnooze], flows: Sequence[FlowSnoozeView], *, shown: int) -> list[str]:
    """mrkdwn lines for snoozed causes then flows (untrusted names escaped), at most `shown` of
    each and a "+N more" for the rest."""
    lines = [_line(escaped(one_line(name), 120), until, by) for name, until, by in causes[:shown]]
    if len(causes) > shown:
        lines.append(f"+{len(causes) - shown} more snoozed causes")
    lines += [
        _line(f"flow “{escaped(one_line(flow.flow), 120)}”", flow.until, flow.by_user, flow.held)
        for flow in flows[:shown]
    ]
    if len(flows) > shown:
        lines.append(f"+{len(flows) - shown} more snoozed flows")
    return lines
