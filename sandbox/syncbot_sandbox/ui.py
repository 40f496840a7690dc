"""The sandbox page: a static Slack-like channel view plus small JSON endpoints for what a person does.

Every action goes through `Desk`, so it reaches the app as the signed request Slack would send.
The page reads the workspace from GET /_sandbox/state (the fake Web API's snapshot).

  GET  /                         the page (static/index.html); /static/* its script and styles
  GET  /_sandbox/ui/config       {channel, people: [{id, name, real_name, note}]}
  POST /_sandbox/ui/click        {user, channel, ts, action_id, value?}   a button in a message
  POST /_sandbox/ui/select       {user, channel, ts, action_id, values}   a multi-select's picks
  POST /_sandbox/ui/choose       {user, channel, ts, action_id, value}    a static_select or overflow
  POST /_sandbox/ui/view_click   {user, action_id, value?, values?}       a button in the open modal
  POST /_sandbox/ui/submit       {user, values?}                          the modal's submit button
  POST /_sandbox/ui/close        {user}                                   the modal's close button
  POST /_sandbox/ui/command      {user, channel, text: "/cmd args"}       the message box
  POST /_sandbox/ui/home         {user}                                   open the app's Home tab
  POST /_sandbox/ui/home_click   {user, action_id, value?}                a button in the Home view
Answers are {ok, status} with the app's HTTP status; 400/409/502 with {ok: false, error} when the
request is malformed, the element is gone, or the app cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from syncbot_sandbox.desk import Desk
from syncbot_sandbox.store import JsonDict, SlackError

__all__ = ["Person", "create_sandbox_app"]

STATIC_DIR = Path(__file__).with_name("static")

Action = Callable[[Desk, JsonDict], Awaitable[httpx.Response | None]]


@dataclass(frozen=True)
class Person:
    """Someone the page lets you act as, with a note on what they may do (shown in the switcher)."""

    id: str
    note: str = ""


class BadRequest(Exception):
    """The page sent something malformed."""


def _text(body: JsonDict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"`{name}` must be a non-empty string")
    return value


def _optional(body: JsonDict, name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def _values(body: JsonDict) -> JsonDict | None:
    values = body.get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        raise BadRequest("`values` must be an object: {block_id: {action_id: state}}")
    return values


def _fill_inputs(desk: Desk, user: str, values: JsonDict | None) -> None:
    """Store what the person typed or picked in the open modal, as Slack keeps it in view.state."""
    view = desk.open_view(user)
    if view is not None and values is not None:
        with desk.workspace.lock:
            view.values = values


async def _click(desk: Desk, body: JsonDict) -> httpx.Response:
    return await desk.click(
        _text(body, "user"),
        _text(body, "channel"),
        _text(body, "ts"),
        _text(body, "action_id"),
        _optional(body, "value"),
    )


async def _select(desk: Desk, body: JsonDict) -> httpx.Response:
    values = body.get("values")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest("`values` must be a list of option values")
    return await desk.select(
        _text(body, "user"), _text(body, "channel"), _text(body, "ts"), _text(body, "action_id"), values
    )


async def _choose(desk: Desk, body: JsonDict) -> httpx.Response:
    return await desk.choose(
        _text(body, "user"),
        _text(body, "channel"),
        _text(body, "ts"),
        _text(body, "action_id"),
        _text(body, "value"),
    )


async def _view_click(desk: Desk, body: JsonDict) -> httpx.Response:
    user = _text(body, "user")
    _fill_inputs(desk, user, _values(body))
    return await desk.click_in_view(user, _text(body, "action_id"), _optional(body, "value"))


async def _submit(desk: Desk, body: JsonDict) -> httpx.Response:
    user = _text(body, "user")
    _fill_inputs(desk, user, _values(body))
    return await desk.submit_view(user)


async def _close(desk: Desk, body: JsonDict) -> None:
    desk.close_view(_text(body, "user"))


async def _home(desk: Desk, body: JsonDict) -> httpx.Response:
    return await desk.open_home(_text(body, "user"))


async def _home_click(desk: Desk, body: JsonDict) -> httpx.Response:
    return await desk.click_in_home(_text(body, "user"), _text(body, "action_id"), _optional(body, "value"))


async def _command(desk: Desk, body: JsonDict) -> httpx.Response:
    user, channel = _text(body, "user"), _text(body, "channel")
    command, _, text = _text(body, "text").strip().partition(" ")
    if not command.startswith("/") or len(command) < 2:
        raise BadRequest("a slash command starts with / (e.g. /failed-syncs)")
    response = await desk.command(user, channel, command, text.strip())
    _show_command_answer(desk, user, channel, command, response)
    return response


def _show_command_answer(desk: Desk, user: str, channel: str, command: str, response: httpx.Response) -> None:
    """Show what Slack's client shows for a command's HTTP answer: its message, or the failure."""
    if response.status_code != 200:
        desk.workspace.post_ephemeral(
            channel, user, f'{command} failed with the error "dispatch_failed" (HTTP {response.status_code})'
        )
        return
    raw = response.text.strip()
    if not raw:
        return
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        answer = {"text": raw}  # a plain-text ack is shown as it is
    if not isinstance(answer, dict) or not (answer.get("text") or answer.get("blocks")):
        return
    text, blocks = str(answer.get("text") or ""), answer.get("blocks")
    blocks = blocks if isinstance(blocks, list) else None
    if answer.get("response_type") == "in_channel":
        desk.workspace.post_message(channel, text, blocks)
    else:
        desk.workspace.post_ephemeral(channel, user, text, blocks)


def _endpoint(desk: Desk, action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            response = await action(desk, body)
        except (BadRequest, ValueError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        except KeyError as exc:
            # The message or modal changed under the person's cursor (or the element never existed).
            return JSONResponse(
                {"ok": False, "error": str(exc.args[0] if exc.args else exc)}, status_code=409
            )
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": exc.error}, status_code=400)
        except httpx.HTTPError as exc:
            return JSONResponse({"ok": False, "error": f"the app did not answer: {exc}"}, status_code=502)
        if response is None:
            return JSONResponse({"ok": True, "status": 200})
        answer: JsonDict = {"ok": response.status_code == 200, "status": response.status_code}
        try:
            reply = response.json() if response.content.strip() else None
        except ValueError:
            reply = None
        if isinstance(reply, dict) and reply.get("response_action") == "errors":
            answer["errors"] = reply.get("errors")  # shown under the modal's inputs
        return JSONResponse(answer)

    return endpoint


def create_sandbox_app(
    slack_api: Starlette, desk: Desk, *, channel: str, people: Sequence[Person] = ()
) -> Starlette:
    """The page and its endpoints in front of the fake Web API (mounted at /, so /api/* still works)."""
    workspace = desk.workspace

    async def index(_: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-store"})

    async def config(_: Request) -> Response:
        listed = list(people) or [Person(user_id) for user_id in workspace.users]
        found = []
        for person in listed:
            user = workspace.users.get(person.id)
            if user is not None and not user.is_bot:
                found.append(
                    {"id": user.id, "name": user.name, "real_name": user.real_name, "note": person.note}
                )
        return JSONResponse({"channel": channel, "people": found})

    actions: dict[str, Action] = {
        "click": _click,
        "select": _select,
        "choose": _choose,
        "view_click": _view_click,
        "submit": _submit,
        "close": _close,
        "command": _command,
        "home": _home,
        "home_click": _home_click,
    }
    routes: list[Route | Mount] = [
        Route("/", index, methods=["GET"]),
        Route("/_sandbox/ui/config", config, methods=["GET"]),
        *(
            Route(f"/_sandbox/ui/{name}", _endpoint(desk, act), methods=["POST"])
            for name, act in actions.items()
        ),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Mount("", app=slack_api),
    ]
    return Starlette(routes=routes)
