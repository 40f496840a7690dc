"""Typed, versioned values carried by buttons, options and modal private_metadata.

Values carry IDs only; the server re-reads everything else before acting.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from bot.patchworks.models import REPORT_WINDOW

__all__ = [
    "MAX_ID",
    "MAX_LIST_MINUTES",
    "MAX_RUNS",
    "BulkRef",
    "CauseRef",
    "EntryRef",
    "FlowSnoozeRef",
    "Id",
    "InvalidValue",
    "JobRef",
    "ListRef",
    "RunId",
    "SnoozeFor",
    "SnoozeRef",
    "decode",
    "decode_run_option",
    "encode",
]

# Slack allows 2000 characters in a button value and 150 in an option value; refuse more early.
MAX_VALUE_CHARS = 2000
# Ids fit a JSON number exactly and a 64-bit database column; a forged bigger one is refused here
# instead of overflowing SQLite or Patchworks later.
MAX_ID = 2**53
# How far back a listing may reach, in minutes: as far as Patchworks' failed-run report goes.
MAX_LIST_MINUTES = int(REPORT_WINDOW.total_seconds()) // 60
# Run ids one bulk value may carry: at least blocks.bulk.BULK_MAX and the select's MAX_OPTIONS.
MAX_RUNS = 200

# Strict: JSON true, 5.0 or "5" are not ids syncbot wrote, so they are refused, not coerced.
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
RunId = Id
_ID: TypeAdapter[int] = TypeAdapter(Id)
_RUN_ID = _ID
# An option value is the run id in decimal, as `blocks.bulk.bulk_actions` writes it.
_OPTION_DIGITS = re.compile(r"[1-9][0-9]{0,15}")


class InvalidValue(ValueError):
    """A value that did not come from syncbot, or from an incompatible version of it."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntryRef(_Value):
    """One entry: the run to act on and, when it sits in a digest, the message row holding it."""

    v: Literal[1] = 1
    run: RunId
    msg: Id | None = None


class BulkRef(_Value):
    """A bulk action on a digest message, or on a listing when `msg` is None.

    A listing's "Resync all N…" names its filter and window (`q`, `minutes`) instead of its runs:
    every matching failure in the store, on every page, is resynced.
    """

    v: Literal[1] = 1
    msg: Id | None = None
    runs: tuple[RunId, ...] = Field((), max_length=MAX_RUNS)
    ch: str | None = Field(None, max_length=32)  # where to answer when there is no digest
    q: str | None = Field(None, max_length=200)
    minutes: int | None = Field(None, ge=1, le=MAX_LIST_MINUTES)


class CauseRef(_Value):
    """A cause in a digest message: "Resync all N…" resyncs its open runs there."""

    v: Literal[1] = 1
    msg: Id
    cause: str = Field(pattern=r"^[0-9a-f]{16}$")


class SnoozeFor(StrEnum):
    """How long a snooze lasts; the server turns it into a time (bot.handlers.causes)."""

    HOUR = "1h"
    FOUR_HOURS = "4h"
    TOMORROW = "tomorrow"  # until 09:00 tomorrow, in SYNCBOT_TIMEZONE
    WEEK = "1w"


class SnoozeRef(_Value):
    """One option of a cause's Snooze menu: the cause, the message it was chosen in, how long."""

    v: Literal[1] = 1
    msg: Id
    cause: str = Field(pattern=r"^[0-9a-f]{16}$")
    span: SnoozeFor


class FlowSnoozeRef(_Value):
    """One option of the Details modal's "Snooze this flow" menu: the run whose flow, how long.

    The run, not the flow's name: the server reads the name from the store, so a forged value
    cannot snooze a flow syncbot never saw (and a name may not fit an option's 150 characters).
    """

    v: Literal[1] = 1
    run: RunId
    span: SnoozeFor


class JobRef(_Value):
    """A bulk resync job: the confirmation that starts it, the Cancel button that stops it."""

    v: Literal[1] = 1
    job: Id


class ListRef(_Value):
    """A page of the failed-syncs listing: the filter as typed, the window and the page."""

    v: Literal[1] = 1
    q: str = Field("", max_length=200)
    minutes: int = Field(ge=1, le=MAX_LIST_MINUTES)
    page: int = Field(1, ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _drop_old_digest(cls, data: object) -> object:
        """Digests posted before `digest` was dropped carry `"digest": <message id>` in their
        "List them" button; nothing reads it, so a well-formed one is ignored (a forged one is
        still refused, as an unknown field)."""
        if isinstance(data, dict) and "digest" in data and _is_old_digest(data["digest"]):
            return {key: value for key, value in data.items() if key != "digest"}
        return data


def _is_old_digest(value: object) -> bool:
    """What an older syncbot wrote in ListRef.digest: null or a message id."""
    if value is None:
        return True
    try:
        _ID.validate_python(value)
    except ValidationError:
        return False
    return True


_V = TypeVar("_V", bound=_Value)


def encode(value: _Value) -> str:
    """Compact JSON for a Slack value field."""
    return value.model_dump_json(exclude_defaults=False)


def decode(kind: type[_V], raw: object) -> _V:
    """Parse a value sent back by Slack; anything else raises InvalidValue."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_VALUE_CHARS:
        raise InvalidValue("value missing or too long")
    try:
        return kind.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise InvalidValue(f"not a {kind.__name__}") from exc


def decode_run_option(raw: object) -> int:
    """A run id from a bulk-select option value (decimal digits); anything else raises InvalidValue."""
    if not isinstance(raw, str) or not _OPTION_DIGITS.fullmatch(raw):
        raise InvalidValue("not a run id option")
    try:
        return _RUN_ID.validate_python(int(raw))
    except ValidationError as exc:
        raise InvalidValue("run id out of range") from exc
