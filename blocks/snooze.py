"""The Snooze menu, one for a cause (digest) and for a flow (Details): the same spans, labels and
order everywhere. The times are the server's (bot.handlers.causes.snooze_until)."""

from __future__ import annotations

from collections.abc import Callable

from blocks.elements import Block, plain_text
from blocks.ids import Action
from blocks.values import SnoozeFor

__all__ = ["SNOOZE_LABELS", "snooze_menu"]

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
