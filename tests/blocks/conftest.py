"""Validators for generated Block Kit: the in-repo limits checker plus the vendored JSON schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from blocks.limits import message_problems, view_problems

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "slack-block-kit.schema.json"

MessageCheck = Callable[[str, list[dict[str, Any]]], None]
ViewCheck = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="session")
def block_kit_schema() -> dict[str, Any]:
    """The vendored Block Kit schema (draft 2020-12)."""
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def _explain(schema: dict[str, Any], blocks: list[dict[str, Any]]) -> list[str]:
    """Validate each block against its own $def: the oneOf union's best match misleads."""
    reasons = []
    for i, block in enumerate(blocks):
        ref = f"#/$defs/{block.get('type')}_block"
        sub = Draft202012Validator({"$defs": schema["$defs"], "$ref": ref}, format_checker=FormatChecker())
        reasons += [f"blocks[{i}]: {e.message} at {list(e.absolute_path)}" for e in sub.iter_errors(block)]
    return reasons


@pytest.fixture(scope="session")
def assert_valid_message(block_kit_schema: dict[str, Any]) -> MessageCheck:
    """Assert a message passes limits.message_problems and the schema."""
    validator = Draft202012Validator(block_kit_schema, format_checker=FormatChecker())

    def check(text: str, blocks: list[dict[str, Any]]) -> None:
        assert message_problems(text, blocks) == []
        if not validator.is_valid(blocks):
            pytest.fail("\n".join(_explain(block_kit_schema, blocks)) or "schema rejected the blocks")

    return check


@pytest.fixture(scope="session")
def assert_valid_modal(block_kit_schema: dict[str, Any]) -> ViewCheck:
    """Assert a modal passes limits.view_problems and the schema's modal_view."""
    validator = Draft202012Validator(
        {"$defs": block_kit_schema["$defs"], "$ref": "#/$defs/modal_view"}, format_checker=FormatChecker()
    )

    def check(view: dict[str, Any]) -> None:
        assert view_problems(view) == []
        if not validator.is_valid(view):
            reasons = _explain(block_kit_schema, view.get("blocks", []))
            reasons += [e.message for e in validator.iter_errors(view) if e.path and e.path[0] != "blocks"]
            pytest.fail("\n".join(reasons) or "schema rejected the view")

    return check
