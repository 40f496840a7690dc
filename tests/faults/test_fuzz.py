"""Bad input from Slack, fuzzed with Hypothesis through the running app: whatever is typed after
`/failed-syncs` and whatever comes back as a button value gets a 200 and a clear reply, never a
500 and never a resync."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.demo import DemoThread

from blocks.ids import Action, Command
from syncbot_sandbox.demo import DemoOptions, DemoStack
from syncbot_sandbox.store import DEFAULT_CHANNEL

pytestmark = pytest.mark.slow

USER = "U0ADA"  # may resync: a refusal must not be what keeps the fuzz from acting
QUIET = DemoOptions(seed=5, initial_failures=6, failures_every_s=None, poll_seconds=3600, outage_every_s=None)
HOSTILE = st.sampled_from(
    [
        "<!channel>",
        "<@U0ADA>",
        "<http://x|y>",
        "&amp;",
        "*b*",
        "`",
        "\u202e",
        "\x00",
        "'; drop table entries;--",
        "#1045",
        "2h",
        "15d",
        "16d",
        "0m",
        "help",
        "9" * 40,
        "مرحبا",
        "🔥",
    ]
)
TYPED = st.lists(st.one_of(st.text(max_size=60), HOSTILE), max_size=6).map(" ".join)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    running = DemoThread(Path(tmp_path_factory.mktemp("fuzz")), QUIET)
    yield running.start()
    running.stop()


def post(stack: DemoStack, body: str) -> httpx.Response:
    """Send a form body to the bot signed as Slack would sign it."""
    return httpx.post(
        f"{stack.bot_url}/slack/events", content=body, headers=stack.desk.signed_headers(body), timeout=30
    )


def replies(stack: DemoStack) -> int:
    return len(stack.workspace.ephemerals.get((DEFAULT_CHANNEL, USER), []))


def wait_for_replies(stack: DemoStack, count: int) -> None:
    deadline = time.monotonic() + 30
    while replies(stack) < count:
        assert time.monotonic() < deadline, f"{count - replies(stack)} commands got no reply"
        time.sleep(0.05)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=TYPED)
def test_any_command_text_gets_a_reply_and_changes_nothing(stack: DemoStack, typed: str) -> None:
    before = replies(stack)
    fields = {
        "command": Command.FAILED_SYNCS,
        "text": typed,
        "user_id": USER,
        "channel_id": DEFAULT_CHANNEL,
        "team_id": "T0SYNCBOT",
        "api_app_id": "A0SYNCBOT",
        "response_url": stack.workspace.issue_response_url(DEFAULT_CHANNEL, USER, base_url=stack.page_url),
        "trigger_id": stack.workspace.issue_trigger_id(USER),
    }
    response = post(stack, urlencode(fields))

    assert response.status_code == 200
    wait_for_replies(stack, before + 1)
    assert stack.world.retry_calls == []
    for ephemeral in stack.workspace.ephemerals[(DEFAULT_CHANNEL, USER)][before:]:
        assert "<!channel>" not in json.dumps(ephemeral.blocks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(sorted(Action)),
    value=st.one_of(
        st.text(max_size=300), st.builds(json.dumps, st.dictionaries(st.text(max_size=8), st.integers()))
    ),
)
def test_any_button_value_is_refused_cleanly(stack: DemoStack, action: Action, value: str) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": USER},
        "team": {"id": "T0SYNCBOT"},
        "api_app_id": "A0SYNCBOT",
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": DEFAULT_CHANNEL},
        "channel": {"id": DEFAULT_CHANNEL},
        "trigger_id": stack.workspace.issue_trigger_id(USER),
        "response_url": stack.workspace.issue_response_url(DEFAULT_CHANNEL, USER, base_url=stack.page_url),
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value}],
    }

    response = post(stack, urlencode({"payload": json.dumps(payload)}))

    assert response.status_code == 200
    assert stack.world.retry_calls == []


@pytest.mark.parametrize(
    "body",
    ["", "payload=", "payload=%7B", "payload=%5B%5D", "payload=" + "x" * 20_000, "command=/nope&text=hi"],
)
def test_malformed_bodies_never_get_a_500(stack: DemoStack, body: str) -> None:
    assert post(stack, body).status_code < 500
    unsigned = httpx.post(f"{stack.bot_url}/slack/events", content=body, timeout=30)
    assert unsigned.status_code in (400, 401)
