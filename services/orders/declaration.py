"""The orders service as the platform sees it (entry point `annals.services: orders`)."""

from annals.topology import Service

SERVICE = Service(
    name="orders",
    app="orders.entrypoints.app:create_app",
    settings="orders.settings:OrdersSettings",
    scopes=("orders:write",),
    stream_types=("order",),
    events="orders.domain.events:ORDER_EVENTS",
    read_models=True,
)
