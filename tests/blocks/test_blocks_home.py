"""The App Home view: valid against the Block Kit schema and Slack's limits with 0, 1 and 500 open
causes, untrusted text inert, every part of the issue shown."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support.blockkit import ADMIN, HOSTILE, LONG, NOW, assert_valid_home, buttons, strings

from blocks.home import CAUSES_SHOWN, HomeBudget, HomeCause, HomeModel, HomeResync, archive_url, build_home
from blocks.ids import Action
from bot.patchworks.models import Health, SystemHealth

CHANNEL = "C0SYNCBOT"


def cause(n: int, *, channel: str = CHANNEL, example: str = "Customer not found", **kw: object) -> HomeCause:
    return HomeCause(
        cause_id=f"{n:016x}",
        channel=channel,
        ts=f"1764240000.{n:06d}",
        example=example,
        flow="Shopify orders to NetSuite",
        systems=("Shopify", "NetSuite"),
        open_runs=n + 1,
        last_seen=NOW,
        **kw,
    )


def model(causes: list[HomeCause], **kw: object) -> HomeModel:
    channels: dict[str, int] = {}
    for c in causes:
        channels[c.channel] = channels.get(c.channel, 0) + 1
    return HomeModel(
        now=NOW,
        causes=tuple(causes[:CAUSES_SHOWN]),
        open_causes=len(causes),
        by_channel=tuple(channels.items()),
        snoozes=tuple(c for c in causes if c.snoozed_until)[:20],
        health=(
            SystemHealth(system="NetSuite", health=Health.UNREACHABLE, failures=3),
            SystemHealth(system="Shopify", health=Health.AUTH_FAILED, failures=1),
        ),
        last_poll=NOW - timedelta(minutes=2),
        next_poll=NOW + timedelta(minutes=3),
        budget=HomeBudget(used=12, limit=240, paused_until=NOW + timedelta(seconds=30)),
        resyncs=tuple(
            HomeResync(run_id=100 + i, new_run_id=200 + i, by_user=ADMIN, at=NOW, outcome=o)
            for i, o in enumerate(["ok", "failed", "queued", "error", "requested"] * 3)
        ),
        list_channel=CHANNEL,
        **kw,
    )


@pytest.mark.parametrize("count", [0, 1, 500])
def test_the_home_view_is_valid_with_0_1_and_500_open_causes(count: int) -> None:
    causes = [
        cause(
            n,
            channel=f"C0CHAN{n % 7}",
            owner=ADMIN if n % 2 else None,
            snoozed_until=NOW + timedelta(hours=n % 3),
        )
        for n in range(count)
    ]
    view = build_home(model(causes))
    assert_valid_home(view)
    assert len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert f"Open causes ({count})" in text
    assert len(buttons(view["blocks"], Action.HOME_LIST)) == 1
    digests = buttons(view["blocks"], Action.HOME_OPEN_DIGEST)
    assert len(digests) == min(count, CAUSES_SHOWN)
    if count == 0:
        assert "No open causes" in text
    if count == 500:
        assert f"+{500 - CAUSES_SHOWN} more open causes" in text


def test_one_cause_shows_its_count_owner_snooze_and_digest_link() -> None:
    one = cause(0, owner=ADMIN, snoozed_until=NOW + timedelta(hours=2), snoozed_by=ADMIN)
    view = build_home(model([one]))
    assert_valid_home(view)
    text = json.dumps(view, ensure_ascii=False)
    assert "1 open run" in text
    assert f"owner <@{ADMIN}>" in text
    assert "💤 until" in text
    assert "*Snoozes*" in text
    [link] = buttons(view["blocks"], Action.HOME_OPEN_DIGEST)
    assert (
        link["url"]
        == archive_url(CHANNEL, "1764240000.000000")
        == (f"https://slack.com/archives/{CHANNEL}/p1764240000000000")
    )
    for part in (
        "NetSuite: System Unreachable",
        "12/240 requests",
        "Last poll",
        "next",
        "Last resyncs",
        "✅ run 100",
    ):
        assert part in text


def test_an_empty_home_says_so() -> None:
    view = build_home(HomeModel(now=NOW))
    assert_valid_home(view)
    text = json.dumps(view, ensure_ascii=False)
    assert "No poll yet" in text
    assert "Snoozes: none." in text
    assert "Resyncs: none yet." in text


@pytest.mark.parametrize("hostile", [*HOSTILE, LONG])
def test_untrusted_text_stays_inert_and_within_limits(hostile: str) -> None:
    causes = [
        HomeCause(
            cause_id="a" * 16,
            channel=CHANNEL,
            ts="1.2",
            example=hostile,
            flow=hostile,
            systems=(hostile,),
            open_runs=2,
        )
    ]
    view = build_home(model(causes, poll_error=hostile))
    assert_valid_home(view)
    for text in strings(view["blocks"]):
        for token in ("<!channel>", "<!here>", "<@U123>", "<!subteam"):
            assert token not in text


def test_500_causes_in_500_channels_still_fit() -> None:
    view = build_home(model([cause(n, channel=f"C0CH{n:04d}") for n in range(500)]))
    assert_valid_home(view)
    assert len(view["blocks"]) <= 100
