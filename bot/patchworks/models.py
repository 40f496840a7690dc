"""The seed's vocabulary: a failed sync is an entry of the sync report, with error details.

In the Core API a failed flow run is an entry, a retry is a resync, and the retried run's
outcome is the entry's new status. Connector health is derived from error lines (see health.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = [
    "KNOWN_SYSTEMS",
    "REPORT_WINDOW",
    "ErrorLine",
    "Flow",
    "Health",
    "Resyncability",
    "RunStatus",
    "SyncEntry",
    "SystemHealth",
    "already_processed",
    "systems_in",
]

# How far back Patchworks' run report goes (and so every listing, digest window and first look).
REPORT_WINDOW = timedelta(days=15)

# Systems the bot recognises by name in flow and step names; anything else stays unknown.
KNOWN_SYSTEMS = (
    "Shopify",
    "NetSuite",
    "Brightpearl",
    "Peoplevox",
    "Magento",
    "BigCommerce",
    "Veeqo",
    "SEKO",
    "Lightspeed",
    "TikTok",
    "Virtualstock",
    "Descartes",
    "Amazon",
    "Xero",
)
_SYSTEM_PATTERN = re.compile("|".join(re.escape(name) for name in KNOWN_SYSTEMS), re.IGNORECASE)
_CANONICAL = {name.lower(): name for name in KNOWN_SYSTEMS}
_ALREADY_PROCESSED = re.compile(
    r"already (been )?processed|already exists|already in use|duplicate", re.IGNORECASE
)


def already_processed(message: str) -> bool:
    """Whether an error line says the record was already processed (so a resync cannot help)."""
    return _ALREADY_PROCESSED.search(message) is not None


def systems_in(*texts: str | None) -> tuple[str, ...]:
    """Known system names mentioned in the texts, in order of first mention, without repeats."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _SYSTEM_PATTERN.finditer(text or ""):
            found.setdefault(_CANONICAL[match.group(0).lower()], None)
    return tuple(found)


class RunStatus(IntEnum):
    """Flow-run status codes as both known clients read them."""

    STARTED = 1
    SUCCESS = 2
    FAILURE = 3
    STOPPED = 4
    PARTIAL_SUCCESS = 5

    @property
    def failed(self) -> bool:
        """Failure and partial success both leave work undone."""
        return self in (RunStatus.FAILURE, RunStatus.PARTIAL_SUCCESS)

    @property
    def label(self) -> str:
        """Human words for the status."""
        return self.name.replace("_", " ").lower()


class Health(StrEnum):
    """The three connector states Patchworks shows for service connectors."""

    OPERATIONAL = "Connector Operational"
    UNREACHABLE = "System Unreachable"
    AUTH_FAILED = "Failed Authentication"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorLine(_Frozen):
    """One error or warning line of a run's log."""

    level: str
    message: str
    step: str | None = None
    at: datetime | None = None


class Flow(_Frozen):
    """A process flow: the thing that runs; `enabled` is None when Patchworks did not say."""

    id: int
    name: str
    enabled: bool | None = None


class Resyncability(_Frozen):
    """Whether an entry may be resynced, and why not when it may not."""

    allowed: bool
    reason: str | None = None


class SystemHealth(_Frozen):
    """Derived health of one system, with the error line that decided it."""

    system: str
    health: Health
    evidence: str | None = None
    failures: int = 0


class SyncEntry(_Frozen):
    """One failed (or formerly failed) flow run."""

    run_id: int
    flow: Flow | None = None
    status: RunStatus
    trigger: str | None = None
    reference: str | None = None
    summary: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_of: int | None = None
    retried_as: int | None = None
    errors: tuple[ErrorLine, ...] = ()
    url: str | None = None

    @property
    def flow_name(self) -> str:
        """The flow's name, or its id when only that is known."""
        if self.flow is None:
            return "Unknown flow"
        return self.flow.name or f"Flow {self.flow.id}"

    @property
    def systems(self) -> tuple[str, ...]:
        """Systems named by the flow and the failing steps, where known."""
        return systems_in(self.flow.name if self.flow else None, *(line.step for line in self.errors))

    @property
    def error_summary(self) -> str:
        """The first error line, else the run's summary, else a plain statement."""
        for line in self.errors:
            if line.level.upper() in ("ERROR", "FATAL", "CRITICAL"):
                return line.message
        if self.errors:
            return self.errors[0].message
        return self.summary or "No error details returned by Patchworks"

    @property
    def attempt(self) -> int:
        """1 for an original run, 2 or more for a retry."""
        return 2 if self.retry_of is not None else 1

    @property
    def resyncability(self) -> Resyncability:
        """The seed's rule: resync is offered only when the failure reason allows it."""
        if not self.status.failed:
            return Resyncability(allowed=False, reason=f"run is not failed ({self.status.label})")
        if self.retried_as is not None:
            return Resyncability(allowed=False, reason=f"already retried as run {self.retried_as}")
        if self.flow is not None and self.flow.enabled is False:
            return Resyncability(allowed=False, reason="flow is disabled")
        if any(already_processed(line.message) for line in self.errors):
            return Resyncability(allowed=False, reason="already processed (duplicate)")
        return Resyncability(allowed=True)
