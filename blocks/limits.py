"""Slack's Block Kit limits as named constants, and a checker for whole messages and views.

The checker enforces every rule of the project's Slack checklist that can be read off a payload
(docs: shared/reference/slack.md, "Checklist"). It is used by the tests and by the local fake
Slack Web API, which rejects what Slack would reject, so it reports problems instead of raising
and copes with malformed input. An empty list means valid.

Lengths are counted in code points, as the vendored JSON schema does. "Visible text" (the
undocumented `msg_blocks_too_long` budget) is the text shown without interaction: header,
section text and fields, context text, markdown and rich_text text, button labels and select
placeholders; option lists, confirm dialogs and accessibility labels are not counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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
    "FIELD_TEXT",
    "HEADER_TEXT",
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
    "OPTION_TEXT",
    "OPTION_VALUE",
    "PLACEHOLDER_TEXT",
    "PRIVATE_METADATA",
    "SECTION_TEXT",
    "TEXT_OBJECT",
    "TOP_LEVEL_TEXT",
    "VIEW_BYTES",
    "message_problems",
    "view_problems",
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

# Broadcasts and user-group pings; `<!group>` is the legacy spelling of `<!channel>`.
_BROADCAST = re.compile(r"<!(?:here|channel|everyone|group)\b|<!subteam\^", re.IGNORECASE)

_SELECTS = {
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
}
_PICKERS = {"datepicker", "timepicker", "datetimepicker"}
_INPUTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "file_input",
}
_CHOICES = {"checkboxes", "radio_buttons"}
_ACTION_ELEMENTS = {"button", "overflow", "workflow_button"} | _SELECTS | _PICKERS | _CHOICES
_ACCESSORIES = (_ACTION_ELEMENTS - {"datetimepicker"}) | {"image"}
_INPUT_ELEMENTS = _INPUTS | _SELECTS | _PICKERS | _CHOICES
_BLOCK_TYPES = {
    "section",
    "header",
    "context",
    "actions",
    "divider",
    "input",
    "image",
    "markdown",
    "rich_text",
    "file",
    "video",
}
_TEXT_KEYS = {"type", "text", "emoji", "verbatim"}


class _Checker:
    """Walks one payload, collecting problems and the visible text length."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.visible = 0
        self.markdown = 0
        self.block_ids: set[str] = set()

    def fail(self, path: str, what: str) -> None:
        self.problems.append(f"{path}: {what}")

    # -- strings and text objects -------------------------------------------------------------

    def string(self, value: object, path: str, limit: int, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.fail(path, "missing")
            return None
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return None
        if not value:
            self.fail(path, "must not be empty")
        elif len(value) > limit:
            self.fail(path, f"{len(value)} characters > {limit}")
        return value

    def words(self, value: str, path: str) -> None:
        """Text a person reads: no broadcast or user-group pings."""
        if "<!" in value and _BROADCAST.search(value):
            self.fail(path, "contains a raw broadcast or user-group mention")

    def text(
        self,
        obj: object,
        path: str,
        limit: int = TEXT_OBJECT,
        *,
        plain_only: bool = False,
        visible: bool = True,
        required: bool = True,
    ) -> None:
        if obj is None and not required:
            return
        if not isinstance(obj, Mapping):
            self.fail(path, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
            self.fail(path, "must be plain_text" if plain_only else "must be plain_text or mrkdwn")
        if "emoji" in obj and kind != "plain_text":
            self.fail(path, "emoji applies to plain_text only")
        if "verbatim" in obj and kind != "mrkdwn":
            self.fail(path, "verbatim applies to mrkdwn only")
        if extra := set(obj) - _TEXT_KEYS:
            self.fail(path, f"unknown fields {sorted(extra)}")
        value = obj.get("text")
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}.text", "text objects must not be empty")
            return
        if len(value) > limit:
            self.fail(f"{path}.text", f"{len(value)} characters > {limit}")
        self.words(value, f"{path}.text")
        if visible:
            self.visible += len(value)

    # -- composition objects ------------------------------------------------------------------

    def confirm(self, obj: object, path: str) -> None:
        if not isinstance(obj, Mapping):
            self.fail(path, "must be a confirmation dialog object")
            return
        self.text(obj.get("title"), f"{path}.title", CONFIRM_TITLE, plain_only=True, visible=False)
        self.text(obj.get("text"), f"{path}.text", CONFIRM_TEXT, visible=False)
        self.text(obj.get("confirm"), f"{path}.confirm", CONFIRM_BUTTON, plain_only=True, visible=False)
        self.text(obj.get("deny"), f"{path}.deny", CONFIRM_BUTTON, plain_only=True, visible=False)
        self.style(obj, path)

    def style(self, obj: Mapping[str, Any], path: str) -> None:
        if "style" in obj and obj["style"] not in ("primary", "danger"):
            self.fail(f"{path}.style", "must be primary or danger")

    def option(self, obj: object, path: str, *, mrkdwn_ok: bool, url_ok: bool) -> None:
        if not isinstance(obj, Mapping):
            self.fail(path, "must be an option object")
            return
        plain_only = not mrkdwn_ok
        self.text(obj.get("text"), f"{path}.text", OPTION_TEXT, plain_only=plain_only, visible=False)
        self.string(obj.get("value"), f"{path}.value", OPTION_VALUE, required=True)
        self.text(
            obj.get("description"),
            f"{path}.description",
            OPTION_DESCRIPTION,
            plain_only=plain_only,
            visible=False,
            required=False,
        )
        if "url" in obj:
            if url_ok:
                self.string(obj["url"], f"{path}.url", BUTTON_URL)
            else:
                self.fail(f"{path}.url", "only overflow options take a url")

    def options(self, value: object, path: str, most: int, *, mrkdwn_ok: bool, url_ok: bool) -> list[Any]:
        if not isinstance(value, list) or not value:
            self.fail(path, "must be a non-empty list")
            return []
        if len(value) > most:
            self.fail(path, f"{len(value)} options > {most}")
        for i, opt in enumerate(value):
            self.option(opt, f"{path}[{i}]", mrkdwn_ok=mrkdwn_ok, url_ok=url_ok)
        return value

    def initial(self, element: Mapping[str, Any], path: str, offered: list[Any]) -> None:
        for key in ("initial_option", "initial_options"):
            if key not in element:
                continue
            chosen = element[key] if key == "initial_options" else [element[key]]
            if not isinstance(chosen, list) or not chosen:
                self.fail(f"{path}.{key}", "must be a non-empty list")
                continue
            for i, opt in enumerate(chosen):
                if opt not in offered:
                    self.fail(f"{path}.{key}[{i}]", "does not match any option")

    # -- elements -----------------------------------------------------------------------------

    def element(self, obj: object, path: str, allowed: set[str]) -> str | None:
        """Checks one interactive element; returns its action_id."""
        if not isinstance(obj, Mapping):
            self.fail(path, "must be an element object")
            return None
        kind = obj.get("type")
        if kind not in allowed:
            self.fail(f"{path}.type", f"{kind!r} is not allowed here")
            return None
        action_id = self.string(obj.get("action_id"), f"{path}.action_id", ACTION_ID)
        if "confirm" in obj:
            self.confirm(obj["confirm"], f"{path}.confirm")
        if kind == "button":
            self.button(obj, path)
        elif kind == "workflow_button":
            self.text(obj.get("text"), f"{path}.text", BUTTON_TEXT, plain_only=True)
        elif kind == "image":
            self.image(obj, path)
        elif kind == "overflow":
            self.options(
                obj.get("options"), f"{path}.options", MAX_OVERFLOW_OPTIONS, mrkdwn_ok=False, url_ok=True
            )
        elif kind in _CHOICES:
            offered = self.options(
                obj.get("options"), f"{path}.options", MAX_CHOICE_OPTIONS, mrkdwn_ok=True, url_ok=False
            )
            self.initial(obj, path, offered)
        else:
            self.placeholder(obj, path)
            if kind in ("static_select", "multi_static_select"):
                self.static_select(obj, path)
            if "max_selected_items" in obj:
                most = obj["max_selected_items"]
                if not isinstance(most, int) or isinstance(most, bool) or most < 1:
                    self.fail(f"{path}.max_selected_items", "must be an integer >= 1")
        return action_id

    def button(self, obj: Mapping[str, Any], path: str) -> None:
        self.text(obj.get("text"), f"{path}.text", BUTTON_TEXT, plain_only=True)
        self.string(obj.get("value"), f"{path}.value", BUTTON_VALUE)
        self.string(obj.get("url"), f"{path}.url", BUTTON_URL)
        label = self.string(
            obj.get("accessibility_label"), f"{path}.accessibility_label", ACCESSIBILITY_LABEL
        )
        if label:
            self.words(label, f"{path}.accessibility_label")
        self.style(obj, path)

    def placeholder(self, obj: Mapping[str, Any], path: str) -> None:
        if "placeholder" in obj:
            self.text(obj["placeholder"], f"{path}.placeholder", PLACEHOLDER_TEXT, plain_only=True)

    def static_select(self, obj: Mapping[str, Any], path: str) -> None:
        has_options, has_groups = "options" in obj, "option_groups" in obj
        if has_options == has_groups:
            self.fail(path, "needs exactly one of options and option_groups")
            return
        offered: list[Any] = []
        if has_options:
            offered = self.options(
                obj["options"], f"{path}.options", MAX_OPTIONS, mrkdwn_ok=False, url_ok=False
            )
        else:
            groups = obj["option_groups"]
            if not isinstance(groups, list) or not groups:
                self.fail(f"{path}.option_groups", "must be a non-empty list")
                return
            if len(groups) > MAX_OPTION_GROUPS:
                self.fail(f"{path}.option_groups", f"{len(groups)} groups > {MAX_OPTION_GROUPS}")
            for i, group in enumerate(groups):
                where = f"{path}.option_groups[{i}]"
                if not isinstance(group, Mapping):
                    self.fail(where, "must be an option group object")
                    continue
                self.text(
                    group.get("label"), f"{where}.label", OPTION_GROUP_LABEL, plain_only=True, visible=False
                )
                offered += self.options(
                    group.get("options"), f"{where}.options", MAX_OPTIONS, mrkdwn_ok=False, url_ok=False
                )
        self.initial(obj, path, offered)

    def image(self, obj: Mapping[str, Any], path: str) -> None:
        self.string(obj.get("alt_text"), f"{path}.alt_text", IMAGE_ALT_TEXT, required=True)
        if ("image_url" in obj) == ("slack_file" in obj):
            self.fail(path, "needs exactly one of image_url and slack_file")
        self.string(obj.get("image_url"), f"{path}.image_url", IMAGE_URL)

    # -- blocks -------------------------------------------------------------------------------

    def blocks(self, value: object, path: str, most: int, *, least: int) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, "must be a list of blocks")
            return []
        if len(value) < least:
            self.fail(path, f"needs at least {least} block")
        if len(value) > most:
            self.fail(path, f"{len(value)} blocks > {most}")
        for i, block in enumerate(value):
            self.block(block, f"{path}[{i}]")
        if self.markdown > MARKDOWN_TOTAL:
            self.fail(path, f"markdown blocks hold {self.markdown} characters > {MARKDOWN_TOTAL}")
        return value

    def block(self, obj: object, path: str) -> None:
        if not isinstance(obj, Mapping):
            self.fail(path, "must be a block object")
            return
        kind = obj.get("type")
        if kind not in _BLOCK_TYPES:
            self.fail(f"{path}.type", f"unknown block type {kind!r}")
            return
        block_id = self.string(obj.get("block_id"), f"{path}.block_id", BLOCK_ID)
        if block_id is not None:
            if block_id in self.block_ids:
                self.fail(f"{path}.block_id", f"duplicate block_id {block_id!r}")
            self.block_ids.add(block_id)
        getattr(self, f"block_{kind}")(obj, path)

    def block_section(self, obj: Mapping[str, Any], path: str) -> None:
        if "text" not in obj and "fields" not in obj:
            self.fail(path, "a section needs text or fields")
        self.text(obj.get("text"), f"{path}.text", SECTION_TEXT, required=False)
        if "fields" in obj:
            fields = obj["fields"]
            if not isinstance(fields, list) or not fields:
                self.fail(f"{path}.fields", "must be a non-empty list")
            else:
                if len(fields) > MAX_FIELDS:
                    self.fail(f"{path}.fields", f"{len(fields)} fields > {MAX_FIELDS}")
                for i, field in enumerate(fields):
                    self.text(field, f"{path}.fields[{i}]", FIELD_TEXT)
        if "accessory" in obj:
            self.element(obj["accessory"], f"{path}.accessory", _ACCESSORIES)

    def block_header(self, obj: Mapping[str, Any], path: str) -> None:
        self.text(obj.get("text"), f"{path}.text", HEADER_TEXT, plain_only=True)

    def block_context(self, obj: Mapping[str, Any], path: str) -> None:
        elements = obj.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{path}.elements", "must be a non-empty list")
            return
        if len(elements) > CONTEXT_ELEMENTS:
            self.fail(f"{path}.elements", f"{len(elements)} elements > {CONTEXT_ELEMENTS}")
        for i, element in enumerate(elements):
            where = f"{path}.elements[{i}]"
            if isinstance(element, Mapping) and element.get("type") == "image":
                self.image(element, where)
            else:
                self.text(element, where)

    def block_actions(self, obj: Mapping[str, Any], path: str) -> None:
        elements = obj.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{path}.elements", "must be a non-empty list")
            return
        if len(elements) > ACTIONS_ELEMENTS:
            self.fail(f"{path}.elements", f"{len(elements)} elements > {ACTIONS_ELEMENTS}")
        seen: set[str] = set()
        for i, element in enumerate(elements):
            action_id = self.element(element, f"{path}.elements[{i}]", _ACTION_ELEMENTS)
            if action_id is not None:
                if action_id in seen:
                    self.fail(
                        f"{path}.elements[{i}].action_id", f"duplicate action_id {action_id!r} in block"
                    )
                seen.add(action_id)

    def block_divider(self, obj: Mapping[str, Any], path: str) -> None:
        """Dividers carry nothing to check."""

    def block_input(self, obj: Mapping[str, Any], path: str) -> None:
        self.text(obj.get("label"), f"{path}.label", INPUT_LABEL, plain_only=True)
        self.text(obj.get("hint"), f"{path}.hint", INPUT_HINT, plain_only=True, required=False)
        if "element" not in obj:
            self.fail(f"{path}.element", "missing")
        else:
            self.element(obj["element"], f"{path}.element", _INPUT_ELEMENTS)

    def block_image(self, obj: Mapping[str, Any], path: str) -> None:
        self.image(obj, path)
        self.text(obj.get("title"), f"{path}.title", IMAGE_ALT_TEXT, plain_only=True, required=False)

    def block_markdown(self, obj: Mapping[str, Any], path: str) -> None:
        value = self.string(obj.get("text"), f"{path}.text", MARKDOWN_TOTAL, required=True)
        if value:
            self.words(value, f"{path}.text")
            self.markdown += len(value)
            self.visible += len(value)

    def block_rich_text(self, obj: Mapping[str, Any], path: str) -> None:
        self.rich(obj.get("elements"), f"{path}.elements")

    def rich(self, value: object, path: str) -> None:
        """rich_text: count leaf text and refuse broadcast leaves; structure is left to Slack."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.rich(item, f"{path}[{i}]")
        elif isinstance(value, Mapping):
            if value.get("type") == "broadcast":
                self.fail(path, "contains a broadcast mention")
            if isinstance(value.get("text"), str):
                self.visible += len(value["text"])
            self.rich(value.get("elements"), f"{path}.elements")

    def block_file(self, obj: Mapping[str, Any], path: str) -> None:
        """File blocks are Slack-rendered; only the common checks apply."""

    def block_video(self, obj: Mapping[str, Any], path: str) -> None:
        self.text(obj.get("title"), f"{path}.title", 200, plain_only=True)
        self.string(obj.get("alt_text"), f"{path}.alt_text", IMAGE_ALT_TEXT, required=True)


def message_problems(text: object, blocks: object) -> list[str]:
    """Every way a chat.postMessage/chat.update payload breaks Slack's limits; empty if none."""
    check = _Checker()
    if not isinstance(text, str) or not text.strip():
        check.fail("text", "top-level text must be present and non-empty")
    else:
        if len(text) > TOP_LEVEL_TEXT:
            check.fail("text", f"{len(text)} characters > {TOP_LEVEL_TEXT}")
        check.words(text, "text")
    check.blocks(blocks, "blocks", MAX_MESSAGE_BLOCKS, least=0)
    if check.visible > MESSAGE_TEXT_BUDGET:
        check.fail("blocks", f"{check.visible} characters of visible text > {MESSAGE_TEXT_BUDGET}")
    return check.problems


def view_problems(view: object) -> list[str]:
    """Every way a modal or Home tab view breaks Slack's limits; empty if none."""
    check = _Checker()
    if not isinstance(view, Mapping):
        return ["view: must be an object"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.fail("type", "must be modal or home")
    if kind == "modal":
        check.text(view.get("title"), "title", MODAL_TITLE, plain_only=True, visible=False)
    for key in ("submit", "close"):
        check.text(view.get(key), key, MODAL_TITLE, plain_only=True, visible=False, required=False)
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


def view_size(view: object) -> int | None:
    """Bytes of the view as slack_sdk serialises it (ASCII JSON), or None if it cannot be."""
    try:
        return len(json.dumps(view))
    except (TypeError, ValueError):
        return None


def visible_text_length(blocks: object) -> int:
    """Summed visible text of blocks, as message_problems counts it against the budget."""
    check = _Checker()
    check.blocks(blocks, "blocks", MAX_VIEW_BLOCKS, least=0)
    return check.visible
