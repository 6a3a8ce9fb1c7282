"""/healthz (liveness), /readyz (the database answers) and /metrics (Prometheus).

Readiness follows the database: 503 while it does not answer, so a balancer sends no traffic.
Liveness says whether the worker can serve at all: it fails once no connection could be had
for `liveness_limit` seconds (30 s) in a row, and one bounded probe also failed, so that a
supervisor restarts a worker whose pool is wedged; a database that is briefly away is not a
reason to restart.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel

from annals.eventstore.availability import reason
from annals.web.problems import RETRY_AFTER, Problem, problem_docs

router = APIRouter(tags=["operations"])


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
    error = await probe(state.store.pool)
    if error is None or live(availability.down_for(), limit):
        return Health(status="ok")
    raise _unready(
        "Not live",
        f"no database connection for {availability.down_for():.0f} s "
        f"(last error: {availability.last_error})",
        "not-live",
    )


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the database answers",
    responses=problem_docs(503),
)
async def readyz(request: Request) -> Health:
    """Ready when the service's database answers within a second."""
    error = await probe(request.app.state.store.pool)
    if error is not None:
        raise _unready("Not ready", f"the database does not answer: {reason(error)}", "not-ready")
    return Health(status="ready")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    """Metrics of this process (of all workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
