"""Order commands: what a client asks for (imperative names); the order id comes from the URL."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from annals.eventstore.identifiers import AggregateId
from orders.domain.events import Quantity, Sku
from orders.domain.money import Currency, Money

MAX_UNIT_PRICE = Decimal("1000000000")
Id = AggregateId


class Command(BaseModel):
    """Base of order commands: frozen, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PlaceOrder(Command):
    """Open a new order for a customer; the order id is generated unless given."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer_id": "c-42", "currency": "EUR"}]}
    )

    order_id: Id | None = Field(default=None, description="client-chosen id (else generated)")
    customer_id: Id
    currency: Currency


class AddItem(Command):
    """Add a line to an open order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"sku": "SKU-1", "quantity": 2, "unit_price": {"amount": "9.90", "currency": "EUR"}}
            ]
        }
    )

    sku: Sku
    quantity: Quantity
    unit_price: Money

    @field_validator("unit_price")
    @classmethod
    def _bounded(cls, value: Money) -> Money:
        if value.amount > MAX_UNIT_PRICE:
            raise ValueError(f"unit price must be at most {MAX_UNIT_PRICE}")
        return value


class RemoveItem(Command):
    """Remove a line from an open order."""

    sku: Sku


class ChangeQuantity(Command):
    """Set the quantity of a line of an open order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": 3}]})

    sku: Sku
    quantity: Quantity


class ApplyDiscount(Command):
    """Set an amount off an open order (at most its subtotal)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"discount": {"amount": "5.00", "currency": "EUR"}}]}
    )

    discount: Money


class Confirm(Command):
    """Confirm an open order that has at least one line."""


class Cancel(Command):
    """Cancel an order that has not shipped, saying why."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "customer changed mind"}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class MarkShipped(Command):
    """Record that a confirmed order shipped."""


class MarkDelivered(Command):
    """Record that a shipped order was delivered."""


OrderCommand = (
    PlaceOrder
    | AddItem
    | RemoveItem
    | ChangeQuantity
    | ApplyDiscount
    | Confirm
    | Cancel
    | MarkShipped
    | MarkDelivered
)
