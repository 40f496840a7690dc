"""Who may resync: listed users and members of listed user groups (everyone when none are set)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from bot.slack import SlackClient, SlackError

__all__ = ["Authorizer"]

log = logging.getLogger(__name__)


class Authorizer:
    """Answers "may this user resync?", caching user-group membership briefly."""

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

    async def can_resync(self, user_id: str) -> bool:
        """True when the user is listed or in a listed group."""
        if self.open_to_everyone or user_id in self._users:
            return True
        for group in self._groups:
            if user_id in await self._group_members(group):
                return True
        return False

    async def _group_members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        try:
            members = frozenset(await self._slack.usergroup_members(group))
        except SlackError as exc:
            # Fail closed, but keep the last known list for a while rather than lock everyone out.
            log.warning("could not read members of user group %s: %s", group, exc.error)
            return cached[1] if cached is not None else frozenset()
        self._members[group] = (self._clock(), members)
        return members

    def describe(self) -> str:
        """One line for the start-up log."""
        if self.open_to_everyone:
            return (
                "SYNCBOT_RESYNC_USERS and SYNCBOT_RESYNC_GROUPS are not set: "
                "everyone in the channel may resync"
            )
        return f"resync allowed to {len(self._users)} user(s) and {len(self._groups)} user group(s)"
