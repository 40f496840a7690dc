"""The one place resync rights are checked: a global middleware for every acting id.

`blocks.ids.ACTING_ACTIONS` and `ACTING_VIEWS` say which clicks and submissions change something
in Patchworks. For those, this middleware asks `services.authz` before any listener runs; a user
who may not resync is audited, told why (only them: an ephemeral answer, or the modal they
clicked in), and the listener never runs. Listeners do not check.

Timing: Bolt answers Slack's HTTP request (or Socket Mode envelope) only when the middleware chain
returns, so `ack()` here sets the answer but does not send it. A button is acked first anyway
(the listener's own ack() later only sets the same empty 200 again), the decision is taken in
line (from memory, or one user-group read when the cached member list is older than
SYNCBOT_GROUP_CACHE_SECONDS), and a refusal's audit line and explanation are written after the
answer, in a task the shutdown waits for. A modal submission is answered with the refusal
itself, so its audit line is written first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_bolt.response import BoltResponse

from blocks.ids import ACTING_ACTIONS, ACTING_VIEWS, Action
from blocks.messages import notice_modal
from blocks.values import BulkRef, EntryRef, InvalidValue, JobRef, decode
from bot.authz import Decision
from bot.handlers._context import services_of, tell, user_of, value_of
from bot.services import Services
from bot.slack import SlackError

__all__ = ["acting_id", "require_resync_rights"]

log = logging.getLogger(__name__)

Body = dict[str, Any]
Next = Callable[[], Awaitable[Any]]


def acting_id(body: Body) -> str | None:
    """The clicked action_id or submitted callback_id when it is an acting one, else None."""
    match body.get("type"):
        case "block_actions":
            actions = body.get("actions")
            first = actions[0] if isinstance(actions, list) and actions else None
            action_id = first.get("action_id") if isinstance(first, dict) else None
            return action_id if isinstance(action_id, str) and action_id in ACTING_ACTIONS else None
        case "view_submission":
            view = body.get("view")
            callback_id = view.get("callback_id") if isinstance(view, dict) else None
            return callback_id if isinstance(callback_id, str) and callback_id in ACTING_VIEWS else None
        case _:
            return None


def _title(view: dict[str, Any]) -> str:
    """The open modal's title, kept for the notice that replaces it."""
    title = view.get("title")
    text = title.get("text") if isinstance(title, dict) else None
    return text if isinstance(text, str) and text else "syncbot"


def _subject(raw: object, acting: str) -> tuple[str, list[int] | int]:
    """(audit action, run ids or the bulk job naming them) from the value the user sent: a resync,
    a bulk resync, or, when the value is not one syncbot wrote, the id itself with no runs."""
    try:
        entry = decode(EntryRef, raw)
    except InvalidValue:
        pass
    else:
        return "resync", [entry.run]
    try:
        job = decode(JobRef, raw)
    except InvalidValue:
        pass
    else:
        return ("bulk_cancel" if acting == Action.BULK_CANCEL else "bulk_resync"), job.job
    try:
        bulk = decode(BulkRef, raw)
    except InvalidValue:
        return acting, []
    return "bulk_resync", list(bulk.runs)


async def _audit_refusal(
    services: Services, user: str, action: str, subject: list[int] | int, decision: Decision
) -> None:
    async with services.store.unit_of_work() as uow:
        runs = subject if isinstance(subject, list) else [run.run_id for run in await uow.jobs.runs(subject)]
        await uow.audit.append(
            user_id=user or "unknown",
            action=action,
            run_ids=runs,
            result=decision.verdict.value,
            detail=decision.reason or None,
        )


async def _explain(services: Services, body: Body, explanation: str) -> None:
    """Tell only the clicker; a click inside a modal has no channel, so the modal says it."""
    view, container = body.get("view"), body.get("container")
    in_modal = isinstance(container, dict) and container.get("type") == "view"
    if in_modal and isinstance(view, dict) and view.get("id"):
        try:
            await services.slack.update_view(str(view["id"]), notice_modal(_title(view), explanation))
        except SlackError as exc:
            log.warning("refusal not shown in the modal: %s", exc.error)
        return
    await tell(services, body, explanation)


async def _refuse_click(services: Services, body: Body, acting: str, decision: Decision) -> None:
    """Audit and explain a refused click, after Slack has its answer (tracked for the shutdown)."""
    services.inflight.track_current()
    action, runs = _subject(value_of(body), acting)
    try:
        await _audit_refusal(services, user_of(body), action, runs, decision)
    finally:
        await _explain(services, body, decision.explanation)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a refused click could not be audited or explained", exc_info=task.exception())


async def require_resync_rights(
    ack: AsyncAck, body: Body, context: AsyncBoltContext, next: Next
) -> BoltResponse | None:
    """Global middleware: an acting click or submission goes on only for users allowed to resync."""
    acting = acting_id(body)
    if acting is None:
        return await next()  # type: ignore[no-any-return]
    services = services_of(context)
    if body.get("type") == "block_actions":
        return await _gate_click(services, ack, body, acting, next)
    return await _gate_submission(services, ack, body, acting, next)


async def _gate_click(
    services: Services, ack: AsyncAck, body: Body, acting: str, next: Next
) -> BoltResponse | None:
    answer = await ack()  # first; the listener acks again later: the same empty 200, harmless
    decision = await services.authz.decide(user_of(body))
    if decision.allowed:
        return await next()  # type: ignore[no-any-return]
    # The task is referenced by the event loop until it starts, then by services.inflight.
    task = asyncio.create_task(_refuse_click(services, body, acting, decision))
    task.add_done_callback(_log_failure)
    return answer


async def _gate_submission(
    services: Services, ack: AsyncAck, body: Body, acting: str, next: Next
) -> BoltResponse | None:
    decision = await services.authz.decide(user_of(body))
    if decision.allowed:
        return await next()  # type: ignore[no-any-return]  # the listener acks
    view = body.get("view")
    view = view if isinstance(view, dict) else {}
    action, runs = _subject(view.get("private_metadata"), acting)
    await _audit_refusal(services, user_of(body), action, runs, decision)
    # The modal itself answers: "not allowed", or "could not check, try again".
    return await ack(response_action="update", view=notice_modal(_title(view), decision.explanation))
