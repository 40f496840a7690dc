"""One settings object, read from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.patchworks.models import REPORT_WINDOW
from bot.routes import load_routes
from bot.textsafe import mask_url

__all__ = ["HOOK_SECRET_MIN", "REQUIRED_FOR_POLL", "ConfigError", "Settings", "load_settings", "mask_url"]

# What every command that talks to Slack and Patchworks needs; `run` adds the signing secret.
REQUIRED_FOR_POLL = ("slack_bot_token", "syncbot_channel", "patchworks_api_key")

_SLACK_ID = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
_REPORT_HOURS = int(REPORT_WINDOW.total_seconds()) // 3600
# SYNCBOT_HOOK_SECRET guards an endpoint on the internet: a short one could be guessed.
HOOK_SECRET_MIN = 16


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


def _split_ids(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything syncbot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = Field(None, description="bot token (xoxb-…)")
    slack_signing_secret: SecretStr | None = Field(None, description="signing secret for HTTP mode")
    slack_app_token: SecretStr | None = Field(None, description="app-level token (xapp-…): Socket Mode")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    syncbot_channel: str | None = Field(None, description="channel ID that receives digests")
    patchworks_api_url: str = Field("https://core.wearepatchworks.com/api/v1")
    patchworks_api_key: SecretStr | None = Field(None, description="Core API key")
    patchworks_app_url: str = Field("https://app.wearepatchworks.com")
    patchworks_requests_per_minute: int = Field(240, ge=1, le=10_000)
    patchworks_timeout_seconds: float = Field(20.0, gt=0, le=300)
    syncbot_poll_seconds: int = Field(300, ge=1, le=86_400)
    # The first look covers the report's default window (5 days); the bound is checked below.
    syncbot_lookback_hours: int = Field(120, ge=1)
    syncbot_overlap_seconds: int = Field(3600, ge=0, le=86_400)
    # Parts of one digest: part 1 in the channel, the rest in its thread.
    syncbot_digest_max_messages: int = Field(20, ge=1, le=50)
    # A cause open in a digest this recent gets new failures added to it, not a new message.
    syncbot_reopen_hours: int = Field(24, ge=0, le=360)
    syncbot_resync_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    syncbot_resync_groups: Annotated[list[str], NoDecode] = Field(default_factory=list)
    syncbot_group_cache_seconds: int = Field(60, ge=0, le=3600)
    # Where "Snooze until 09:00 tomorrow" is computed (an IANA zone name, e.g. Europe/London).
    syncbot_timezone: str = Field("UTC", description="an IANA time zone such as Europe/London")
    # A YAML file of routes (bot/routes.py): which channel each failure's digest goes to.
    syncbot_routes: Path | None = Field(None, description="a YAML routes file")
    # The daily summary's time of day (HH:MM in SYNCBOT_TIMEZONE); unset: no summary.
    syncbot_summary_at: time | None = Field(None, description="HH:MM in SYNCBOT_TIMEZONE, e.g. 08:30")
    database_url: str = Field("sqlite+aiosqlite:///./syncbot.db")
    port: int = Field(3000, ge=0, le=65_535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one line per record; json: one JSON object per line (bot/logs.py).
    log_format: Literal["text", "json"] = "text"
    # Enables POST /patchworks/hook (Authorization: Bearer <secret>); unset, the endpoint is off.
    syncbot_hook_secret: SecretStr | None = Field(None, description="bearer secret for POST /patchworks/hook")

    _split_users = field_validator("syncbot_resync_users", "syncbot_resync_groups", mode="before")(_split_ids)

    @field_validator("slack_api_url", "patchworks_api_url", "patchworks_app_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value

    @field_validator("syncbot_lookback_hours")
    @classmethod
    def _within_the_report(cls, value: int) -> int:
        # Patchworks keeps 15 days of runs: a longer first look would read nothing more.
        if value > _REPORT_HOURS:
            raise ValueError(
                f"expected at most {_REPORT_HOURS} hours (the report's {REPORT_WINDOW.days}-day window)"
            )
        return value

    @field_validator("syncbot_channel")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_ID.match(value):
            raise ValueError("expected a channel ID like C0123ABCD (not a #name)")
        return value

    @field_validator("syncbot_resync_users", "syncbot_resync_groups")
    @classmethod
    def _slack_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SLACK_ID.match(value):
                raise ValueError(f"expected comma-separated Slack IDs like U0123ABCD, got {value!r}")
        return values

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("expected a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("expected an app-level token starting with xapp-")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("syncbot_hook_secret")
    @classmethod
    def _hook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # set but empty: the endpoint stays off
        if len(value.get_secret_value()) < HOOK_SECRET_MIN:
            raise ValueError(
                f"expected at least {HOOK_SECRET_MIN} characters (e.g. the output of `openssl rand -hex 32`)"
            )
        return value

    @field_validator("syncbot_routes")
    @classmethod
    def _routes(cls, value: Path | None) -> Path | None:
        if value is not None:
            load_routes(value)  # refused whole, naming the file, line and field
        return value

    @field_validator("syncbot_summary_at", mode="before")
    @classmethod
    def _summary_at(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
                raise ValueError("expected HH:MM (24-hour), e.g. 08:30")
            hours, minutes = value.strip().split(":")
            return time(int(hours), int(minutes))
        return value

    @field_validator("syncbot_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone such as UTC or Europe/London") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value

    @property
    def socket_mode(self) -> bool:
        """True when an app-level token is set: connect over Socket Mode instead of HTTP."""
        return self.slack_app_token is not None

    def require(self, *names: str) -> None:
        """Raise ConfigError for the first named setting that is unset."""
        for name in names:
            if getattr(self, name) in (None, ""):
                field = type(self).model_fields[name]
                what = field.description or "a value"
                raise ConfigError(f"{name.upper()} is not set: expected {what}")

    def require_for_poll(self) -> None:
        """Check what a poll needs: the Slack token, the channel and the Patchworks key."""
        self.require(*REQUIRED_FOR_POLL)

    def require_for_run(self) -> None:
        """Check what `syncbot run` needs: Slack credentials, the channel and the Patchworks key."""
        self.require_for_poll()
        if not self.socket_mode:
            self.require("slack_signing_secret")


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings; a bad value becomes one ConfigError line naming the variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = error.get("input")
        # Mask before cutting: a cut URL may lose the "@" that marks where its password ends.
        got = (
            ""
            if isinstance(shown, dict | SecretStr) or name.endswith(("TOKEN", "KEY", "SECRET"))
            else (f", got {_masked(str(shown))[:60]!r}")
        )
        # The whole line too: pydantic may quote the value inside its own message.
        raise ConfigError(mask_url(f"{name}: {message}{got}")) from None
    try:
        # Only the prefix is validated above; a bad port or host would otherwise surface later as
        # a traceback from the database driver.
        make_url(settings.database_url)
    except (ArgumentError, ValueError):
        shown = _masked(settings.database_url)[:60]
        raise ConfigError(f"DATABASE_URL: not a database URL we can read, got {shown!r}") from None
    return settings


def _masked(value: str) -> str:
    # A value is one URL: everything between "user:" and its last "@" is the password, even
    # characters (a space) at which mask_url, made for URLs inside sentences, stops.
    scheme, sep, rest = value.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        value = f"{scheme}://{userinfo.partition(':')[0]}:***@{host}"
    return mask_url(value)
