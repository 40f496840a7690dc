"""The one registry of action_id, callback_id and command values shared by blocks/ and bot/."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Action", "Command", "ViewId"]


class Action(StrEnum):
    """action_id of every interactive element syncbot sends."""

    DETAILS = "entry_details"
    RESYNC = "entry_resync"
    RESYNC_ANYWAY = "entry_resync_anyway"
    OPEN_IN_PATCHWORKS = "open_in_patchworks"
    BULK_SELECT = "bulk_select"
    BULK_RESYNC_SELECTED = "bulk_resync_selected"
    BULK_RESYNC_ALL = "bulk_resync_all"
    LIST_PREV = "list_prev"  # Previous and Next share one actions block, so distinct ids
    LIST_NEXT = "list_next"
    SHOW_ALL = "digest_show_all"


class ViewId(StrEnum):
    """callback_id of every modal syncbot opens."""

    DETAILS = "details_modal"
    BULK_CONFIRM = "bulk_confirm_modal"
    RESYNC_ANYWAY = "resync_anyway_modal"


class Command(StrEnum):
    """Slash commands declared in manifest.yml."""

    FAILED_SYNCS = "/failed-syncs"
