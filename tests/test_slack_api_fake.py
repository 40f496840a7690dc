"""The local Slack Web API, driven over HTTP by the real slack_sdk clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette

from syncbot_sandbox.blockkit import message_problems, view_problems
from syncbot_sandbox.serve import BackgroundServer
from syncbot_sandbox.slack_api import SlackApiConfig, create_slack_api
from syncbot_sandbox.store import BOT_ID, BOT_USER_ID, DEFAULT_CHANNEL, Workspace

CHANNEL = DEFAULT_CHANNEL
ADA = "U0ADA"


@dataclass
class Sandbox:
    ws: Workspace
    url: str
    client: AsyncWebClient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_764_240_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Starlette, str]]:
    # One server per module (stopping uvicorn takes ~0.2 s); each test swaps in a fresh workspace.
    app = create_slack_api()
    with BackgroundServer(app) as running:
        yield app, running.url


def use(server: tuple[Starlette, str], ws: Workspace) -> Sandbox:
    app, url = server
    ws.base_url = url
    app.state.workspace = ws
    return Sandbox(ws, url, AsyncWebClient(token="xoxb-test", base_url=f"{url}/api/"))


@pytest.fixture
def slack(server: tuple[Starlette, str]) -> Sandbox:
    return use(server, Workspace())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack_at(server: tuple[Starlette, str], clock: FakeClock) -> Sandbox:
    return use(server, Workspace(clock=clock))


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Resync"}, "blocks": [section("Sure?")]}


async def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# -- chat.* ------------------------------------------------------------------------------------


async def test_post_then_update_replaces_blocks(slack: Sandbox) -> None:
    posted = await slack.client.chat_postMessage(
        channel=CHANNEL, text="2 failed", blocks=[section("a", "b1")]
    )
    ts = posted["ts"]
    assert posted["channel"] == CHANNEL
    assert posted["message"]["bot_id"] == BOT_ID
    assert posted["message"]["blocks"] == [section("a", "b1")]

    updated = await slack.client.chat_update(
        channel=CHANNEL, ts=ts, text="1 failed", blocks=[section("b", "b2")]
    )

    assert updated["ts"] == ts
    msg = slack.ws.message(CHANNEL, ts)
    assert (msg.text, msg.blocks) == ("1 failed", [section("b", "b2")])
    assert msg.edited is not None
    call = slack.ws.calls("chat.update")[0]
    assert call.args["blocks"] == [section("b", "b2")]  # recorded decoded
    assert call.token == "xoxb-test"


async def test_update_with_text_only_drops_blocks_like_slack(slack: Sandbox) -> None:
    ts = (await slack.client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("a")]))["ts"]
    await slack.client.chat_update(channel=CHANNEL, ts=ts, text="y")
    assert slack.ws.message(CHANNEL, ts).blocks == []


async def test_ts_values_are_unique_and_increasing(slack_at: Sandbox) -> None:
    # A frozen clock: uniqueness must not depend on time moving.
    stamps = [(await slack_at.client.chat_postMessage(channel=CHANNEL, text=str(i)))["ts"] for i in range(3)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 3
    assert stamps[0] == "1764240000.000000"


async def test_update_unknown_ts_is_message_not_found(slack: Sandbox) -> None:
    err = await api_error(slack.client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"


async def test_update_of_someone_elses_message_is_refused(slack: Sandbox) -> None:
    human = slack.ws.post_message(CHANNEL, "hello", user=ADA)
    err = await api_error(slack.client.chat_update(channel=CHANNEL, ts=human.ts, text="x"))
    assert err.response["error"] == "cant_update_message"


@pytest.mark.parametrize("channel", ["C0NOPE", ""])
async def test_unknown_or_missing_channel(slack: Sandbox, channel: str) -> None:
    err = await api_error(slack.client.chat_postMessage(channel=channel, text="x"))
    assert err.response["error"] == "channel_not_found"


async def test_message_without_text_or_blocks_is_no_text(slack: Sandbox) -> None:
    # api_call directly: chat_postMessage would (rightly) warn about the missing text first.
    err = await api_error(slack.client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    assert err.response["error"] == "no_text"


@pytest.mark.parametrize(
    "blocks",
    [
        pytest.param([section(str(i)) for i in range(51)], id="51-blocks"),
        pytest.param([section("x" * 4000)], id="4000-char-section"),
        pytest.param([section("a", "same"), section("b", "same")], id="duplicate-block-id"),
        pytest.param([{"text": "no type"}], id="no-type"),
    ],
)
async def test_invalid_blocks(slack: Sandbox, blocks: list[dict[str, Any]]) -> None:
    err = await api_error(slack.client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert err.response["errors"]
    assert slack.ws.history(CHANNEL) == []


async def test_too_long_text_is_msg_too_long(slack: Sandbox) -> None:
    err = await api_error(slack.client.chat_postMessage(channel=CHANNEL, text="x" * 40_001))
    assert err.response["error"] == "msg_too_long"


async def test_validators_are_pluggable() -> None:
    seen: list[tuple[str, int]] = []

    def strict(text: str, blocks: list[dict[str, Any]]) -> list[str]:
        seen.append((text, len(blocks)))
        return ["always wrong"]

    with BackgroundServer(create_slack_api(SlackApiConfig(validate_message=strict))) as running:
        client = AsyncWebClient(token="xoxb-test", base_url=f"{running.url}/api/")
        err = await api_error(client.chat_postMessage(channel=CHANNEL, text="hi"))
    assert err.response["errors"] == ["always wrong"]
    assert seen == [("hi", 0)]


async def test_thread_replies_and_unknown_thread_ts(slack: Sandbox) -> None:
    parent = (await slack.client.chat_postMessage(channel=CHANNEL, text="digest"))["ts"]
    reply = (await slack.client.chat_postMessage(channel=CHANNEL, text="resynced", thread_ts=parent))["ts"]
    orphan = await slack.client.chat_postMessage(channel=CHANNEL, text="lost", thread_ts="1.000009")

    assert orphan["ok"]
    assert slack.ws.message(CHANNEL, orphan["ts"]).thread_ts == "1.000009"  # kept for assertions
    assert slack.ws.message(CHANNEL, parent).replies == [reply]
    link = await slack.client.chat_getPermalink(channel=CHANNEL, message_ts=reply)
    assert link["permalink"].endswith(f"?thread_ts={parent}&cid={CHANNEL}")


async def test_post_ephemeral(slack: Sandbox) -> None:
    resp = await slack.client.chat_postEphemeral(channel=CHANNEL, user=ADA, text="only you")
    [eph] = slack.ws.ephemerals[(CHANNEL, ADA)]
    assert (eph.ts, eph.text) == (resp["message_ts"], "only you")
    assert slack.ws.history(CHANNEL) == []
    err = await api_error(slack.client.chat_postEphemeral(channel=CHANNEL, user="U0NOBODY", text="x"))
    assert err.response["error"] == "user_not_in_channel"


async def test_form_encoded_call_without_api_prefix(slack: Sandbox) -> None:
    # What slack_sdk sends for params= methods, and what curl users send: blocks as a JSON string.
    form = {"channel": CHANNEL, "text": "hi", "blocks": json.dumps([section("hi")])}
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{slack.url}/chat.postMessage", data=form, headers={"Authorization": "Bearer xoxb-test"}
        )
    assert resp.status_code == 200
    assert resp.json()["ok"] is True
    assert slack.ws.calls("chat.postMessage")[0].args["blocks"] == [section("hi")]


# -- auth and unknown methods ------------------------------------------------------------------


async def test_auth_test(slack: Sandbox) -> None:
    resp = await slack.client.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == (BOT_USER_ID, BOT_ID, "T0SYNCBOT")


async def test_bad_token_is_invalid_auth(slack: Sandbox) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=f"{slack.url}/api/")
    err = await api_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert err.response["error"] == "invalid_auth"
    assert slack.ws.history(CHANNEL) == []


async def test_missing_token_is_not_authed_and_unknown_method(slack: Sandbox) -> None:
    async with httpx.AsyncClient() as http:
        no_token = await http.post(f"{slack.url}/api/auth.test")
        unknown = await http.post(f"{slack.url}/api/chat.nope", headers={"Authorization": "Bearer xoxb-test"})
    assert no_token.json() == {"ok": False, "error": "not_authed"}
    assert unknown.json()["error"] == "unknown_method"


# -- views -------------------------------------------------------------------------------------


async def test_views_open_trigger_is_single_use(slack: Sandbox) -> None:
    trigger = slack.ws.issue_trigger_id(ADA)
    opened = await slack.client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["title"] == MODAL["title"]
    assert [v.id for v in slack.ws.modals[ADA]] == [opened["view"]["id"]]

    again = await api_error(slack.client.views_open(trigger_id=trigger, view=MODAL))
    unknown = await api_error(slack.client.views_open(trigger_id="1.2.3", view=MODAL))
    assert again.response["error"] == "exchanged_trigger_id"
    assert unknown.response["error"] == "invalid_trigger_id"


async def test_views_open_trigger_expires_after_3_seconds(slack_at: Sandbox, clock: FakeClock) -> None:
    trigger = slack_at.ws.issue_trigger_id(ADA)
    clock.now += 3.5
    err = await api_error(slack_at.client.views_open(trigger_id=trigger, view=MODAL))
    assert err.response["error"] == "expired_trigger_id"


async def test_invalid_view_does_not_burn_the_trigger(slack: Sandbox) -> None:
    trigger = slack.ws.issue_trigger_id(ADA)
    err = await api_error(slack.client.views_open(trigger_id=trigger, view={"type": "modal", "blocks": []}))
    assert err.response["error"] == "invalid_arguments"
    assert (await slack.client.views_open(trigger_id=trigger, view=MODAL))["ok"]


async def test_views_push_update_and_hash(slack: Sandbox) -> None:
    root = (await slack.client.views_open(trigger_id=slack.ws.issue_trigger_id(ADA), view=MODAL))["view"]
    pushed = (await slack.client.views_push(trigger_id=slack.ws.issue_trigger_id(ADA), view=MODAL))["view"]
    assert pushed["root_view_id"] == root["id"]
    assert pushed["previous_view_id"] == root["id"]

    changed = {**MODAL, "blocks": [section("Done")]}
    updated = (await slack.client.views_update(view_id=root["id"], view=changed, hash=root["hash"]))["view"]
    assert updated["blocks"] == [section("Done")]
    stale = await api_error(slack.client.views_update(view_id=root["id"], view=changed, hash=root["hash"]))
    missing = await api_error(slack.client.views_update(view_id="V0NOPE", view=changed))
    assert stale.response["error"] == "hash_conflict"
    assert missing.response["error"] == "not_found"

    await slack.client.views_push(trigger_id=slack.ws.issue_trigger_id(ADA), view=MODAL)
    full = await api_error(slack.client.views_push(trigger_id=slack.ws.issue_trigger_id(ADA), view=MODAL))
    assert full.response["error"] == "push_limit_reached"


async def test_views_update_by_external_id_and_publish(slack: Sandbox) -> None:
    modal = {**MODAL, "external_id": "bulk-1"}
    await slack.client.views_open(trigger_id=slack.ws.issue_trigger_id(ADA), view=modal)
    updated = await slack.client.views_update(external_id="bulk-1", view={**modal, "private_metadata": "x"})
    assert updated["view"]["private_metadata"] == "x"

    home = {"type": "home", "blocks": [section("Failed syncs")]}
    first = (await slack.client.views_publish(user_id=ADA, view=home))["view"]
    second = (await slack.client.views_publish(user_id=ADA, view=home, hash=first["hash"]))["view"]
    assert first["id"] == second["id"]
    assert slack.ws.homes[ADA].hash == second["hash"]


# -- users and groups --------------------------------------------------------------------------


async def test_usergroups_users_list_and_users_info(slack: Sandbox) -> None:
    assert (await slack.client.usergroups_users_list(usergroup="S0ADMINS"))["users"] == [ADA]
    err = await api_error(slack.client.usergroups_users_list(usergroup="S0NOPE"))
    assert err.response["error"] == "no_such_subteam"
    assert (await slack.client.users_info(user=ADA))["user"]["real_name"] == "Ada Admin"
    err = await api_error(slack.client.users_info(user="U0NOPE"))
    assert err.response["error"] == "user_not_found"


# -- history -----------------------------------------------------------------------------------


async def test_conversations_history_with_metadata(slack: Sandbox) -> None:
    meta = {"event_type": "syncbot_digest", "event_payload": {"run": 7}}
    first = (await slack.client.chat_postMessage(channel=CHANNEL, text="one", metadata=meta))["ts"]
    await slack.client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=first)
    second = (await slack.client.chat_postMessage(channel=CHANNEL, text="two"))["ts"]

    plain = await slack.client.conversations_history(channel=CHANNEL)
    with_meta = await slack.client.conversations_history(channel=CHANNEL, include_all_metadata=True)

    assert [m["ts"] for m in plain["messages"]] == [second, first]  # newest first, no replies
    assert "metadata" not in plain["messages"][1]
    assert with_meta["messages"][1]["metadata"] == meta
    assert with_meta["messages"][1]["reply_count"] == 1


async def test_conversations_history_pages_and_bounds(slack: Sandbox) -> None:
    stamps = [(await slack.client.chat_postMessage(channel=CHANNEL, text=str(i)))["ts"] for i in range(5)]

    page1 = await slack.client.conversations_history(channel=CHANNEL, limit=2)
    cursor = page1["response_metadata"]["next_cursor"]
    page2 = await slack.client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
    bounded = await slack.client.conversations_history(channel=CHANNEL, oldest=stamps[1], latest=stamps[3])

    assert page1["has_more"] is True
    assert [m["ts"] for m in page1["messages"] + page2["messages"]] == stamps[::-1][:4]
    assert [m["ts"] for m in bounded["messages"]] == [stamps[2]]
    bad_ts = await api_error(slack.client.conversations_history(channel=CHANNEL, latest="soon"))
    bad_cursor = await api_error(slack.client.conversations_history(channel=CHANNEL, cursor="x"))
    assert (bad_ts.response["error"], bad_cursor.response["error"]) == ("invalid_ts_latest", "invalid_cursor")


async def test_conversations_replies_parent_first_then_replies_with_metadata(slack: Sandbox) -> None:
    meta = {"event_type": "syncbot_digest", "event_payload": {"digest_id": 2}}
    parent = (await slack.client.chat_postMessage(channel=CHANNEL, text="part 1"))["ts"]
    replies = []
    for part in (2, 3):
        posted = await slack.client.chat_postMessage(
            channel=CHANNEL, text=f"part {part}", thread_ts=parent, metadata=meta
        )
        replies.append(posted["ts"])
    alone = (await slack.client.chat_postMessage(channel=CHANNEL, text="no thread"))["ts"]

    plain = await slack.client.conversations_replies(channel=CHANNEL, ts=parent)
    by_reply = await slack.client.conversations_replies(
        channel=CHANNEL, ts=replies[1], include_all_metadata=True
    )
    single = await slack.client.conversations_replies(channel=CHANNEL, ts=alone)

    assert [m["ts"] for m in plain["messages"]] == [parent, *replies]  # parent first, then oldest first
    assert all("metadata" not in m for m in plain["messages"])
    assert [m["ts"] for m in by_reply["messages"]] == [parent, *replies]  # any ts of the thread names it
    assert [m.get("metadata") for m in by_reply["messages"]] == [None, meta, meta]
    assert by_reply["messages"][1]["thread_ts"] == parent
    assert [m["ts"] for m in single["messages"]] == [alone]
    assert plain["has_more"] is False
    assert plain["response_metadata"]["next_cursor"] == ""


async def test_conversations_replies_pages_bounds_and_errors(slack: Sandbox) -> None:
    parent = (await slack.client.chat_postMessage(channel=CHANNEL, text="root"))["ts"]
    stamps = [
        (await slack.client.chat_postMessage(channel=CHANNEL, text=str(i), thread_ts=parent))["ts"]
        for i in range(4)
    ]

    pages = [await slack.client.conversations_replies(channel=CHANNEL, ts=parent, limit=2)]
    while cursor := pages[-1]["response_metadata"]["next_cursor"]:
        pages.append(
            await slack.client.conversations_replies(channel=CHANNEL, ts=parent, limit=2, cursor=cursor)
        )
    bounded = await slack.client.conversations_replies(
        channel=CHANNEL, ts=parent, oldest=stamps[0], latest=stamps[3]
    )
    inclusive = await slack.client.conversations_replies(
        channel=CHANNEL, ts=parent, oldest=stamps[0], latest=stamps[3], inclusive=True
    )

    assert [[m["ts"] for m in page["messages"]] for page in pages] == [
        [parent, stamps[0]],
        stamps[1:3],
        stamps[3:],
    ]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert [m["ts"] for m in bounded["messages"]] == [parent, *stamps[1:3]]  # the parent heads it regardless
    assert [m["ts"] for m in inclusive["messages"]] == [parent, *stamps]
    unknown = await api_error(slack.client.conversations_replies(channel=CHANNEL, ts="1.000001"))
    no_channel = await api_error(slack.client.conversations_replies(channel="C0NOPE", ts=parent))
    bad_cursor = await api_error(slack.client.conversations_replies(channel=CHANNEL, ts=parent, cursor="x"))
    bad_ts = await api_error(slack.client.conversations_replies(channel=CHANNEL, ts=parent, oldest="soon"))
    assert [e.response["error"] for e in (unknown, no_channel, bad_cursor, bad_ts)] == [
        "thread_not_found",
        "channel_not_found",
        "invalid_cursor",
        "invalid_ts_oldest",
    ]


# -- failure injection -------------------------------------------------------------------------


async def test_injected_429_is_retried_by_slack_sdk(slack: Sandbox) -> None:
    slack.ws.fail("chat.postMessage", status=429, retry_after=1)
    client = AsyncWebClient(
        token="xoxb-test", base_url=f"{slack.url}/api/", retry_handlers=[AsyncRateLimitErrorRetryHandler()]
    )

    resp = await client.chat_postMessage(channel=CHANNEL, text="after a pause")

    assert resp["ok"]
    calls = slack.ws.calls("chat.postMessage")
    assert [(c.status, c.error) for c in calls] == [(429, "ratelimited"), (200, None)]
    assert len(slack.ws.history(CHANNEL)) == 1


async def test_429_without_retry_handler_raises_with_retry_after(slack: Sandbox) -> None:
    slack.ws.fail("chat.update", status=429)
    err = await api_error(slack.client.chat_update(channel=CHANNEL, ts="1.0", text="x"))
    assert (err.response.status_code, err.response.headers["Retry-After"]) == (429, "1")


async def test_failures_injected_over_http(slack: Sandbox) -> None:
    async with httpx.AsyncClient() as http:
        for failure in (
            {"method": "chat.postMessage", "error": "not_in_channel"},
            {"method": "chat.postMessage", "status": 500},
        ):
            resp = await http.post(f"{slack.url}/_sandbox/fail", json=failure)
            assert resp.json()["ok"] is True
        bad = await http.post(f"{slack.url}/_sandbox/fail", json={"error": "x"})
    assert bad.status_code == 400

    first = await api_error(slack.client.chat_postMessage(channel=CHANNEL, text="x"))
    second = await api_error(slack.client.chat_postMessage(channel=CHANNEL, text="x"))
    third = await slack.client.chat_postMessage(channel=CHANNEL, text="x")

    assert (first.response.status_code, first.response["error"]) == (200, "not_in_channel")
    assert (second.response.status_code, second.response["error"]) == (500, "internal_error")
    assert third["ok"]


# -- response_url ------------------------------------------------------------------------------


async def test_response_url_replace_original_and_ephemeral(slack: Sandbox) -> None:
    ts = (await slack.client.chat_postMessage(channel=CHANNEL, text="digest", blocks=[section("a")]))["ts"]
    url = slack.ws.issue_response_url(CHANNEL, ADA, ts)
    hook = AsyncWebhookClient(url)

    queued = await hook.send(text="queued", response_type="ephemeral", replace_original=False)
    replaced = await hook.send(text="resynced", blocks=[section("done")], replace_original=True)

    assert (queued.status_code, queued.body) == (200, "ok")
    assert replaced.status_code == 200
    assert [e.text for e in slack.ws.ephemerals[(CHANNEL, ADA)]] == ["queued"]
    msg = slack.ws.message(CHANNEL, ts)
    assert (msg.text, msg.blocks) == ("resynced", [section("done")])
    await slack.ws.wait_for("response_url", count=2)


async def test_response_url_replaces_and_deletes_an_ephemeral_original(slack: Sandbox) -> None:
    eph = slack.ws.post_ephemeral(CHANNEL, ADA, "pick entries")
    hook = AsyncWebhookClient(slack.ws.issue_response_url(CHANNEL, ADA, eph.ts))

    await hook.send(text="3 queued", replace_original=True)
    assert [e.text for e in slack.ws.ephemerals[(CHANNEL, ADA)]] == ["3 queued"]

    await hook.send(delete_original=True)
    assert slack.ws.ephemerals[(CHANNEL, ADA)] == []


async def test_response_url_in_channel_and_slash_command_replace(slack: Sandbox) -> None:
    hook = AsyncWebhookClient(slack.ws.issue_response_url(CHANNEL, ADA))  # slash command: no original

    await hook.send(text="listing…", response_type="ephemeral")
    await hook.send(text="12 failed", replace_original=True)  # replaces its own first reply
    public = await hook.send(text="posted for all", response_type="in_channel")

    assert public.status_code == 200
    assert [e.text for e in slack.ws.ephemerals[(CHANNEL, ADA)]] == ["12 failed"]
    assert [m.text for m in slack.ws.history(CHANNEL)] == ["posted for all"]


async def test_response_url_allows_5_uses_then_404(slack: Sandbox) -> None:
    hook = AsyncWebhookClient(slack.ws.issue_response_url(CHANNEL, ADA))
    statuses = [(await hook.send(text=str(i), response_type="ephemeral")).status_code for i in range(6)]
    last = await hook.send(text="x")
    unknown = await AsyncWebhookClient(f"{slack.url}/response/nope").send(text="x")

    assert statuses == [200] * 5 + [404]
    assert last.body == "used_url"
    assert (unknown.status_code, unknown.body) == (404, "invalid_token")


async def test_response_url_expires_after_30_minutes(slack_at: Sandbox, clock: FakeClock) -> None:
    hook = AsyncWebhookClient(slack_at.ws.issue_response_url(CHANNEL, ADA))
    clock.now += 30 * 60 + 1
    resp = await hook.send(text="late")
    assert (resp.status_code, resp.body) == (404, "expired_url")


async def test_response_url_rejects_invalid_blocks_and_no_text(slack: Sandbox) -> None:
    hook = AsyncWebhookClient(slack.ws.issue_response_url(CHANNEL, ADA))
    too_many = await hook.send(text="x", blocks=[section(str(i)) for i in range(51)])
    empty = await hook.send(response_type="ephemeral")
    assert (too_many.status_code, too_many.body) == (400, "invalid_blocks")
    assert (empty.status_code, empty.body) == (400, "no_text")


# -- sandbox endpoints and helpers -------------------------------------------------------------


async def test_state_endpoint_renders_the_workspace(slack: Sandbox) -> None:
    parent = (await slack.client.chat_postMessage(channel=CHANNEL, text="digest"))["ts"]
    await slack.client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent)
    await slack.client.chat_postEphemeral(channel=CHANNEL, user=ADA, text="psst")
    await slack.client.views_open(trigger_id=slack.ws.issue_trigger_id(ADA), view=MODAL)

    async with httpx.AsyncClient() as http:
        state = (await http.get(f"{slack.url}/_sandbox/state")).json()
        calls = (await http.get(f"{slack.url}/_sandbox/calls", params={"method": "views.open"})).json()

    [channel] = state["channels"]
    [message] = channel["messages"]
    assert (message["text"], [r["text"] for r in message["replies"]]) == ("digest", ["reply"])
    assert [(e["user"], e["text"]) for e in state["ephemerals"]] == [(ADA, "psst")]
    assert state["views"][ADA]["modals"][0]["title"] == MODAL["title"]
    assert [c["method"] for c in calls] == ["views.open"]


async def test_trigger_and_response_url_endpoints(slack: Sandbox) -> None:
    async with httpx.AsyncClient() as http:
        trigger = (await http.post(f"{slack.url}/_sandbox/trigger_id", json={"user": ADA})).json()
        url = (
            await http.post(f"{slack.url}/_sandbox/response_url", json={"channel": CHANNEL, "user": ADA})
        ).json()
        nobody = await http.post(f"{slack.url}/_sandbox/trigger_id", json={"user": "U0NOPE"})

    assert (await slack.client.views_open(trigger_id=trigger["trigger_id"], view=MODAL))["ok"]
    assert url["response_url"].startswith(f"{slack.url}/response/")
    assert (await AsyncWebhookClient(url["response_url"]).send(text="hi")).status_code == 200
    assert nobody.json()["error"] == "user_not_found"


async def test_wait_for_times_out_with_what_it_saw(slack: Sandbox) -> None:
    await slack.client.auth_test()
    assert len(await slack.ws.wait_for("auth.test")) == 1
    with pytest.raises(TimeoutError, match=r"auth\.test"):
        await slack.ws.wait_for("chat.postMessage", timeout=0.1)


async def test_the_block_kit_checker_answers_as_slack(slack: Sandbox) -> None:
    blocks = [section("x" * 3001)]
    view = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}

    msg = await api_error(slack.client.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks))
    opened = await api_error(slack.client.views_open(trigger_id=slack.ws.issue_trigger_id(ADA), view=view))

    assert msg.response["errors"] == message_problems("x", blocks) != []
    assert opened.response["response_metadata"]["messages"] == [f"[ERROR] {p}" for p in view_problems(view)]
