"""Tolerant reading of Core API runs, log lines and flows into the domain models.

The published schemas show flat objects while Patchworks' own client reads JSON:API
(`attributes`, `relationships`, `included`), so both are accepted (docs/core-api-dialect.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.patchworks.models import ErrorLine, Flow, RunStatus, SyncEntry

__all__ = [
    "KEPT_LEVELS",
    "Included",
    "ParseError",
    "as_int",
    "index_included",
    "parse_bool",
    "parse_flow",
    "parse_log",
    "parse_logs",
    "parse_run",
    "parse_runs",
    "parse_time",
    "run_url",
]

logger = logging.getLogger(__name__)

# Laravel logs through Monolog, whose levels above WARNING are ERROR, CRITICAL, ALERT, EMERGENCY;
# FATAL is what Patchworks' own client checks for.
KEPT_LEVELS = frozenset({"WARNING", "WARN", "ERROR", "FATAL", "CRITICAL", "ALERT", "EMERGENCY"})

# JSON:API `included` resources by (type, id).
Included = dict[tuple[str, str], Mapping[str, Any]]

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_MAX_DEPTH = 4  # relationships nest run -> logs -> step; deeper means a cycle in `included`
# Epoch numbers above this are milliseconds: as seconds it would be the year 5138.
_MS_THRESHOLD = 100_000_000_000
_STATUS_WORDS = {
    "running": RunStatus.STARTED,
    "failed": RunStatus.FAILURE,
    "partial": RunStatus.PARTIAL_SUCCESS,
}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ParseError(ValueError):
    """An item that cannot be read into a domain model."""


def _snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def as_int(value: object) -> int | None:
    """An integer from an int or a numeric string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def index_included(included: object) -> Included:
    """Index a JSON:API `included` array; anything else yields an empty index."""
    index: Included = {}
    if isinstance(included, list):
        for item in included:
            if isinstance(item, Mapping) and "type" in item and "id" in item:
                index[(str(item["type"]), str(item["id"]))] = item
    return index


def _resolve(data: object, included: Included, depth: int) -> object:
    if isinstance(data, list):
        return [_resolve(item, included, depth) for item in data]
    if isinstance(data, Mapping) and depth < _MAX_DEPTH:
        return _flatten(data, included, depth + 1)
    return data


def _flatten(item: object, included: Included, depth: int = 0) -> dict[str, Any]:
    """One resource as a flat dict with snake_case keys and its relations inlined."""
    if not isinstance(item, Mapping):
        raise ParseError(f"expected an object, got {type(item).__name__}")
    if set(item) <= {"type", "id", "meta"} and "type" in item and depth < _MAX_DEPTH:
        # A bare resource identifier: the resource itself may be in `included`.
        found = included.get((str(item["type"]), str(item.get("id"))))
        if found is not None and found is not item:
            return _flatten(found, included, depth + 1)
    attributes = item.get("attributes")
    source: Mapping[str, Any] = attributes if isinstance(attributes, Mapping) else item
    flat: dict[str, Any] = {}
    for key, value in source.items():
        name = _snake(str(key))
        # `errorWarningLogs` and `error_warning_logs` may both appear; the one with a value wins.
        if flat.get(name) is None:
            # Inline relations (flat style) may themselves be JSON:API resources.
            flat[name] = _resolve(value, included, depth)
    if source is attributes and "id" in item:
        flat["id"] = item["id"]
    relationships = item.get("relationships")
    if isinstance(relationships, Mapping):
        for name, relation in relationships.items():
            key = _snake(str(name))
            if flat.get(key) is None:
                data = (
                    relation.get("data") if isinstance(relation, Mapping) and "data" in relation else relation
                )
                flat[key] = _resolve(data, included, depth)
    return flat


def parse_time(value: object) -> datetime | None:
    """ISO-8601 (Z or offset; naive means UTC) or epoch seconds/milliseconds; None when unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) or (isinstance(value, str) and as_int(value) is not None):
        number = float(value)
        if abs(number) >= _MS_THRESHOLD:
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_bool(value: object) -> bool | None:
    """A flag sent as bool, 0/1, "1"/"0" or "true"/"false"; None when absent or unclear."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def _status(value: object) -> RunStatus:
    number = as_int(value)
    try:
        if number is not None:
            return RunStatus(number)
        if isinstance(value, str):
            word = value.strip().lower().replace(" ", "_")
            return _STATUS_WORDS.get(word) or RunStatus[word.upper()]
    except (ValueError, KeyError):
        pass
    raise ParseError(f"unknown run status {str(value)[:40]!r}")


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _first(value: object) -> object:
    # Some published schemas type to-one relations as arrays (`retried_flow_run` is "array").
    if isinstance(value, list):
        return value[0] if value else None
    return value


def parse_flow(item: object, included: Included | None = None) -> Flow:
    """A flow from a flat or JSON:API object; a missing name becomes "Flow {id}"."""
    flat = _flatten(item, included or {})
    flow_id = as_int(flat.get("id"))
    if flow_id is None:
        raise ParseError("flow without a numeric id")
    return Flow(
        id=flow_id,
        name=_text(flat.get("name")) or f"Flow {flow_id}",
        enabled=parse_bool(flat.get("is_enabled", flat.get("enabled"))),
    )


def parse_log(item: object, included: Included | None = None) -> ErrorLine:
    """One log line; the step name comes from `flow_step.name`."""
    flat = _flatten(item, included or {})
    message = _text(flat.get("log_message", flat.get("message")))
    if message is None:
        raise ParseError("log line without a message")
    step = _first(flat.get("flow_step"))
    step_name = _text(step.get("name")) if isinstance(step, Mapping) else None
    # A line with no level came from an error source; showing it beats hiding a real error.
    level = _text(flat.get("log_level", flat.get("level"))) or "ERROR"
    return ErrorLine(
        level=level.upper(), message=message, step=step_name, at=parse_time(flat.get("created_at"))
    )


def parse_logs(items: Iterable[object], included: Included | None = None) -> list[ErrorLine]:
    """Warning-or-worse lines, skipping (and logging) lines that cannot be read."""
    lines: list[ErrorLine] = []
    for item in items:
        try:
            line = parse_log(item, included)
        except ValueError as exc:  # ParseError, or pydantic's ValidationError
            logger.warning("skipped an unreadable Patchworks log line: %.200s", exc)
            continue
        if line.level in KEPT_LEVELS:
            lines.append(line)
    return lines


def run_url(app_url: str, run_id: int) -> str:
    """The dashboard page of a run."""
    return f"{app_url.rstrip('/')}/flow-run-logs/{run_id}"


def _flow_of(flat: Mapping[str, Any], included: Included) -> Flow | None:
    flow = _first(flat.get("flow"))
    if isinstance(flow, Mapping):
        try:
            return parse_flow(flow, included)
        except ParseError:
            pass  # fall back to flow_id below
    flow_id = as_int(flat.get("flow_id"))
    return Flow(id=flow_id, name=f"Flow {flow_id}") if flow_id is not None else None


def _retried_as(flat: Mapping[str, Any]) -> int | None:
    retried = _first(flat.get("retried_flow_run"))
    if isinstance(retried, Mapping) and (run_id := as_int(retried.get("id"))) is not None:
        return run_id
    return as_int(flat.get("retried_flow_run_id"))


def parse_run(item: object, *, included: Included | None = None, app_url: str) -> SyncEntry:
    """A run with its flow, retry links and warning-or-worse log lines."""
    index = included or {}
    flat = _flatten(item, index)
    run_id = as_int(flat.get("id"))
    if run_id is None:
        raise ParseError("run without a numeric id")
    try:
        status = _status(flat.get("status"))
    except ParseError as exc:
        raise ParseError(f"run {run_id}: {exc}") from None
    logs = flat.get("error_warning_logs")
    return SyncEntry(
        run_id=run_id,
        flow=_flow_of(flat, index),
        status=status,
        trigger=_text(flat.get("trigger")),
        reference=_text(flat.get("name")),
        summary=_text(flat.get("summary")),
        started_at=parse_time(flat.get("started_at")),
        finished_at=parse_time(flat.get("finished_at")),
        retry_of=as_int(flat.get("retry_flow_run_id")),
        retried_as=_retried_as(flat),
        errors=tuple(parse_logs(logs, index)) if isinstance(logs, list) else (),
        url=run_url(app_url, run_id),
    )


def parse_runs(items: Iterable[object], *, included: Included | None = None, app_url: str) -> list[SyncEntry]:
    """Every readable run of a page; unreadable ones are skipped with a warning."""
    entries: list[SyncEntry] = []
    for item in items:
        try:
            entries.append(parse_run(item, included=included, app_url=app_url))
        except ValueError as exc:  # ParseError, or pydantic's ValidationError
            logger.warning("skipped an unreadable Patchworks run: %.200s", exc)
    return entries
