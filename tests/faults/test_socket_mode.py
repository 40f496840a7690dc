"""Socket Mode: `syncbot run` with SLACK_APP_TOKEN connects over a WebSocket instead of serving
/slack/events, and handles slash commands and button clicks delivered as envelopes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from support.harness import BOT_TOKEN, CHANNEL, FakeSlack, Sim
from support.slack import digest_messages, forged_click
from support.waiting import wait_until

from blocks.ids import Action, Command
from syncbot_sandbox.desk import find_element
from syncbot_sandbox.serve import BackgroundServer
from syncbot_sandbox.slack_api import SlackApiConfig, create_slack_api
from syncbot_sandbox.socket_mode import SocketModeServer

pytestmark = pytest.mark.slow

APP_TOKEN = "xapp-1-A0SYNCBOT-test"


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    with SocketModeServer() as server:
        yield server


@pytest.fixture
def slack(socket_server: SocketModeServer) -> Iterator[FakeSlack]:
    """The local Slack Web API, accepting the app-level token and handing out the socket URL."""
    app = create_slack_api(SlackApiConfig(tokens=frozenset({BOT_TOKEN, APP_TOKEN})))
    with BackgroundServer(app) as server:
        workspace = app.state.workspace
        workspace.base_url = server.url
        workspace.socket_mode_url = socket_server.url
        yield FakeSlack(url=server.url, api_url=f"{server.url}/api/", workspace=workspace)


def test_socket_mode_serves_commands_and_clicks_without_an_http_endpoint(
    sim: Sim, slack: FakeSlack, socket_server: SocketModeServer, settings_env: dict[str, str]
) -> None:
    [run] = sim.world.add_failures(1, minutes_ago=3, flow_id=101)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **settings_env, "SLACK_APP_TOKEN": APP_TOKEN, "PORT": str(port)}
    env.pop("SLACK_SIGNING_SECRET")  # Socket Mode needs none
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: socket_server.connections and digest_messages(slack.workspace))
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["mode"] == "socket"
        assert httpx.post(f"http://127.0.0.1:{port}/slack/events", timeout=5).status_code == 404

        command = socket_server.deliver(
            "slash_commands",
            {
                "command": Command.FAILED_SYNCS,
                "text": "help",
                "user_id": "U0ADA",
                "channel_id": CHANNEL,
                "team_id": "T0SYNCBOT",
                "api_app_id": "A0SYNCBOT",
                "response_url": slack.workspace.issue_response_url(CHANNEL, "U0ADA", base_url=slack.url),
                "trigger_id": slack.workspace.issue_trigger_id("U0ADA"),
            },
        )
        wait_until(lambda: command in socket_server.acks)
        wait_until(lambda: slack.workspace.ephemerals.get((CHANNEL, "U0ADA")))
        assert "/failed-syncs" in str(slack.workspace.ephemerals[(CHANNEL, "U0ADA")][-1].blocks)

        digest = digest_messages(slack.workspace)[0]
        _, button = find_element(digest.blocks, Action.RESYNC)
        click = socket_server.deliver(
            "interactive", forged_click(slack, "U0ADA", digest.ts, Action.RESYNC, button["value"])
        )
        wait_until(lambda: click in socket_server.acks and sim.world.retry_calls)
        assert [original for original, _ in sim.world.retry_calls] == [run]

        redelivered = socket_server.deliver(
            "interactive",
            forged_click(slack, "U0ADA", digest.ts, Action.RESYNC, button["value"]),
            retry_attempt=1,
        )
        wait_until(lambda: redelivered in socket_server.acks)
        time.sleep(0.5)
        assert len(sim.world.retry_calls) == 1  # a redelivery is acknowledged, not acted on again
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
