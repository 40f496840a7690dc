"""Checks of layout blocks, the lists of them that messages and views carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blocks.limits import (
    ACTIONS_ELEMENTS,
    BLOCK_ID,
    CONTEXT_ELEMENTS,
    FIELD_TEXT,
    HEADER_TEXT,
    IMAGE_ALT_TEXT,
    INPUT_HINT,
    INPUT_LABEL,
    MARKDOWN_TOTAL,
    MAX_FIELDS,
    SECTION_TEXT,
)
from syncbot_sandbox.blockkit.elements import (
    ACCESSORIES,
    ACTION_ELEMENTS,
    BLOCK_TYPES,
    INPUT_ELEMENTS,
    ElementChecker,
)

__all__ = ["BlockChecker"]


class BlockChecker(ElementChecker):
    """Walks a list of layout blocks: ids, counts, per-type rules and the markdown total."""

    def __init__(self) -> None:
        super().__init__()
        self.markdown = 0
        self.block_ids: set[str] = set()

    # -- blocks -------------------------------------------------------------------------------

    def blocks(self, value: object, path: str, most: int, *, least: int) -> list[Any]:
        """A list of `least` to `most` blocks and the markdown total; returns the list."""
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
        """One block: known type, unique block_id, then its type's rules."""
        if not isinstance(obj, Mapping):
            self.fail(path, "must be a block object")
            return
        kind = obj.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{path}.type", f"unknown block type {kind!r}")
            return
        block_id = self.string(obj.get("block_id"), f"{path}.block_id", BLOCK_ID)
        if block_id is not None:
            if block_id in self.block_ids:
                self.fail(f"{path}.block_id", f"duplicate block_id {block_id!r}")
            self.block_ids.add(block_id)
        getattr(self, f"block_{kind}")(obj, path)

    def block_section(self, obj: Mapping[str, Any], path: str) -> None:
        """Text or fields (at most 10), and an optional accessory."""
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
            self.element(obj["accessory"], f"{path}.accessory", ACCESSORIES)

    def block_header(self, obj: Mapping[str, Any], path: str) -> None:
        """Plain text within the header limit."""
        self.text(obj.get("text"), f"{path}.text", HEADER_TEXT, plain_only=True)

    def block_context(self, obj: Mapping[str, Any], path: str) -> None:
        """At most 10 text or image elements."""
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
        """At most 25 interactive elements with distinct action_ids."""
        elements = obj.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{path}.elements", "must be a non-empty list")
            return
        if len(elements) > ACTIONS_ELEMENTS:
            self.fail(f"{path}.elements", f"{len(elements)} elements > {ACTIONS_ELEMENTS}")
        seen: set[str] = set()
        for i, element in enumerate(elements):
            action_id = self.element(element, f"{path}.elements[{i}]", ACTION_ELEMENTS)
            if action_id is not None:
                if action_id in seen:
                    self.fail(
                        f"{path}.elements[{i}].action_id", f"duplicate action_id {action_id!r} in block"
                    )
                seen.add(action_id)

    def block_divider(self, obj: Mapping[str, Any], path: str) -> None:
        """Dividers carry nothing to check."""

    def block_input(self, obj: Mapping[str, Any], path: str) -> None:
        """A label, an optional hint and one input element."""
        self.text(obj.get("label"), f"{path}.label", INPUT_LABEL, plain_only=True)
        self.text(obj.get("hint"), f"{path}.hint", INPUT_HINT, plain_only=True, required=False)
        if "element" not in obj:
            self.fail(f"{path}.element", "missing")
        else:
            self.element(obj["element"], f"{path}.element", INPUT_ELEMENTS)

    def block_image(self, obj: Mapping[str, Any], path: str) -> None:
        """An image with an optional plain-text title."""
        self.image(obj, path)
        self.text(obj.get("title"), f"{path}.title", IMAGE_ALT_TEXT, plain_only=True, required=False)

    def block_markdown(self, obj: Mapping[str, Any], path: str) -> None:
        """Markdown text, counted towards the payload's markdown total."""
        value = self.string(obj.get("text"), f"{path}.text", MARKDOWN_TOTAL, required=True)
        if value:
            self.words(value, f"{path}.text")
            self.markdown += len(value)

    def block_rich_text(self, obj: Mapping[str, Any], path: str) -> None:
        """Rich text: its leaves."""
        self.rich(obj.get("elements"), f"{path}.elements")

    def rich(self, value: object, path: str) -> None:
        """rich_text: refuse broadcast leaves; structure is left to Slack."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.rich(item, f"{path}[{i}]")
        elif isinstance(value, Mapping):
            if value.get("type") == "broadcast":
                self.fail(path, "contains a broadcast mention")
            self.rich(value.get("elements"), f"{path}.elements")

    def block_file(self, obj: Mapping[str, Any], path: str) -> None:
        """File blocks are Slack-rendered; only the common checks apply."""

    def block_video(self, obj: Mapping[str, Any], path: str) -> None:
        """A title and alt text."""
        self.text(obj.get("title"), f"{path}.title", 200, plain_only=True)
        self.string(obj.get("alt_text"), f"{path}.alt_text", IMAGE_ALT_TEXT, required=True)
