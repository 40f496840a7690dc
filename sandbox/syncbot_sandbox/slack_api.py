"""A local Slack Web API (Starlette): the fake Slack for tests and the backend of the demo sandbox.

It speaks the wire format slack_sdk's clients use, so the real AsyncWebClient/WebhookClient can
be pointed at it (SLACK_API_URL). It knows nothing about syncbot.

Endpoints
  GET|POST /api/{method}, /{method}   Web API methods (see METHODS); form, query or JSON arguments;
                                      `Authorization: Bearer <token>` (or a `token` argument)
  POST /response/{token}              response_url answers (JSON, or form with `payload=`)
  GET  /_sandbox/state                Workspace.snapshot(): channels, threads, ephemerals, views
  GET  /_sandbox/calls?method=        recorded calls
  POST /_sandbox/fail                 {method, error?, status?, times?, retry_after?}: inject failures;
                                      method "*" = any, "response_url" = response URL posts
  POST /_sandbox/trigger_id           {user} -> {trigger_id}
  POST /_sandbox/response_url         {channel, user, message_ts?} -> {response_url}
The /_sandbox endpoints have no auth: this server is for localhost only.

Web API answers are HTTP 200 JSON with "ok" (an injected failure may use 429 + Retry-After or 5xx).
response_url answers are plain text like Slack's webhooks: 200 "ok"; 404 "invalid_token" (unknown
URL), "expired_url" (after 30 min), "used_url" (after 5 uses; every request counts, even a rejected
one) or "message_not_found" (replace/delete with no original); 400 "invalid_payload", "no_text",
"msg_too_long" or "invalid_blocks".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syncbot_sandbox.blockkit import message_problems, view_problems
from syncbot_sandbox.slack_threads import conversations_replies, cursor_ts, limit_arg, next_cursor, ts_arg
from syncbot_sandbox.store import (
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    Call,
    Failure,
    JsonDict,
    SlackError,
    Workspace,
    ts_key,
)

MessageValidator = Callable[[str, list[JsonDict]], list[str]]
ViewValidator = Callable[[JsonDict], list[str]]
MethodHandler = Callable[["Ctx"], JsonDict]

DEFAULT_TOKEN = "xoxb-test"  # noqa: S105 - the fake server's own made-up token, not a secret
MAX_TEXT_CHARS = 40_000  # Slack truncates top-level text beyond this and may answer msg_too_long
_JSON_STRING_ARGS = ("blocks", "attachments", "metadata", "view")  # form bodies carry these as JSON text
_RESPONSE_URL_404 = frozenset({"invalid_token", "expired_url", "used_url", "message_not_found"})


@dataclass(frozen=True)
class SlackApiConfig:
    """Payload checks and accepted tokens; a validator of None uses the Block Kit checker."""

    validate_message: MessageValidator | None = None
    validate_view: ViewValidator | None = None
    tokens: frozenset[str] = frozenset({DEFAULT_TOKEN})


# -- validation -------------------------------------------------------------------------------


def _rejection(error: str, problems: list[str]) -> SlackError:
    # Slack lists validation problems both ways, depending on the method.
    messages = [f"[ERROR] {p}" for p in problems]
    return SlackError(error, errors=problems, response_metadata={"messages": messages})


def _check_message(config: SlackApiConfig, text: str, blocks: list[JsonDict]) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise SlackError("msg_too_long")
    problems = (config.validate_message or message_problems)(text, blocks)
    if problems:
        raise _rejection("invalid_blocks", problems)


# -- method table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    """What a method handler gets: the workspace, the config and the decoded arguments."""

    ws: Workspace
    config: SlackApiConfig
    args: JsonDict

    def required(self, name: str, error: str = "invalid_arguments") -> str:
        """Return a required argument as a string, or raise `error`."""
        value = self.args.get(name)
        if value is None or value == "":
            raise SlackError(error)
        return str(value)

    def optional(self, name: str) -> str | None:
        """Return an optional argument as a string, or None."""
        value = self.args.get(name)
        return None if value is None or value == "" else str(value)

    def flag(self, name: str) -> bool:
        """Return a boolean argument (true/1 in forms, true in JSON)."""
        return _truthy(self.args.get(name))

    def content(self) -> tuple[str | None, list[JsonDict] | None]:
        """Return (text, blocks) of a message, checked: no_text, invalid_blocks_format, msg_too_long..."""
        text = self.optional("text")
        blocks = self.args.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        if not text and not blocks:
            raise SlackError("no_text")
        _check_message(self.config, text or "", blocks or [])
        return text, blocks

    def view(self) -> JsonDict:
        """Return the `view` argument, checked (invalid_arguments with messages)."""
        view = self.args.get("view")
        if not isinstance(view, dict):
            raise _rejection("invalid_arguments", ["missing required field: view"])
        problems = (self.config.validate_view or view_problems)(view)
        if problems:
            raise _rejection("invalid_arguments", problems)
        return view

    def metadata(self) -> JsonDict | None:
        """Return message metadata ({event_type, event_payload}), or None."""
        metadata = self.args.get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
            raise SlackError("invalid_metadata_format")
        return metadata


METHODS: dict[str, MethodHandler] = {}


def _method(name: str) -> Callable[[MethodHandler], MethodHandler]:
    def register(handler: MethodHandler) -> MethodHandler:
        METHODS[name] = handler
        return handler

    return register


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("1", "true")


@_method("apps.connections.open")
def _apps_connections_open(ctx: Ctx) -> JsonDict:
    # Slack answers this for app-level tokens only, with a fresh WebSocket URL each time.
    if ctx.ws.socket_mode_url is None:
        raise SlackError("not_allowed_token_type")
    return {"url": ctx.ws.socket_mode_url}


@_method("auth.test")
def _auth_test(ctx: Ctx) -> JsonDict:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": ctx.ws.user(BOT_USER_ID).name,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


@_method("chat.postMessage")
def _chat_post_message(ctx: Ctx) -> JsonDict:
    channel = ctx.ws.channel(ctx.required("channel", "channel_not_found")).id
    text, blocks = ctx.content()
    msg = ctx.ws.post_message(
        channel, text or "", blocks, thread_ts=ctx.optional("thread_ts"), metadata=ctx.metadata()
    )
    return {"channel": channel, "ts": msg.ts, "message": msg.to_slack()}


@_method("chat.update")
def _chat_update(ctx: Ctx) -> JsonDict:
    channel = ctx.required("channel", "channel_not_found")
    ts = ctx.ws.message(channel, ctx.required("ts", "message_not_found")).ts
    text, blocks = ctx.content()
    msg = ctx.ws.update_message(channel, ts, text=text, blocks=blocks, metadata=ctx.metadata())
    return {"channel": channel, "ts": ts, "text": msg.text, "message": msg.to_slack()}


@_method("chat.postEphemeral")
def _chat_post_ephemeral(ctx: Ctx) -> JsonDict:
    channel = ctx.ws.channel(ctx.required("channel", "channel_not_found")).id
    user = ctx.required("user", "user_not_in_channel")
    text, blocks = ctx.content()
    eph = ctx.ws.post_ephemeral(channel, user, text or "", blocks, thread_ts=ctx.optional("thread_ts"))
    return {"message_ts": eph.ts}


@_method("chat.getPermalink")
def _chat_get_permalink(ctx: Ctx) -> JsonDict:
    channel = ctx.required("channel", "channel_not_found")
    msg = ctx.ws.message(channel, ctx.required("message_ts", "message_not_found"))
    link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{msg.ts.replace('.', '')}"
    if msg.thread_ts and msg.thread_ts != msg.ts:
        link += f"?thread_ts={msg.thread_ts}&cid={channel}"
    return {"channel": channel, "permalink": link}


@_method("conversations.history")
def _conversations_history(ctx: Ctx) -> JsonDict:
    channel = ctx.required("channel", "channel_not_found")
    limit = limit_arg(ctx, default=100, most=999)  # Slack's bounds
    messages = ctx.ws.history(
        channel, latest=ts_arg(ctx, "latest"), oldest=ts_arg(ctx, "oldest"), inclusive=ctx.flag("inclusive")
    )
    cursor = ctx.optional("cursor")
    if cursor:
        before = cursor_ts(cursor)
        messages = [m for m in messages if ts_key(m.ts) < before]
    page, rest = messages[:limit], messages[limit:]
    with_metadata = ctx.flag("include_all_metadata")
    return {
        "messages": [m.to_slack(with_metadata=with_metadata) for m in page],
        "has_more": bool(rest),
        "pin_count": 0,
        "response_metadata": {"next_cursor": next_cursor(page[-1].ts) if rest else ""},
    }


# Thread replies live in their own module (slack_threads), registered here with the rest.
_method("conversations.replies")(conversations_replies)


@_method("usergroups.users.list")
def _usergroups_users_list(ctx: Ctx) -> JsonDict:
    members = ctx.ws.usergroups.get(ctx.required("usergroup", "no_such_subteam"))
    if members is None:
        raise SlackError("no_such_subteam")
    return {"users": list(members)}


@_method("users.info")
def _users_info(ctx: Ctx) -> JsonDict:
    return {"user": ctx.ws.user(ctx.required("user", "user_not_found")).to_slack()}


@_method("views.open")
def _views_open(ctx: Ctx) -> JsonDict:
    trigger_id = ctx.required("trigger_id", "invalid_trigger_id")
    payload = ctx.view()  # checked first so a bad view does not burn the trigger
    user = ctx.ws.use_trigger_id(trigger_id)
    return {"view": ctx.ws.open_view(user, payload).to_slack()}


@_method("views.push")
def _views_push(ctx: Ctx) -> JsonDict:
    trigger_id = ctx.required("trigger_id", "invalid_trigger_id")
    payload = ctx.view()
    user = ctx.ws.use_trigger_id(trigger_id)
    return {"view": ctx.ws.push_view(user, payload).to_slack()}


@_method("views.update")
def _views_update(ctx: Ctx) -> JsonDict:
    view_id, external_id = ctx.optional("view_id"), ctx.optional("external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments")
    payload = ctx.view()
    view = ctx.ws.update_view(payload, view_id=view_id, external_id=external_id, hash=ctx.optional("hash"))
    return {"view": view.to_slack()}


@_method("views.publish")
def _views_publish(ctx: Ctx) -> JsonDict:
    user = ctx.required("user_id", "user_not_found")
    payload = ctx.view()
    if payload.get("type") != "home":
        raise _rejection("invalid_arguments", ["must be home [json-pointer:/view/type]"])
    return {"view": ctx.ws.publish_home(user, payload, hash=ctx.optional("hash")).to_slack()}


# -- HTTP layer -------------------------------------------------------------------------------


def _workspace(request: Request) -> Workspace:
    return cast(Workspace, request.app.state.workspace)


def _config(request: Request) -> SlackApiConfig:
    return cast(SlackApiConfig, request.app.state.config)


async def _read_args(request: Request) -> JsonDict:
    """Merge query, form and JSON arguments; parse JSON-string fields. ValueError on bad JSON."""
    args: JsonDict = dict(request.query_params)
    body = await request.body()
    if body and "json" in request.headers.get("content-type", ""):
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("JSON body is not an object")
        args.update(decoded)
    elif body:
        args.update(parse_qsl(body.decode(), keep_blank_values=True))
    for name in _JSON_STRING_ARGS:
        value = args.get(name)
        if value == "":
            del args[name]
        elif isinstance(value, str):
            # Left as a string when it is not JSON; the handler answers invalid_*_format.
            with contextlib.suppress(ValueError):
                args[name] = json.loads(value)
    return args


def _token(request: Request, args: JsonDict) -> str | None:
    body_token = args.pop("token", None)  # older clients send the token as an argument
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return str(body_token) if body_token else None


def _failure_answer(failure: Failure) -> tuple[int, JsonDict, dict[str, str]]:
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    return failure.status, {"ok": False, "error": failure.error}, headers


def _answer(
    ws: Workspace, config: SlackApiConfig, method: str, args: JsonDict | None, token: str | None
) -> tuple[int, JsonDict, dict[str, str]]:
    """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
    handler = METHODS.get(method)
    if handler is None:
        return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
    if args is None:
        return 200, {"ok": False, "error": "invalid_json"}, {}
    if not token:
        return 200, {"ok": False, "error": "not_authed"}, {}
    if token not in config.tokens:
        return 200, {"ok": False, "error": "invalid_auth"}, {}
    failure = ws.take_failure(method)
    if failure is not None:
        return _failure_answer(failure)
    try:
        return 200, {"ok": True, **handler(Ctx(ws, config, args))}, {}
    except SlackError as exc:
        return 200, {"ok": False, "error": exc.error, **exc.extra}, {}


async def _web_api(request: Request) -> Response:
    ws = _workspace(request)
    method = request.path_params["method"]
    args: JsonDict | None
    try:
        args = await _read_args(request)
    except (ValueError, UnicodeDecodeError):
        args = None
    token = _token(request, args) if args is not None else None
    with ws.lock:  # one call = one atomic change, recorded together with its answer
        status, body, headers = _answer(ws, _config(request), method, args, token)
        ws.record(Call(method, args or {}, token, ws.clock(), status, body.get("error")))
    return JSONResponse(body, status_code=status, headers=headers)


def _response_body(raw: bytes, content_type: str) -> JsonDict | None:
    """Decode a response_url body: JSON, or a form with a JSON `payload` field."""
    try:
        if "json" not in content_type:
            raw = dict(parse_qsl(raw.decode())).get("payload", "").encode()
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(decoded, dict):
        return None
    if isinstance(decoded.get("blocks"), str):
        with contextlib.suppress(ValueError):
            decoded["blocks"] = json.loads(decoded["blocks"])
    return decoded


def _answer_response(
    ws: Workspace, config: SlackApiConfig, token: str, body: JsonDict | None
) -> tuple[int, str, dict[str, str]]:
    """Apply one response_url request: (HTTP status, plain-text body, extra headers)."""
    failure = ws.take_failure("response_url")
    if failure is not None:
        status, json_body, headers = _failure_answer(failure)
        return status, str(json_body["error"]), headers
    try:
        url = ws.use_response_url(token)
        if body is None:
            raise SlackError("invalid_payload")
        ctx = Ctx(ws, config, body)
        delete_original = ctx.flag("delete_original")
        text, blocks = (None, None) if delete_original else ctx.content()
        ws.respond(
            url,
            text=text,
            blocks=blocks,
            response_type=ctx.optional("response_type"),
            replace_original=ctx.flag("replace_original"),
            delete_original=delete_original,
            thread_ts=ctx.optional("thread_ts"),
        )
    except SlackError as exc:
        return (404 if exc.error in _RESPONSE_URL_404 else 400), exc.error, {}
    return 200, "ok", {}


async def _response_url(request: Request) -> Response:
    ws = _workspace(request)
    token = request.path_params["token"]
    body = _response_body(await request.body(), request.headers.get("content-type", ""))
    with ws.lock:
        status, text, headers = _answer_response(ws, _config(request), token, body)
        ws.record(
            Call("response_url", body or {}, token, ws.clock(), status, None if status == 200 else text)
        )
    return PlainTextResponse(text, status_code=status, headers=headers)


# -- sandbox control --------------------------------------------------------------------------


async def _json_object(request: Request) -> JsonDict:
    decoded = json.loads(await request.body() or b"{}")
    if not isinstance(decoded, dict):
        raise ValueError("expected a JSON object")
    return decoded


def _bad_request(detail: str, error: str = "invalid_arguments") -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, "detail": detail}, status_code=400)


async def _state(request: Request) -> Response:
    return JSONResponse(_workspace(request).snapshot())


async def _calls(request: Request) -> Response:
    calls = _workspace(request).calls(request.query_params.get("method"))
    return JSONResponse([c.to_json() for c in calls])


async def _fail(request: Request) -> Response:
    try:
        body = await _json_object(request)
        times = body.get("times", 1)
        retry_after = body.get("retry_after")
        failure = _workspace(request).fail(
            str(body["method"]),
            body.get("error"),
            status=int(body.get("status", 200)),
            times=None if times is None else int(times),
            retry_after=None if retry_after is None else int(retry_after),
        )
    except (KeyError, TypeError, ValueError) as exc:
        return _bad_request(repr(exc))
    return JSONResponse({"ok": True, "failure": dataclasses.asdict(failure)})


async def _issue_trigger_id(request: Request) -> Response:
    try:
        body = await _json_object(request)
        trigger_id = _workspace(request).issue_trigger_id(str(body["user"]))
    except (KeyError, ValueError) as exc:
        return _bad_request(repr(exc))
    except SlackError as exc:
        return _bad_request(exc.error, exc.error)
    return JSONResponse({"ok": True, "trigger_id": trigger_id})


async def _issue_response_url(request: Request) -> Response:
    try:
        body = await _json_object(request)
        url = _workspace(request).issue_response_url(
            str(body["channel"]),
            str(body["user"]),
            body.get("message_ts"),
            base_url=str(request.base_url),  # the address this caller reached us at
        )
    except (KeyError, ValueError) as exc:
        return _bad_request(repr(exc))
    except SlackError as exc:
        return _bad_request(exc.error, exc.error)
    return JSONResponse({"ok": True, "response_url": url})


def create_slack_api(
    config: SlackApiConfig | None = None, *, workspace: Workspace | None = None
) -> Starlette:
    """Build the fake Slack Web API; its state is `app.state.workspace`."""
    app = Starlette(
        routes=[
            Route("/_sandbox/state", _state, methods=["GET"]),
            Route("/_sandbox/calls", _calls, methods=["GET"]),
            Route("/_sandbox/fail", _fail, methods=["POST"]),
            Route("/_sandbox/trigger_id", _issue_trigger_id, methods=["POST"]),
            Route("/_sandbox/response_url", _issue_response_url, methods=["POST"]),
            Route("/response/{token}", _response_url, methods=["POST"]),
            # Both prefixes, so SLACK_API_URL works with or without the trailing /api/.
            Route("/api/{method}", _web_api, methods=["GET", "POST"]),
            Route("/{method}", _web_api, methods=["GET", "POST"]),
        ]
    )
    app.state.workspace = workspace if workspace is not None else Workspace()
    app.state.config = config if config is not None else SlackApiConfig()
    return app
