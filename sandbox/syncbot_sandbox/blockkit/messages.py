"""Messages: what chat.postMessage, chat.update, chat.postEphemeral and response_url accept."""

from __future__ import annotations

from blocks.limits import MAX_MESSAGE_BLOCKS, MESSAGE_TEXT_BUDGET, TOP_LEVEL_TEXT, visible_text_length
from syncbot_sandbox.blockkit.layout import BlockChecker

__all__ = ["message_problems"]


def message_problems(text: object, blocks: object) -> list[str]:
    """Every way a chat.postMessage/chat.update payload breaks Slack's limits; empty if none."""
    check = BlockChecker()
    if not isinstance(text, str) or not text.strip():
        check.fail("text", "top-level text must be present and non-empty")
    else:
        if len(text) > TOP_LEVEL_TEXT:
            check.fail("text", f"{len(text)} characters > {TOP_LEVEL_TEXT}")
        check.words(text, "text")
    check.blocks(blocks, "blocks", MAX_MESSAGE_BLOCKS, least=0)
    # Counted as the builders count it, so what they fit is exactly what passes here.
    visible = visible_text_length(blocks)
    if visible > MESSAGE_TEXT_BUDGET:
        check.fail("blocks", f"{visible} characters of visible text > {MESSAGE_TEXT_BUDGET}")
    return check.problems
