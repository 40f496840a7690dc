"""Unauthenticated JSON control endpoints under /_simulator/, for tests and the demo.

They bypass the API gate on purpose: steering the simulator must not use up the rate limit,
wait out latency or hit injected errors.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncbot_sandbox.simulator.world import Burst, World

__all__ = ["LIVE_SETTINGS", "control_routes"]

# Settings that may change while the simulator runs, with their type and lowest allowed value.
LIVE_SETTINGS: dict[str, tuple[type, float, float | None]] = {
    "latency_s": (float, 0.0, None),
    "error_rate": (float, 0.0, 1.0),
    "malformed_rate": (float, 0.0, 1.0),
    "rate_limit_per_minute": (int, 0, None),
    "retry_success_rate": (float, 0.0, 1.0),
    "retry_delay_s": (float, 0.0, None),
    "retry_answer_delay_s": (float, 0.0, None),
}


class _Invalid(Exception):
    pass


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=422)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Invalid("The body must be JSON.") from None
    if not isinstance(body, dict):
        raise _Invalid("The body must be a JSON object.")
    return body


def _number(body: dict[str, Any], key: str, kind: type, default: float | None = None) -> Any:
    value = body.get(key, default)
    if value is None:
        return None
    # bool is an int subclass; true/false as a number is a caller mistake.
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
        raise _Invalid(f"`{key}` must be a number.")
    return kind(value)


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


def _config(world: World) -> dict[str, Any]:
    return asdict(world.config)


async def state(request: Request) -> JSONResponse:
    """GET /_simulator/state: counts, retry calls, request count, config."""
    world = _world(request)
    return JSONResponse({**world.state(), "config": _config(world)})


async def failures(request: Request) -> JSONResponse:
    """POST /_simulator/failures {count, flow_id?, minutes_ago?, error?}: add failed runs."""
    world = _world(request)
    try:
        body = await _body(request)
        count = _number(body, "count", int, 1)
        flow_id = _number(body, "flow_id", int)
        minutes_ago = _number(body, "minutes_ago", float, 0.0)
        error = body.get("error")
        if error is not None and not isinstance(error, str):
            raise _Invalid("`error` must be a string.")
        if count < 0 or count > 100_000:
            raise _Invalid("`count` must be between 0 and 100000.")
        ids = world.add_failures(count, flow_id=flow_id, minutes_ago=minutes_ago, error=error)
    except _Invalid as exc:
        return _bad(str(exc))
    except KeyError:
        return _bad(f"Unknown flow {body.get('flow_id')}.")
    return JSONResponse({"ids": ids})


async def config(request: Request) -> JSONResponse:
    """POST /_simulator/config {latency_s?, error_rate?, ...}: change settings live."""
    world = _world(request)
    try:
        body = await _body(request)
        unknown = sorted(set(body) - set(LIVE_SETTINGS))
        if unknown:
            raise _Invalid(f"Cannot change {', '.join(unknown)} live; allowed: {', '.join(LIVE_SETTINGS)}.")
        changes: dict[str, Any] = {}
        for key, (kind, low, high) in LIVE_SETTINGS.items():
            if key in body:
                value = _number(body, key, kind)
                if value is None or value < low or (high is not None and value > high):
                    raise _Invalid(f"`{key}` is out of range.")
                changes[key] = value
    except _Invalid as exc:
        return _bad(str(exc))
    for key, value in changes.items():
        setattr(world.config, key, value)
    return JSONResponse({"config": _config(world)})


async def outage(request: Request) -> JSONResponse:
    """POST /_simulator/outage {system, kind}: kind "auth", "unreachable" or null to mend."""
    world = _world(request)
    try:
        body = await _body(request)
        system, kind = body.get("system"), body.get("kind")
        if not isinstance(system, str) or not system:
            raise _Invalid("`system` must be a system name.")
        if kind not in ("auth", "unreachable", None):
            raise _Invalid('`kind` must be "auth", "unreachable" or null.')
    except _Invalid as exc:
        return _bad(str(exc))
    world.set_system_outage(system, kind)
    return JSONResponse({"outages": dict(world.outages)})


async def burst(request: Request) -> JSONResponse:
    """POST /_simulator/burst {flow_id, error, count, every_s, after_s?}: an outage of one cause."""
    world = _world(request)
    try:
        body = await _body(request)
        flow_id = _number(body, "flow_id", int)
        error = body.get("error")
        if flow_id is None:
            raise _Invalid("`flow_id` must be a flow id.")
        if not isinstance(error, str) or not error.strip():
            raise _Invalid("`error` must be the error text ({ref} and {sku} are filled in per run).")
        count = _number(body, "count", int, 20)
        every_s = _number(body, "every_s", float, 0.5)
        after_s = _number(body, "after_s", float, 0.0)
        if not 0 <= count <= 100_000 or every_s <= 0 or after_s < 0:
            raise _Invalid("`count` must be 0 to 100000, `every_s` above 0 and `after_s` not negative.")
        world.start_burst(Burst(flow_id, error, count, every_s, after_s))
    except _Invalid as exc:
        return _bad(str(exc))
    except KeyError:
        return _bad(f"Unknown flow {body.get('flow_id')}.")
    state = world.state()
    return JSONResponse({"bursts": state["bursts"]})


async def flow(request: Request) -> JSONResponse:
    """POST /_simulator/flows/{id} {is_enabled}: enable or disable a flow."""
    world = _world(request)
    flow_id = request.path_params["flow_id"]
    try:
        body = await _body(request)
        enabled = body.get("is_enabled")
        if not isinstance(enabled, bool):
            raise _Invalid("`is_enabled` must be true or false.")
        world.set_flow_enabled(flow_id, enabled)
    except _Invalid as exc:
        return _bad(str(exc))
    except KeyError:
        return JSONResponse({"message": f"Unknown flow {flow_id}."}, status_code=404)
    return JSONResponse({"id": flow_id, "is_enabled": enabled})


async def force(request: Request) -> JSONResponse:
    """POST /_simulator/force {run_id?, outcome}: fix how the next (or a given run's) retry ends."""
    world = _world(request)
    try:
        body = await _body(request)
        run_id = _number(body, "run_id", int)
        outcome = body.get("outcome")
        if outcome not in ("success", "failure"):
            raise _Invalid('`outcome` must be "success" or "failure".')
        world.force_outcome(run_id, outcome)
    except _Invalid as exc:
        return _bad(str(exc))
    except KeyError:
        return JSONResponse({"message": f"Unknown run {body.get('run_id')}."}, status_code=404)
    return JSONResponse({"run_id": run_id, "outcome": outcome})


def control_routes() -> list[Route]:
    """The control routes, relative to /_simulator."""
    return [
        Route("/state", state, methods=["GET"]),
        Route("/failures", failures, methods=["POST"]),
        Route("/config", config, methods=["POST"]),
        Route("/outage", outage, methods=["POST"]),
        Route("/burst", burst, methods=["POST"]),
        Route("/flows/{flow_id:int}", flow, methods=["POST"]),
        Route("/force", force, methods=["POST"]),
    ]
