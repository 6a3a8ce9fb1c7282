"""The orders app: `uvicorn --factory orders.entrypoints.app:create_app`; wiring in the lifespan."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from annals.commands.storage import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEPS
from annals.eventstore.postgres import PostgresEventStore
from annals.web.app import create_service_app
from annals.web.commands import CommandApi
from annals.web.routes import read_router
from orders.domain.order import OrderState
from orders.entrypoints import routes
from orders.entrypoints.views import OrderView, render_order
from orders.service_layer.handlers import Deps, handle
from orders.settings import OrdersSettings

DESCRIPTION = """Commands on orders, kept as events (DESIGN §6).

Writes answer with the order and its stream version as `ETag`; send it back as `If-Match` to
refuse a concurrent change (412), and an `Idempotency-Key` to make a retry safe. Errors are
`application/problem+json`. Tokens: `annals token --scope orders:write --scope read`.
"""


def build(store: PostgresEventStore, settings: OrdersSettings) -> CommandApi[OrderState]:
    """The handlers and their dependencies on the open store."""
    deps = Deps.build(store, settings.command_retries, settings.state_cache_size)
    return CommandApi(deps.executor, functools.partial(handle, deps=deps), render_order, "/orders")


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    """The orders app (settings read from ANNALS_ORDERS_* unless given)."""
    settings = settings or OrdersSettings()
    read = read_router(prefix="/orders", id_name="order_id", kind="order", view=OrderView)
    return create_service_app(
        settings=settings,
        title="Annals orders",
        description=DESCRIPTION,
        routers=[routes.router, read],
        steps=[*IDEMPOTENCY_STEPS],
        grants=[IDEMPOTENCY_GRANT],
        build=build,
    )
