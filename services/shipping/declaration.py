"""The shipping service as the platform sees it (entry point `annals.services: shipping`)."""

from annals.topology import Migration, Service

SERVICE = Service(
    name="shipping",
    app="shipping.entrypoints.app:create_app",
    settings="shipping.settings:ShippingSettings",
    scopes=("shipping:write",),
    stream_types=("shipment",),
    aggregates={"shipment": "shipping.domain.aggregate:Shipment"},
    events="shipping.domain.events:EVENTS",
    migrations=(
        Migration(
            step="annals.reactors.causations:REACTIONS_STEP",
            grant="annals.reactors.causations:REACTIONS_GRANT",
        ),
    ),
)
