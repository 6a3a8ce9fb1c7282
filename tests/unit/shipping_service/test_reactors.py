"""The two reactors of the shipping flow, given / when / then: shipping opens a shipment on
OrderConfirmed; orders marks the order shipped / delivered; redeliveries issue nothing."""

from __future__ import annotations

from decimal import Decimal

from orders.domain import commands as oc
from orders.domain import events as oe
from orders.domain.money import Money
from orders.service_layer import reactors as orders_reactors
from orders.service_layer.handlers import Deps as OrderDeps
from shipping.domain import commands as c
from shipping.domain import events as e
from shipping.service_layer import reactors as shipping_reactors
from shipping.service_layer.handlers import Deps

from annals.eventstore.memorydb import InMemoryDatabase
from annals.reactors import MemoryCausations, Reaction
from annals.testing import Delivery, ReactorSpec

EUR = Money(amount=Decimal("9.90"), currency="EUR")
CONFIRMED = Delivery("ev-c", "orders.OrderConfirmed", oe.OrderConfirmed(order_id="o1", total=EUR))
DISPATCHED = Delivery(
    "ev-d",
    "shipping.ShipmentDispatched",
    e.ShipmentDispatched(shipment_id="o1", order_id="o1", carrier="DHL", tracking_number="JD01"),
)
DELIVERED = Delivery(
    "ev-x", "shipping.ShipmentDelivered", e.ShipmentDelivered(shipment_id="o1", order_id="o1")
)


def test_shipping_opens_a_shipment_for_a_confirmed_order() -> None:
    spec = ReactorSpec(shipping_reactors.REACTOR)
    spec.when(CONFIRMED).then(Reaction("o1", c.OpenShipment(order_id="o1")))
    placed = oe.OrderPlaced(order_id="o1", customer_id="c1", currency="EUR")
    spec.when(Delivery("ev-p", "orders.OrderPlaced", placed)).then()


def test_orders_marks_shipped_and_delivered() -> None:
    spec = ReactorSpec(orders_reactors.REACTOR)
    spec.when(DISPATCHED).then(Reaction("o1", oc.MarkShipped()))
    spec.when(DELIVERED).then(Reaction("o1", oc.MarkDelivered()))


async def test_a_redelivered_order_confirmed_opens_one_shipment() -> None:
    database = InMemoryDatabase()
    deps = Deps.build(database, database.store)
    runner = shipping_reactors.reactor_runner(deps, database, MemoryCausations(database.store))
    spec = ReactorSpec(shipping_reactors.REACTOR, runner)
    await spec.when(CONFIRMED).then_issued(1)
    await spec.when(CONFIRMED).then_issued(0)
    assert [r.event_type for r in await database.store.read_stream("shipment-o1")] == [
        "ShipmentOpened"
    ]


async def test_a_redelivered_dispatch_marks_the_order_shipped_once() -> None:
    database = InMemoryDatabase()
    deps = OrderDeps.build(database, database.store, None)
    order = await deps.executor.load("o1")
    order.record(
        oe.OrderPlaced(order_id="o1", customer_id="c1", currency="EUR"),
        oe.ItemAdded(order_id="o1", sku="A", quantity=1, unit_price=EUR),
        oe.OrderConfirmed(order_id="o1", total=EUR),
    )
    await deps.executor.repository.save(order)
    runner = orders_reactors.reactor_runner(deps, database, MemoryCausations(database.store))
    spec = ReactorSpec(orders_reactors.REACTOR, runner)
    await spec.when(DISPATCHED).then_issued(1)
    await spec.given(DISPATCHED).when(DELIVERED).then_issued(1)
    records = await database.store.read_stream("order-o1")
    assert [r.event_type for r in records][-2:] == ["OrderShipped", "OrderDelivered"]
    assert records[-2].metadata["causation_id"] == "ev-d"
