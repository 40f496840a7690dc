"""Delivering the Slack effects that units of work wrote: digest rewrites and thread replies.

An effect is written in the same transaction as the state change that causes it, then delivered
here: right away by the process that made the change, and by every poll for whatever a crash or
a Slack outage left behind. Rewrites render the digest from the store as it is at delivery, so
several pending rewrites of one message become one `chat.update`. A reply whose process dies
after Slack took it and before it was marked done is posted again: at least once, never lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from bot.clock import Clock, utcnow
from bot.digests import DigestPublisher
from bot.faults import crash_point
from bot.slack import SlackError, SlackPayloadError
from bot.states import EffectKind, EffectState
from bot.store import EffectRow, Store

__all__ = ["EffectOutbox"]

log = logging.getLogger(__name__)

# Effects taken per round; a round repeats until nothing is pending.
_BATCH = 100
# A claim older than this belongs to a process that died while delivering.
_STALE_CLAIM = timedelta(minutes=2)
# After this many failed deliveries an effect is parked as failed (and logged).
_MAX_ATTEMPTS = 8


class EffectOutbox:
    """Delivers pending Slack effects from the store."""

    def __init__(self, store: Store, digests: DigestPublisher, *, clock: Clock = utcnow) -> None:
        self._store = store
        self._digests = digests
        self._clock = clock

    async def deliver(self) -> int:
        """Deliver every pending effect; returns how many were delivered. Never raises SlackError."""
        delivered = 0
        while True:
            now = self._clock()
            async with self._store.unit_of_work(now) as uow:
                batch = await uow.effects.claim(_BATCH, now - _STALE_CLAIM)
            if not batch:
                return delivered
            delivered += await self._deliver_batch(batch)
            if len(batch) < _BATCH:
                return delivered

    async def _deliver_batch(self, batch: list[EffectRow]) -> int:
        refreshes: dict[int, list[int]] = {}
        for effect in batch:
            if effect.kind is EffectKind.REFRESH:
                refreshes.setdefault(effect.message_id, []).append(effect.id)
        delivered = 0
        for message_id, ids in refreshes.items():
            delivered += await self._attempt(ids, batch, partial(self._digests.refresh, message_id))
        for effect in batch:
            if effect.kind is EffectKind.REPLY:
                body = _reply_body(effect.body)
                send = partial(self._digests.reply, effect.message_id, body["text"], body["blocks"])
                delivered += await self._attempt([effect.id], batch, send)
        return delivered

    async def _attempt(
        self, ids: list[int], batch: list[EffectRow], send: Callable[[], Awaitable[bool]]
    ) -> int:
        attempts = max(effect.attempts for effect in batch if effect.id in ids)
        try:
            await send()
        except SlackPayloadError as exc:
            log.error("Slack will never take effect(s) %s: %s", ids, exc.error)
            await self._finish(ids, EffectState.FAILED, exc.error)
            return 0
        except SlackError as exc:
            give_up = attempts >= _MAX_ATTEMPTS
            log.log(
                logging.ERROR if give_up else logging.WARNING,
                "Slack effect(s) %s not delivered (%s)%s",
                ids,
                exc.error,
                "; giving up" if give_up else "; will try again",
            )
            await self._finish(ids, EffectState.FAILED if give_up else EffectState.PENDING, exc.error)
            return 0
        crash_point("effect_delivered")
        await self._finish(ids, EffectState.DONE)
        return len(ids)

    async def _finish(self, ids: list[int], state: EffectState, error: str | None = None) -> None:
        async with self._store.unit_of_work() as uow:
            await uow.effects.finish(ids, state, error)


def _reply_body(raw: str | None) -> dict[str, Any]:
    body = json.loads(raw or "{}")
    return {"text": str(body.get("text") or ""), "blocks": body.get("blocks")}
