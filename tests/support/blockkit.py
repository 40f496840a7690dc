"""Validators, factories and inspectors for Block Kit payloads, shared by the builder and scenario tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from blocks.model import DigestItem, EntryState, Outcome
from bot.patchworks.models import ErrorLine, Flow, RunStatus, SyncEntry
from syncbot_sandbox.blockkit import message_problems, view_problems

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "slack-block-kit.schema.json"

NOW = datetime(2026, 11, 27, 10, 32, tzinfo=UTC)
ADMIN = "U0ADMIN42"
APP_URL = "https://app.wearepatchworks.com/flow-runs"

# Untrusted strings that must reach Slack inert.
HOSTILE = [
    "<!channel> deploy now",
    "<!here>",
    "<!everyone>",
    "<@U123> look",
    "<!subteam^S0123|@ops>",
    "<http://x|y>",
    "Tom & Jerry",
    "already escaped &amp; &lt;",
    "\x00\x07ctrl\x1b[31m\r\nnext",
    "emoji 🎉👍🏽 :rotating_light:",
    "مرحبا بالعالم",
    "*bold* _it_ ~strike~ `code`",
    "> quoted\n>>> block quote",
    "\u202eevil\u202c",
]
LONG = "x" * 10_000

# Tokens builders may legitimately emit: the admin's mention, dates and links to our URLs.
_TOKEN = re.compile(r"<([^<>]*)>")
_ALLOWED = re.compile(
    rf"@{ADMIN}|!date\^\d+\^[^|^]+\|[^|]+|{re.escape(APP_URL)}/\d+\|run \d+|{re.escape(APP_URL)}/\d+\|\d+"
    r"|https://app\.wearepatchworks\.com/flow-runs/\d+\|open in Patchworks"
)


def entry(
    run_id: int = 1001,
    *,
    flow: str = "Shopify orders to NetSuite",
    flow_id: int = 7,
    enabled: bool | None = True,
    message: str = "Customer not found for order #1045",
    status: RunStatus = RunStatus.FAILURE,
    reference: str | None = "#1045",
    url: str | None = "default",
    retry_of: int | None = None,
    retried_as: int | None = None,
    errors: tuple[ErrorLine, ...] | None = None,
    trigger: str | None = "Webhook",
    summary: str | None = None,
) -> SyncEntry:
    """A failed entry with sensible defaults."""
    if errors is None:
        errors = (ErrorLine(level="ERROR", message=message, step="NetSuite: create sales order", at=NOW),)
    return SyncEntry(
        run_id=run_id,
        flow=Flow(id=flow_id, name=flow, enabled=enabled),
        status=status,
        trigger=trigger,
        reference=reference,
        summary=summary,
        started_at=NOW,
        finished_at=NOW,
        retry_of=retry_of,
        retried_as=retried_as,
        errors=errors,
        url=f"{APP_URL}/{run_id}" if url == "default" else url,
    )


def item(
    sync_entry: SyncEntry | None = None,
    state: EntryState = EntryState.FAILED,
    *,
    by: str | None = ADMIN,
    new_run: int | None = None,
    detail: str | None = None,
) -> DigestItem:
    """A digest item in the given state."""
    sync_entry = sync_entry or entry()
    if state is EntryState.FAILED:
        return DigestItem(entry=sync_entry)
    outcome = Outcome(state=state, by_user=by, at=NOW, new_run_id=new_run, detail=detail)
    return DigestItem(entry=sync_entry, outcome=outcome)


def strings(payload: Any) -> Iterator[str]:
    """Every string a person may read: values under text-ish keys, anywhere in the payload."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("text", "accessibility_label", "alt_text", "label") and isinstance(value, str):
                yield value
            else:
                yield from strings(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from strings(value)


def all_text(text: str, blocks: Any) -> str:
    """The top-level text and every readable string, joined."""
    return "\n".join([text, *strings(blocks)])


def raw_tokens(text: str, blocks: Any) -> list[str]:
    """`<…>` tokens that are not one of the builders' own mentions, dates or links."""
    return [m.group(0) for m in _TOKEN.finditer(all_text(text, blocks)) if not _ALLOWED.fullmatch(m.group(1))]


def find(blocks: list[dict[str, Any]], predicate: Any) -> list[dict[str, Any]]:
    """Elements (anywhere) for which predicate(element) is true."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if predicate(node):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def buttons(blocks: list[dict[str, Any]], action_id: str | None = None) -> list[dict[str, Any]]:
    """Buttons, optionally with one action_id."""
    return find(
        blocks, lambda n: n.get("type") == "button" and (action_id is None or n.get("action_id") == action_id)
    )


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """The text of each section that has one."""
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


@cache
def block_kit_schema() -> dict[str, Any]:
    """The vendored Block Kit schema (draft 2020-12)."""
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(ref: str | None) -> Draft202012Validator:
    schema = block_kit_schema()
    if ref is not None:
        schema = {"$defs": schema["$defs"], "$ref": ref}
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _explain(blocks: list[dict[str, Any]]) -> list[str]:
    """Validate each block against its own $def: the oneOf union's best match misleads."""
    reasons = []
    for i, block in enumerate(blocks):
        validator = _validator(f"#/$defs/{block.get('type')}_block")
        reasons += [
            f"blocks[{i}]: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(block)
        ]
    return reasons


def assert_valid_message(text: str, blocks: list[dict[str, Any]]) -> None:
    """The message passes limits.message_problems and the Block Kit schema."""
    assert message_problems(text, blocks) == []
    assert _validator(None).is_valid(blocks), "\n".join(_explain(blocks)) or "schema rejected the blocks"


def assert_valid_modal(view: dict[str, Any]) -> None:
    """The modal passes limits.view_problems and the schema's modal_view."""
    assert view_problems(view) == []
    validator = _validator("#/$defs/modal_view")
    if not validator.is_valid(view):
        reasons = _explain(view.get("blocks", []))
        reasons += [e.message for e in validator.iter_errors(view) if e.path and e.path[0] != "blocks"]
        raise AssertionError("\n".join(reasons) or "schema rejected the view")


def assert_valid_home(view: dict[str, Any]) -> None:
    """The Home tab view passes limits.view_problems and the schema's home_view."""
    assert view.get("type") == "home"
    assert view_problems(view) == []
    validator = _validator("#/$defs/home_view")
    if not validator.is_valid(view):
        reasons = _explain(view.get("blocks", []))
        reasons += [e.message for e in validator.iter_errors(view) if e.path and e.path[0] != "blocks"]
        raise AssertionError("\n".join(reasons) or "schema rejected the view")
