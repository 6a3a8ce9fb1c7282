"""Test helpers on top of annals.projections.sandbox: order histories and unique ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from annals.eventstore.ports import NewEvent
from annals.projections.sandbox import (
    Rig,
    checksum,
    create,
    destroy,
    live_schema,
    produce,
    recorded,
)

__all__ = [
    "Rig",
    "checksum",
    "create",
    "destroy",
    "live_schema",
    "new_id",
    "order_events",
    "produce",
    "recorded",
]


def order_events(
    order_id: str,
    customer_id: str,
    skus: Sequence[tuple[str, int, str]],
    *,
    confirm: bool = True,
    cancel: bool = False,
) -> list[NewEvent]:
    """The NewEvents of an order's life: placed, items added, confirmed, maybe cancelled."""
    eur = "EUR"
    placed = {"order_id": order_id, "customer_id": customer_id, "currency": eur}
    out = [NewEvent("OrderPlaced", placed)]
    total = Decimal("0")
    for sku, quantity, price in skus:
        money = {"amount": price, "currency": eur}
        item = {"order_id": order_id, "sku": sku, "quantity": quantity, "unit_price": money}
        out.append(NewEvent("ItemAdded", item))
        total += quantity * Decimal(price)
    if confirm:
        money = {"amount": str(total), "currency": eur}
        out.append(NewEvent("OrderConfirmed", {"order_id": order_id, "total": money}))
    if cancel:
        out.append(NewEvent("OrderCancelled", {"order_id": order_id, "reason": "test"}))
    return out


def new_id(kind: str) -> str:
    """A short unique aggregate id."""
    return f"{kind}{uuid.uuid4().hex[:10]}"
