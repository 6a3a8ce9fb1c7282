"""Shipment commands: what the shipping desk (or the reactor) asks for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from annals.eventstore.identifiers import AggregateId
from shipping.domain.events import Carrier, TrackingNumber


class Command(BaseModel):
    """Base of shipment commands: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenShipment(Command):
    """Open the shipment of a confirmed order (the shipment's id is the order's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"order_id": "o-1"}]})

    order_id: AggregateId


class DispatchShipment(Command):
    """Hand an open shipment to a carrier under a tracking number."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"carrier": "DHL", "tracking_number": "JD0146000"}]}
    )

    carrier: Carrier
    tracking_number: TrackingNumber


class ConfirmDelivery(Command):
    """Record that the carrier delivered a dispatched shipment."""
