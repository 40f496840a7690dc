"""In-memory Slack workspace behind the fake Web API: channels, ephemerals, views, calls.

All state lives on one `Workspace`. The API server runs in its own thread (uvicorn) while tests
read and poke the workspace from theirs, so every method that changes or scans state takes
`Workspace.lock` (an RLock: the server also holds it around a whole API call).
Everything a page needs to draw the channel is in `Workspace.snapshot()`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

JsonDict = dict[str, Any]

TEAM_ID = "T0SYNCBOT"
TEAM_NAME = "Syncbot Sandbox"
TEAM_DOMAIN = "syncbot-sandbox"
APP_ID = "A0SYNCBOT"
BOT_ID = "B0SYNCBOT"
BOT_USER_ID = "U0SYNCBOT"
DEFAULT_CHANNEL = "C0SYNCBOT"

TRIGGER_TTL_SECONDS = 3.0  # Slack: a trigger_id must be used within 3 s
RESPONSE_URL_TTL_SECONDS = 30 * 60  # Slack: a response_url works for 30 min...
RESPONSE_URL_MAX_USES = 5  # ...and at most 5 times
MAX_VIEW_STACK = 3  # views.open plus at most 2 views.push


class SlackError(Exception):
    """A Slack `ok: false` answer: the error code plus any extra top-level response fields."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass(frozen=True)
class User:
    """A workspace member (the bot is one too)."""

    id: str
    name: str
    real_name: str
    is_bot: bool = False

    def to_slack(self) -> JsonDict:
        """Return the user as users.info shapes it."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "is_bot": self.is_bot,
            "deleted": False,
            "profile": {"real_name": self.real_name, "display_name": self.name},
        }


DEFAULT_USERS: tuple[User, ...] = (
    User(BOT_USER_ID, "syncbot", "syncbot", is_bot=True),
    User("U0ADA", "ada", "Ada Admin"),
    User("U0MAX", "max", "Max Manager"),
    User("U0VIC", "vic", "Vic Viewer"),
)
DEFAULT_USERGROUPS: Mapping[str, tuple[str, ...]] = {"S0ADMINS": ("U0ADA",), "S0MANAGERS": ("U0MAX",)}


@dataclass
class Message:
    """A channel message or thread reply."""

    ts: str
    channel: str
    user: str
    text: str
    blocks: list[JsonDict]
    bot_id: str | None = None
    thread_ts: str | None = None
    metadata: JsonDict | None = None
    edited: JsonDict | None = None
    replies: list[str] = field(default_factory=list)  # ts of replies, oldest first

    def to_slack(self, *, with_metadata: bool = True) -> JsonDict:
        """Return the message as conversations.history / chat.postMessage shape it."""
        out: JsonDict = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.bot_id:
            out.update(bot_id=self.bot_id, app_id=APP_ID)
        if self.blocks:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            # Slack marks a parent with its own ts as thread_ts once it has replies.
            out.update(thread_ts=self.ts, reply_count=len(self.replies), latest_reply=self.replies[-1])
        if self.edited:
            out["edited"] = self.edited
        if with_metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class Ephemeral:
    """A message only `user` sees; it lives outside the channel history, as in Slack."""

    ts: str
    channel: str
    user: str
    text: str
    blocks: list[JsonDict]
    thread_ts: str | None = None

    def to_slack(self) -> JsonDict:
        """Return the ephemeral message with its channel and recipient."""
        out: JsonDict = {
            "type": "message",
            "subtype": "ephemeral",
            "ts": self.ts,
            "channel": self.channel,
            "user": self.user,
            "bot_id": BOT_ID,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        return out


@dataclass
class View:
    """An open modal (one entry of a user's stack) or a published Home tab."""

    id: str
    user: str
    payload: JsonDict  # the view as the app sent it
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    values: JsonDict = field(default_factory=dict)  # input state; a sandbox page fills it in

    @property
    def external_id(self) -> str:
        """Return the app-chosen external_id, or ""."""
        return str(self.payload.get("external_id") or "")

    def to_slack(self) -> JsonDict:
        """Return the view as views.* responses shape it."""
        return {
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **self.payload,
            "id": self.id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": self.values},
            "hash": self.hash,
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
        }


@dataclass
class Channel:
    """A channel; `messages` maps ts to message (replies included), in posting order."""

    id: str
    name: str
    messages: dict[str, Message] = field(default_factory=dict)


@dataclass
class Trigger:
    """An issued trigger_id: valid once, for TRIGGER_TTL_SECONDS."""

    user: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    """An issued response_url and where its answers go."""

    token: str
    channel: str
    user: str
    message_ts: str | None  # the "original" message; None for slash commands until the first reply
    issued_at: float
    uses: int = 0


@dataclass(frozen=True)
class Call:
    """One recorded request: a Web API method or "response_url"."""

    method: str
    args: JsonDict  # decoded; JSON-string fields (blocks, view, metadata) parsed
    token: str | None
    at: float
    status: int = 200
    error: str | None = None  # the `error` answered, if any

    def to_json(self) -> JsonDict:
        """Return the call as plain JSON."""
        return {k: getattr(self, k) for k in ("method", "args", "token", "at", "status", "error")}


@dataclass
class Failure:
    """An injected failure for `method` ("*" = any), answered `times` times (None = until cleared)."""

    method: str
    error: str
    status: int = 200
    times: int | None = 1
    retry_after: int | None = None


def ts_key(ts: str) -> Decimal:
    """Return a sortable value for a Slack ts (floats lose the microseconds); ValueError if not one."""
    try:
        key = Decimal(ts)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ValueError(f"not a Slack ts: {ts!r}") from exc
    if not key.is_finite():
        raise ValueError(f"not a Slack ts: {ts!r}")
    return key


class Workspace:
    """The whole fake Slack workspace: content, interaction tokens, call log and injected failures."""

    def __init__(
        self,
        *,
        channels: Mapping[str, str] | Iterable[str] = (DEFAULT_CHANNEL,),
        users: Iterable[User] = DEFAULT_USERS,
        usergroups: Mapping[str, Iterable[str]] = DEFAULT_USERGROUPS,
        clock: Callable[[], float] = time.time,
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        base_url: str = "http://localhost",
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock  # injectable so tests can expire triggers and response URLs without sleeping
        self.trigger_ttl = trigger_ttl
        self.base_url = base_url  # prefix of issued response URLs; set it once the server's port is known
        self.socket_mode_url: str | None = None  # what apps.connections.open hands out, when serving one
        names = channels if isinstance(channels, Mapping) else {cid: cid.lower() for cid in channels}
        self.channels: dict[str, Channel] = {cid: Channel(cid, name) for cid, name in names.items()}
        self.users: dict[str, User] = {u.id: u for u in users}
        self.users.setdefault(BOT_USER_ID, DEFAULT_USERS[0])
        self.usergroups: dict[str, list[str]] = {gid: list(members) for gid, members in usergroups.items()}
        self.ephemerals: dict[tuple[str, str], list[Ephemeral]] = {}  # (channel, user) -> oldest first
        self.modals: dict[str, list[View]] = {}  # user -> view stack, root first
        self.homes: dict[str, View] = {}  # user -> published Home tab
        self._calls: list[Call] = []
        self._failures: list[Failure] = []
        self._triggers: dict[str, Trigger] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._ids = itertools.count(1)
        self._last_ts_us = 0

    # -- identifiers -------------------------------------------------------------------------

    def next_ts(self) -> str:
        """Return a new message ts, unique and increasing ("1764240000.000100" style)."""
        with self.lock:
            # Bump past the previous ts: a frozen test clock or two posts in one microsecond
            # must still give distinct, ordered ts values, as Slack guarantees per channel.
            self._last_ts_us = max(int(self.clock() * 1_000_000), self._last_ts_us + 1)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{secrets.token_hex(4)}"

    # -- lookups -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        """Return the channel or raise channel_not_found."""
        found = self.channels.get(channel_id)
        if found is None:
            raise SlackError("channel_not_found")
        return found

    def user(self, user_id: str) -> User:
        """Return the user or raise user_not_found."""
        found = self.users.get(user_id)
        if found is None:
            raise SlackError("user_not_found")
        return found

    def message(self, channel_id: str, ts: str) -> Message:
        """Return a message or reply by ts, or raise channel_not_found / message_not_found."""
        found = self.channel(channel_id).messages.get(ts)
        if found is None:
            raise SlackError("message_not_found")
        return found

    # -- messages ----------------------------------------------------------------------------

    def post_message(
        self,
        channel_id: str,
        text: str,
        blocks: list[JsonDict] | None = None,
        *,
        user: str = BOT_USER_ID,
        thread_ts: str | None = None,
        metadata: JsonDict | None = None,
    ) -> Message:
        """Post a message as `user` (default the bot; a page posts as people), in a thread if asked."""
        with self.lock:
            chan = self.channel(channel_id)
            self.user(user)
            msg = Message(
                ts=self.next_ts(),
                channel=channel_id,
                user=user,
                text=text,
                blocks=list(blocks or []),
                bot_id=BOT_ID if user == BOT_USER_ID else None,
                thread_ts=thread_ts,
                metadata=metadata,
            )
            parent = chan.messages.get(thread_ts) if thread_ts else None
            # Slack answers ok for an unknown thread_ts; the message keeps thread_ts so tests see it.
            if parent is not None:
                # A reply to a reply joins the root's thread, like Slack.
                root = chan.messages.get(parent.thread_ts or parent.ts, parent)
                msg.thread_ts = root.ts
                root.replies.append(msg.ts)
            chan.messages[msg.ts] = msg
            return msg

    def update_message(
        self,
        channel_id: str,
        ts: str,
        *,
        text: str | None,
        blocks: list[JsonDict] | None,
        metadata: JsonDict | None = None,
        by_user: str = BOT_USER_ID,
    ) -> Message:
        """Edit a message `by_user` posted (else cant_update_message), like chat.update."""
        with self.lock:
            msg = self.message(channel_id, ts)
            if msg.user != by_user:
                raise SlackError("cant_update_message")
            self._replace_content(msg, text, blocks)
            if metadata is not None:
                msg.metadata = metadata
            msg.edited = {"user": by_user, "ts": self.next_ts()}
            return msg

    @staticmethod
    def _replace_content(
        target: Message | Ephemeral, text: str | None, blocks: list[JsonDict] | None
    ) -> None:
        if text is not None:
            target.text = text
        # Slack drops the blocks when an update carries text alone; mirroring that catches callers
        # that forget to resend blocks.
        target.blocks = list(blocks) if blocks is not None else []

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete a message (its replies stay, as orphans)."""
        with self.lock:
            msg = self.message(channel_id, ts)
            chan = self.channel(channel_id)
            del chan.messages[ts]
            parent = chan.messages.get(msg.thread_ts) if msg.thread_ts else None
            if parent is not None and ts in parent.replies:
                parent.replies.remove(ts)

    def history(
        self,
        channel_id: str,
        *,
        latest: str | None = None,
        oldest: str | None = None,
        inclusive: bool = False,
    ) -> list[Message]:
        """Return top-level messages newest first (replies whose parent is unknown count as top-level)."""
        with self.lock:
            chan = self.channel(channel_id)
            hi = ts_key(latest) if latest else None
            lo = ts_key(oldest) if oldest else None

            def wanted(m: Message) -> bool:
                key = ts_key(m.ts)
                if hi is not None and (key > hi or (key == hi and not inclusive)):
                    return False
                return not (lo is not None and (key < lo or (key == lo and not inclusive)))

            top = [m for m in chan.messages.values() if self._is_top_level(chan, m) and wanted(m)]
            return sorted(top, key=lambda m: ts_key(m.ts), reverse=True)

    @staticmethod
    def _is_top_level(chan: Channel, msg: Message) -> bool:
        return msg.thread_ts in (None, msg.ts) or msg.thread_ts not in chan.messages

    # -- ephemerals --------------------------------------------------------------------------

    def post_ephemeral(
        self,
        channel_id: str,
        user: str,
        text: str,
        blocks: list[JsonDict] | None = None,
        *,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        """Show a message to one member of the channel."""
        with self.lock:
            self.channel(channel_id)
            if user not in self.users:
                # Every known user is in every channel, so unknown users are "not in channel".
                raise SlackError("user_not_in_channel")
            eph = Ephemeral(self.next_ts(), channel_id, user, text, list(blocks or []), thread_ts)
            self.ephemerals.setdefault((channel_id, user), []).append(eph)
            return eph

    def ephemeral(self, channel_id: str, user: str, ts: str) -> Ephemeral | None:
        """Return the ephemeral message `user` sees in the channel with this ts, if any."""
        with self.lock:
            return next((e for e in self.ephemerals.get((channel_id, user), []) if e.ts == ts), None)

    # -- triggers and response URLs ----------------------------------------------------------

    def issue_trigger_id(self, user: str) -> str:
        """Issue a trigger_id for `user`, as an interaction payload would carry it."""
        with self.lock:
            self.user(user)
            trigger_id = f"{next(self._ids)}.{TEAM_ID}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = Trigger(user, self.clock())
            return trigger_id

    def use_trigger_id(self, trigger_id: str) -> str:
        """Consume a trigger_id and return its user, or raise invalid/exchanged/expired_trigger_id."""
        with self.lock:
            trigger = self._triggers.get(trigger_id)
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger.used:
                raise SlackError("exchanged_trigger_id")
            if self.clock() - trigger.issued_at > self.trigger_ttl:
                raise SlackError("expired_trigger_id")
            trigger.used = True
            return trigger.user

    def issue_response_url(
        self, channel: str, user: str, message_ts: str | None = None, *, base_url: str | None = None
    ) -> str:
        """Issue a response_url for an interaction by `user` (on message `message_ts`, if any)."""
        with self.lock:
            self.channel(channel)
            self.user(user)
            token = secrets.token_urlsafe(16)
            self._response_urls[token] = ResponseUrl(token, channel, user, message_ts, self.clock())
            return f"{(base_url or self.base_url).rstrip('/')}/response/{token}"

    def use_response_url(self, token: str) -> ResponseUrl:
        """Count one use of a response URL, or raise invalid_token / expired_url / used_url."""
        with self.lock:
            url = self._response_urls.get(token)
            if url is None:
                raise SlackError("invalid_token")
            if self.clock() - url.issued_at > RESPONSE_URL_TTL_SECONDS:
                raise SlackError("expired_url")
            if url.uses >= RESPONSE_URL_MAX_USES:
                raise SlackError("used_url")
            url.uses += 1
            return url

    def respond(
        self,
        url: ResponseUrl,
        *,
        text: str | None,
        blocks: list[JsonDict] | None,
        response_type: str | None,
        replace_original: bool,
        delete_original: bool,
        thread_ts: str | None = None,
    ) -> None:
        """Apply one response_url body: delete or replace the original, or post a new message."""
        with self.lock:
            if delete_original or replace_original:
                original = self._original(url)
                if isinstance(original, Ephemeral):
                    if delete_original:
                        self.ephemerals[(url.channel, url.user)].remove(original)
                    else:
                        self._replace_content(original, text, blocks)
                elif delete_original:
                    self.delete_message(original.channel, original.ts)
                else:
                    self._replace_content(original, text, blocks)
                    original.edited = {"user": BOT_USER_ID, "ts": self.next_ts()}
                return
            if response_type == "in_channel":
                posted: Message | Ephemeral = self.post_message(
                    url.channel, text or "", blocks, thread_ts=thread_ts
                )
            else:
                # Slack's default response_type is ephemeral.
                posted = self.post_ephemeral(url.channel, url.user, text or "", blocks, thread_ts=thread_ts)
            if url.message_ts is None:
                # A slash command has no original message; its first reply becomes the one that
                # replace_original / delete_original act on.
                url.message_ts = posted.ts

    def _original(self, url: ResponseUrl) -> Message | Ephemeral:
        if url.message_ts is not None:
            eph = self.ephemeral(url.channel, url.user, url.message_ts)
            if eph is not None:
                return eph
            msg = self.channel(url.channel).messages.get(url.message_ts)
            if msg is not None:
                return msg
        raise SlackError("message_not_found")

    # -- views -------------------------------------------------------------------------------

    def open_view(self, user: str, payload: JsonDict) -> View:
        """Open a modal for `user`, replacing any open stack."""
        with self.lock:
            self._check_external_id(payload, None)
            view_id = self._new_id("V")
            view = View(view_id, user, payload, self._new_hash(), root_view_id=view_id)
            self.modals[user] = [view]
            return view

    def push_view(self, user: str, payload: JsonDict) -> View:
        """Push a modal onto `user`'s open stack (3 views at most)."""
        with self.lock:
            stack = self.modals.get(user)
            if not stack:
                raise SlackError("not_found")
            if len(stack) >= MAX_VIEW_STACK:
                raise SlackError("push_limit_reached")
            self._check_external_id(payload, None)
            view = View(
                self._new_id("V"),
                user,
                payload,
                self._new_hash(),
                root_view_id=stack[0].id,
                previous_view_id=stack[-1].id,
            )
            stack.append(view)
            return view

    def update_view(
        self,
        payload: JsonDict,
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        hash: str | None = None,
    ) -> View:
        """Replace an open view's content, checking `hash` if given (else hash_conflict)."""
        with self.lock:
            view = next(
                (
                    v
                    for v in self._views()
                    if (view_id and v.id == view_id) or (external_id and v.external_id == external_id)
                ),
                None,
            )
            if view is None:
                raise SlackError("not_found")
            if hash and hash != view.hash:
                raise SlackError("hash_conflict")
            self._check_external_id(payload, view)
            view.payload = payload
            view.hash = self._new_hash()
            return view

    def publish_home(self, user: str, payload: JsonDict, *, hash: str | None = None) -> View:
        """Create or replace `user`'s Home tab."""
        with self.lock:
            self.user(user)
            home = self.homes.get(user)
            if home is None:
                view_id = self._new_id("V")
                home = self.homes[user] = View(view_id, user, payload, self._new_hash(), root_view_id=view_id)
                return home
            if hash and hash != home.hash:
                raise SlackError("hash_conflict")
            home.payload = payload
            home.hash = self._new_hash()
            return home

    def close_view(self, user: str) -> None:
        """Close the top modal of `user`'s stack (what the user's Close or a submit ack does)."""
        with self.lock:
            stack = self.modals.get(user, [])
            if stack:
                stack.pop()
            if not stack:
                self.modals.pop(user, None)

    def _views(self) -> Iterator[View]:
        for stack in self.modals.values():
            yield from stack
        yield from self.homes.values()

    def _check_external_id(self, payload: JsonDict, updating: View | None) -> None:
        external_id = payload.get("external_id")
        if external_id and any(v.external_id == external_id and v is not updating for v in self._views()):
            raise SlackError("duplicate_external_id")

    # -- call log and failure injection ------------------------------------------------------

    def record(self, call: Call) -> None:
        """Append a call to the log."""
        with self.lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[Call]:
        """Return recorded calls, oldest first, optionally only those of `method`."""
        with self.lock:
            return [c for c in self._calls if method is None or c.method == method]

    # A plain timeout argument (not asyncio.timeout) so one-line waits read like bolt's test helpers.
    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        """Wait until at least `count` calls of `method` were recorded; return them."""
        # Real time, not self.clock: a frozen test clock must not make this wait forever.
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls(method)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = sorted({c.method for c in self.calls()})
                raise TimeoutError(
                    f"expected {count} {method} call(s) in {timeout}s, got {len(found)}; seen {seen}"
                )
            await asyncio.sleep(0.02)

    def fail(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int = 200,
        times: int | None = 1,
        retry_after: int | None = None,
    ) -> Failure:
        """Make the next `times` calls of `method` fail (429 defaults to ratelimited, Retry-After 1)."""
        if error is None:
            if status == 200:
                raise ValueError("an injected ok:false failure needs an error code")
            error = "ratelimited" if status == 429 else "internal_error"
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = Failure(method, error, status, times, retry_after)
        with self.lock:
            self._failures.append(failure)
        return failure

    def take_failure(self, method: str) -> Failure | None:
        """Consume one injected failure matching `method`, if any."""
        with self.lock:
            for failure in self._failures:
                if failure.method in (method, "*"):
                    if failure.times is not None:
                        failure.times -= 1
                        if failure.times <= 0:
                            self._failures.remove(failure)
                    return failure
            return None

    def clear_calls(self) -> None:
        """Forget recorded calls and pending failures (the workspace content stays)."""
        with self.lock:
            self._calls.clear()
            self._failures.clear()

    # -- for a page --------------------------------------------------------------------------

    def snapshot(self) -> JsonDict:
        """Return everything a page needs to render the workspace, as plain JSON (a copy)."""
        with self.lock:
            channels = []
            for chan in self.channels.values():
                top = sorted(
                    (m for m in chan.messages.values() if self._is_top_level(chan, m)),
                    key=lambda m: ts_key(m.ts),
                )
                messages = [
                    {**m.to_slack(), "replies": [chan.messages[r].to_slack() for r in m.replies]} for m in top
                ]
                channels.append({"id": chan.id, "name": chan.name, "messages": messages})
            view_users = sorted(set(self.modals) | set(self.homes))
            return copy.deepcopy(
                {
                    "team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": TEAM_DOMAIN},
                    "bot": {"user_id": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID},
                    "users": [u.to_slack() for u in self.users.values()],
                    "usergroups": self.usergroups,
                    "channels": channels,
                    "ephemerals": [e.to_slack() for group in self.ephemerals.values() for e in group],
                    "views": {
                        user: {
                            "modals": [v.to_slack() for v in self.modals.get(user, [])],
                            "home": self.homes[user].to_slack() if user in self.homes else None,
                        }
                        for user in view_users
                    },
                }
            )
