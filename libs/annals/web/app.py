"""Building a service app: middleware, problem handlers, health routes and the one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI

from annals.collector import tune_collector
from annals.commands.storage import open_service_database
from annals.commands.tables import TableStep
from annals.eventstore.availability import Availability
from annals.eventstore.database import PostgresDatabase
from annals.eventstore.keywrap import configured_wrapper
from annals.eventstore.postgres import PostgresEventStore
from annals.schemas.remote import require_registered
from annals.tracing.http import instrument
from annals.web.auth import TokenVerifier
from annals.web.commands import CommandApi
from annals.web.context import correlation_id
from annals.web.health import install_docs
from annals.web.health import router as health_router
from annals.web.middleware import add_request_middleware
from annals.web.problems import install_problem_handlers
from annals.web.settings import ServiceSettings, refuse_unsafe

log = structlog.get_logger("annals.web")
# Builds the service's CommandApi (app.state.api) on the open database and its event store.
Build = Callable[[PostgresDatabase, PostgresEventStore, Any], CommandApi[Any]]


def _add_correlation_id(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    cid = correlation_id()
    if cid is not None:
        event.setdefault("correlation_id", cid)
    return event


def configure_logging(settings: ServiceSettings) -> None:
    """structlog to stderr (JSON by default), every line with the request's correlation id."""
    level = getattr(logging, settings.log_level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _add_correlation_id,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def database_availability(settings: ServiceSettings) -> Availability:
    """What the worker's pool reports outages to (logged once as one begins and as it ends)."""
    return Availability(f"{settings.service} database {settings.database}", log)


def pool_options(settings: ServiceSettings, availability: Availability) -> dict[str, Any]:
    """The bounds of the worker's pool: acquire, connect and (client-side) command timeouts."""
    return {
        "acquire_timeout": settings.acquire_timeout,
        "connect_timeout": settings.connect_timeout,
        "command_timeout": settings.command_timeout,
        "availability": availability,
    }


def service_lifespan(
    settings: ServiceSettings, steps: Sequence[TableStep], grants: Sequence[str], build: Build
) -> Callable[[FastAPI], Any]:
    """The lifespan (the composition root): migrate or check the database (fail fast), open it,
    give it to the event store and to the service's build, which wires the rest on it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        await asyncio.to_thread(require_registered, settings.service, settings)
        if settings.uses_unsafe_secret:
            log.warning("development mode: the documented JWT secret is accepted (loopback only)")
        if configured_wrapper() is None:
            log.warning("subject keys are stored unwrapped; set ANNALS_MASTER_KEYS in production")
        availability = app.state.availability = database_availability(settings)
        database = await open_service_database(
            service=settings.service,
            dsn=settings.dsn,
            owner_dsn=settings.owner_dsn,
            app_role=settings.app_role,
            steps=steps,
            grants=grants,
            migrate=settings.migrate,
            pool_size=settings.pool_size,
            server_settings=settings.server_settings,
            pool_options=pool_options(settings, availability),
        )
        store = PostgresEventStore(database)
        app.state.database, app.state.store = database, store
        app.state.verifier = TokenVerifier(settings)
        app.state.api = api = build(database, store, settings)
        if api.startup is not None:
            await api.startup()
        api.idempotency.ttl = timedelta(hours=settings.idempotency_ttl_hours)
        purge = asyncio.create_task(api.idempotency.purge_forever(), name="idempotency-purge")
        background = [
            asyncio.create_task(work(), name=name) for name, work in api.background.items()
        ]
        tune_collector()  # the app is built: freeze it, collect young objects less often
        log.info("service started", service=settings.service, database=settings.database)
        try:
            yield
        finally:
            for task in (purge, *background):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await store.close()
            await database.close()

    return lifespan


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    steps: Sequence[TableStep],
    grants: Sequence[str],
    build: Build,
) -> FastAPI:
    """A FastAPI app with the shared middleware, problem+json errors, operations routes and the
    lifespan that opens the store and builds the service's CommandApi."""
    refuse_unsafe(settings)
    lifespan = service_lifespan(settings, steps, grants, build)
    app = FastAPI(
        title=title, description=description, version="1.0.0", lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    install_docs(app)
    install_problem_handlers(app)
    add_request_middleware(app, settings)
    instrument(app, settings.service)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router)
    app.state.settings = settings
    return app
