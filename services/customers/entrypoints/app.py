"""The customers app: `uvicorn --factory customers.entrypoints.app:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from annals.commands.tables import IDEMPOTENCY_GRANT, IDEMPOTENCY_STEPS
from annals.eventstore.database import PostgresDatabase
from annals.eventstore.postgres import PostgresEventStore
from annals.privacy.http import report_router
from annals.web.app import create_service_app
from annals.web.commands import CommandApi
from annals.web.routes import read_router
from customers.domain.customer import CustomerState
from customers.entrypoints import routes
from customers.entrypoints.views import CustomerView, render_customer
from customers.service_layer.handlers import Deps, handle
from customers.service_layer.reservations import (
    RESERVATIONS_GRANT,
    RESERVATIONS_STEP,
    rekey_reservations,
    reservation_index,
)
from customers.settings import CustomersSettings

DESCRIPTION = """Commands on customers, kept as events (docs/rules.md#http).

Email is unique among active customers. Personal data (name, email, phone, address) is
encrypted per customer in the events, masked for readers without `read:pii`, and destroyed
by `forget` (crypto-shredding). Writes answer with the stream version as `ETag` and accept
`If-Match` and `Idempotency-Key`; errors are `application/problem+json`.
"""


def build(
    database: PostgresDatabase, store: PostgresEventStore, settings: CustomersSettings
) -> CommandApi[CustomerState]:
    """The handlers and their dependencies on the open database and its event store."""
    deps = Deps.build(database, store, retries=settings.command_retries)

    async def state_of(customer_id: str) -> CustomerState:
        return (await deps.executor.load(customer_id)).state

    async def startup() -> None:
        await rekey_reservations(database, state_of, reservation_index())

    return CommandApi(
        deps.executor,
        handle,
        deps,
        render_customer,
        "/customers",
        startup=startup,
    )


def create_app(settings: CustomersSettings | None = None) -> FastAPI:
    """The customers app (settings read from ANNALS_CUSTOMERS_* unless given)."""
    settings = settings or CustomersSettings()
    return create_service_app(
        settings=settings,
        title="Annals customers",
        description=DESCRIPTION,
        routers=[
            routes.router,
            read_router(
                prefix="/customers", id_name="customer_id", kind="customer", view=CustomerView
            ),
            report_router("/customers", "customer_id"),
        ],
        steps=[*IDEMPOTENCY_STEPS, RESERVATIONS_STEP],
        grants=[IDEMPOTENCY_GRANT, RESERVATIONS_GRANT],
        build=build,
    )
