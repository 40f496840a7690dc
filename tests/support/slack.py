"""Reading what the local Slack shows, and forging what Slack would deliver."""

from __future__ import annotations

import re
from typing import Any

from support.harness import CHANNEL, FakeSlack
from syncbot_sandbox.store import Workspace


def digest_messages(workspace: Workspace, channel: str = CHANNEL, *, parts: bool = False) -> list[Any]:
    """Digest messages in the channel, oldest first: the top-level ones, or with `parts` also
    the later parts of each digest, which sit in its thread."""
    return [
        message
        for message in workspace.channel(channel).messages.values()
        if (parts or message.thread_ts is None)
        and (message.metadata or {}).get("event_type") == "syncbot_digest"
    ]


def counted_runs(slack: FakeSlack, channel: str = CHANNEL) -> int:
    """Runs the digests' causes say they hold ("*12 failed runs*", "Resolved · 3 runs")."""
    total = 0
    for message in digest_messages(slack.workspace, channel, parts=True):
        for block in message.blocks:
            text = (block.get("text") or {}).get("text", "")
            if match := re.search(r"^(?:\*(\d+) failed runs?\*|✅ \*Resolved\* · (\d+) runs?)", text):
                total += int(match.group(1) or match.group(2))
    return total


def entry_text(slack: FakeSlack, run_id: int) -> str:
    """The visible text of one entry in whichever digest holds it: its verbatim section and its
    context (run link, state), one text object a line."""
    own = re.compile(rf"[ei]{run_id}:")  # after the key of the cause the entry is shown under
    for message in digest_messages(slack.workspace, parts=True):
        texts = []
        for block in message.blocks:
            if own.search(str(block.get("block_id", ""))):
                objects = [block.get("text") or {}, *block.get("elements", [])]
                texts += [str(obj["text"]) for obj in objects if isinstance(obj.get("text"), str)]
        if texts:
            return "\n".join(texts)
    raise AssertionError(f"run {run_id} is in no digest")


def digest_ts(slack: FakeSlack) -> str:
    """The newest digest message's ts."""
    return str(digest_messages(slack.workspace)[-1].ts)


def shown_runs(slack: FakeSlack) -> list[int]:
    """Run ids that appear as entries (with a Details button) in the channel's digests."""
    runs: list[int] = []
    for message in digest_messages(slack.workspace, parts=True):
        for block in message.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == "entry_details":
                    runs.append(int(re.search(r'"run":(\d+)', element["value"]).group(1)))
    return runs


def forged_click(slack: FakeSlack, user: str, ts: str, action_id: str, value: str) -> dict[str, Any]:
    """A click on `action_id` with `value`, as Slack would deliver it, whatever the message shows:
    a stale button, a tampered value or a control the user was never offered."""
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0SYNCBOT"},
        "api_app_id": "A0SYNCBOT",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "channel": {"id": CHANNEL},
        "trigger_id": slack.workspace.issue_trigger_id(user),
        "response_url": slack.workspace.issue_response_url(CHANNEL, user, ts, base_url=slack.url),
        "state": {"values": {"b": {"bulk_select": {"type": "multi_static_select", "selected_options": []}}}},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }
