"""Routing (SYNCBOT_ROUTES): the table's rules, a bad file stopping start-up with its file, line
and field, and a real `syncbot run` posting each failure's digest to its own channel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.harness import CHANNEL, FakeSlack, Sim, make_services
from support.process import Bot
from support.slack import counted_runs, digest_messages
from support.waiting import wait_until

from bot.config import load_settings
from bot.patchworks.models import RunStatus
from bot.routes import Route, Router, RoutesError, load_routes
from syncbot_sandbox.store import Channel

SHOP = "C0SHOP"
STOCK = "C0STOCK"

TABLE = """\
routes:
  - channel: C0SHOP            # Shopify orders
    flows: ["Shopify*"]
    statuses: [failure]
  - channel: C0STOCK
    systems: ["Peoplevox", "brightpearl"]
"""


def router(tmp_path: Path, text: str = TABLE) -> Router:
    path = tmp_path / "routes.yml"
    path.write_text(text)
    return Router(routes=load_routes(path), default=CHANNEL)


@pytest.mark.parametrize(
    ("flow", "systems", "status", "channel"),
    [
        ("Shopify > NetSuite: Sales orders", ("Shopify", "NetSuite"), RunStatus.FAILURE, SHOP),
        ("shopify > netsuite: refunds", ("Shopify", "NetSuite"), RunStatus.FAILURE, SHOP),  # any case
        ("Shopify > Peoplevox: Orders", ("Shopify", "Peoplevox"), RunStatus.PARTIAL_SUCCESS, STOCK),
        ("Peoplevox > Shopify: Stock", ("Peoplevox", "Shopify"), RunStatus.FAILURE, STOCK),
        ("Brightpearl > Amazon: Stock", ("Brightpearl", "Amazon"), None, STOCK),
        ("NetSuite > Xero: Invoices", ("NetSuite", "Xero"), RunStatus.FAILURE, CHANNEL),  # unmatched
        ("My Shopify flow", ("Shopify",), RunStatus.FAILURE, CHANNEL),  # the glob anchors at the start
    ],
)
def test_the_first_matching_route_wins_and_the_rest_go_to_the_default_channel(
    tmp_path: Path, flow: str, systems: tuple[str, ...], status: RunStatus | None, channel: str
) -> None:
    assert router(tmp_path).channel_of(flow, systems, status) == channel


def test_a_route_with_every_condition_needs_all_of_them() -> None:
    route = Route(
        channel=SHOP, flows=("shopify*",), systems=("netsuite",), statuses=frozenset({RunStatus.FAILURE})
    )
    assert route.matches("Shopify > NetSuite", ("Shopify", "NetSuite"), RunStatus.FAILURE)
    assert not route.matches("Shopify > Xero", ("Shopify", "Xero"), RunStatus.FAILURE)
    assert not route.matches("Shopify > NetSuite", ("Shopify", "NetSuite"), RunStatus.PARTIAL_SUCCESS)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("routes:\n  - channel: general\n", ":2: routes[0].channel: 'general' is not a channel ID"),
        ("routes:\n  - flows: [x]\n", ":2: routes[0].channel: missing"),
        ("routes:\n  - channel: C0A\n    flow: [x]\n", ":3: routes[0].flow: unknown field"),
        (
            "routes:\n  - channel: C0A\n    statuses: [failed]\n",
            ":3: routes[0].statuses: 'failed' is not failure",
        ),
        (
            "routes:\n  - channel: C0A\n    flows: Shopify*\n",
            ":3: routes[0].flows: expected a non-empty list",
        ),
        ("routes: [\n", ":2: not valid YAML"),
        ("- channel: C0A\n", ":1: expected a mapping with a `routes:` list"),
        ("routes: {}\n", ":1: routes: expected a list of routes"),
    ],
)
def test_a_bad_routes_file_names_its_file_line_and_field(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(text)
    with pytest.raises(RoutesError) as caught:
        load_routes(path)
    assert str(caught.value).startswith(str(path))
    assert problem in str(caught.value)


def test_a_bad_routes_file_stops_start_up_with_one_line(settings_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "routes.yml"
    path.write_text("routes:\n  - channel: C0SHOP\n  - channel: nope\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={**settings_env, "SYNCBOT_ROUTES": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SYNCBOT_ROUTES" in done.stderr
    assert f"{path}:3: routes[1].channel: 'nope' is not a channel ID" in done.stderr
    assert "Traceback" not in done.stderr


def test_syncbot_check_prints_where_each_known_flow_goes(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], tmp_path: Path
) -> None:
    for channel in (SHOP, STOCK):
        slack.workspace.channels[channel] = Channel(channel, channel.lower())
    path = tmp_path / "routes.yml"
    path.write_text(TABLE)
    env = {**settings_env, "SYNCBOT_ROUTES": str(path), "PATH": "/usr/bin:/bin"}
    sim.world.add_failures(2, flow_id=101, minutes_ago=5)
    assert subprocess.run([sys.executable, "-m", "bot", "poll"], env=env, timeout=120).returncode == 0

    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"], env=env, capture_output=True, text=True, timeout=60
    )

    assert "Shopify > NetSuite: Sales orders → C0SHOP" in done.stdout, done.stdout + done.stderr


def test_a_real_syncbot_run_posts_each_channels_digests_to_it(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], tmp_path: Path
) -> None:
    for channel in (SHOP, STOCK):
        slack.workspace.channels[channel] = Channel(channel, channel.lower())
    path = tmp_path / "routes.yml"
    path.write_text(TABLE)
    shop = sim.world.add_failures(3, flow_id=101, minutes_ago=5, error="Shopify: 503 Service Unavailable")
    others = sim.world.add_failures(2, flow_id=109, minutes_ago=5, error="Veeqo: 503 Service Unavailable")
    bot = Bot(
        {**settings_env, "SYNCBOT_ROUTES": str(path), "SYNCBOT_POLL_SECONDS": "2"}, tmp_path / "bot.log"
    )
    try:
        bot.wait_ready()
        wait_until(lambda: counted_runs(slack, SHOP) == len(shop), 20, "the Shopify digest")
        wait_until(lambda: counted_runs(slack, CHANNEL) == len(others), 20, "the default channel's digest")
        assert len(digest_messages(slack.workspace, SHOP)) == 1
        assert len(digest_messages(slack.workspace, CHANNEL)) == 1
        assert digest_messages(slack.workspace, STOCK, parts=True) == []
    finally:
        bot.stop()
    log = bot.log.read_text()
    assert "Traceback" not in log
    assert "WARNING slack_bolt" not in log  # a clean start says nothing alarming


WORDS = ["quantity", "price", "weight", "barcode", "colour", "size", "tax", "carrier"]


async def test_each_channels_thread_parts_hang_on_its_own_first_part(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str], tmp_path: Path
) -> None:
    """One poll makes a digest per channel; with more causes than a message holds, each has parts
    in a thread, and every part is a reply to its own channel's part 1, never the other's."""
    slack.workspace.channels[SHOP] = Channel(SHOP, "shop")
    path = tmp_path / "routes.yml"
    path.write_text(TABLE)
    for word in WORDS:  # more causes per channel than CAUSES_PER_MESSAGE
        sim.world.add_failures(1, flow_id=101, minutes_ago=5, error=f"Shopify: field {word} is invalid")
        sim.world.add_failures(1, flow_id=109, minutes_ago=5, error=f"Veeqo: field {word} is invalid")
    env = {key.lower(): value for key, value in {**settings_env, "SYNCBOT_ROUTES": str(path)}.items()}
    services = await make_services(load_settings(_env_file=None, **env))
    try:
        await services.poller.run_once()
    finally:
        await services.aclose()
    for channel in (SHOP, CHANNEL):
        [first] = digest_messages(slack.workspace, channel)
        parts = [m for m in digest_messages(slack.workspace, channel, parts=True) if m.thread_ts]
        assert parts, f"{channel} has no thread parts"
        assert {part.thread_ts for part in parts} == {first.ts}
        assert counted_runs(slack, channel) == len(WORDS)
