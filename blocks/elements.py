"""Small constructors for Block Kit objects, shared by every builder.

Text passed here must already be safe (see text.py); these functions only shape dicts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from blocks.limits import BLOCK_ID, TEXT_OBJECT
from blocks.text import plain, truncate

__all__ = [
    "Block",
    "actions",
    "button",
    "confirm_dialog",
    "context",
    "divider",
    "header",
    "line_sections",
    "modal",
    "mrkdwn",
    "plain_text",
    "seal",
    "section",
    "verbatim",
]

Block = dict[str, Any]


def mrkdwn(text: str) -> Block:
    """A mrkdwn text object; verbatim so Slack does not auto-link names or URLs in it."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str, *, emoji: bool = True) -> Block:
    """A plain_text object."""
    return {"type": "plain_text", "text": text, "emoji": emoji}


def verbatim(text: str, limit: int = TEXT_OBJECT, *, empty: str = "—") -> Block:
    """Untrusted text shown exactly as written: a plain_text object (so no mrkdwn applies) with
    only `&`, `<`, `>` as entities and no `:shortcode:` turned into an emoji; `empty` if blank."""
    text = plain(text, limit)
    return plain_text(text if text.strip() else empty, emoji=False)


def section(text: str | Block, *, key: str, accessory: Block | None = None) -> Block:
    """A section with mrkdwn text (or a given text object) and an optional accessory."""
    block: Block = {
        "type": "section",
        "block_id": key,
        "text": mrkdwn(text) if isinstance(text, str) else text,
    }
    if accessory is not None:
        block["accessory"] = accessory
    return block


def line_sections(lines: list[str], *, key: str, limit: int = 2900, as_plain: bool = False) -> list[Block]:
    """Safe mrkdwn lines packed into as few sections as fit `limit` characters each.

    With `as_plain`, the lines are escaped plain text (see text.plain) and the sections plain_text.
    """
    packed: list[str] = []
    for line in lines:
        line = truncate(line, limit)
        if packed and len(packed[-1]) + 1 + len(line) <= limit:
            packed[-1] += "\n" + line
        else:
            packed.append(line)
    if as_plain:
        return [section(plain_text(text, emoji=False), key=f"{key}{i}") for i, text in enumerate(packed)]
    return [section(text, key=f"{key}{i}") for i, text in enumerate(packed)]


def header(text: str, *, key: str, emoji: bool = True) -> Block:
    """A header block; `text` must already fit 150 characters."""
    return {"type": "header", "block_id": key, "text": plain_text(text, emoji=emoji)}


def context(*texts: str | Block, key: str) -> Block:
    """A context block: strings become mrkdwn texts, text objects (e.g. `verbatim`) stay as given."""
    elements = [mrkdwn(t) if isinstance(t, str) else t for t in texts]
    return {"type": "context", "block_id": key, "elements": elements}


def divider(*, key: str) -> Block:
    """A divider."""
    return {"type": "divider", "block_id": key}


def actions(*elements: Block, key: str) -> Block:
    """An actions block."""
    return {"type": "actions", "block_id": key, "elements": list(elements)}


def button(
    label: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: Block | None = None,
    accessibility_label: str | None = None,
) -> Block:
    """A button; only the given optional fields are set."""
    element: Block = {"type": "button", "action_id": action_id, "text": plain_text(label)}
    optional = {
        "value": value,
        "url": url,
        "style": style,
        "confirm": confirm,
        "accessibility_label": accessibility_label,
    }
    element.update({k: v for k, v in optional.items() if v is not None})
    return element


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Cancel") -> Block:
    """A confirmation dialog; all four texts are plain_text and must already fit."""
    return {
        "title": plain_text(title),
        "text": plain_text(text),
        "confirm": plain_text(confirm),
        "deny": plain_text(deny),
    }


def seal(blocks: list[Block]) -> list[Block]:
    """Suffix every block_id (a key unique in the surface) with a hash of the whole surface.

    Slack asks for new block_ids on each update of a message, or clients may keep stale input
    state; hashing the rendered content changes every id whenever anything shown changes.
    """
    digest = hashlib.blake2s(
        json.dumps(blocks, sort_keys=True, ensure_ascii=False).encode(), digest_size=5
    ).hexdigest()
    suffix = f":{digest}"
    return [{**block, "block_id": block["block_id"][: BLOCK_ID - len(suffix)] + suffix} for block in blocks]


def modal(
    title: str,
    blocks: list[Block],
    *,
    callback_id: str | None = None,
    private_metadata: str | None = None,
    submit: str | None = None,
    close: str = "Close",
) -> Block:
    """A modal view; the titles are fixed strings within 24 characters.

    Modals without a submit button need no callback_id (nothing is submitted).
    """
    view: Block = {
        "type": "modal",
        "title": plain_text(title),
        "close": plain_text(close),
        "blocks": seal(blocks),
    }
    optional = {"callback_id": callback_id, "private_metadata": private_metadata}
    view.update({k: v for k, v in optional.items() if v is not None})
    if submit is not None:
        view["submit"] = plain_text(submit)
    return view
