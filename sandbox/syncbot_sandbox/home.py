"""The app's Home tab as Slack's client drives it: opening the tab sends `app_home_opened` (an
Events API `event_callback`), and a click in the published Home view sends a `block_actions`
payload whose container is the view, with no channel, message or response_url.

Both are plain payload builders; `Desk` signs and sends them like every other request.
"""

from __future__ import annotations

import secrets

from syncbot_sandbox.store import APP_ID, BOT_USER_ID, TEAM_ID, JsonDict, View, Workspace

__all__ = ["app_home_opened", "home_channel", "home_click"]


def home_channel(user: str) -> str:
    """The ID of the app's DM with `user`: Slack names it in `app_home_opened` (`D…`)."""
    # Stable per user, so a bot that remembers it sees the same channel each time.
    return f"D{user[1:]}" if user.startswith("U") else f"D{user}"


def app_home_opened(workspace: Workspace, user: str, now: float, *, token: str) -> JsonDict:
    """The Events API body Slack POSTs (as JSON) when `user` opens the app's Home tab."""
    with workspace.lock:
        workspace.user(user)  # user_not_found for someone the workspace does not know
        home = workspace.homes.get(user)
        event: JsonDict = {
            "type": "app_home_opened",
            "user": user,
            "channel": home_channel(user),
            "tab": "home",
            "event_ts": f"{now:.6f}",
        }
        if home is not None:
            # Slack includes the view once the app has published one.
            event["view"] = home.to_slack()
    return {
        "token": token,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(6).upper()}",
        "event_time": int(now),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def home_click(home: View, block_id: str, element: JsonDict, now: float) -> JsonDict:
    """The parts of a `block_actions` payload that say the click was in `home` (Slack's shape for
    Home: the view and a view container; no channel, message, state or response_url)."""
    action: JsonDict = {
        "type": element.get("type"),
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "action_ts": f"{now:.6f}",
    }
    for name in ("value", "text", "url", "style"):
        if name in element:
            action[name] = element[name]
    return {
        "container": {"type": "view", "view_id": home.id},
        "view": home.to_slack(),
        "actions": [action],
    }
