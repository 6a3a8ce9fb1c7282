"""The orders app: `uvicorn --factory orders.entrypoints.app:create_app`; wiring in the lifespan."""

from __future__ import annotations

from fastapi import FastAPI

from annals.commands.tables import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEPS
from annals.eventstore.database import PostgresDatabase
from annals.eventstore.postgres import PostgresEventStore
from annals.reactors import PostgresCausations
from annals.reactors.causations import REACTIONS_GRANT, REACTIONS_STEP
from annals.reactors.subscribe import reactor_subscriber
from annals.web.app import create_service_app
from annals.web.commands import CommandApi
from annals.web.routes import read_router
from orders.adapters.customer_directory import CustomerDirectory
from orders.domain.order import OrderState
from orders.entrypoints import routes
from orders.entrypoints.views import OrderView, render_order
from orders.service_layer.handlers import Deps, handle
from orders.service_layer.reactors import reactor_runner, upstream_registries
from orders.settings import OrdersSettings

DESCRIPTION = """Commands on orders, kept as events (docs/rules.md#http).

Writes answer with the order and its stream version as `ETag`; send it back as `If-Match` to
refuse a concurrent change (412), and an `Idempotency-Key` to make a retry safe. Errors are
`application/problem+json`. Tokens: `annals token --scope orders:write --scope read`.
"""


def build(
    database: PostgresDatabase, store: PostgresEventStore, settings: OrdersSettings
) -> CommandApi[OrderState]:
    """The handlers and their dependencies on the open database and its event store."""
    deps = Deps.build(
        database,
        store,
        CustomerDirectory(database),
        retries=settings.command_retries,
        cache_size=settings.state_cache_size,
    )
    api = CommandApi(deps.executor, handle, deps, render_order, "/orders")
    if settings.reactors:
        runner = reactor_runner(deps, database, PostgresCausations())
        subscriber = reactor_subscriber(runner, upstream_registries())
        api.background["reactor-orders"] = subscriber.run
    return api


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """The orders app (settings read from ANNALS_ORDERS_* unless given)."""
    settings = settings or OrdersSettings()
    read = read_router(prefix="/orders", id_name="order_id", kind="order", view=OrderView)
    return create_service_app(
        settings=settings,
        title="Annals orders",
        description=DESCRIPTION,
        routers=[routes.router, read],
        # The reactor's causations table exists once the reactor is switched on.
        steps=[*IDEMPOTENCY_STEPS, *([REACTIONS_STEP] if settings.reactors else [])],
        grants=[IDEMPOTENCY_GRANT, *([REACTIONS_GRANT] if settings.reactors else [])],
        build=build,
    )
