"""JSON views of an order (what GET and every command answer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from annals.web.auth import Principal
from orders.domain.money import Money
from orders.domain.order import OrderState, Status


class LineView(BaseModel):
    """One order line with its total."""

    sku: str
    quantity: int
    unit_price: Money
    line_total: Money


class OrderView(BaseModel):
    """An order rebuilt from its events."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "o-1",
                    "version": 3,
                    "status": "open",
                    "customer_id": "c-42",
                    "currency": "EUR",
                    "lines": [
                        {
                            "sku": "SKU-1",
                            "quantity": 2,
                            "unit_price": {"amount": "9.90", "currency": "EUR"},
                            "line_total": {"amount": "19.80", "currency": "EUR"},
                        }
                    ],
                    "subtotal": {"amount": "19.80", "currency": "EUR"},
                    "discount": None,
                    "total": {"amount": "19.80", "currency": "EUR"},
                    "cancel_reason": None,
                }
            ]
        }
    )

    order_id: str
    version: int
    status: Status
    customer_id: str
    currency: str
    lines: list[LineView]
    subtotal: Money
    discount: Money | None
    total: Money
    cancel_reason: str | None


def render_order(order_id: str, state: OrderState, version: int, _: Principal) -> OrderView:
    """The view of an order's state."""
    return OrderView(
        order_id=order_id,
        version=version,
        status=state.status,
        customer_id=state.customer_id,
        currency=state.currency,
        lines=[
            LineView(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.total,
            )
            for line in state.lines
        ],
        subtotal=state.subtotal,
        discount=state.discount,
        total=state.total,
        cancel_reason=state.cancel_reason,
    )
