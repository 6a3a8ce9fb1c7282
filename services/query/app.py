"""The query API: `uvicorn --factory query.app:create_app` (port 8003); wiring in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response

from annals.collector import tune_collector
from annals.eventstore.availability import Availability
from annals.eventstore.pool import ConnectionPool
from annals.tracing.http import instrument
from annals.web.app import configure_logging, database_availability, pool_options
from annals.web.auth import TokenVerifier
from annals.web.health import install_docs
from annals.web.health import router as health_router
from annals.web.middleware import RequestMiddleware
from annals.web.problems import Problem, install_problem_handlers, problem_response
from annals.web.settings import refuse_unsafe
from query import asyncapi, catalog, orders, shipments
from query.consistency import Consistency
from query.http import Freshness
from query.settings import QuerySettings

log = structlog.get_logger("annals.query")
DESCRIPTION = """Read models of Annals: orders, customers, products, daily sales (docs/rules.md).

Send `X-Consistency-Token: <stream id>@<version>` (a write's stream and its ETag) to read your
own writes: the answer waits (bounded, `?wait=` seconds) until the read model applied it and
says how fresh it is (`X-Consistency`, `X-Read-Model`). Answers carry an `ETag`; send it back as
`If-None-Match` for a 304. Personal data is masked without the `read:pii` scope. Tokens:
`annals token --scope read --scope read:pii`.
"""


@dataclass
class ReadStore:
    """What /readyz and /healthz check: the read-model pool."""

    pool: ConnectionPool


async def open_pool(settings: QuerySettings, availability: Availability) -> ConnectionPool:
    """The read-model pool: bounded acquire, connect and statements (503 while unreachable)."""
    pool = ConnectionPool(
        settings.dsn,
        settings.pool_size,
        settings.server_settings,
        **pool_options(settings, availability),
    )
    return await pool.open(2)


async def _not_deployed(request: Request, exc: Exception) -> Response:
    problem = Problem(
        503, "Read model not ready", "the read model is not deployed yet (is a projector running?)",
        slug="read-model-not-ready", headers={"Retry-After": "1"},
    )  # fmt: skip
    return problem_response(request, problem)


def create_app(settings: QuerySettings | None = None) -> FastAPI:
    """The query app (settings from ANNALS_QUERY_* unless given)."""
    settings = settings or QuerySettings()
    refuse_unsafe(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        if settings.uses_unsafe_secret:
            log.warning("development mode: the documented JWT secret is accepted (loopback only)")
        availability = app.state.availability = database_availability(settings)
        pool = await open_pool(settings, availability)
        # Consistency needs fetch() of a pool, which ConnectionPool has.
        consistency = Consistency(cast(asyncpg.Pool, pool), settings.dsn, settings.view_schema)
        await consistency.start()
        app.state.pool = pool
        app.state.database = pool
        app.state.store = ReadStore(pool)
        app.state.consistency = consistency
        app.state.freshness = Freshness(pool, settings.view_schema)
        app.state.verifier = TokenVerifier(settings)
        tune_collector()  # the app is built: freeze it, collect young objects less often
        log.info("query API started", database=settings.database)
        try:
            yield
        finally:
            await consistency.close()
            await pool.close()

    app = FastAPI(
        title="Annals query API", description=DESCRIPTION, version="1.0.0", lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    install_docs(app)
    install_problem_handlers(app)
    app.add_exception_handler(asyncpg.UndefinedTableError, _not_deployed)
    app.add_middleware(
        RequestMiddleware,
        service="query",
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_header_field_bytes=settings.max_header_field_bytes,
    )
    instrument(app, "query")
    app.include_router(orders.router)
    app.include_router(catalog.router)
    app.include_router(shipments.router)
    app.include_router(asyncapi.router)
    app.include_router(health_router)
    app.state.settings = settings
    return app
