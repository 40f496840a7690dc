"""Plays Slack's client for a person in the sandbox: clicks, selections, modal submissions and
slash commands become the signed, form-encoded requests Slack would send to the app."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from syncbot_sandbox.home import app_home_opened, home_click
from syncbot_sandbox.store import APP_ID, TEAM_ID, Ephemeral, JsonDict, Message, View, Workspace

__all__ = ["Desk", "find_element"]

LEGACY_TOKEN = "sandbox-verification-token"  # noqa: S105 - Slack's deprecated, unused field


def _elements(blocks: list[JsonDict]) -> Iterator[tuple[str, JsonDict]]:
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                yield block_id, element
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield block_id, accessory


def _options(element: JsonDict) -> list[JsonDict]:
    groups = element.get("option_groups") or []
    return list(element.get("options") or []) + [o for g in groups for o in g.get("options", [])]


def find_element(blocks: list[JsonDict], action_id: str, value: str | None = None) -> tuple[str, JsonDict]:
    """The (block_id, element) with this action_id (and value, when given); KeyError if none."""
    for block_id, element in _elements(blocks):
        if element.get("action_id") == action_id and (value is None or element.get("value") == value):
            return block_id, element
    raise KeyError(f"no element {action_id!r}" + (f" with value {value!r}" if value else ""))


class Desk:
    """One Slack client session against one app, for any number of users."""

    def __init__(
        self,
        workspace: Workspace,
        app_url: str,
        signing_secret: str,
        *,
        slack_url: str,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.app_url = app_url
        self._verifier = SignatureVerifier(signing_secret)
        self._slack_url = slack_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=30)
        self._clock = clock
        # What each user has picked in each multi-select, as a Slack client keeps it locally.
        self._picked: dict[tuple[str, str, str], list[JsonDict]] = {}

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    def signed_headers(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack adds to a request: timestamp and v0 HMAC signature."""
        stamp = str(int(self._clock()) if timestamp is None else timestamp)
        return {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": self._verifier.generate_signature(timestamp=stamp, body=body) or "",
        }

    async def send(
        self, body: str, *, timestamp: int | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST a raw form body to the app, signed (extra headers may override, e.g. to forge)."""
        merged = {**self.signed_headers(body, timestamp), **(headers or {})}
        return await self._http.post(self.app_url, content=body, headers=merged)

    async def send_payload(self, payload: JsonDict, **kwargs: Any) -> httpx.Response:
        """POST an interaction payload the way Slack does: form field `payload` holding JSON."""
        return await self.send(urlencode({"payload": json.dumps(payload)}), **kwargs)

    # -- who and where -----------------------------------------------------------------------

    def _user(self, user_id: str) -> JsonDict:
        user = self.workspace.user(user_id)
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": TEAM_ID}

    def _message(self, user: str, channel: str, ts: str) -> Message | Ephemeral:
        ephemeral = self.workspace.ephemeral(channel, user, ts)
        return ephemeral if ephemeral is not None else self.workspace.message(channel, ts)

    def _base(self, kind: str, user: str) -> JsonDict:
        return {
            "type": kind,
            "user": self._user(user),
            "api_app_id": APP_ID,
            "token": LEGACY_TOKEN,
            "team": {"id": TEAM_ID, "domain": "sandbox"},
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": self.workspace.issue_trigger_id(user),
        }

    # -- messages ----------------------------------------------------------------------------

    def _state(self, user: str, channel: str, message: Message | Ephemeral) -> JsonDict:
        values: JsonDict = {}
        for block_id, element in _elements(message.blocks):
            if element.get("type") == "multi_static_select":
                picked = self._picked.get((user, channel, message.ts), [])
                values[block_id] = {
                    str(element["action_id"]): {"type": "multi_static_select", "selected_options": picked}
                }
        return {"values": values}

    def _message_action(self, user: str, channel: str, ts: str, block_id: str, element: JsonDict) -> JsonDict:
        message = self._message(user, channel, ts)
        ephemeral = isinstance(message, Ephemeral)
        action: JsonDict = {
            "type": element.get("type"),
            "action_id": element.get("action_id"),
            "block_id": block_id,
            "action_ts": f"{self._clock():.6f}",
        }
        if "value" in element:
            action["value"] = element["value"]
        if "text" in element:
            action["text"] = element["text"]
        if element.get("type") == "multi_static_select":
            action["selected_options"] = self._picked.get((user, channel, ts), [])
        payload = self._base("block_actions", user)
        payload.update(
            container={"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral},
            channel={"id": channel, "name": self.workspace.channel(channel).name},
            state=self._state(user, channel, message),
            response_url=self.workspace.issue_response_url(channel, user, ts, base_url=self._slack_url),
            actions=[action],
        )
        if not ephemeral:
            payload["message"] = message.to_slack()
        return payload

    async def click(
        self, user: str, channel: str, ts: str, action_id: str, value: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Click a button (or pick from an overflow) in a message the user sees."""
        block_id, element = find_element(self._message(user, channel, ts).blocks, action_id, value)
        return await self.send_payload(self._message_action(user, channel, ts, block_id, element), **kwargs)

    async def select(
        self, user: str, channel: str, ts: str, action_id: str, values: list[str]
    ) -> httpx.Response:
        """Pick options in a multi-select; Slack sends a block_actions payload for it."""
        message = self._message(user, channel, ts)
        block_id, element = find_element(message.blocks, action_id)
        options = {str(option["value"]): option for option in element.get("options", [])}
        missing = [value for value in values if value not in options]
        if missing:
            raise KeyError(f"options not in the menu: {missing}")
        self._picked[(user, channel, ts)] = [options[value] for value in values]
        return await self.send_payload(self._message_action(user, channel, ts, block_id, element))

    async def choose(self, user: str, channel: str, ts: str, action_id: str, value: str) -> httpx.Response:
        """Pick one option of a static_select or an overflow menu in a message."""
        message = self._message(user, channel, ts)
        for block_id, element in _elements(message.blocks):
            # Several entries may share an action_id (one menu each): the option's value tells them apart.
            option = next((o for o in _options(element) if o.get("value") == value), None)
            if element.get("action_id") == action_id and option is not None:
                payload = self._message_action(user, channel, ts, block_id, element)
                payload["actions"][0]["selected_option"] = option
                return await self.send_payload(payload)
        raise KeyError(f"no menu {action_id!r} with option {value!r}")

    # -- modals ------------------------------------------------------------------------------

    def open_view(self, user: str) -> View | None:
        """The modal on top of the user's stack, if any."""
        stack = self.workspace.modals.get(user) or []
        return stack[-1] if stack else None

    def _top_view(self, user: str) -> View:
        view = self.open_view(user)
        if view is None:
            raise KeyError(f"{user} has no open modal")
        return view

    def _view_action(
        self, user: str, view: View, block_id: str, element: JsonDict, **chosen: Any
    ) -> JsonDict:
        """A block_actions payload from a modal, as Slack sends it: `chosen` is the element's
        `value` for a button, its `selected_option` for a menu."""
        payload = self._base("block_actions", user)
        action = {"type": element.get("type"), "action_id": element.get("action_id"), "block_id": block_id}
        payload.update(
            container={"type": "view", "view_id": view.id},
            view=view.to_slack(),
            actions=[{**action, **chosen, "action_ts": f"{self._clock():.6f}"}],
        )
        return payload

    async def click_in_view(self, user: str, action_id: str, value: str | None = None) -> httpx.Response:
        """Click a button inside the user's open modal."""
        view = self._top_view(user)
        block_id, element = find_element(list(view.payload.get("blocks", [])), action_id, value)
        return await self.send_payload(
            self._view_action(user, view, block_id, element, value=element.get("value"))
        )

    async def choose_in_view(self, user: str, action_id: str, value: str) -> httpx.Response:
        """Pick one option of a static_select inside the user's open modal."""
        view = self._top_view(user)
        for block_id, element in _elements(list(view.payload.get("blocks", []))):
            option = next((o for o in _options(element) if o.get("value") == value), None)
            if element.get("action_id") == action_id and option is not None:
                payload = self._view_action(user, view, block_id, element, selected_option=option)
                return await self.send_payload(payload)
        raise KeyError(f"no menu {action_id!r} with option {value!r} in the open modal")

    async def submit_view(self, user: str, **kwargs: Any) -> httpx.Response:
        """Press the modal's submit button and apply the app's response_action, as Slack does."""
        view = self.open_view(user)
        if view is None:
            raise KeyError(f"{user} has no open modal")
        payload = self._base("view_submission", user)
        payload.update(view=view.to_slack(), response_urls=[])
        response = await self.send_payload(payload, **kwargs)
        if response.status_code != 200:
            return response
        answer = response.json() if response.content.strip() else {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action == "update":
            self.workspace.update_view(view_id=view.id, payload=answer["view"])
        elif action == "push":
            self.workspace.push_view(user, answer["view"])
        elif action != "errors":
            self.workspace.close_view(user)
        return response

    def close_view(self, user: str) -> None:
        """Press Close/Cancel."""
        self.workspace.close_view(user)

    # -- App Home ----------------------------------------------------------------------------

    async def open_home(
        self, user: str, *, timestamp: int | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Open the app's Home tab: Slack sends the Events API's `app_home_opened`, as JSON."""
        event = app_home_opened(self.workspace, user, self._clock(), token=LEGACY_TOKEN)
        merged = {"content-type": "application/json", **(headers or {})}
        return await self.send(json.dumps(event), timestamp=timestamp, headers=merged)

    async def click_in_home(
        self, user: str, action_id: str, value: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Click a button in the user's published Home view."""
        with self.workspace.lock:  # the app may republish the view meanwhile
            home = self.workspace.homes.get(user)
            if home is None:
                raise KeyError(f"{user} has no published Home")
            block_id, element = find_element(list(home.payload.get("blocks", [])), action_id, value)
            payload = self._base("block_actions", user)
            payload.update(home_click(home, block_id, element, self._clock()))
        return await self.send_payload(payload, **kwargs)

    # -- slash commands ----------------------------------------------------------------------

    async def command(
        self, user: str, channel: str, command: str, text: str, **kwargs: Any
    ) -> httpx.Response:
        """Type a slash command in a channel."""
        fields = {
            "token": LEGACY_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": self.workspace.channel(channel).name,
            "user_id": user,
            "user_name": self.workspace.user(user).name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.workspace.issue_response_url(channel, user, base_url=self._slack_url),
            "trigger_id": self.workspace.issue_trigger_id(user),
        }
        return await self.send(urlencode(fields), **kwargs)
