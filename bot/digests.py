"""Posting digest messages from the outbox and rewriting them in place as entries change."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from blocks.digest import ENTRIES_PER_MESSAGE, build_digest
from blocks.messages import notice
from blocks.model import Digest
from bot.faults import crash_point
from bot.slack import (
    DIGEST_EVENT,
    SlackChannelError,
    SlackClient,
    SlackError,
    SlackGone,
    SlackPayloadError,
    SlackRateLimited,
    SlackUnavailable,
)
from bot.states import MessageState
from bot.store import MessageRow, Store

__all__ = ["HEALTH_WINDOW", "DigestPublisher"]

# Connector health shown beside a cause is derived from the failures of this last stretch.
HEALTH_WINDOW = timedelta(hours=1)

log = logging.getLogger(__name__)

# A later part whose part 1 has no ts yet: it waits (a sentinel no Slack ts can equal).
_NO_THREAD_YET = "no thread yet"


class DigestPublisher:
    """Owns the lifecycle of digest messages: posted to the channel each was routed to."""

    def __init__(self, store: Store, slack: SlackClient, channel: str) -> None:
        self._store = store
        self._slack = slack
        self.channel = channel
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def flush(self) -> bool:
        """Post every unposted digest, oldest first; False when some must wait for a later try."""
        async with self._store.unit_of_work() as uow:
            unposted = await uow.messages.unposted()  # every routed channel's
        for message in unposted:
            if not await self._post(message):
                return False
        return True

    async def _post(self, message: MessageRow) -> bool:
        if message.state is MessageState.POSTING and await self._adopt_earlier_post(message):
            return True
        _, digest = await self._load(message.id)
        if digest is None or not digest.causes:
            await self._unposted(message.id, "digest has no entries", give_up=True)
            return True
        thread_ts = await self._thread_of(message)
        if thread_ts is _NO_THREAD_YET:
            return False
        text, blocks = build_digest(digest)
        async with self._store.unit_of_work() as uow:
            await uow.messages.mark_posting(message.id)
        try:
            ts = await self._slack.post_message(
                message.channel,
                text,
                blocks,
                metadata={"event_type": DIGEST_EVENT, "event_payload": {"digest_id": message.id}},
                thread_ts=thread_ts,
            )
        except SlackPayloadError as exc:
            # Slack will never take this message as it is: park it, say so in the channel.
            log.error(
                "digest %s refused by Slack (%s); its entries stay listed by /failed-syncs",
                message.id,
                exc.error,
            )
            await self._unposted(message.id, exc.error, give_up=True)
            await self._post_plain_fallback(message, exc.error)
            return True
        except (SlackRateLimited, SlackUnavailable) as exc:
            log.warning("digest %s not posted yet (%s); will retry next poll", message.id, exc.error)
            await self._unposted(message.id, exc.error)
            return False
        except SlackChannelError as exc:
            log.error(
                "digest %s cannot be posted to %s: %s. Invite the bot to the channel or fix "
                "SYNCBOT_CHANNEL / SYNCBOT_ROUTES; the digest is kept and posted once the channel works.",
                message.id,
                message.channel,
                exc.error,
            )
            await self._unposted(message.id, exc.error)
            return False
        except SlackError as exc:
            log.error("digest %s not posted: %s; kept for the next poll", message.id, exc.error)
            await self._unposted(message.id, exc.error)
            return False
        crash_point("after_post")
        await self._posted(message.id, ts)
        crash_point("between_posts")
        return True

    async def _thread_of(self, message: MessageRow) -> str | None:
        """Where the message goes: None for part 1 (the channel), part 1's ts for a later part,
        _NO_THREAD_YET while part 1 is not posted (unposted() is oldest first, so it will be)."""
        if message.part <= 1:
            return None
        root = await self._root(message.id)
        if root is None or root.ts is None:
            return _NO_THREAD_YET
        return root.ts

    async def _adopt_earlier_post(self, message: MessageRow) -> bool:
        """A crash may have come after Slack took the post: look for it before posting again."""
        if message.posting_at is None:
            return False
        oldest = (message.posting_at - timedelta(minutes=1)).timestamp()
        # A later part went into the thread of part 1, where the channel's history does not show it.
        thread_ts = await self._thread_of(message)
        if thread_ts is _NO_THREAD_YET:
            return False
        try:
            ts = await self._slack.find_digest(message.channel, message.id, oldest, thread_ts=thread_ts)
        except SlackError as exc:
            log.warning(
                "could not check whether digest %s was already posted (%s); posting it", message.id, exc.error
            )
            return False
        if ts is None:
            return False
        log.info("digest %s was already posted as %s before a restart", message.id, ts)
        await self._posted(message.id, ts)
        return True

    async def _post_plain_fallback(self, message: MessageRow, error: str) -> None:
        text, blocks = notice(
            f"syncbot could not post a digest (Slack said {error}). "
            "Its failed syncs are listed by /failed-syncs."
        )
        try:
            await self._slack.post_message(message.channel, text, blocks)
        except SlackError as exc:
            log.error("fallback notice for digest %s not posted either: %s", message.id, exc.error)

    async def refresh(self, message_id: int) -> bool:
        """Re-render a posted digest from the store and update it in place.

        False when there is nothing to update or Slack says the message is gone for good; any
        other Slack error is raised, so the outbox tries again later.
        """
        async with self._message_lock(message_id):
            message, digest = await self._load(message_id)
            if message is None or message.ts is None or digest is None or not digest.causes:
                return False
            text, blocks = build_digest(digest)
            try:
                await self._slack.update_message(message.channel, message.ts, text, blocks)
            except SlackGone as exc:
                log.warning("digest %s can no longer be updated (%s)", message_id, exc.error)
                return False
            return True

    async def reply(self, message_id: int, text: str, blocks: list[dict[str, object]] | None = None) -> bool:
        """Post a note in the thread of a digest (of its part 1); False when it was never posted."""
        root = await self._root(message_id)
        if root is None or root.ts is None:
            return False
        await self._slack.post_message(root.channel, text, blocks, thread_ts=root.ts)
        return True

    async def _root(self, message_id: int) -> MessageRow | None:
        async with self._store.unit_of_work() as uow:
            return await uow.messages.root(message_id)

    async def _load(self, message_id: int) -> tuple[MessageRow | None, Digest | None]:
        async with self._store.unit_of_work() as uow:
            health = await uow.entries.recent_health(HEALTH_WINDOW)
            digest = await uow.messages.digest(message_id, items=ENTRIES_PER_MESSAGE, health=health)
            return await uow.messages.get(message_id), digest

    async def _posted(self, message_id: int, ts: str) -> None:
        async with self._store.unit_of_work() as uow:
            await uow.messages.mark_posted(message_id, ts)

    async def _unposted(self, message_id: int, error: str, *, give_up: bool = False) -> None:
        async with self._store.unit_of_work() as uow:
            await uow.messages.mark_unposted(message_id, error, give_up=give_up)

    @asynccontextmanager
    async def _message_lock(self, message_id: int) -> AsyncIterator[None]:
        # Two rewrites of one message must not cross (the older render would land last); the
        # lock is dropped when nobody holds or waits for it, so the map stays small.
        lock, users = self._locks.get(message_id, (asyncio.Lock(), 0))
        self._locks[message_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[message_id]
            if users == 1:
                del self._locks[message_id]
            else:
                self._locks[message_id] = (lock, users - 1)
