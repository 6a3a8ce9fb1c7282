"""An order's units and subtotal are bounded at the command, so no accepted order overflows a
read model's columns (order_summary numeric(20,2)/int, daily_sales sums)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.money import Money
from orders.domain.order import (
    MAX_LINES,
    MAX_ORDER_TOTAL,
    MAX_ORDER_UNITS,
    OrderState,
    decide,
    evolve,
)

from annals.commands.errors import RuleBroken

OID = "o-bounds"
MAX_PRICE = Money(amount=c.MAX_UNIT_PRICE, currency="EUR")


def given(*events: e.OrderEvent) -> OrderState:
    state = OrderState()
    for event in events:
        state = evolve(state, event)
    return state


def with_lines(count: int, quantity: int, price: Money) -> OrderState:
    placed = e.OrderPlaced(order_id=OID, customer_id="c1", currency="EUR")
    added = [
        e.ItemAdded(order_id=OID, sku=f"S{i}", quantity=quantity, unit_price=price)
        for i in range(count)
    ]
    return given(placed, *added)


def broken(state: OrderState, command: c.Command) -> RuleBroken:
    with pytest.raises(RuleBroken) as caught:
        decide(state, OID, command)
    return caught.value


def test_the_bounds_fit_the_read_model_columns() -> None:
    assert Decimal("1e18") > MAX_ORDER_TOTAL  # numeric(20,2) holds < 10^18
    assert MAX_ORDER_UNITS < 2**31  # item_count int
    assert MAX_ORDER_UNITS < MAX_LINES * 10_000  # the rule binds before the per-line bounds do


def test_an_item_that_takes_the_subtotal_over_the_bound_is_refused() -> None:
    state = with_lines(0, 1, MAX_PRICE)  # 1001 x 10^9 is over the bound of 10^12
    error = broken(state, c.AddItem(sku="BIG", quantity=1001, unit_price=MAX_PRICE))
    assert (error.rule, error.field) == ("order-total-exceeded", "quantity")
    assert "at most 1000000000000.00 EUR" in error.detail
    ok = decide(state, OID, c.AddItem(sku="BIG", quantity=1000, unit_price=MAX_PRICE))
    assert (
        given(*[e.OrderPlaced(order_id=OID, customer_id="c1", currency="EUR"), *ok]).total.amount
        == MAX_ORDER_TOTAL
    )


def test_units_over_the_bound_are_refused_on_add_and_on_change() -> None:
    one = Money(amount=Decimal("1.00"), currency="EUR")
    state = with_lines(10, 10_000, one)  # exactly MAX_ORDER_UNITS
    assert (
        broken(state, c.AddItem(sku="X", quantity=1, unit_price=one)).rule == "order-units-exceeded"
    )
    fewer = with_lines(11, 9_090, one)  # 99,990 units
    assert broken(fewer, c.ChangeQuantity(sku="S0", quantity=9_101)).rule == "order-units-exceeded"
    assert decide(fewer, OID, c.ChangeQuantity(sku="S0", quantity=9_100)) != []


def test_a_quantity_change_that_takes_the_subtotal_over_the_bound_is_refused() -> None:
    state = with_lines(1, 1000, MAX_PRICE)
    error = broken(state, c.ChangeQuantity(sku="S0", quantity=1001))
    assert error.rule == "order-total-exceeded"
    assert decide(state, OID, c.ChangeQuantity(sku="S0", quantity=999)) != []
