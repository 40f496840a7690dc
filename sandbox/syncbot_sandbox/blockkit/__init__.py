"""Slack's Block Kit rules as a checker of whole messages and views, for the local Slack (which
rejects what Slack would reject) and for tests.

It enforces every rule of the project's Slack checklist that can be read off a payload (docs:
shared/reference/slack.md, "Checklist") against the limits in `blocks.limits`, which the builders
fit to. It reports problems instead of raising and copes with malformed input: an empty list
means valid. Lengths are counted in code points, as the vendored JSON schema does; the visible
text budget is counted by `blocks.limits.visible_text_length`.
"""

from __future__ import annotations

from syncbot_sandbox.blockkit.messages import message_problems
from syncbot_sandbox.blockkit.views import view_problems

__all__ = ["message_problems", "view_problems"]
