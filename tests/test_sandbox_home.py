"""The sandbox's App Home tab: opening it sends Slack's signed `app_home_opened` event, a click in
the Home view is a `block_actions` from the view (no channel, no message), and the view the bot
publishes in answer is in the page's JSON state."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import httpx
from slack_sdk.signature import SignatureVerifier
from support.harness import CHANNEL, SIGNING_SECRET, FakeSlack, RunningBot, Sim
from support.waiting import eventually

from blocks.ids import Action
from syncbot_sandbox.desk import Desk
from syncbot_sandbox.slack_api import create_slack_api
from syncbot_sandbox.store import APP_ID, TEAM_ID, Workspace
from syncbot_sandbox.ui import create_sandbox_app

ADA = "U0ADA"
FLOW = "Shopify > NetSuite: Sales orders"  # the simulator's flow 101
HOME = {
    "type": "home",
    "blocks": [
        {
            "type": "actions",
            "block_id": "list",
            "elements": [
                {
                    "type": "button",
                    "action_id": "home_list",
                    "value": "list",
                    "text": {"type": "plain_text", "text": "List failed syncs"},
                }
            ],
        }
    ],
}


class Recorder:
    """An app that answers 200 to everything and keeps what it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    def verified_body(self) -> str:
        """The last request's raw body, after checking its Slack signature."""
        request = self.requests[-1]
        body = request.content.decode()
        verifier = SignatureVerifier(SIGNING_SECRET)
        assert verifier.is_valid(
            body, request.headers["x-slack-request-timestamp"], request.headers["x-slack-signature"]
        )
        return body


def recording_desk(workspace: Workspace) -> tuple[Desk, Recorder]:
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    desk = Desk(
        workspace, "http://app.test/slack/events", SIGNING_SECRET, slack_url="http://slack.test", http=http
    )
    return desk, recorder


async def test_opening_home_sends_a_signed_app_home_opened_event() -> None:
    workspace = Workspace()
    desk, app = recording_desk(workspace)
    try:
        assert (await desk.open_home(ADA)).status_code == 200
        first = json.loads(app.verified_body())
        home = workspace.publish_home(ADA, HOME)
        await desk.open_home(ADA)
        again = json.loads(app.verified_body())
    finally:
        await desk.aclose()

    assert app.requests[0].headers["content-type"] == "application/json"  # the Events API posts JSON
    assert (first["type"], first["team_id"], first["api_app_id"]) == ("event_callback", TEAM_ID, APP_ID)
    event = first["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", ADA, "home")
    assert event["channel"].startswith("D")
    assert "view" not in event  # nothing published yet
    assert first["event_id"] != again["event_id"]
    assert (again["event"]["view"]["id"], again["event"]["view"]["type"]) == (home.id, "home")


async def test_a_click_in_home_is_block_actions_from_the_view() -> None:
    workspace = Workspace()
    home = workspace.publish_home(ADA, HOME)
    desk, app = recording_desk(workspace)
    try:
        await desk.click_in_home(ADA, "home_list")
    finally:
        await desk.aclose()

    [raw] = parse_qs(app.verified_body())["payload"]
    payload: dict[str, Any] = json.loads(raw)
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == ADA
    assert payload["container"] == {"type": "view", "view_id": home.id}
    assert (payload["view"]["id"], payload["view"]["type"]) == (home.id, "home")
    assert payload["trigger_id"]
    # A Home view is no message in a channel: Slack sends none of these for it.
    assert not {"channel", "message", "response_url"} & payload.keys()
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("home_list", "list", "list")


async def test_the_page_opens_home_and_shows_the_view_the_bot_publishes(
    http_bot: RunningBot, sim: Sim, slack: FakeSlack
) -> None:
    sim.world.add_failures(2, flow_id=101, minutes_ago=2, error="Order #1045: INVENTORY_CLAIM_FAILED")
    await http_bot.services.poller.run_once()
    page_app = create_sandbox_app(create_slack_api(workspace=slack.workspace), http_bot.desk, channel=CHANNEL)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=page_app), base_url="http://page.test"
    ) as page:
        opened = await page.post("/_sandbox/ui/home", json={"user": ADA})
        # The real edge checked the signature before Bolt saw the event: 200 means it was valid.
        assert opened.json() == {"ok": True, "status": 200}
        await eventually(lambda: ADA in slack.workspace.homes)

        state = (await page.get("/_sandbox/state")).json()
        home = state["views"][ADA]["home"]
        assert home["type"] == "home"
        shown = json.dumps(home["blocks"], ensure_ascii=False)
        assert "Open causes (1)" in shown
        assert FLOW.replace(">", "&gt;") in shown  # verbatim text, escaped as Slack wants it
        assert "2 open runs" in shown

        clicked = await page.post(
            "/_sandbox/ui/home_click", json={"user": ADA, "action_id": Action.HOME_LIST}
        )
        assert clicked.json() == {"ok": True, "status": 200}
        await eventually(lambda: slack.workspace.ephemerals.get((CHANNEL, ADA)))
        state = (await page.get("/_sandbox/state")).json()
    [listing] = [e for e in state["ephemerals"] if e["user"] == ADA]
    assert listing["channel"] == CHANNEL  # the digest channel, only to Ada
    assert "in the last 24h" in listing["text"] + json.dumps(listing["blocks"])


async def test_a_forged_app_home_opened_is_refused_and_nothing_is_published(
    http_bot: RunningBot, slack: FakeSlack
) -> None:
    assert http_bot.url is not None
    forger = Desk(slack.workspace, f"{http_bot.url}/slack/events", "not-the-secret", slack_url=slack.url)
    try:
        assert (await forger.open_home(ADA)).status_code == 401
    finally:
        await forger.aclose()
    assert (await http_bot.desk.open_home(ADA)).status_code == 200
    await eventually(lambda: slack.workspace.calls("views.publish"))
    assert len(slack.workspace.calls("views.publish")) == 1
