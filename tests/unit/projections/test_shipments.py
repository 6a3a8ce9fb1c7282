"""shipments, given events / then rows (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from projector.shipments import PROJECTION

from annals.projections import Event
from annals.testing import ProjectionSpec

AT = datetime(2026, 1, 1, tzinfo=UTC)
OPENED = Event(
    "shipping.ShipmentOpened", {"shipment_id": "o1", "order_id": "o1"}, AT, "shipment-o1", 1
)
DISPATCHED = Event(
    "shipping.ShipmentDispatched",
    {"shipment_id": "o1", "order_id": "o1", "carrier": "DHL", "tracking_number": "JD01"},
    AT, "shipment-o1", 2,
)  # fmt: skip
DELIVERED = Event(
    "shipping.ShipmentDelivered", {"shipment_id": "o1", "order_id": "o1"}, AT, "shipment-o1", 3
)


def test_a_shipment_row_follows_its_events() -> None:
    spec = ProjectionSpec(PROJECTION)
    spec.given(OPENED).then_rows("shipments", {("o1",): {"status": "open", "order_id": "o1"}})
    spec.given(OPENED, DISPATCHED).then_rows(
        "shipments", {("o1",): {"status": "dispatched", "tracking_number": "JD01", "version": 2}}
    )
    spec.given(OPENED, DISPATCHED, DELIVERED).then_rows(
        "shipments", {("o1",): {"status": "delivered", "delivered_at": AT, "carrier": "DHL"}}
    )
