"""Who may resync: listed users and members of listed user groups (everyone when none are set)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.slack import SlackClient, SlackError

__all__ = ["Authorizer", "Decision", "Verdict"]

log = logging.getLogger(__name__)

REFUSED_TEXT = (
    "You are not allowed to resync: ask an admin to add you to SYNCBOT_RESYNC_USERS "
    "or one of the user groups in SYNCBOT_RESYNC_GROUPS. Reading is open to everyone."
)
UNVERIFIED_TEXT = (
    "syncbot could not check your membership of the resync user group (Slack said {reason}); "
    "try again in a minute. Nothing was changed."
)


class Verdict(StrEnum):
    """The answer to "may this user resync?"; the values are what the audit log records."""

    ALLOWED = "allowed"
    REFUSED = "refused"
    UNVERIFIED = "unverified"  # membership mattered but could not be read: refused, fail closed


@dataclass(frozen=True)
class Decision:
    """A verdict plus, when membership could not be checked, Slack's error code."""

    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        """True only for ALLOWED: anything else refuses the action."""
        return self.verdict is Verdict.ALLOWED

    @property
    def explanation(self) -> str:
        """What to tell the user who was refused (plain text, escaped by the caller); '' if allowed."""
        match self.verdict:
            case Verdict.ALLOWED:
                return ""
            case Verdict.REFUSED:
                return REFUSED_TEXT
            case Verdict.UNVERIFIED:
                return UNVERIFIED_TEXT.format(reason=self.reason or "nothing")


class Authorizer:
    """Answers "may this user resync?", caching user-group membership for at most `ttl` seconds.

    A member list younger than `ttl` is used as is, so a user removed from a group keeps resync
    rights for at most `ttl` seconds. An older one is re-read; when that fails the action is
    refused as UNVERIFIED (fail closed) rather than trusting the old list.
    """

    def __init__(
        self,
        slack: SlackClient,
        users: Sequence[str],
        groups: Sequence[str],
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._users = frozenset(users)
        self._groups = tuple(groups)
        self._ttl = ttl
        self._clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def open_to_everyone(self) -> bool:
        """True when no users or groups are configured."""
        return not self._users and not self._groups

    async def decide(self, user_id: str) -> Decision:
        """ALLOWED when listed or in a listed group; UNVERIFIED when a group could not be read."""
        if not user_id:
            return Decision(Verdict.REFUSED)
        if self.open_to_everyone or user_id in self._users:
            return Decision(Verdict.ALLOWED)
        unreadable = ""
        for group in self._groups:
            try:
                members = await self._group_members(group)
            except SlackError as exc:
                # Another group may still say yes; only a "no" everywhere else is unverified.
                unreadable = unreadable or exc.error
                continue
            if user_id in members:
                return Decision(Verdict.ALLOWED)
        if unreadable:
            return Decision(Verdict.UNVERIFIED, unreadable)
        return Decision(Verdict.REFUSED)

    async def can_resync(self, user_id: str) -> bool:
        """True when the user is listed or in a listed group (False when that cannot be checked)."""
        return (await self.decide(user_id)).allowed

    async def _group_members(self, group: str) -> frozenset[str]:
        """The group's members, re-read when the cached list is `ttl` old; SlackError if unreadable."""
        now = self._clock()
        cached = self._members.get(group)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            members = frozenset(await self._slack.usergroup_members(group))
        except SlackError as exc:
            # Fail closed: an old list may still name someone who was removed from the group.
            age = "never read" if cached is None else f"last read {now - cached[0]:.0f}s ago"
            log.error(
                "could not read members of user group %s (%s, limit %ss): %s; "
                "resyncs that need it are refused until Slack answers",
                group,
                age,
                f"{self._ttl:g}",
                exc.error,
            )
            raise
        # Stamped with the time the read started, so the list is never used past its ttl.
        self._members[group] = (now, members)
        return members

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.open_to_everyone:
            return (
                "SYNCBOT_RESYNC_USERS and SYNCBOT_RESYNC_GROUPS are not set: "
                "everyone in the channel may resync"
            )
        return f"resync allowed to {len(self._users)} user(s) and {len(self._groups)} user group(s)"
