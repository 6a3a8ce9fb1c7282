"""Shipment events: facts, in the past tense; each new shape is a new schema version."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from annals.eventstore.domain import DomainEvent

Carrier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TrackingNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{4,64}$")]


class ShipmentEvent(DomainEvent):
    """Base of shipment events; a shipment carries one order, its id is the order's."""

    shipment_id: str
    order_id: str


class ShipmentOpened(ShipmentEvent):
    """A confirmed order got a shipment, waiting to be dispatched."""


class ShipmentDispatched(ShipmentEvent):
    """The shipment left with a carrier under a tracking number."""

    carrier: Carrier
    tracking_number: TrackingNumber


class ShipmentDelivered(ShipmentEvent):
    """The carrier delivered the shipment."""


EVENTS: tuple[type[ShipmentEvent], ...] = (ShipmentOpened, ShipmentDispatched, ShipmentDelivered)
