"""One poll cycle: follow queued resyncs, fetch new failures, record them, post digests."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from blocks.digest import CAUSES_PER_MESSAGE
from blocks.messages import joined_reply, outage_notice, recovery_notice
from bot.clock import REPORT_WINDOW, Clock, utcnow
from bot.digests import DigestPublisher
from bot.effects import EffectOutbox
from bot.faults import crash_point
from bot.follow import ResyncFollower
from bot.patchworks.errors import PatchworksError
from bot.patchworks.report import SyncReport
from bot.release import recheck_released
from bot.routes import Router
from bot.slack import SlackClient, SlackError
from bot.store import Store, UnitOfWork
from bot.store.messages import Placed

__all__ = ["PollResult", "Poller"]

log = logging.getLogger(__name__)

OUTAGE_KEY = "patchworks_outage_since"


@dataclass
class PollResult:
    """What one cycle did."""

    fetched: int = 0
    new: int = 0
    messages: int = 0
    joined: int = 0  # new failures added to digests already posted
    followed: int = 0
    reconciled: int = 0
    pruned: int = 0
    fixed_while_snoozed: int = 0  # held by a snooze, found fixed when it ended: not posted
    posted_all: bool = True
    error: str | None = None


class Poller:
    """Turns Patchworks failures into digests, exactly once each."""

    def __init__(
        self,
        report: SyncReport,
        store: Store,
        slack: SlackClient,
        digests: DigestPublisher,
        follower: ResyncFollower,
        effects: EffectOutbox,
        *,
        lookback: timedelta,
        overlap: timedelta,
        max_messages: int,
        reopen: timedelta = timedelta(hours=24),
        router: Router | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._report = report
        self._store = store
        self._slack = slack
        self._digests = digests
        self._follower = follower
        self._effects = effects
        self._lookback = lookback
        self._overlap = overlap
        self._max_messages = max_messages
        self._reopen = reopen
        self._router = router or Router(routes=(), default=digests.channel)
        self._clock = clock

    async def run_once(self) -> PollResult:
        """One full cycle; Patchworks failures are reported once in the channel, not raised."""
        started = self._clock()
        result = PollResult()
        try:
            result.reconciled = await self._follower.reconcile()
            result.followed = await self._follower.follow()
            async with self._store.unit_of_work() as uow:
                watermark = await uow.meta.watermark()
            since = (watermark or started - self._lookback) - self._overlap
            async for page in self._report.failed_pages(since):
                crash_point("after_fetch")
                result.fetched += len(page)
                async with self._store.unit_of_work() as uow:
                    result.new += await uow.entries.add(page, channel_of=self._router.channel_for)
        except PatchworksError as exc:
            result.error = str(exc)
            log.warning("poll failed: %s", exc)
            await self._enter_outage(str(exc))
            # Entries already recorded are still placed and posted below: nothing fetched is lost.
        else:
            # Every failed run since `since` is stored now: the mirror listings read covers it.
            async with self._store.unit_of_work() as uow:
                await uow.meta.extend_mirror(since)
            await self._leave_outage()
        try:
            # What a snooze that ended held back: only what is still failed is placed below.
            result.fixed_while_snoozed = await recheck_released(
                self._store, self._report, held_before=started, now=self._clock()
            )
        except Exception:
            log.exception("could not re-check what snoozes held; placing it as it is")
        async with self._store.unit_of_work(self._clock()) as uow:
            await uow.entries.fill_causes()
            placed = await uow.messages.place_unassigned(
                channel=self._digests.channel,
                poll_id=uuid.uuid4().hex,
                reopen_since=started - self._reopen,
                causes_per_message=CAUSES_PER_MESSAGE,
                max_messages=self._max_messages,
                held_before=started,
            )
            await self._tell_joined(uow, placed, watermark)
            # After placing: nothing waiting to be posted is pruned, nor a recent digest's entries.
            result.pruned = await uow.entries.prune(started - REPORT_WINDOW)
        result.messages = len(placed.new)
        result.joined = sum(placed.joined.values())
        crash_point("after_record")
        result.posted_all = await self._digests.flush()
        # What the resyncs above (and any crash before this poll) left for Slack.
        await self._effects.deliver()
        if result.posted_all and result.error is None:
            async with self._store.unit_of_work() as uow:
                await uow.meta.move_watermark(started)
        log.info(
            "poll: %d failed runs seen, %d new, %d digest messages, %d added to earlier digests, "
            "%d resyncs followed%s",
            result.fetched,
            result.new,
            result.messages,
            result.joined,
            result.followed,
            "" if result.posted_all else " (some digests wait for Slack)",
        )
        return result

    async def _tell_joined(self, uow: UnitOfWork, placed: Placed, since: datetime | None) -> None:
        """Rewrite each digest failures joined, and say so once per digest in its thread."""
        added: dict[int, tuple[int, int]] = {}
        for message_id, runs in placed.joined.items():
            await uow.effects.refresh_later(message_id)
            root = await uow.messages.root(message_id)
            if root is not None:
                total, held = added.get(root.id, (0, 0))
                added[root.id] = (total + runs, held + placed.released.get(message_id, 0))
        for root_id, (runs, held) in added.items():
            text, blocks = joined_reply(runs, since, held=held)
            await uow.effects.reply_later(root_id, text, blocks)

    async def _enter_outage(self, reason: str) -> None:
        since = self._clock()
        async with self._store.unit_of_work() as uow:
            if await uow.meta.get(OUTAGE_KEY) is not None:
                return
            await uow.meta.set(OUTAGE_KEY, since.isoformat())
        text, blocks = outage_notice(since, reason)
        try:
            await self._slack.post_message(self._digests.channel, text, blocks)
        except SlackError as exc:
            log.error("outage notice not posted: %s", exc.error)

    async def _leave_outage(self) -> None:
        async with self._store.unit_of_work() as uow:
            raw = await uow.meta.get(OUTAGE_KEY)
            if raw is None:
                return
            await uow.meta.set(OUTAGE_KEY, None)
        text, blocks = recovery_notice(datetime.fromisoformat(raw), self._clock())
        try:
            await self._slack.post_message(self._digests.channel, text, blocks)
        except SlackError as exc:
            log.error("recovery notice not posted: %s", exc.error)

    async def outage_since(self) -> datetime | None:
        """When Patchworks became unreachable, or None while it answers."""
        async with self._store.unit_of_work() as uow:
            raw = await uow.meta.get(OUTAGE_KEY)
        return None if raw is None else datetime.fromisoformat(raw)
