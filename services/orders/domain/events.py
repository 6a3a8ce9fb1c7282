"""Order events: frozen pydantic models named in the past tense, each with a schema version."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from annals.eventstore.domain import DomainEvent
from orders.domain.money import Currency, Money

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # the one SKU rule: bodies and paths
Sku = Annotated[str, Field(pattern=SKU_PATTERN, examples=["SKU-1"])]
Quantity = Annotated[int, Field(ge=1, le=10_000)]


class OrderEvent(DomainEvent):
    """Base of order events."""

    order_id: str


class OrderPlaced(OrderEvent):
    """A customer placed an (empty, open) order in a currency."""

    customer_id: str
    currency: Currency


class ItemAdded(OrderEvent):
    """A line was added to an open order."""

    sku: Sku
    quantity: Quantity
    unit_price: Money


class ItemRemoved(OrderEvent):
    """A line was removed from an open order."""

    sku: Sku


class ItemQuantityChanged(OrderEvent):
    """The quantity of a line changed."""

    sku: Sku
    quantity: Quantity


class DiscountApplied(OrderEvent):
    """A discount (an amount off the order) was set; it replaces an earlier one."""

    discount: Money


class OrderConfirmed(OrderEvent):
    """The customer confirmed the order; its lines are final."""

    total: Money


class OrderCancelled(OrderEvent):
    """The order was cancelled before shipping."""

    reason: str


class OrderShipped(OrderEvent):
    """The order left the warehouse."""


class OrderDelivered(OrderEvent):
    """The order reached the customer."""


ORDER_EVENTS: tuple[type[OrderEvent], ...] = (
    OrderPlaced,
    ItemAdded,
    ItemRemoved,
    ItemQuantityChanged,
    DiscountApplied,
    OrderConfirmed,
    OrderCancelled,
    OrderShipped,
    OrderDelivered,
)
