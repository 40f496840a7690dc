"""Typed, versioned values carried by buttons, options and modal private_metadata.

Values carry IDs only; the server re-reads everything else before acting.
"""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["BulkRef", "EntryRef", "InvalidValue", "ListRef", "decode", "encode"]

# Slack allows 2000 characters in a button value and 150 in an option value; refuse more early.
MAX_VALUE_CHARS = 2000


class InvalidValue(ValueError):
    """A value that did not come from syncbot, or from an incompatible version of it."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntryRef(_Value):
    """One entry: the run to act on and, when it sits in a digest, the message row holding it."""

    v: Literal[1] = 1
    run: int = Field(ge=1, le=2**53)
    msg: int | None = Field(None, ge=1, le=2**53)


class BulkRef(_Value):
    """A bulk action on a digest message, or on a listing when `msg` is None."""

    v: Literal[1] = 1
    msg: int | None = Field(None, ge=1, le=2**53)
    runs: tuple[int, ...] = ()
    ch: str | None = Field(None, max_length=32)  # where to answer when there is no digest


class ListRef(_Value):
    """A page of the failed-syncs listing: the filter as typed, the window and the page."""

    v: Literal[1] = 1
    q: str = Field("", max_length=200)
    minutes: int = Field(ge=1, le=15 * 24 * 60)
    page: int = Field(1, ge=1, le=10_000)
    digest: int | None = Field(None, ge=1, le=2**53)


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
