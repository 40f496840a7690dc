"""JSON shapes of the dialect (docs/core-api-dialect.md): runs, logs, flows, the list envelope."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from syncbot_sandbox.simulator.records import LogLine, Run, SimFlow

__all__ = ["flow_json", "iso", "log_json", "paginate", "run_json"]

T = TypeVar("T")


def iso(seconds: float | None) -> str | None:
    """Laravel's UTC timestamp format, e.g. 2026-11-27T10:32:00.000000Z."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def flow_json(flow: SimFlow) -> dict[str, Any]:
    """A flow as `GET /flows/{id}` and `include=flow` show it."""
    return {"id": flow.id, "name": flow.name, "is_enabled": flow.is_enabled, "status": "Deployed"}


def log_json(line: LogLine, run: Run) -> dict[str, Any]:
    """One log item with its step."""
    step = line.step
    return {
        "id": line.id,
        "flow_run_id": run.id,
        "log_level": line.level,
        "log_message": line.message,
        "flow_step_id": step.id if step else None,
        "flow_step": {"id": step.id, "name": step.name} if step else None,
        "payload_metadata_id": None,
        "created_at": iso(line.at),
    }


def run_json(run: Run, includes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A flat run object; relations appear only when included, as with Laravel's whenLoaded."""
    finished = run.finished_at
    data: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "trigger": run.trigger,
        "summary": run.summary,
        "started_at": iso(run.started_at),
        "finished_at": iso(finished),
        "duration": None if finished is None else max(0, round(finished - run.started_at)),
        "flow_id": run.flow.id,
        "flow_version_id": run.flow.version_id,
        "user_id": None,
        "has_warnings": run.has_warnings,
        "retry_flow_run_id": run.retry_of.id if run.retry_of else None,
        "created_at": iso(run.started_at),
        "updated_at": iso(finished if finished is not None else run.started_at),
    }
    if "flow" in includes:
        data["flow"] = flow_json(run.flow)
    if "flowVersion" in includes or "flowVersion.steps" in includes:
        version: dict[str, Any] = {"id": run.flow.version_id, "flow_id": run.flow.id, "status": "Deployed"}
        if "flowVersion.steps" in includes:
            version["steps"] = [{"id": s.id, "name": s.name} for s in run.flow.steps]
        data["flow_version"] = version
    if "errorWarningLogs" in includes:
        data["error_warning_logs"] = [log_json(line, run) for line in run.issue_logs]
    if "flowRunLogs" in includes or "flowRunLogs.flowStep" in includes:
        data["flow_run_logs"] = [log_json(line, run) for line in run.logs]
    if "retriedFlowRun" in includes:
        data["retried_flow_run"] = run_json(run.retried_by) if run.retried_by else None
    return data


def paginate(
    rows: Sequence[T],
    *,
    page: int,
    per_page: int,
    path: str,
    params: Mapping[str, str],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """Laravel's paginated envelope; links keep the other query parameters so `next` can be followed."""
    total = len(rows)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    chunk = rows[start : start + per_page]
    kept = {k: v for k, v in params.items() if k != "page"}

    def link(number: int) -> str:
        return f"{path}?{urlencode({**kept, 'page': str(number)})}"

    return {
        "data": [render(row) for row in chunk],
        "links": {
            "first": link(1),
            "last": link(last_page),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if page < last_page else None,
        },
        "meta": {
            "current_page": page,
            "from": start + 1 if chunk else None,
            "last_page": last_page,
            "path": path,
            "per_page": per_page,
            "to": start + len(chunk) if chunk else None,
            "total": total,
        },
    }
