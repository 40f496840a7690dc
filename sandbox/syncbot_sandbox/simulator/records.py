"""The simulator's mutable records: flows, steps, runs, log lines, and a run query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from syncbot_sandbox.simulator.catalogue import Role

__all__ = [
    "FAILED",
    "FAILURE",
    "PARTIAL",
    "STARTED",
    "STOPPED",
    "SUCCESS",
    "LogLine",
    "Outcome",
    "Run",
    "RunQuery",
    "SimFlow",
    "Step",
]

STARTED, SUCCESS, FAILURE, STOPPED, PARTIAL = 1, 2, 3, 4, 5
FAILED = frozenset({FAILURE, PARTIAL})

Outcome = Literal["success", "failure"]


@dataclass(frozen=True, slots=True)
class Step:
    """A step of a flow; `system` is None for mapping steps."""

    id: int
    name: str
    role: Role
    system: str | None


@dataclass(slots=True)
class SimFlow:
    """A process flow; `is_enabled` is the only field that changes."""

    id: int
    name: str
    is_enabled: bool
    entity: str
    version_id: int
    steps: tuple[Step, ...]
    systems: tuple[str, ...]
    # Lower-cased flow and step names, so filter[search] is one substring test per run.
    haystack: str = ""


@dataclass(slots=True)
class LogLine:
    """One line of a run's log."""

    id: int
    level: str
    message: str
    step: Step | None
    at: float


@dataclass(slots=True, eq=False)
class Run:
    """A flow run; times are unix seconds rounded to milliseconds."""

    id: int
    flow: SimFlow
    name: str | None
    status: int
    trigger: str
    summary: str | None
    started_at: float
    finished_at: float | None
    logs: list[LogLine] = field(default_factory=list)
    retry_of: Run | None = None
    retried_by: Run | None = None
    # Pending retries only: when the run ends and how, unless forced or an outage intervenes.
    ends_at: float | None = None
    planned: Outcome | None = None

    @property
    def has_warnings(self) -> bool:
        """Whether any log line is a warning."""
        return any(line.level == "WARNING" for line in self.logs)

    @property
    def issue_logs(self) -> list[LogLine]:
        """Error, warning and fatal lines, the `errorWarningLogs` relation."""
        return [line for line in self.logs if line.level in ("ERROR", "WARNING", "FATAL")]


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Filters and order of a run listing; hashable so results can be cached per world version."""

    statuses: frozenset[int] | None = None
    flow_ids: frozenset[int] | None = None
    flow_version_ids: frozenset[int] | None = None
    triggers: frozenset[str] | None = None
    search: str | None = None
    started_after_ms: int | None = None
    started_before_ms: int | None = None
    started_on_ms: int | None = None
    retried: bool | None = None
    has_warnings: bool | None = None
    descending: bool = True
