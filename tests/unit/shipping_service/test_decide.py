"""The Shipment decider, given / when / then (no I/O)."""

from __future__ import annotations

from shipping.domain import commands as c
from shipping.domain import events as e
from shipping.domain.aggregate import DECIDER, Status

from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.testing import DeciderSpec

SPEC = DeciderSpec(DECIDER, "o1")
OPENED = e.ShipmentOpened(shipment_id="o1", order_id="o1")
DISPATCHED = e.ShipmentDispatched(
    shipment_id="o1", order_id="o1", carrier="DHL", tracking_number="JD0146000"
)
DISPATCH = c.DispatchShipment(carrier="DHL", tracking_number="JD0146000")


def test_open_once_under_the_order_id() -> None:
    SPEC.given().when(c.OpenShipment(order_id="o1")).then(OPENED)
    SPEC.given(OPENED).when(c.OpenShipment(order_id="o1")).then_fails(AlreadyExists)
    SPEC.given().when(c.OpenShipment(order_id="o2")).then_fails(RuleBroken, rule="shipment-id")


def test_dispatch_an_open_shipment() -> None:
    state = SPEC.given(OPENED).when(DISPATCH).then(DISPATCHED)
    assert state.status is Status.DISPATCHED and state.tracking_number == "JD0146000"
    SPEC.given(OPENED, DISPATCHED).when(DISPATCH).then_fails(RuleBroken, rule="shipment-not-open")
    SPEC.given().when(DISPATCH).then_fails(NotFound)


def test_confirm_delivery_of_a_dispatched_shipment() -> None:
    delivered = e.ShipmentDelivered(shipment_id="o1", order_id="o1")
    SPEC.given(OPENED, DISPATCHED).when(c.ConfirmDelivery()).then(delivered)
    SPEC.given(OPENED).when(c.ConfirmDelivery()).then_fails(
        RuleBroken, rule="shipment-not-dispatched"
    )
