"""Checks of text objects, composition objects and interactive elements (the parts every surface
shares), against the limits in `blocks.limits`. Problems are collected, never raised, and junk
never crashes a check: the local Slack answers with them as Slack would."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from blocks.limits import (
    ACCESSIBILITY_LABEL,
    ACTION_ID,
    BUTTON_TEXT,
    BUTTON_URL,
    BUTTON_VALUE,
    CONFIRM_BUTTON,
    CONFIRM_TEXT,
    CONFIRM_TITLE,
    IMAGE_ALT_TEXT,
    IMAGE_URL,
    MAX_CHOICE_OPTIONS,
    MAX_OPTION_GROUPS,
    MAX_OPTIONS,
    MAX_OVERFLOW_OPTIONS,
    OPTION_DESCRIPTION,
    OPTION_GROUP_LABEL,
    OPTION_TEXT,
    OPTION_VALUE,
    PLACEHOLDER_TEXT,
    TEXT_OBJECT,
)

__all__ = [
    "ACCESSORIES",
    "ACTION_ELEMENTS",
    "BLOCK_TYPES",
    "INPUT_ELEMENTS",
    "ElementChecker",
]

# Broadcasts and user-group pings; `<!group>` is the legacy spelling of `<!channel>`.
BROADCAST = re.compile(r"<!(?:here|channel|everyone|group)\b|<!subteam\^", re.IGNORECASE)

SELECTS = {
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
PICKERS = {"datepicker", "timepicker", "datetimepicker"}
INPUTS = {
    "plain_text_input",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "file_input",
}
CHOICES = {"checkboxes", "radio_buttons"}
ACTION_ELEMENTS = {"button", "overflow", "workflow_button"} | SELECTS | PICKERS | CHOICES
ACCESSORIES = (ACTION_ELEMENTS - {"datetimepicker"}) | {"image"}
INPUT_ELEMENTS = INPUTS | SELECTS | PICKERS | CHOICES
BLOCK_TYPES = {
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
TEXT_KEYS = {"type", "text", "emoji", "verbatim"}


class ElementChecker:
    """Walks text, composition objects and interactive elements, collecting problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, what: str) -> None:
        """Record one problem at `path`."""
        self.problems.append(f"{path}: {what}")

    # -- strings and text objects -------------------------------------------------------------

    def string(self, value: object, path: str, limit: int, *, required: bool = False) -> str | None:
        """A string field within `limit` code points; returns it when it is a string."""
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
        if "<!" in value and BROADCAST.search(value):
            self.fail(path, "contains a raw broadcast or user-group mention")

    def text(
        self,
        obj: object,
        path: str,
        limit: int = TEXT_OBJECT,
        *,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        """A text object: plain_text or mrkdwn, non-empty, within `limit`, without broadcasts."""
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
        if extra := set(obj) - TEXT_KEYS:
            self.fail(path, f"unknown fields {sorted(extra)}")
        value = obj.get("text")
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}.text", "text objects must not be empty")
            return
        if len(value) > limit:
            self.fail(f"{path}.text", f"{len(value)} characters > {limit}")
        self.words(value, f"{path}.text")

    # -- composition objects ------------------------------------------------------------------

    def confirm(self, obj: object, path: str) -> None:
        """A confirmation dialog object."""
        if not isinstance(obj, Mapping):
            self.fail(path, "must be a confirmation dialog object")
            return
        self.text(obj.get("title"), f"{path}.title", CONFIRM_TITLE, plain_only=True)
        self.text(obj.get("text"), f"{path}.text", CONFIRM_TEXT)
        self.text(obj.get("confirm"), f"{path}.confirm", CONFIRM_BUTTON, plain_only=True)
        self.text(obj.get("deny"), f"{path}.deny", CONFIRM_BUTTON, plain_only=True)
        self.style(obj, path)

    def style(self, obj: Mapping[str, Any], path: str) -> None:
        """A button or dialog style: primary or danger."""
        if "style" in obj and obj["style"] not in ("primary", "danger"):
            self.fail(f"{path}.style", "must be primary or danger")

    def option(self, obj: object, path: str, *, mrkdwn_ok: bool, url_ok: bool) -> None:
        """One option object."""
        if not isinstance(obj, Mapping):
            self.fail(path, "must be an option object")
            return
        plain_only = not mrkdwn_ok
        self.text(obj.get("text"), f"{path}.text", OPTION_TEXT, plain_only=plain_only)
        self.string(obj.get("value"), f"{path}.value", OPTION_VALUE, required=True)
        self.text(
            obj.get("description"),
            f"{path}.description",
            OPTION_DESCRIPTION,
            plain_only=plain_only,
            required=False,
        )
        if "url" in obj:
            if url_ok:
                self.string(obj["url"], f"{path}.url", BUTTON_URL)
            else:
                self.fail(f"{path}.url", "only overflow options take a url")

    def options(self, value: object, path: str, most: int, *, mrkdwn_ok: bool, url_ok: bool) -> list[Any]:
        """A non-empty list of at most `most` options; returns the list offered."""
        if not isinstance(value, list) or not value:
            self.fail(path, "must be a non-empty list")
            return []
        if len(value) > most:
            self.fail(path, f"{len(value)} options > {most}")
        for i, opt in enumerate(value):
            self.option(opt, f"{path}[{i}]", mrkdwn_ok=mrkdwn_ok, url_ok=url_ok)
        return value

    def initial(self, element: Mapping[str, Any], path: str, offered: list[Any]) -> None:
        """initial_option(s) must be among the options offered."""
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
        elif kind in CHOICES:
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
        """A button: label, value, url, accessibility label, style."""
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
        """A select's or input's placeholder."""
        if "placeholder" in obj:
            self.text(obj["placeholder"], f"{path}.placeholder", PLACEHOLDER_TEXT, plain_only=True)

    def static_select(self, obj: Mapping[str, Any], path: str) -> None:
        """Exactly one of options and option_groups, and initial options among them."""
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
                self.text(group.get("label"), f"{where}.label", OPTION_GROUP_LABEL, plain_only=True)
                offered += self.options(
                    group.get("options"), f"{where}.options", MAX_OPTIONS, mrkdwn_ok=False, url_ok=False
                )
        self.initial(obj, path, offered)

    def image(self, obj: Mapping[str, Any], path: str) -> None:
        """An image element or block: alt text and exactly one source."""
        self.string(obj.get("alt_text"), f"{path}.alt_text", IMAGE_ALT_TEXT, required=True)
        if ("image_url" in obj) == ("slack_file" in obj):
            self.fail(path, "needs exactly one of image_url and slack_file")
        self.string(obj.get("image_url"), f"{path}.image_url", IMAGE_URL)
