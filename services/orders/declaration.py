"""The orders service as the platform sees it (entry point `annals.services: orders`)."""

from annals.topology import Migration, Service

SERVICE = Service(
    name="orders",
    app="orders.entrypoints.app:create_app",
    settings="orders.settings:OrdersSettings",
    scopes=("orders:write",),
    stream_types=("order",),
    aggregates={"order": "orders.domain.order:Order"},
    events="orders.domain.events:ORDER_EVENTS",
    read_models=True,
    # The reactor turning shipments into MarkShipped/MarkDelivered records its causations here;
    # `annals services up` runs it, so the launcher's migration must create its table.
    migrations=(
        Migration(
            step="annals.reactors.causations:REACTIONS_STEP",
            grant="annals.reactors.causations:REACTIONS_GRANT",
        ),
    ),
)
