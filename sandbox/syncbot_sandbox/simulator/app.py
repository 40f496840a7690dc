"""The ASGI app: the Core API routes under /api/v1 behind auth, rate limit, latency and chaos."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from syncbot_sandbox.simulator.control import control_routes
from syncbot_sandbox.simulator.query import (
    LOG_SORTS,
    RUN_INCLUDES,
    ApiError,
    parse_includes,
    parse_page,
    parse_run_query,
    parse_sort,
)
from syncbot_sandbox.simulator.records import Run
from syncbot_sandbox.simulator.render import flow_json, log_json, paginate, run_json
from syncbot_sandbox.simulator.world import Admission, RetryRefused, SimulatorConfig, World

__all__ = ["create_app", "serve"]

Handler = Callable[[Request, World], Response]
Endpoint = Callable[[Request], Awaitable[Response]]

_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _error(status: int, message: str, errors: dict[str, list[str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def _injected(status: int) -> Response:
    if status == 502:
        return Response(_BAD_GATEWAY, status_code=502, media_type="text/html")
    return _error(status, "Server Error" if status == 500 else "Service Unavailable")


def _truncated(world: World, body: bytes) -> Response:
    """A 200 whose JSON body stops early; any proper prefix of a JSON object is invalid JSON."""
    keep = max(1, int(len(body) * (0.1 + 0.8 * world.chaos_fraction())))
    return Response(body[: min(keep, len(body) - 1)], media_type="application/json")


def _with_limit_headers(response: Response, admission: Admission) -> Response:
    decision = admission.limit
    if decision is not None:
        response.headers["X-RateLimit-Limit"] = str(decision.limit)
        response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return response


def guarded(handler: Handler) -> Endpoint:
    """Wrap a handler in what every API request goes through, in Laravel's middleware order."""

    async def endpoint(request: Request) -> Response:
        world: World = request.app.state.world
        if world.config.latency_s > 0:
            await asyncio.sleep(world.config.latency_s)
        admission = world.admit(request.headers.get("authorization"))
        if admission.verdict == "unauthenticated":
            return _error(401, "Unauthenticated.")
        if admission.verdict == "limited":
            assert admission.limit is not None
            limited = _error(429, "Too Many Attempts.")
            limited.headers["Retry-After"] = str(admission.limit.retry_after)
            limited.headers["X-RateLimit-Reset"] = str(int(world.now()) + admission.limit.retry_after)
            return _with_limit_headers(limited, admission)
        if admission.verdict == "error":
            return _with_limit_headers(_injected(admission.error_status), admission)
        if admission.verdict == "malformed" and request.method != "GET":
            # Never perform a retry whose answer is then garbled: the caller could not know.
            return _with_limit_headers(_truncated(world, b'{"data":{"id":0,"status":1}}'), admission)
        response: Response
        try:
            response = handler(request, world)
        except ApiError as exc:
            response = _error(exc.status, exc.message, exc.errors)
        if request.method == "POST" and response.status_code == 200 and world.config.retry_answer_delay_s > 0:
            await asyncio.sleep(world.config.retry_answer_delay_s)
        if admission.verdict == "malformed":
            response = _truncated(world, bytes(response.body))
        return _with_limit_headers(response, admission)

    return endpoint


def _path(request: Request) -> str:
    return str(request.url.replace(query=""))


def _run_or_404(world: World, run_id: int) -> Run:
    run = world.get_run(run_id)
    if run is None:
        raise ApiError(404, f"No query results for model [FlowRun] {run_id}")
    return run


def list_runs(request: Request, world: World) -> Response:
    """GET /flow-runs."""
    params = request.query_params
    query = parse_run_query(params)
    includes = parse_includes(params, RUN_INCLUDES)
    page, per_page = parse_page(params)
    rows = world.list_runs(query)
    body = paginate(
        rows,
        page=page,
        per_page=per_page,
        path=_path(request),
        params=params,
        render=lambda run: run_json(run, includes),
    )
    return JSONResponse(body)


def show_run(request: Request, world: World) -> Response:
    """GET /flow-runs/{id}."""
    includes = parse_includes(request.query_params, RUN_INCLUDES)
    run = _run_or_404(world, request.path_params["run_id"])
    return JSONResponse({"data": run_json(run, includes)})


def run_logs(request: Request, world: World) -> Response:
    """GET /flow-runs/{id}/flow-run-logs."""
    params = request.query_params
    run = _run_or_404(world, request.path_params["run_id"])
    field, descending = parse_sort(params, LOG_SORTS, "id")
    page, per_page = parse_page(params)
    lines = sorted(run.logs, key=(lambda x: x.id) if field == "id" else (lambda x: (x.at, x.id)))
    if descending:
        lines.reverse()
    body = paginate(
        lines,
        page=page,
        per_page=per_page,
        path=_path(request),
        params=params,
        render=lambda line: log_json(line, run),
    )
    return JSONResponse(body)


def retry_run(request: Request, world: World) -> Response:
    """POST /flow-runs/{id}/retry."""
    run_id = request.path_params["run_id"]
    try:
        retry = world.retry(run_id)
    except KeyError:
        raise ApiError(404, f"No query results for model [FlowRun] {run_id}") from None
    except RetryRefused as exc:
        raise ApiError(422, str(exc), {"flow_run": [str(exc)]}) from None
    return JSONResponse({"data": run_json(retry)})


def list_flows(request: Request, world: World) -> Response:
    """GET /flows."""
    page, per_page = parse_page(request.query_params)
    flows = sorted(world.flows.values(), key=lambda f: f.id)
    body = paginate(
        flows,
        page=page,
        per_page=per_page,
        path=_path(request),
        params=request.query_params,
        render=flow_json,
    )
    return JSONResponse(body)


def show_flow(request: Request, world: World) -> Response:
    """GET /flows/{id}."""
    flow_id = request.path_params["flow_id"]
    flow = world.flows.get(flow_id)
    if flow is None:
        raise ApiError(404, f"No query results for model [Flow] {flow_id}")
    return JSONResponse({"data": flow_json(flow)})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return _error(405, f"The {request.method} method is not supported for route {request.url.path}.")
    return _error(status, f"The route {request.url.path.lstrip('/')} could not be found.")


def api_routes() -> list[Route]:
    """The Core API routes, relative to /api/v1."""
    return [
        Route("/flow-runs", guarded(list_runs), methods=["GET"]),
        Route("/flow-runs/{run_id:int}", guarded(show_run), methods=["GET"]),
        Route("/flow-runs/{run_id:int}/flow-run-logs", guarded(run_logs), methods=["GET"]),
        Route("/flow-runs/{run_id:int}/retry", guarded(retry_run), methods=["POST"]),
        Route("/flows", guarded(list_flows), methods=["GET"]),
        Route("/flows/{flow_id:int}", guarded(show_flow), methods=["GET"]),
    ]


def create_app(config: SimulatorConfig, *, clock: Callable[[], float] | None = None) -> Starlette:
    """The simulator as an ASGI app; `app.state.world` is its World."""
    world = World(config, clock=clock) if clock is not None else World(config)
    app = Starlette(
        routes=[Mount("/api/v1", routes=api_routes()), Mount("/_simulator", routes=control_routes())],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.world = world
    return app


def serve(config: SimulatorConfig, host: str, port: int) -> None:
    """Serve the simulator until interrupted (blocking)."""
    import uvicorn  # deferred: only the CLI path needs the server

    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
