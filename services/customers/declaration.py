"""The customers service as the platform sees it (entry point `annals.services: customers`)."""

from annals.topology import Migration, Service

SERVICE = Service(
    name="customers",
    app="customers.entrypoints.app:create_app",
    settings="customers.settings:CustomersSettings",
    scopes=("customers:write",),
    stream_types=("customer",),
    aggregates={"customer": "customers.domain.customer:Customer"},
    events="customers.domain.events:CUSTOMER_EVENTS",
    connects=("orders",),
    migrations=(
        Migration(
            step="customers.service_layer.reservations:RESERVATIONS_STEP",
            grant="customers.service_layer.reservations:RESERVATIONS_GRANT",
        ),
    ),
    subject_keys=True,
)
