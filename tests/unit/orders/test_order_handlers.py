"""Every order command through its handler and the executor, on the in-memory database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.money import Money
from orders.domain.order import OrderState, Status
from orders.service_layer.handlers import Deps, handle

from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.commands.executor import Outcome, PreconditionFailed, Target
from annals.commands.uow import UnitOfWork
from annals.eventstore.memorydb import InMemoryDatabase
from annals.testing import HandlerSpec

OID = "o1"


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


PLACED = e.OrderPlaced(order_id=OID, customer_id="c1", currency="EUR")
ITEM = e.ItemAdded(order_id=OID, sku="A", quantity=2, unit_price=eur("9.90"))
CONFIRMED = e.OrderConfirmed(order_id=OID, total=eur("19.80"))
SHIPPED = e.OrderShipped(order_id=OID)


class Directory:
    """The customer directory as a dict of statuses; remembers the unit of work it was given."""

    def __init__(self, **statuses: str) -> None:
        self.statuses = statuses
        self.asked_in: list[UnitOfWork | None] = []

    async def check(self, customer_id: str, on: UnitOfWork | None = None) -> None:
        self.asked_in.append(on)
        status = self.statuses.get(customer_id)
        if status is None:
            raise RuleBroken("customer-unknown", f"{customer_id} is not known", "customer_id")
        if status != "active":
            raise RuleBroken("customer-inactive", f"{customer_id} is {status}", "customer_id")


def spec(directory: Directory | None = None) -> HandlerSpec[OrderState]:
    database = InMemoryDatabase()
    deps = Deps.build(database, database.store, directory or Directory(c1="active"))

    async def run(
        command: c.Command, target: Target, uow: UnitOfWork | None
    ) -> Outcome[OrderState]:
        return await handle(command, target, uow, deps)

    return HandlerSpec(run, deps.executor, OID)


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_place_order(in_transaction: bool) -> None:
    directory = Directory(c1="active")
    place = c.PlaceOrder(customer_id="c1", currency="EUR")
    outcome = await spec(directory).given().when(place, in_transaction=in_transaction).then(PLACED)
    assert outcome.version == 1 and outcome.state.status is Status.OPEN
    assert (directory.asked_in[0] is not None) is in_transaction  # looked up in the transaction


async def test_place_order_refuses_unknown_and_inactive_customers() -> None:
    directory = Directory(c2="deactivated")
    for customer, rule in (("c1", "customer-unknown"), ("c2", "customer-inactive")):
        place = c.PlaceOrder(customer_id=customer, currency="EUR")
        await spec(directory).given().when(place).then_fails(RuleBroken, rule=rule)


async def test_place_order_twice_is_a_conflict() -> None:
    place = c.PlaceOrder(customer_id="c1", currency="EUR")
    await spec().given(PLACED).when(place).then_fails(AlreadyExists)


async def test_add_item() -> None:
    add = c.AddItem(sku="A", quantity=2, unit_price=eur("9.90"))
    outcome = await spec().given(PLACED).when(add).then(ITEM)
    assert outcome.state.subtotal == eur("19.80")


async def test_remove_item() -> None:
    removed = e.ItemRemoved(order_id=OID, sku="A")
    await spec().given(PLACED, ITEM).when(c.RemoveItem(sku="A")).then(removed)
    await (
        spec()
        .given(PLACED)
        .when(c.RemoveItem(sku="A"))
        .then_fails(RuleBroken, rule="item-not-in-order")
    )


async def test_change_quantity() -> None:
    changed = e.ItemQuantityChanged(order_id=OID, sku="A", quantity=5)
    outcome = (
        await spec().given(PLACED, ITEM).when(c.ChangeQuantity(sku="A", quantity=5)).then(changed)
    )
    assert outcome.state.subtotal == eur("49.50")


async def test_apply_discount() -> None:
    discount = e.DiscountApplied(order_id=OID, discount=eur("5.00"))
    outcome = (
        await spec().given(PLACED, ITEM).when(c.ApplyDiscount(discount=eur("5"))).then(discount)
    )
    assert outcome.state.total == eur("14.80")


async def test_confirm() -> None:
    await spec().given(PLACED, ITEM).when(c.Confirm()).then(CONFIRMED)
    await spec().given(PLACED).when(c.Confirm()).then_fails(RuleBroken, rule="order-empty")


async def test_cancel() -> None:
    cancelled = e.OrderCancelled(order_id=OID, reason="changed mind")
    outcome = await spec().given(PLACED).when(c.Cancel(reason="changed mind")).then(cancelled)
    assert outcome.state.status is Status.CANCELLED


async def test_mark_shipped_and_delivered() -> None:
    await spec().given(PLACED, ITEM, CONFIRMED).when(c.MarkShipped()).then(SHIPPED)
    delivered = e.OrderDelivered(order_id=OID)
    await spec().given(PLACED, ITEM, CONFIRMED, SHIPPED).when(c.MarkDelivered()).then(delivered)
    await spec().given(PLACED).when(c.MarkShipped()).then_fails(RuleBroken)


async def test_commands_on_a_missing_order_are_not_found() -> None:
    await spec().given().when(c.Confirm()).then_fails(NotFound)


async def test_if_match_is_checked_before_deciding() -> None:
    confirm = c.Confirm()
    await spec().given(PLACED, ITEM).when(confirm, expected_version=2).then(CONFIRMED)
    await (
        spec()
        .given(PLACED, ITEM)
        .when(confirm, expected_version=1)
        .then_fails(PreconditionFailed, current_version=2)
    )


async def test_a_failed_command_in_a_transaction_rolls_everything_back() -> None:
    database = InMemoryDatabase()
    deps = Deps.build(database, database.store, Directory(c1="active"))
    place = c.PlaceOrder(customer_id="c1", currency="EUR")
    with pytest.raises(RuleBroken):
        async with database.transaction() as uow:
            await handle(place, Target(OID), uow, deps)
            await handle(c.Confirm(), Target(OID), uow, deps)  # empty: refused
    assert await database.store.read_stream(f"order-{OID}") == []
