"""/healthz (the process answers), /readyz (the database answers) and /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import BaseModel

from annals.web.problems import Problem, problem_docs

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """Liveness or readiness."""

    status: str


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the database answers",
    responses=problem_docs(503),
)
async def readyz(request: Request) -> Health:
    """Ready when the service's database answers within a second."""
    try:
        await asyncio.wait_for(request.app.state.store.pool.fetch("SELECT 1"), 1.0)
    except Exception as exc:
        raise Problem(
            503, "Not ready", f"the database does not answer: {exc}", slug="not-ready"
        ) from None
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
