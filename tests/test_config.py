"""Settings: every bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-abcdef",
    "SLACK_SIGNING_SECRET": "s3cr3t-signing",
    "SYNCBOT_CHANNEL": "C0123ABCD",
    "PATCHWORKS_API_KEY": "pw-key-123456",
}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SYNCBOT_POLL_SECONDS", "soon", "SYNCBOT_POLL_SECONDS"),
        ("SYNCBOT_POLL_SECONDS", "0", "SYNCBOT_POLL_SECONDS"),
        ("SYNCBOT_CHANNEL", "#alerts", "channel ID"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "not-an-app-token", "xapp-"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL"),
        ("PATCHWORKS_API_URL", "ftp://x", "PATCHWORKS_API_URL"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("PORT", "70000", "PORT"),
        ("SYNCBOT_RESYNC_USERS", "ana,@bob", "SYNCBOT_RESYNC_USERS"),
        ("PATCHWORKS_REQUESTS_PER_MINUTE", "-5", "PATCHWORKS_REQUESTS_PER_MINUTE"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("SYNCBOT_LOOKBACK_HOURS", "0", "SYNCBOT_LOOKBACK_HOURS"),
        ("SYNCBOT_LOOKBACK_HOURS", "361", "15-day window"),
        ("SYNCBOT_LOOKBACK_HOURS", "5 days", "SYNCBOT_LOOKBACK_HOURS"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert expected in message
    assert name in message
    assert "\n" not in message


def test_secrets_never_show_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    settings = load_settings(_env_file=None)
    assert "s3cr3t" not in repr(settings)
    assert "pw-key" not in repr(settings)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-leaky-secret-value")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert "leaky" not in str(caught.value)


def test_user_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCBOT_RESYNC_USERS", "U0ADA, U0MAX")
    assert load_settings(_env_file=None).syncbot_resync_users == ["U0ADA", "U0MAX"]


@pytest.mark.parametrize(
    ("command", "missing"),
    [("run", "SLACK_BOT_TOKEN"), ("poll", "SLACK_BOT_TOKEN")],
)
def test_the_command_stops_with_one_line_when_a_setting_is_missing(command: str, missing: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", command], capture_output=True, text=True, timeout=60, env={"PATH": ""}
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert missing in done.stderr


def test_http_mode_needs_the_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    settings = load_settings(_env_file=None)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        settings.require_for_run()
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-socket")
    load_settings(_env_file=None).require_for_run()  # Socket Mode needs no signing secret


def test_check_reaches_slack_and_patchworks_and_names_what_fails(settings_env: dict[str, str]) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={**settings_env, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stderr
    assert "Slack: token accepted" in good.stdout
    assert "Patchworks: API key accepted" in good.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={**settings_env, "PATH": "", "PATCHWORKS_API_KEY": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "PATCHWORKS_API_KEY" in bad.stdout
    assert "wrong" not in bad.stdout + bad.stderr


def test_the_group_cache_lifetime_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    assert load_settings(_env_file=None).syncbot_group_cache_seconds == 60
    monkeypatch.setenv("SYNCBOT_GROUP_CACHE_SECONDS", "0")  # 0: re-read membership on every action
    assert load_settings(_env_file=None).syncbot_group_cache_seconds == 0
    for bad in ("-1", "3601", "soon"):
        monkeypatch.setenv("SYNCBOT_GROUP_CACHE_SECONDS", bad)
        with pytest.raises(ConfigError, match="SYNCBOT_GROUP_CACHE_SECONDS"):
            load_settings(_env_file=None)


def test_the_first_look_is_the_report_s_window(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    # Patchworks' report shows 5 days by default and keeps 15.
    assert load_settings(_env_file=None).syncbot_lookback_hours == 120
    for fine in ("1", "360"):
        monkeypatch.setenv("SYNCBOT_LOOKBACK_HOURS", fine)
        assert load_settings(_env_file=None).syncbot_lookback_hours == int(fine)
    for bad in ("0", "-1", "361", "9999"):
        monkeypatch.setenv("SYNCBOT_LOOKBACK_HOURS", bad)
        with pytest.raises(ConfigError, match=r"^SYNCBOT_LOOKBACK_HOURS: "):
            load_settings(_env_file=None)


DB_PASSWORD = "Hunter2-db-pass"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", f"postgresql://syncbot:{DB_PASSWORD}@db.internal/syncbot"),
        ("DATABASE_URL", f"postgresql+asyncpg://syncbot:{DB_PASSWORD}@db.internal:notaport/syncbot"),
        # Cut to 60 characters before masking, this one would show most of its password.
        ("DATABASE_URL", f"mysql://{'u' * 40}:{DB_PASSWORD}@db.internal/syncbot"),
        ("DATABASE_URL", f"postgres://syncbot:{DB_PASSWORD} and more@db.internal/syncbot"),
        ("DATABASE_URL", f"postgres://syncbot:p@ss:{DB_PASSWORD}@db.internal/syncbot"),
        ("DATABASE_URL", f"postgres://syncbot:{DB_PASSWORD}/syncbot"),
        ("SLACK_API_URL", f"ftp://bot:{DB_PASSWORD}@slack.internal/api/"),
        ("PATCHWORKS_API_URL", f"core.internal://bot:{DB_PASSWORD}@x/api/v1"),
    ],
)
def test_a_url_s_password_never_shows_in_the_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    for key, good in GOOD.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert ":***" in message
    pieces = {DB_PASSWORD[start : start + 8] for start in range(len(DB_PASSWORD) - 7)}
    assert not [piece for piece in pieces if piece in message]
    assert "\n" not in message


def test_a_good_database_url_is_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+asyncpg://syncbot:{DB_PASSWORD}@db.internal:5432/syncbot"
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings(_env_file=None).database_url == url
