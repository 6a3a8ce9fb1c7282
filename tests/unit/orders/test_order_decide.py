"""Every decide function of the Order aggregate, on states built from events (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.money import Money
from orders.domain.order import DECIDER, MAX_LINES, OrderState, Status, decide
from pydantic import ValidationError

from annals.commands.errors import AlreadyExists, DomainError, NotFound, RuleBroken
from annals.testing import DeciderSpec

OID = "o1"
SPEC = DeciderSpec(DECIDER, OID)


def eur(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="EUR")


def given(*events: e.OrderEvent) -> OrderState:
    return SPEC.given(*events).state


PLACED = e.OrderPlaced(order_id=OID, customer_id="c1", currency="EUR")
ITEM = e.ItemAdded(order_id=OID, sku="A", quantity=2, unit_price=eur("9.90"))
CONFIRMED = e.OrderConfirmed(order_id=OID, total=eur("19.80"))
SHIPPED = e.OrderShipped(order_id=OID)


def rule(state: OrderState, command: c.Command) -> str:
    with pytest.raises(DomainError) as caught:
        decide(state, OID, command)
    return caught.value.rule


def test_place_order_on_new_id() -> None:
    state = SPEC.given().when(c.PlaceOrder(customer_id="c1", currency="EUR")).then(PLACED)
    assert state.status is Status.OPEN


def test_place_order_twice_is_a_conflict() -> None:
    SPEC.given(PLACED).when(c.PlaceOrder(customer_id="c1", currency="EUR")).then_fails(
        AlreadyExists
    )


@pytest.mark.parametrize(
    "command",
    [
        c.AddItem(sku="A", quantity=1, unit_price=eur("1")),
        c.RemoveItem(sku="A"),
        c.ChangeQuantity(sku="A", quantity=2),
        c.ApplyDiscount(discount=eur("1")),
        c.Confirm(),
        c.Cancel(reason="x"),
        c.MarkShipped(),
        c.MarkDelivered(),
    ],
)
def test_commands_on_unknown_order_are_not_found(command: c.Command) -> None:
    SPEC.given().when(command).then_fails(NotFound)


def test_add_item_and_totals() -> None:
    state = given(PLACED, ITEM)
    events = decide(state, OID, c.AddItem(sku="B", quantity=3, unit_price=eur("0.10")))
    assert events == [e.ItemAdded(order_id=OID, sku="B", quantity=3, unit_price=eur("0.10"))]
    state = given(PLACED, ITEM, *events)
    assert state.lines[1].total == eur("0.30")
    assert state.subtotal == eur("20.10")
    assert state.total == eur("20.10")


def test_add_item_rules() -> None:
    state = given(PLACED, ITEM)
    assert (
        rule(state, c.AddItem(sku="A", quantity=1, unit_price=eur("1"))) == "item-already-in-order"
    )
    usd = Money(amount=Decimal("1"), currency="USD")
    assert rule(state, c.AddItem(sku="B", quantity=1, unit_price=usd)) == "currency-mismatch"
    full = given(
        PLACED,
        *(
            e.ItemAdded(order_id=OID, sku=f"S{i}", quantity=1, unit_price=eur("1"))
            for i in range(MAX_LINES)
        ),
    )
    assert rule(full, c.AddItem(sku="X", quantity=1, unit_price=eur("1"))) == "too-many-lines"
    assert (
        rule(given(PLACED, ITEM, CONFIRMED), c.AddItem(sku="B", quantity=1, unit_price=eur("1")))
        == "order-not-open"
    )


def test_remove_item() -> None:
    state = given(PLACED, ITEM)
    assert decide(state, OID, c.RemoveItem(sku="A")) == [e.ItemRemoved(order_id=OID, sku="A")]
    assert given(PLACED, ITEM, e.ItemRemoved(order_id=OID, sku="A")).lines == ()
    assert rule(state, c.RemoveItem(sku="B")) == "item-not-in-order"
    assert rule(given(PLACED, ITEM, CONFIRMED), c.RemoveItem(sku="A")) == "order-not-open"


def test_change_quantity() -> None:
    state = given(PLACED, ITEM)
    events = decide(state, OID, c.ChangeQuantity(sku="A", quantity=5))
    assert events == [e.ItemQuantityChanged(order_id=OID, sku="A", quantity=5)]
    assert given(PLACED, ITEM, *events).total == eur("49.50")
    assert decide(state, OID, c.ChangeQuantity(sku="A", quantity=2)) == []
    assert rule(state, c.ChangeQuantity(sku="Z", quantity=2)) == "item-not-in-order"
    assert (
        rule(given(PLACED, ITEM, CONFIRMED), c.ChangeQuantity(sku="A", quantity=1))
        == "order-not-open"
    )


def test_quantity_and_price_are_validated() -> None:
    with pytest.raises(ValidationError):
        c.ChangeQuantity(sku="A", quantity=0)
    with pytest.raises(ValidationError):
        c.AddItem(sku="A", quantity=1, unit_price={"amount": "1.005", "currency": "EUR"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        c.AddItem(sku="A", quantity=1, unit_price={"amount": 1.5, "currency": "EUR"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        c.AddItem(sku="A", quantity=1, unit_price={"amount": "1", "currency": "eur"})  # type: ignore[arg-type]


def test_apply_discount_and_total_never_negative() -> None:
    state = given(PLACED, ITEM)
    events = decide(state, OID, c.ApplyDiscount(discount=eur("5.00")))
    assert events == [e.DiscountApplied(order_id=OID, discount=eur("5.00"))]
    assert given(PLACED, ITEM, *events).total == eur("14.80")
    assert rule(state, c.ApplyDiscount(discount=eur("19.81"))) == "discount-exceeds-subtotal"
    usd = Money(amount=Decimal("1"), currency="USD")
    assert rule(state, c.ApplyDiscount(discount=usd)) == "currency-mismatch"
    # lines removed after a discount: the total stays at zero, never below
    shrunk = given(PLACED, ITEM, *events, e.ItemRemoved(order_id=OID, sku="A"))
    assert shrunk.total == eur("0")


def test_confirm() -> None:
    SPEC.given(PLACED, ITEM).when(c.Confirm()).then(CONFIRMED)
    SPEC.given(PLACED).when(c.Confirm()).then_fails(RuleBroken, rule="order-empty")
    SPEC.given(PLACED, ITEM, CONFIRMED).when(c.Confirm()).then_fails(
        RuleBroken, rule="order-not-open"
    )


def test_cancel() -> None:
    events = decide(given(PLACED, ITEM, CONFIRMED), OID, c.Cancel(reason="changed mind"))
    assert events == [e.OrderCancelled(order_id=OID, reason="changed mind")]
    cancelled = given(PLACED, *events)
    assert cancelled.status is Status.CANCELLED
    assert rule(cancelled, c.Cancel(reason="again")) == "order-cancelled"
    assert rule(given(PLACED, ITEM, CONFIRMED, SHIPPED), c.Cancel(reason="late")) == "order-shipped"
    with pytest.raises(ValidationError):
        c.Cancel(reason="   ")


def test_ship_and_deliver() -> None:
    SPEC.given(PLACED, ITEM, CONFIRMED).when(c.MarkShipped()).then(SHIPPED)
    SPEC.given(PLACED, ITEM).when(c.MarkShipped()).then_fails(
        RuleBroken, rule="order-not-confirmed"
    )
    delivered = (
        SPEC.given(PLACED, ITEM, CONFIRMED, SHIPPED)
        .when(c.MarkDelivered())
        .then(e.OrderDelivered(order_id=OID))
    )
    assert delivered.status is Status.DELIVERED
    SPEC.given(PLACED, ITEM, CONFIRMED).when(c.MarkDelivered()).then_fails(
        RuleBroken, rule="order-not-shipped"
    )
    done = e.OrderDelivered(order_id=OID)
    SPEC.given(PLACED, ITEM, CONFIRMED, SHIPPED, done).when(c.MarkShipped()).then_fails(
        RuleBroken, rule="order-not-confirmed"
    )


def test_rule_broken_carries_the_field() -> None:
    SPEC.given(PLACED, ITEM).when(c.RemoveItem(sku="Q")).then_fails(
        RuleBroken, field="sku", status=422
    )


def test_money_serializes_as_string() -> None:
    assert eur("12.5").model_dump(mode="json") == {"amount": "12.5", "currency": "EUR"}
    assert ITEM.model_dump(mode="json")["unit_price"]["amount"] == "9.90"
