"""The one wrapper around Slack's Web API: retries, `ok` checks, typed errors and post pacing.

SlackError
├── SlackRateLimited   429 / ratelimited after the retries ran out
├── SlackChannelError  channel_not_found, not_in_channel, is_archived: an operator must act
├── SlackPayloadError  invalid_blocks, msg_too_long, …: our message was refused
├── SlackAuthError     invalid_auth, token_revoked, missing_scope, …
├── SlackGone          message_not_found, cant_update_message: the message is gone
├── SlackTriggerError  expired or used trigger_id
└── SlackUnavailable   network failures and 5xx after the retries ran out
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

__all__ = [
    "OpenView",
    "SlackAuthError",
    "SlackChannelError",
    "SlackClient",
    "SlackError",
    "SlackGone",
    "SlackPayloadError",
    "SlackRateLimited",
    "SlackTriggerError",
    "SlackUnavailable",
    "build_web_client",
]

log = logging.getLogger(__name__)

Block = dict[str, Any]
DIGEST_EVENT = "syncbot_digest"


@dataclass(frozen=True)
class OpenView:
    """A modal as Slack last answered for it: its id, and the hash of that content."""

    id: str
    hash: str | None


def _open_view(data: Mapping[str, Any]) -> OpenView:
    view = data.get("view") or {}
    found = view.get("hash")
    return OpenView(id=str(view["id"]), hash=str(found) if found else None)


class SlackError(Exception):
    """A Slack call that did not succeed; `error` is Slack's code."""

    def __init__(self, method: str, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
        self.retry_after = retry_after


class SlackRateLimited(SlackError):
    """Slack kept rate limiting the call."""


class SlackChannelError(SlackError):
    """The channel cannot receive the bot's messages until an operator fixes it."""


class SlackPayloadError(SlackError):
    """Slack refused what we sent."""


class SlackAuthError(SlackError):
    """The token is wrong, revoked or lacks a scope."""


class SlackGone(SlackError):
    """The message to update no longer exists or cannot be edited."""


class SlackTriggerError(SlackError):
    """The trigger_id expired or was already used."""


class SlackUnavailable(SlackError):
    """Slack could not be reached."""


_ERRORS: dict[str, type[SlackError]] = {
    **dict.fromkeys(("ratelimited", "rate_limited", "message_limit_exceeded"), SlackRateLimited),
    **dict.fromkeys(
        ("channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "restricted_action"),
        SlackChannelError,
    ),
    **dict.fromkeys(
        (
            "invalid_blocks",
            "invalid_blocks_format",
            "msg_too_long",
            "msg_blocks_too_long",
            "no_text",
            "invalid_arguments",
            "view_too_large",
            "invalid_metadata_format",
            "too_many_attachments",
        ),
        SlackPayloadError,
    ),
    **dict.fromkeys(
        ("invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope"),
        SlackAuthError,
    ),
    **dict.fromkeys(("message_not_found", "cant_update_message", "edit_window_closed"), SlackGone),
    **dict.fromkeys(("expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"), SlackTriggerError),
    **dict.fromkeys(
        ("internal_error", "fatal_error", "service_unavailable", "request_timeout"), SlackUnavailable
    ),
}


_FORM_METHODS = frozenset(
    {"conversations.history", "conversations.replies", "usergroups.users.list", "users.info", "auth.test"}
)

# A digest lost in a crash was posted within a minute of being marked, so it sits in the first
# messages since then; the bound keeps a busy channel from costing an unbounded read.
FIND_PAGE_SIZE = 200
FIND_PAGES = 5


def _error_for(method: str, error: str, retry_after: float | None = None) -> SlackError:
    return _ERRORS.get(error, SlackError)(method, error, retry_after=retry_after)


def build_web_client(token: str, base_url: str, *, rate_limit_retries: int = 3) -> AsyncWebClient:
    """An AsyncWebClient with retries for connection errors, 429 (Retry-After) and 5xx."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def _is_digest(message: Mapping[str, Any], digest_id: int) -> bool:
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return bool(meta.get("event_type") == DIGEST_EVENT and payload.get("digest_id") == digest_id)


class SlackClient:
    """Every Slack call syncbot makes goes through here."""

    def __init__(
        self,
        web: AsyncWebClient,
        *,
        post_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.web = web
        self._post_interval = post_interval
        self._clock = clock
        self._sleep = sleep
        self._last_post: dict[str, float] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self.calls = 0
        # Told of every Web API call's method and whether Slack answered ok (metrics).
        self.on_call: Callable[[str, bool], None] = lambda method, ok: None

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self.web.base_url!r})"

    async def _call(self, method: str, **kwargs: Any) -> Mapping[str, Any]:
        self.calls += 1
        # Slack takes JSON bodies on write methods only; read methods get form fields.
        if method in _FORM_METHODS:
            form = {
                key: str(value).lower() if isinstance(value, bool) else value for key, value in kwargs.items()
            }
            call = self.web.api_call(method, data=form)
        else:
            call = self.web.api_call(method, json=kwargs)
        try:
            response = await call
        except SlackApiError as exc:
            self.on_call(method, False)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"http_{exc.response.status_code}")
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            if exc.response.status_code == 429:
                error = "ratelimited"
            elif exc.response.status_code >= 500:
                error = error if error in _ERRORS else "service_unavailable"
            raise _error_for(method, error, float(retry_after) if retry_after else None) from None
        except (SlackClientError, OSError, TimeoutError) as exc:
            self.on_call(method, False)
            raise SlackUnavailable(method, type(exc).__name__) from None
        data = response.data if isinstance(response.data, dict) else {}
        self.on_call(method, bool(data.get("ok")))
        if not data.get("ok"):
            raise _error_for(method, str(data.get("error") or "unknown_error"))
        return data

    async def _paced(self, channel: str) -> asyncio.Lock:
        lock = self._channel_locks.setdefault(channel, asyncio.Lock())
        await lock.acquire()
        wait = self._last_post.get(channel, -1e9) + self._post_interval - self._clock()
        if wait > 0:
            await self._sleep(wait)
        return lock

    async def auth_test(self) -> str:
        """Check the token; returns the bot's user ID."""
        data = await self._call("auth.test")
        return str(data.get("user_id", ""))

    async def post_message(
        self,
        channel: str,
        text: str,
        blocks: Sequence[Block] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Post a message (at most one per `post_interval` per channel); returns its ts."""
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
            "link_names": False,
            "parse": "none",
        }
        if blocks is not None:
            args["blocks"] = list(blocks)
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        if metadata is not None:
            args["metadata"] = dict(metadata)
        lock = await self._paced(channel)
        try:
            data = await self._call("chat.postMessage", **args)
        finally:
            self._last_post[channel] = self._clock()
            lock.release()
        return str(data["ts"])

    async def update_message(self, channel: str, ts: str, text: str, blocks: Sequence[Block]) -> None:
        """Rewrite a message in place; parse and link_names are sent because update resets them."""
        await self._call(
            "chat.update",
            channel=channel,
            ts=ts,
            text=text,
            blocks=list(blocks),
            parse="none",
            link_names=False,
        )

    async def post_ephemeral(
        self, channel: str, user: str, text: str, blocks: Sequence[Block] | None = None
    ) -> None:
        """Show a message to one user only."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks is not None:
            args["blocks"] = list(blocks)
        await self._call("chat.postEphemeral", **args)

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        """Open a modal; returns its view id."""
        return (await self.open_modal(trigger_id, view)).id

    async def open_modal(self, trigger_id: str, view: Mapping[str, Any]) -> OpenView:
        """Open a modal; returns its view id and the hash of what it shows."""
        data = await self._call("views.open", trigger_id=trigger_id, view=dict(view))
        return _open_view(data)

    async def update_view(
        self, view_id: str, view: Mapping[str, Any], *, hash: str | None = None
    ) -> OpenView:
        """Replace an open modal's content; with `hash`, only if nobody replaced it since
        (else SlackError `hash_conflict`). Returns the view id and the new content's hash."""
        args: dict[str, Any] = {"view_id": view_id, "view": dict(view)}
        if hash is not None:
            args["hash"] = hash
        return _open_view(await self._call("views.update", **args))

    async def publish_home(self, user_id: str, view: Mapping[str, Any]) -> None:
        """Publish `user_id`'s App Home tab (views.publish replaces it whole)."""
        await self._call("views.publish", user_id=user_id, view=dict(view))

    async def usergroup_members(self, usergroup: str) -> list[str]:
        """User IDs in a user group."""
        data = await self._call("usergroups.users.list", usergroup=usergroup)
        return [str(user) for user in data.get("users", [])]

    async def find_digest(
        self, channel: str, digest_id: int, oldest: float, *, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a digest message already posted since `oldest`, found by its metadata, or None:
        looked for in the channel, or with `thread_ts` in that thread (where later parts go)."""
        # conversations.history lists top-level messages only: a thread reply is found by
        # reading its thread.
        method = "conversations.history" if thread_ts is None else "conversations.replies"
        args: dict[str, Any] = {"channel": channel}
        if thread_ts is not None:
            args["ts"] = thread_ts
        args.update(oldest=f"{oldest:.6f}", include_all_metadata=True, limit=FIND_PAGE_SIZE)
        for _ in range(FIND_PAGES):
            data = await self._call(method, **args)
            for message in data.get("messages", []):
                if _is_digest(message, digest_id):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
            args["cursor"] = str(cursor)
        log.warning(
            "digest %s not found in the first %d messages of %s; taken as not posted",
            digest_id,
            FIND_PAGES * FIND_PAGE_SIZE,
            method,
        )
        return None

    async def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        """Send to an interaction's response_url; raises SlackError when Slack refuses."""
        self.calls += 1
        body = {"replace_original": False, "delete_original": False, **payload}
        try:
            response = await AsyncWebhookClient(response_url, timeout=10).send_dict(body)
        except (SlackClientError, OSError, TimeoutError) as exc:
            raise SlackUnavailable("response_url", type(exc).__name__) from None
        if response.status_code != 200:
            raise _error_for("response_url", response.body or f"http_{response.status_code}")
