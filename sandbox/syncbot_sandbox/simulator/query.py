"""Reading the Core API's query conventions: filter[...], include, sort, page and per_page."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from syncbot_sandbox.simulator.records import RunQuery

__all__ = [
    "LOG_SORTS",
    "RUN_FILTERS",
    "RUN_INCLUDES",
    "ApiError",
    "parse_includes",
    "parse_page",
    "parse_run_query",
    "parse_sort",
]

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 15  # Laravel's paginator default

# The documented filter and include names (README §2); unlisted ones are refused with a 400
# the way spatie/laravel-query-builder does.
RUN_FILTERS = (
    "user_id",
    "flow_id",
    "flow_version_id",
    "virtual_environment_id",
    "trigger",
    "status",
    "search",
    "started_before",
    "started_after",
    "started_on",
    "retried",
    "has_warnings",
)
RUN_INCLUDES = (
    "flowVersion",
    "flowVersion.steps",
    "flow",
    "flowRunLogs",
    "errorWarningLogs",
    "flowRunLogs.flowStep",
    "trackedData",
    "metrics",
    "cpuTime",
    "payloadSize",
    "operationsSent",
    "operationsReceived",
    "retriedFlowRun",
    "virtualEnvironmentVersion",
    "virtualEnvironmentVersion.virtualEnvironment",
)
LOG_SORTS = ("id", "created_at")
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


class ApiError(Exception):
    """An error answer: HTTP status, Laravel-style message and optional validation errors."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def _filters(params: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in params.items():
        if key.startswith("filter[") and key.endswith("]"):
            found[key[7:-1]] = value
    return found


def _ints(name: str, value: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ApiError(400, f"The filter `{name}` must be a comma-separated list of integers.") from None


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"The filter `{name}` must be a unix timestamp in milliseconds.") from None


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ApiError(400, f"The filter `{name}` must be true or false.")


def parse_sort(params: Mapping[str, str], allowed: Collection[str], default: str) -> tuple[str, bool]:
    """The sort field and whether it is descending; unknown fields are a 400."""
    raw = params.get("sort", default) or default
    field = raw.removeprefix("-")
    if field not in allowed:
        names = ", ".join(f"`{a}`" for a in allowed)
        raise ApiError(400, f"Requested sort(s) `{field}` is not allowed. Allowed sort(s) are {names}.")
    return field, raw.startswith("-")


def parse_run_query(params: Mapping[str, str]) -> RunQuery:
    """A RunQuery from filter[...] and sort parameters."""
    filters = _filters(params)
    unknown = [name for name in filters if name not in RUN_FILTERS]
    if unknown:
        raise ApiError(
            400,
            f"Requested filter(s) `{', '.join(unknown)}` are not allowed. "
            f"Allowed filter(s) are `{', '.join(RUN_FILTERS)}`.",
        )
    _, descending = parse_sort(params, ("started_at",), "-started_at")

    def ints(name: str) -> frozenset[int] | None:
        return _ints(name, filters[name]) if filters.get(name, "").strip() else None

    def stamp(name: str) -> int | None:
        return _int(name, filters[name]) if filters.get(name, "").strip() else None

    def flag(name: str) -> bool | None:
        return _bool(name, filters[name]) if filters.get(name, "").strip() else None

    triggers = filters.get("trigger")
    return RunQuery(
        statuses=ints("status"),
        flow_ids=ints("flow_id"),
        flow_version_ids=ints("flow_version_id"),
        triggers=frozenset(t.strip().lower() for t in triggers.split(",") if t.strip()) if triggers else None,
        search=filters.get("search") or None,
        started_after_ms=stamp("started_after"),
        started_before_ms=stamp("started_before"),
        started_on_ms=stamp("started_on"),
        retried=flag("retried"),
        has_warnings=flag("has_warnings"),
        descending=descending,
    )


def parse_includes(params: Mapping[str, str], allowed: Collection[str]) -> frozenset[str]:
    """Requested relations; unknown names are a 400."""
    names = frozenset(n.strip() for n in params.get("include", "").split(",") if n.strip())
    unknown = sorted(names - set(allowed))
    if unknown:
        raise ApiError(
            400,
            f"Requested include(s) `{', '.join(unknown)}` are not allowed. "
            f"Allowed include(s) are `{', '.join(allowed)}`.",
        )
    return names


def parse_page(params: Mapping[str, str]) -> tuple[int, int]:
    """Page (anything unreadable or below 1 reads as 1, as Laravel does) and per_page (clamped)."""
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        page = 1
    raw = params.get("per_page")
    if raw is None or raw == "":
        return page, DEFAULT_PER_PAGE
    try:
        per_page = int(raw)
    except ValueError:
        message = "The per page field must be an integer."
        raise ApiError(422, message, {"per_page": [message]}) from None
    if per_page < 1:
        message = "The per page field must be at least 1."
        raise ApiError(422, message, {"per_page": [message]})
    return page, min(per_page, MAX_PER_PAGE)
