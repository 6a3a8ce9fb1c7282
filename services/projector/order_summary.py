"""order_summary: one row per order (status, customer, items, totals, timestamps) and, once
its shipment is dispatched, the carrier and tracking number.

The order's row is written by the order's own stream (orders.events) with get-then-put; the
carrier and tracking number come from the shipment's stream (shipping.events), consumed by
another worker, so they live in a table of their own (`order_tracking`, one row per order,
written only by its shipment) that the query API joins: neither stream's writes can undo the
other's, whichever topic is applied first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from annals.projections import Event, Projection, Rows
from annals.projections.tables import Key
from projector.common import (
    ZERO,
    amount,
    lines_total,
    order_key,
    with_item,
    with_quantity,
    without_item,
)

metadata = sa.MetaData()
ORDER_SUMMARY = sa.Table(
    "order_summary",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("subtotal", sa.Numeric(20, 2), nullable=False),
    sa.Column("discount", sa.Numeric(20, 2), nullable=False),
    sa.Column("total", sa.Numeric(20, 2), nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("cancel_reason", sa.Text),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True)),
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    sa.Column("shipped_at", sa.DateTime(timezone=True)),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index(
        "order_summary_customer_idx", "customer_id", sa.desc("placed_at"), sa.desc("order_id")
    ),
    sa.Index("order_summary_status_idx", "status", sa.desc("placed_at"), sa.desc("order_id")),
    sa.Index("order_summary_placed_idx", sa.desc("placed_at"), sa.desc("order_id")),
)
# The carrier and tracking number of an order's shipment (a shipment carries one order).
ORDER_TRACKING = sa.Table(
    "order_tracking",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("shipment_id", sa.Text, nullable=False),
    sa.Column("carrier", sa.Text, nullable=False),
    sa.Column("tracking_number", sa.Text, nullable=False),
    sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
)
T = "order_summary"
TRACKING = "order_tracking"


def keys(event: Event) -> Iterable[tuple[str, Key]]:
    """Every order event reads its order's row; a shipment event reads nothing."""
    if event.type.startswith("shipping."):
        return ()
    return ((T, order_key(event.data)),)


def _existing(rows: Rows, event: Event) -> dict[str, Any]:
    row = rows.get(T, order_key(event.data))
    if row is None:
        raise LookupError(f"order {event.data['order_id']} has no OrderPlaced before {event.type}")
    row["version"] = event.version
    row["updated_at"] = event.time
    return row


def _totals(row: dict[str, Any]) -> None:
    lines = row["lines"]
    row["line_count"] = len(lines)
    row["item_count"] = sum(line["quantity"] for line in lines)
    subtotal = lines_total(lines)
    row["subtotal"] = subtotal
    row["total"] = max(subtotal - row["discount"], ZERO)


def placed(rows: Rows, event: Event) -> None:
    """A new open order."""
    d = event.data
    rows.put(
        T,
        {
            "order_id": d["order_id"], "customer_id": d["customer_id"], "status": "open",
            "currency": d["currency"], "line_count": 0, "item_count": 0, "subtotal": ZERO,
            "discount": ZERO, "total": ZERO, "lines": [], "cancel_reason": None,
            "placed_at": event.time, "confirmed_at": None, "cancelled_at": None,
            "shipped_at": None, "delivered_at": None, "updated_at": event.time,
            "version": event.version,
        },
    )  # fmt: skip


def item_added(rows: Rows, event: Event) -> None:
    """A line was added."""
    row = _existing(rows, event)
    row["lines"] = with_item(row["lines"], event.data)
    _totals(row)
    rows.put(T, row)


def item_removed(rows: Rows, event: Event) -> None:
    """A line was removed."""
    row = _existing(rows, event)
    row["lines"] = without_item(row["lines"], event.data)
    _totals(row)
    rows.put(T, row)


def quantity_changed(rows: Rows, event: Event) -> None:
    """A line's quantity changed."""
    row = _existing(rows, event)
    row["lines"] = with_quantity(row["lines"], event.data)
    _totals(row)
    rows.put(T, row)


def discount_applied(rows: Rows, event: Event) -> None:
    """The discount changed."""
    row = _existing(rows, event)
    row["discount"] = amount(event.data["discount"])
    _totals(row)
    rows.put(T, row)


def confirmed(rows: Rows, event: Event) -> None:
    """Confirmed: the event's total is authoritative."""
    row = _existing(rows, event)
    row.update(status="confirmed", confirmed_at=event.time, total=amount(event.data["total"]))
    rows.put(T, row)


def _status(status: str, column: str) -> Any:
    def handler(rows: Rows, event: Event) -> None:
        row = _existing(rows, event)
        row["status"] = status
        row[column] = event.time
        if status == "cancelled":
            row["cancel_reason"] = event.data.get("reason")
        rows.put(T, row)

    handler.__doc__ = f"The order is {status}."
    return handler


def dispatched(rows: Rows, event: Event) -> None:
    """ShipmentDispatched: the order's carrier and tracking number."""
    d = event.data
    rows.put(TRACKING, {
        "order_id": d["order_id"], "shipment_id": d["shipment_id"], "carrier": d["carrier"],
        "tracking_number": d["tracking_number"], "dispatched_at": event.time,
    })  # fmt: skip


PROJECTION = Projection(
    name="order_summary",
    topics=("orders.events", "shipping.events"),
    tables=(ORDER_SUMMARY, ORDER_TRACKING),
    handlers={
        "orders.OrderPlaced": placed,
        "orders.ItemAdded": item_added,
        "orders.ItemRemoved": item_removed,
        "orders.ItemQuantityChanged": quantity_changed,
        "orders.DiscountApplied": discount_applied,
        "orders.OrderConfirmed": confirmed,
        "orders.OrderCancelled": _status("cancelled", "cancelled_at"),
        "orders.OrderShipped": _status("shipped", "shipped_at"),
        "orders.OrderDelivered": _status("delivered", "delivered_at"),
        "shipping.ShipmentDispatched": dispatched,
    },
    keys=keys,
    description="one row per order: status, customer, items, totals, times, tracking number",
)
