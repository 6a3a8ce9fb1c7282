"""The shipping app: `uvicorn --factory shipping.entrypoints.app:create_app`."""

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
from shipping.domain.aggregate import ShipmentState
from shipping.entrypoints import routes
from shipping.entrypoints.views import ShipmentView, render
from shipping.service_layer.handlers import Deps, handle
from shipping.service_layer.reactors import reactor_runner, upstream_registries
from shipping.settings import ShippingSettings

DESCRIPTION = """Shipments of confirmed orders, kept as events: a confirmed order opens one
(its id is the order's); dispatch it with a carrier and tracking number, then confirm delivery.

Writes answer with the stream version as `ETag` (send it back as `If-Match`) and accept an
`Idempotency-Key`; errors are `application/problem+json`.
"""


def build(
    database: PostgresDatabase, store: PostgresEventStore, settings: ShippingSettings
) -> CommandApi[ShipmentState]:
    """The handlers and their dependencies on the open database and its event store."""
    deps = Deps.build(database, store, settings.command_retries)
    api = CommandApi(deps.executor, handle, deps, render, routes.PREFIX)
    if settings.reactors:
        runner = reactor_runner(deps, database, PostgresCausations())
        subscriber = reactor_subscriber(runner, upstream_registries())
        api.background["reactor-shipping"] = subscriber.run
    return api


def create_app(settings: ShippingSettings | None = None) -> FastAPI:
    """The app (settings read from ANNALS_SHIPPING_* unless given)."""
    settings = settings or ShippingSettings()
    read = read_router(
        prefix=routes.PREFIX, id_name="shipment_id", kind="shipment", view=ShipmentView
    )
    return create_service_app(
        settings=settings,
        title="shipping",
        description=DESCRIPTION,
        routers=[routes.router, read],
        steps=[*IDEMPOTENCY_STEPS, REACTIONS_STEP],
        grants=[IDEMPOTENCY_GRANT, REACTIONS_GRANT],
        build=build,
    )
