"""The Order aggregate: its state, `evolve` (state + event) and one pure decide per command."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, ClassVar

from annals.commands.decider import Decider, DeciderAggregate
from annals.commands.errors import AlreadyExists, NotFound, RuleBroken
from annals.eventstore.domain import DomainEvent
from orders.domain import commands as c
from orders.domain import events as e
from orders.domain.money import ZERO, Money

MAX_LINES = 100
# Bounds of one order, so no accepted order overflows a read model's columns: order_summary's
# subtotal/total are numeric(20,2) and item_count an int; daily_sales adds orders up per day.
MAX_ORDER_TOTAL = Decimal("1000000000000.00")
MAX_ORDER_UNITS = 100_000
KIND = "order"


class Status(enum.StrEnum):
    """Where an order is in its life."""

    NEW = "new"
    OPEN = "open"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Line:
    """One line: a SKU, its quantity and unit price."""

    sku: str
    quantity: int
    unit_price: Money

    @property
    def total(self) -> Money:
        """quantity x unit price."""
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the decisions need to know about an order."""

    order_id: str = ""
    status: Status = Status.NEW
    customer_id: str = ""
    currency: str = ""
    lines: tuple[Line, ...] = ()
    discount: Money | None = None
    cancel_reason: str | None = None

    def line(self, sku: str) -> Line | None:
        """The line of a SKU, if any."""
        return next((line for line in self.lines if line.sku == sku), None)

    @property
    def subtotal(self) -> Money:
        """Sum of the line totals."""
        currency = self.currency or "XXX"
        amount = sum((line.unit_price.amount * line.quantity for line in self.lines), ZERO)
        return Money.model_construct(amount=amount, currency=currency)

    @property
    def total(self) -> Money:
        """Subtotal minus discount, never negative."""
        subtotal = self.subtotal
        return subtotal if self.discount is None else subtotal.less(self.discount)


def evolve(state: OrderState, event: DomainEvent) -> OrderState:
    """The state after one event (pure)."""
    match event:
        case e.OrderPlaced():
            return OrderState(event.order_id, Status.OPEN, event.customer_id, event.currency)
        case e.ItemAdded():
            return replace(
                state, lines=(*state.lines, Line(event.sku, event.quantity, event.unit_price))
            )
        case e.ItemRemoved():
            return replace(state, lines=tuple(x for x in state.lines if x.sku != event.sku))
        case e.ItemQuantityChanged():
            lines = tuple(
                replace(x, quantity=event.quantity) if x.sku == event.sku else x
                for x in state.lines
            )
            return replace(state, lines=lines)
        case e.DiscountApplied():
            return replace(state, discount=event.discount)
        case e.OrderConfirmed():
            return replace(state, status=Status.CONFIRMED)
        case e.OrderCancelled():
            return replace(state, status=Status.CANCELLED, cancel_reason=event.reason)
        case e.OrderShipped():
            return replace(state, status=Status.SHIPPED)
        case e.OrderDelivered():
            return replace(state, status=Status.DELIVERED)
    return state


def _existing(state: OrderState, order_id: str) -> None:
    if state.status is Status.NEW:
        raise NotFound(KIND, order_id)


def _open(state: OrderState, order_id: str) -> None:
    _existing(state, order_id)
    if state.status is not Status.OPEN:
        raise RuleBroken("order-not-open", f"the order is {state.status}; only open orders change")


def _same_currency(state: OrderState, money: Money, field: str) -> None:
    if money.currency != state.currency:
        raise RuleBroken(
            "currency-mismatch", f"the order is in {state.currency}, not {money.currency}", field
        )


def _bounded(state: OrderState, lines: tuple[Line, ...], field: str) -> None:
    """The order's lines after the command stay within MAX_ORDER_UNITS and MAX_ORDER_TOTAL."""
    units = sum(line.quantity for line in lines)
    if units > MAX_ORDER_UNITS:
        raise RuleBroken(
            "order-units-exceeded",
            f"an order has at most {MAX_ORDER_UNITS} units in all; this makes {units}",
            field,
        )
    subtotal = sum((line.unit_price.amount * line.quantity for line in lines), ZERO)
    if subtotal > MAX_ORDER_TOTAL:
        raise RuleBroken(
            "order-total-exceeded",
            f"an order's subtotal is at most {MAX_ORDER_TOTAL} {state.currency}; "
            f"this makes {subtotal}",
            field,
        )


def place_order(state: OrderState, order_id: str, cmd: c.PlaceOrder) -> list[DomainEvent]:
    """PlaceOrder: only for a new order id."""
    if state.status is not Status.NEW:
        raise AlreadyExists(KIND, order_id)
    return [e.OrderPlaced(order_id=order_id, customer_id=cmd.customer_id, currency=cmd.currency)]


def add_item(state: OrderState, order_id: str, cmd: c.AddItem) -> list[DomainEvent]:
    """AddItem: open order, same currency, a SKU once, at most MAX_LINES lines, bounded totals."""
    _open(state, order_id)
    _same_currency(state, cmd.unit_price, "unit_price.currency")
    if state.line(cmd.sku) is not None:
        raise RuleBroken(
            "item-already-in-order", f"{cmd.sku} is in the order; change its quantity", "sku"
        )
    if len(state.lines) >= MAX_LINES:
        raise RuleBroken("too-many-lines", f"an order has at most {MAX_LINES} lines")
    _bounded(state, (*state.lines, Line(cmd.sku, cmd.quantity, cmd.unit_price)), "quantity")
    return [
        e.ItemAdded(
            order_id=order_id, sku=cmd.sku, quantity=cmd.quantity, unit_price=cmd.unit_price
        )
    ]


def remove_item(state: OrderState, order_id: str, cmd: c.RemoveItem) -> list[DomainEvent]:
    """RemoveItem: open order, the SKU is in it."""
    _open(state, order_id)
    if state.line(cmd.sku) is None:
        raise RuleBroken("item-not-in-order", f"{cmd.sku} is not in the order", "sku")
    return [e.ItemRemoved(order_id=order_id, sku=cmd.sku)]


def change_quantity(state: OrderState, order_id: str, cmd: c.ChangeQuantity) -> list[DomainEvent]:
    """ChangeQuantity: open order, the SKU is in it, bounded totals; the same quantity changes
    nothing."""
    _open(state, order_id)
    line = state.line(cmd.sku)
    if line is None:
        raise RuleBroken("item-not-in-order", f"{cmd.sku} is not in the order", "sku")
    if line.quantity == cmd.quantity:
        return []
    lines = tuple(replace(x, quantity=cmd.quantity) if x.sku == cmd.sku else x for x in state.lines)
    _bounded(state, lines, "quantity")
    return [e.ItemQuantityChanged(order_id=order_id, sku=cmd.sku, quantity=cmd.quantity)]


def apply_discount(state: OrderState, order_id: str, cmd: c.ApplyDiscount) -> list[DomainEvent]:
    """ApplyDiscount: open order, same currency, not more than the subtotal."""
    _open(state, order_id)
    _same_currency(state, cmd.discount, "discount.currency")
    if cmd.discount.amount > state.subtotal.amount:
        raise RuleBroken(
            "discount-exceeds-subtotal",
            f"discount {cmd.discount.amount} is more than the subtotal {state.subtotal.amount}",
            "discount.amount",
        )
    return [e.DiscountApplied(order_id=order_id, discount=cmd.discount)]


def confirm(state: OrderState, order_id: str, cmd: c.Confirm) -> list[DomainEvent]:
    """Confirm: open order with at least one line."""
    _open(state, order_id)
    if not state.lines:
        raise RuleBroken("order-empty", "an order needs at least one item to be confirmed")
    return [e.OrderConfirmed(order_id=order_id, total=state.total)]


def cancel(state: OrderState, order_id: str, cmd: c.Cancel) -> list[DomainEvent]:
    """Cancel: not twice, not after shipping."""
    _existing(state, order_id)
    if state.status is Status.CANCELLED:
        raise RuleBroken("order-cancelled", "the order is already cancelled")
    if state.status in (Status.SHIPPED, Status.DELIVERED):
        raise RuleBroken(
            "order-shipped", f"the order is {state.status}; it can no longer be cancelled"
        )
    return [e.OrderCancelled(order_id=order_id, reason=cmd.reason)]


def mark_shipped(state: OrderState, order_id: str, cmd: c.MarkShipped) -> list[DomainEvent]:
    """MarkShipped: only a confirmed order ships."""
    _existing(state, order_id)
    if state.status is not Status.CONFIRMED:
        raise RuleBroken(
            "order-not-confirmed", f"the order is {state.status}; only confirmed orders ship"
        )
    return [e.OrderShipped(order_id=order_id)]


def mark_delivered(state: OrderState, order_id: str, cmd: c.MarkDelivered) -> list[DomainEvent]:
    """MarkDelivered: only a shipped order is delivered."""
    _existing(state, order_id)
    if state.status is not Status.SHIPPED:
        raise RuleBroken(
            "order-not-shipped", f"the order is {state.status}; only shipped orders arrive"
        )
    return [e.OrderDelivered(order_id=order_id)]


DECIDER: Decider[OrderState] = Decider(
    kind=KIND,
    initial=OrderState,
    evolve=evolve,
    deciders={
        c.PlaceOrder: place_order,
        c.AddItem: add_item,
        c.RemoveItem: remove_item,
        c.ChangeQuantity: change_quantity,
        c.ApplyDiscount: apply_discount,
        c.Confirm: confirm,
        c.Cancel: cancel,
        c.MarkShipped: mark_shipped,
        c.MarkDelivered: mark_delivered,
    },
)


def decide(state: OrderState, order_id: str, command: c.Command) -> list[DomainEvent]:
    """The events a command produces on a state, or a DomainError (pure)."""
    return DECIDER.decide(state, order_id, command)


class Order(DeciderAggregate[OrderState]):
    """The order aggregate, stored in stream `order-<id>`."""

    stream_type: ClassVar[str] = KIND
    decider: ClassVar[Decider[Any]] = DECIDER
