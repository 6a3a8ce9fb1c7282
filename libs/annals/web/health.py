"""/healthz (liveness), /readyz (the database answers) and /metrics (Prometheus).

Readiness follows the database: 503 while it does not answer, so a balancer sends no traffic.
Liveness says whether the worker can serve at all: it fails once no connection could be had
for `liveness_limit` seconds (30 s) in a row, and one bounded probe also failed, so that a
supervisor restarts a worker whose pool is wedged; a database that is briefly away is not a
reason to restart. Neither answer echoes the database's error (it goes to the log, once as an
outage begins). /metrics, /docs and /openapi.json are open, behind a token with the `metrics`
scope (or `admin`), or off (404), by settings (open in development mode, behind auth otherwise).
Apps that are not command services (the registry, the console) get /metrics and the request
metrics with `install_metrics`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel

from annals.eventstore.availability import reason
from annals.web.auth import ScopedBearer
from annals.web.middleware import add_request_middleware
from annals.web.problems import RETRY_AFTER, Problem, problem_docs, problem_response
from annals.web.settings import ServiceSettings

log = structlog.get_logger("annals.web")
router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])
OPS_SCOPE = "metrics"
_ops_bearer = ScopedBearer(OPS_SCOPE)


class Health(BaseModel):
    """Liveness or readiness."""

    status: str


PROBE_TIMEOUT = 1.0
DEFAULT_LIVENESS_LIMIT = 30.0


def live(down_for: float, limit: float) -> bool:
    """The liveness rule: alive unless no connection could be had for `limit` seconds."""
    return down_for < limit


async def probe(pool: Any) -> Exception | None:
    """One `SELECT 1` bounded by PROBE_TIMEOUT; the error, or None when the database answered."""
    try:
        await asyncio.wait_for(pool.fetch("SELECT 1"), PROBE_TIMEOUT)
    except Exception as exc:
        return exc
    return None


def _unready(title: str, detail: str, slug: str) -> Problem:
    return Problem(503, title, detail, slug=slug, headers={"Retry-After": RETRY_AFTER})


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the worker can still serve",
    responses=problem_docs(503),
)
async def healthz(request: Request) -> Health:
    """Alive unless no database connection could be had for the liveness limit (30 s)."""
    state = request.app.state
    availability = getattr(state, "availability", None)
    if availability is None:
        return Health(status="ok")
    settings = getattr(state, "settings", None)
    limit = getattr(settings, "liveness_limit", DEFAULT_LIVENESS_LIMIT)
    if live(availability.down_for(), limit):
        return Health(status="ok")
    error = await probe(state.database)
    if error is None or live(availability.down_for(), limit):
        return Health(status="ok")
    raise _unready(
        "Not live", f"no database connection for {availability.down_for():.0f} s", "not-live"
    )


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the database answers",
    responses=problem_docs(503),
)
async def readyz(request: Request) -> Health:
    """Ready when the service's database answers within a second."""
    state = request.app.state
    error = await probe(state.database)
    failing = getattr(state, "readyz_failing", False)
    state.readyz_failing = error is not None
    if error is not None:
        if not failing:
            log.warning("not ready: the database does not answer", error=reason(error))
        raise _unready("Not ready", "the database does not answer", "not-ready")
    return Health(status="ready")


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Metrics of this process (of all workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    await guard(request, getattr(request.app.state.settings, "metrics_mode", "open"))
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


router.include_router(metrics_router)


def install_metrics(app: FastAPI, settings: ServiceSettings) -> None:
    """/metrics (guarded by `metrics_mode`) and the services' request metrics, correlation id
    and limits (RequestMiddleware, labelled with `settings.service`) on an app that is not a
    command service: the registry, the console."""
    app.state.settings = settings
    add_request_middleware(app, settings)
    app.add_exception_handler(Problem, _refused)  # type: ignore[arg-type]
    app.include_router(metrics_router)


async def _refused(request: Request, problem: Problem) -> Response:
    return problem_response(request, problem)


async def guard(request: Request, mode: str) -> None:
    """Let an operations request through as `mode` says: open, auth (scope metrics) or off."""
    if mode == "off":
        raise Problem(404, "Not Found", "this endpoint is turned off", slug="not-found")
    if mode != "open":
        await _ops_bearer(request)


def install_docs(app: FastAPI) -> None:
    """/openapi.json and /docs guarded by `docs_mode` (for an app created without its own)."""

    def mode(request: Request) -> str:
        return str(getattr(request.app.state.settings, "docs_mode", "open"))

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        await guard(request, mode(request))
        return JSONResponse(request.app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        await guard(request, mode(request))
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")
