"""Views: the modals of views.open/push/update and the Home tab of views.publish."""

from __future__ import annotations

from collections.abc import Mapping

from blocks.limits import (
    CALLBACK_ID,
    EXTERNAL_ID,
    MAX_VIEW_BLOCKS,
    MODAL_TITLE,
    PRIVATE_METADATA,
    VIEW_BYTES,
    view_size,
)
from syncbot_sandbox.blockkit.layout import BlockChecker

__all__ = ["view_problems"]


def view_problems(view: object) -> list[str]:
    """Every way a modal or Home tab view breaks Slack's limits; empty if none."""
    check = BlockChecker()
    if not isinstance(view, Mapping):
        return ["view: must be an object"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.fail("type", "must be modal or home")
    if kind == "modal":
        check.text(view.get("title"), "title", MODAL_TITLE, plain_only=True)
    for key in ("submit", "close"):
        check.text(view.get(key), key, MODAL_TITLE, plain_only=True, required=False)
    check.string(view.get("callback_id"), "callback_id", CALLBACK_ID)
    check.string(view.get("external_id"), "external_id", EXTERNAL_ID)
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > PRIVATE_METADATA):
        check.fail("private_metadata", f"must be a string of at most {PRIVATE_METADATA} characters")
    blocks = check.blocks(view.get("blocks"), "blocks", MAX_VIEW_BLOCKS, least=1)
    has_input = any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and has_input and "submit" not in view:
        check.fail("submit", "a modal with input blocks needs a submit button")
    size = view_size(view)
    if size is None:
        check.fail("view", "is not JSON-serialisable")
    elif size > VIEW_BYTES:
        check.fail("view", f"{size} bytes of JSON > {VIEW_BYTES}")
    return check.problems
