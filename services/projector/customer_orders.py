"""customer_orders: per customer (name, email, orders, total spent, last order), two topics.

Customer columns come from `customers.events`, order columns from `orders.events`; those are
consumed by different workers, so every write to a customer row is a commutative merge
(replace own columns, increment counters, keep the latest time), never read-modify-write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from annals.projections import Event, Projection, Rows
from annals.projections.tables import Key
from projector.common import ZERO, amount, customer_key, order_key

metadata = sa.MetaData()
COUNT = sa.text("0")
CUSTOMER_ORDERS = sa.Table(
    "customer_orders",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("address", JSONB),
    sa.Column("tier", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("registered_at", sa.DateTime(timezone=True)),
    sa.Column("orders", sa.Integer, nullable=False, server_default=COUNT),
    sa.Column("last_order_at", sa.DateTime(timezone=True)),
)
CUSTOMER_SPEND = sa.Table(
    "customer_spend",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("confirmed_orders", sa.Integer, nullable=False, server_default=COUNT),
    sa.Column("total_spent", sa.Numeric(20, 2), nullable=False, server_default=COUNT),
)
# Which customer an order belongs to and what it counted for (single writer: the order stream).
ORDER_INDEX = sa.Table(
    "customer_orders_index",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("counted_total", sa.Numeric(20, 2)),
)
C, S, IX = "customer_orders", "customer_spend", "customer_orders_index"


def keys(event: Event) -> Iterable[tuple[str, Key]]:
    """Order events read the order's index row; customer events read nothing."""
    if event.type.startswith("orders."):
        return ((IX, order_key(event.data)),)
    return ()


def registered(rows: Rows, event: Event) -> None:
    """A new customer."""
    d = event.data
    sets = {k: d.get(k) for k in ("name", "email", "phone", "address", "tier")}
    sets.update(status="active", registered_at=event.time)
    rows.merge(C, customer_key(d), sets=sets)


def _copy(field: str) -> Any:
    def handler(rows: Rows, event: Event) -> None:
        rows.merge(C, customer_key(event.data), sets={field: event.data.get(field)})

    handler.__doc__ = f"Copy {field} from the event."
    return handler


def _status(status: str) -> Any:
    def handler(rows: Rows, event: Event) -> None:
        rows.merge(C, customer_key(event.data), sets={"status": status})

    handler.__doc__ = f"The customer is {status}."
    return handler


def forgotten(rows: Rows, event: Event) -> None:
    """Personal data is gone for good."""
    sets = dict.fromkeys(("name", "email", "phone", "address"))
    rows.merge(C, customer_key(event.data), sets={**sets, "status": "forgotten"})


def order_placed(rows: Rows, event: Event) -> None:
    """One more order for the customer."""
    d = event.data
    rows.put(IX, {"order_id": d["order_id"], "customer_id": d["customer_id"],
                 "currency": d["currency"], "counted_total": None})  # fmt: skip
    rows.merge(C, (d["customer_id"],), adds={"orders": 1}, maxes={"last_order_at": event.time})


def order_confirmed(rows: Rows, event: Event) -> None:
    """A confirmed order counts as spent."""
    index = rows.get(IX, order_key(event.data))
    if index is None:
        raise LookupError(f"order {event.data['order_id']} was never placed")
    total = amount(event.data["total"])
    index["counted_total"] = total
    rows.put(IX, index)
    rows.merge(
        S,
        (index["customer_id"], index["currency"]),
        adds={"confirmed_orders": 1, "total_spent": total},
    )


def order_cancelled(rows: Rows, event: Event) -> None:
    """A cancelled confirmed order no longer counts as spent."""
    index = rows.get(IX, order_key(event.data))
    if index is None or index["counted_total"] is None:
        return
    total = index["counted_total"]
    index["counted_total"] = None
    rows.put(IX, index)
    rows.merge(
        S,
        (index["customer_id"], index["currency"]),
        adds={"confirmed_orders": -1, "total_spent": ZERO - total},
    )


PROJECTION = Projection(
    name="customer_orders",
    topics=("customers.events", "orders.events"),
    tables=(CUSTOMER_ORDERS, CUSTOMER_SPEND, ORDER_INDEX),
    handlers={
        "customers.CustomerRegistered": registered,
        "customers.CustomerEmailChanged": _copy("email"),
        "customers.CustomerAddressChanged": _copy("address"),
        "customers.CustomerTierChanged": _copy("tier"),
        "customers.CustomerDeactivated": _status("deactivated"),
        "customers.CustomerReactivated": _status("active"),
        "customers.CustomerForgotten": forgotten,
        "orders.OrderPlaced": order_placed,
        "orders.OrderConfirmed": order_confirmed,
        "orders.OrderCancelled": order_cancelled,
    },
    keys=keys,
    personal=True,
    erasures=("customers.CustomerForgotten",),
    personal_columns={C: ("name", "email", "phone", "address")},
    description="per customer: contact (personal), orders, total spent per currency, last order",
)
