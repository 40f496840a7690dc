"""Slack's Block Kit limits as named constants, and the two measures the builders fit to them:
the visible text of a message and the size of a view.

Lengths are counted in code points, as Slack's JSON schema does. "Visible text" (the
undocumented `msg_blocks_too_long` budget) is the text shown without interaction: header,
section text and fields, context text, markdown and rich_text text, button labels, select and
input placeholders, input labels and hints, image and video titles; option lists, confirm
dialogs and accessibility labels are not counted. The checker that enforces all of Slack's rules
on a whole payload is dev tooling and ships with the local Slack, not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

__all__ = [
    "ACCESSIBILITY_LABEL",
    "ACTIONS_ELEMENTS",
    "ACTION_ID",
    "BLOCK_ID",
    "BUTTON_TEXT",
    "BUTTON_URL",
    "BUTTON_VALUE",
    "CALLBACK_ID",
    "CONFIRM_BUTTON",
    "CONFIRM_TEXT",
    "CONFIRM_TITLE",
    "CONTEXT_ELEMENTS",
    "EXTERNAL_ID",
    "FIELD_TEXT",
    "HEADER_TEXT",
    "IMAGE_ALT_TEXT",
    "IMAGE_URL",
    "INPUT_HINT",
    "INPUT_LABEL",
    "MARKDOWN_TOTAL",
    "MAX_CHOICE_OPTIONS",
    "MAX_FIELDS",
    "MAX_MESSAGE_BLOCKS",
    "MAX_OPTIONS",
    "MAX_OPTION_GROUPS",
    "MAX_OVERFLOW_OPTIONS",
    "MAX_VIEW_BLOCKS",
    "MESSAGE_TEXT_BUDGET",
    "MODAL_TITLE",
    "OPTION_DESCRIPTION",
    "OPTION_GROUP_LABEL",
    "OPTION_TEXT",
    "OPTION_VALUE",
    "PLACEHOLDER_TEXT",
    "PRIVATE_METADATA",
    "SECTION_TEXT",
    "TEXT_OBJECT",
    "TOP_LEVEL_TEXT",
    "VIEW_BYTES",
    "view_size",
    "visible_text_length",
]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
TEXT_OBJECT = 3000
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
ACCESSIBILITY_LABEL = 75
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
OPTION_GROUP_LABEL = 75
MAX_OPTIONS = 100
MAX_OPTION_GROUPS = 100
MAX_CHOICE_OPTIONS = 10  # checkboxes and radio buttons
MAX_OVERFLOW_OPTIONS = 5
PLACEHOLDER_TEXT = 150
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
MODAL_TITLE = 24  # also submit and close
PRIVATE_METADATA = 3000
CALLBACK_ID = 255
EXTERNAL_ID = 255
BLOCK_ID = 255
ACTION_ID = 255
INPUT_LABEL = 2000
INPUT_HINT = 2000
IMAGE_ALT_TEXT = 2000
IMAGE_URL = 3000
MARKDOWN_TOTAL = 12_000  # summed over all markdown blocks of one payload
MESSAGE_TEXT_BUDGET = 10_000  # summed visible text per message; Slack fails near 11-13k
TOP_LEVEL_TEXT = 4000
VIEW_BYTES = 250_000  # JSON as slack_sdk sends it (ASCII-escaped), so a safe upper bound

# Elements whose label shows as it is; selects, pickers and inputs show their placeholder instead.
# Images, overflow menus, checkboxes and radio buttons show nothing counted (options are not).
_LABELLED = frozenset({"button", "workflow_button"})
_PLACEHOLDERS = frozenset(
    {
        "static_select",
        "multi_static_select",
        "external_select",
        "multi_external_select",
        "users_select",
        "multi_users_select",
        "conversations_select",
        "multi_conversations_select",
        "channels_select",
        "multi_channels_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
    }
)


def view_size(view: object) -> int | None:
    """Bytes of the view as slack_sdk serialises it (ASCII JSON), or None if it cannot be."""
    try:
        return len(json.dumps(view))
    except (TypeError, ValueError):
        return None


def visible_text_length(blocks: object) -> int:
    """Summed visible text of blocks, as counted against MESSAGE_TEXT_BUDGET; junk counts 0."""
    if not isinstance(blocks, list):
        return 0
    return sum(_block_text(block) for block in blocks)


def _text(obj: object) -> int:
    # A text object counts when it shows something; a malformed one shows nothing.
    if not isinstance(obj, Mapping):
        return 0
    value = obj.get("text")
    return len(value) if isinstance(value, str) and value.strip() else 0


def _element_text(obj: object) -> int:
    if not isinstance(obj, Mapping):
        return 0
    kind = obj.get("type")
    if kind in _LABELLED:
        return _text(obj.get("text"))
    if kind in _PLACEHOLDERS:
        return _text(obj.get("placeholder"))
    return 0


def _rich_text(value: object) -> int:
    if isinstance(value, list):
        return sum(_rich_text(item) for item in value)
    if isinstance(value, Mapping):
        own = value.get("text")
        return (len(own) if isinstance(own, str) else 0) + _rich_text(value.get("elements"))
    return 0


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _block_text(block: object) -> int:
    if not isinstance(block, Mapping):
        return 0
    kind = block.get("type")
    if kind == "section":
        fields = sum(_text(field) for field in _items(block.get("fields")))
        return _text(block.get("text")) + fields + _element_text(block.get("accessory"))
    if kind == "context":
        return sum(
            _text(element)
            for element in _items(block.get("elements"))
            if not (isinstance(element, Mapping) and element.get("type") == "image")
        )
    if kind == "actions":
        return sum(_element_text(element) for element in _items(block.get("elements")))
    if kind == "input":
        return _text(block.get("label")) + _text(block.get("hint")) + _element_text(block.get("element"))
    if kind == "header":
        return _text(block.get("text"))
    if kind in ("image", "video"):
        return _text(block.get("title"))
    if kind == "markdown":
        text = block.get("text")
        return len(text) if isinstance(text, str) else 0
    if kind == "rich_text":
        return _rich_text(block.get("elements"))
    return 0  # divider, file, and types Slack does not know
