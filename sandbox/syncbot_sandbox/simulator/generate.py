"""Seeded construction of flows, runs and log lines; ids are assigned later by the World."""

from __future__ import annotations

from random import Random
from typing import Literal

from syncbot_sandbox.simulator.catalogue import (
    AUTH_ERROR,
    FLOWS,
    MAPPED_FIELDS,
    SKUS,
    TIMEOUT_ERROR,
    ErrorKind,
    error_kinds_for,
)
from syncbot_sandbox.simulator.records import FAILURE, PARTIAL, SUCCESS, LogLine, Run, SimFlow, Step

__all__ = [
    "OutageKind",
    "build_flows",
    "error_line",
    "failure_lines",
    "kinds_by_flow",
    "make_failure",
    "make_success",
    "ms",
    "outage_lines",
    "reference",
    "summary_of",
]

OutageKind = Literal["auth", "unreachable"]

_TRIGGERS = {
    "order": "Webhook",
    "sales_order": "Webhook",
    "refund": "Webhook",
    "sku": "Schedule",
    "customer": "Schedule",
    "batch": "Schedule",
}


def ms(seconds: float) -> float:
    """Unix seconds rounded to milliseconds, so unix-ms filters compare exactly."""
    return round(seconds, 3)


def build_flows() -> dict[int, SimFlow]:
    """The tenant's flows, the same for every seed so demos and tests can name them."""
    flows: dict[int, SimFlow] = {}
    for spec in FLOWS:
        steps = tuple(
            Step(spec.id * 100 + n, name, role, None if role == "map" else name.partition(":")[0])
            for n, (name, role) in enumerate(spec.steps, start=1)
        )
        systems = tuple(dict.fromkeys(s.system for s in steps if s.system is not None))
        haystack = "\n".join([spec.name, *(s.name for s in steps)]).lower()
        flows[spec.id] = SimFlow(
            spec.id, spec.name, spec.enabled, spec.entity, spec.id * 10 + 3, steps, systems, haystack
        )
    return flows


def kinds_by_flow() -> dict[int, tuple[ErrorKind, ...]]:
    """Each flow's failure catalogue, keyed by flow id."""
    return {spec.id: error_kinds_for(spec) for spec in FLOWS}


def reference(rng: Random, flow: SimFlow) -> tuple[str | None, str]:
    """A business reference for a run of the flow (None for batch flows) and a SKU to mention."""
    sku = rng.choice(SKUS)
    match flow.entity:
        case "order":
            return f"#{rng.randint(1001, 4999)}", sku
        case "sales_order":
            return f"SO-{rng.randint(10001, 19999)}", sku
        case "refund":
            return f"#{rng.randint(1001, 4999)}-R{rng.randint(1, 2)}", sku
        case "customer":
            return f"CUST-{rng.randint(20001, 29999)}", sku
        case "sku":
            return sku, sku
        case _:
            return None, sku


def _step_for(rng: Random, flow: SimFlow, where: str) -> Step:
    if where == "either":
        return rng.choice([s for s in flow.steps if s.system is not None])
    return next((s for s in flow.steps if s.role == where), flow.steps[-1])


def _fill(template: str, **values: str) -> str:
    # Templates hold JSON braces, so str.format is not an option.
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def outage_lines(flow: SimFlow, outages: dict[str, OutageKind], at: float) -> list[LogLine] | None:
    """The error lines an outage of one of the flow's systems causes, or None when none is down."""
    hit = [s for s in reversed(flow.steps) if s.system is not None and s.system in outages]
    if not hit:
        return None
    step = hit[0]  # the destination when both ends are down: that is where the run stops
    assert step.system is not None
    if outages[step.system] == "auth":
        return [LogLine(0, "ERROR", AUTH_ERROR, step, at)]
    return [
        LogLine(0, "WARNING", f"Request to {step.system} timed out, retrying (attempt 3 of 3)", step, at),
        LogLine(0, "ERROR", TIMEOUT_ERROR, step, at),
    ]


def failure_lines(
    rng: Random,
    flow: SimFlow,
    kinds: tuple[ErrorKind, ...],
    *,
    ref: str | None,
    sku: str,
    at: float,
    outages: dict[str, OutageKind],
) -> tuple[list[LogLine], ErrorKind | None]:
    """Issue lines for one failure: an outage's when one applies, else a seeded pick from the catalogue."""
    kind = rng.choices(kinds, weights=[k.weight for k in kinds])[0]
    fixed = outage_lines(flow, outages, at)
    if fixed is not None:
        return fixed, None
    step = _step_for(rng, flow, kind.where)
    values = {
        "ref": ref or sku,
        "sku": sku,
        "system": step.system or "Destination",
        "field": rng.choice(MAPPED_FIELDS),
    }
    return [LogLine(0, level, _fill(text, **values), step, at) for level, text in kind.lines], kind


def error_line(error: str, flow: SimFlow, *, ref: str | None, sku: str, at: float) -> LogLine:
    """The one error line of a failure with a given text, at the flow's last step.

    {ref} (the run's business reference, else the SKU) and {sku} in the text are filled in.
    """
    return LogLine(0, "ERROR", _fill(error, ref=ref or sku, sku=sku), flow.steps[-1], at)


def summary_of(lines: list[LogLine]) -> str:
    """The run's short reason: where it stopped and the first error."""
    first = next((line for line in lines if line.level == "ERROR"), lines[0])
    where = f"Failed at step '{first.step.name}': " if first.step else "Failed: "
    text = where + first.message
    return text if len(text) <= 200 else text[:199] + "…"


def make_failure(
    rng: Random,
    flow: SimFlow,
    kinds: tuple[ErrorKind, ...],
    *,
    finished_at: float,
    outages: dict[str, OutageKind],
    error: str | None = None,
) -> Run:
    """A failed (or partially successful) run ending at `finished_at`.

    With `error`, its one error line is that text ({ref} and {sku} filled in, see error_line).
    """
    duration = rng.uniform(1.5, 45.0)
    started = ms(finished_at - duration)
    finished = ms(finished_at)
    ref, sku = reference(rng, flow)
    trigger = "Manual" if rng.random() < 0.1 else _TRIGGERS[flow.entity]
    if error is not None:
        lines = [error_line(error, flow, ref=ref, sku=sku, at=finished)]
        kind = None
    else:
        lines, kind = failure_lines(rng, flow, kinds, ref=ref, sku=sku, at=finished, outages=outages)
    status = FAILURE
    summary = summary_of(lines)
    if kind is not None and kind.partial and flow.entity in ("sku", "batch") and rng.random() < 0.5:
        total = rng.randint(12, 250)
        bad = rng.randint(1, min(9, total - 1))
        status = PARTIAL
        summary = f"Completed with errors: {bad} of {total} records failed"
        lines.insert(0, LogLine(0, "WARNING", f"{bad} of {total} records failed", lines[0].step, finished))
    logs = [LogLine(0, "INFO", f"Flow run started ({trigger})", None, started), *lines]
    return Run(0, flow, ref, status, trigger, summary, started, finished, logs)


def make_success(rng: Random, flow: SimFlow, *, finished_at: float, trigger: str | None = None) -> Run:
    """A successful run ending at `finished_at`."""
    duration = rng.uniform(1.0, 30.0)
    started = ms(finished_at - duration)
    finished = ms(finished_at)
    ref, _ = reference(rng, flow)
    trigger = trigger or _TRIGGERS[flow.entity]
    logs = [
        LogLine(0, "INFO", f"Flow run started ({trigger})", None, started),
        LogLine(0, "INFO", "Flow run completed", None, finished),
    ]
    return Run(0, flow, ref, SUCCESS, trigger, None, started, finished, logs)
