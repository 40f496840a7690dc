"""The one registry of action_id, callback_id and command values shared by blocks/ and bot/."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ACTING_ACTIONS", "ACTING_VIEWS", "Action", "Command", "ViewId"]


class Action(StrEnum):
    """action_id of every interactive element syncbot sends."""

    DETAILS = "entry_details"
    RESYNC = "entry_resync"
    RESYNC_ANYWAY = "entry_resync_anyway"
    OPEN_IN_PATCHWORKS = "open_in_patchworks"
    BULK_SELECT = "bulk_select"
    BULK_RESYNC_SELECTED = "bulk_resync_selected"
    BULK_RESYNC_ALL = "bulk_resync_all"
    BULK_CANCEL = "bulk_cancel"
    CAUSE_RESYNC_ALL = "cause_resync_all"
    CAUSE_TAKE = "cause_take"  # "I'm on it"
    CAUSE_HAND_BACK = "cause_hand_back"
    CAUSE_SNOOZE = "cause_snooze"  # a static_select: 1 h, 4 h, until 09:00 tomorrow, 1 week
    CAUSE_UNSNOOZE = "cause_unsnooze"
    FLOW_SNOOZE = "flow_snooze"  # Details' "Snooze this flow" static_select
    FLOW_UNSNOOZE = "flow_unsnooze"
    LIST_PREV = "list_prev"  # Previous and Next share one actions block, so distinct ids
    LIST_NEXT = "list_next"
    SHOW_ALL = "digest_show_all"
    HOME_OPEN_DIGEST = "home_open_digest"  # a link to a cause's digest: only acked
    HOME_LIST = "home_list"  # App Home's "List failed syncs": the first page of /failed-syncs


class ViewId(StrEnum):
    """callback_id of every modal syncbot opens."""

    DETAILS = "details_modal"
    BULK_CONFIRM = "bulk_confirm_modal"


# Acting ids: the controls that change something in Patchworks (a resync), or open the one step
# before it, and those that change who handles a cause or when it alerts ("I'm on it", snoozing
# a cause or a flow).
# Only users allowed to resync may use them; bot/handlers/authorize.py checks every one of them,
# for every click and submission, before any listener runs. Every other id only reads (Details,
# paging, the bulk selection, links) and stays open to everyone in the channel.
# A new id that changes something belongs here: tests/faults/test_authz.py clicks every Action
# and submits every ViewId as a user who may not resync, and fails if a retry gets through.
ACTING_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.RESYNC,
        Action.RESYNC_ANYWAY,
        Action.BULK_RESYNC_SELECTED,
        Action.BULK_RESYNC_ALL,
        Action.BULK_CANCEL,  # stopping someone's bulk resync is acting on it too
        Action.CAUSE_RESYNC_ALL,
        # Taking a cause and snoozing it are open to the same users as resyncing (the allow-list).
        Action.CAUSE_TAKE,
        Action.CAUSE_HAND_BACK,
        Action.CAUSE_SNOOZE,
        Action.CAUSE_UNSNOOZE,
        Action.FLOW_SNOOZE,
        Action.FLOW_UNSNOOZE,
    }
)
ACTING_VIEWS: frozenset[ViewId] = frozenset({ViewId.BULK_CONFIRM})


class Command(StrEnum):
    """Slash commands declared in manifest.yml."""

    FAILED_SYNCS = "/failed-syncs"
