"""daily_sales: per day, product category and currency: orders, units and revenue.

An order counts on the day it is confirmed; its lines are split by the category their product
had at that moment (product_price_history as of the confirmation, else the product's first
known version, else `uncategorized`), the discount spread over the lines pro rata, so the
revenue of the categories adds up to the order's confirmed total. Cancelling a confirmed order
takes it back out of that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from annals.projections import Event, Projection, Rows
from annals.projections.tables import Key
from projector.common import (
    CENT,
    ZERO,
    amount,
    order_key,
    with_item,
    with_quantity,
    without_item,
)

metadata = sa.MetaData()
COUNT = sa.text("0")
DAILY_SALES = sa.Table(
    "daily_sales",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("category", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    # Sums over every order of a day: wider than one order's bounds (orders.domain.order).
    # A version built before keeps int/numeric(20,2); a rebuild creates these types.
    sa.Column("orders", sa.BigInteger, nullable=False, server_default=COUNT),
    sa.Column("units", sa.BigInteger, nullable=False, server_default=COUNT),
    sa.Column("revenue", sa.Numeric(30, 2), nullable=False, server_default=COUNT),
    sa.Index("daily_sales_category_idx", "category", "day"),
)
SALES_ORDERS = sa.Table(
    "daily_sales_orders",
    metadata,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("discount", sa.Numeric(20, 2), nullable=False),
    sa.Column("counted_day", sa.Date),
    sa.Column("counted", JSONB),
)
D, OS = "daily_sales", "daily_sales_orders"
UNCATEGORIZED = "uncategorized"
CATEGORY_ASOF = """
SELECT q.sku, q.at, (
    SELECT h.category FROM {view} h WHERE h.sku = q.sku
     ORDER BY (h.effective_from <= q.at) DESC,
              CASE WHEN h.effective_from <= q.at THEN h.effective_from END DESC,
              h.effective_from ASC
     LIMIT 1)
  FROM unnest($1::text[], $2::timestamptz[]) AS q(sku, at)
"""


def keys(event: Event) -> Iterable[tuple[str, Key]]:
    """Every order event reads the order's sales row."""
    return ((OS, order_key(event.data)),)


async def prepare(conn: asyncpg.Connection, events: Sequence[Event], rows: Rows) -> None:
    """Look up the category of every SKU of every confirmed order as of its confirmation."""
    skus: dict[str, set[str]] = {}
    for event in events:
        if event.type == "orders.ItemAdded":
            skus.setdefault(event.data["order_id"], set()).add(event.data["sku"])
    wanted: list[tuple[str, Any]] = []
    for event in events:
        if event.type != "orders.OrderConfirmed":
            continue
        order_id = event.data["order_id"]
        loaded = rows.loaded[OS].get((order_id,))
        found = set(skus.get(order_id, ())) | {x["sku"] for x in (loaded or {}).get("lines", [])}
        wanted += [(sku, event.time) for sku in sorted(found)]
    categories: dict[tuple[str, Any], str] = {}
    view = await conn.fetchval("SELECT to_regclass('readmodels.product_price_history')::text")
    if wanted and view is not None:
        query = CATEGORY_ASOF.format(view=view)
        for sku, at, category in await conn.fetch(
            query, [w[0] for w in wanted], [w[1] for w in wanted]
        ):
            if category is not None:
                categories[(sku, at)] = category
    rows.lookups["categories"] = categories


def placed(rows: Rows, event: Event) -> None:
    """An open order, nothing counted yet."""
    d = event.data
    rows.put(OS, {"order_id": d["order_id"], "currency": d["currency"], "lines": [],
                 "discount": ZERO, "counted_day": None, "counted": None})  # fmt: skip


def _order(rows: Rows, event: Event) -> dict[str, Any]:
    row = rows.get(OS, order_key(event.data))
    if row is None:
        raise LookupError(f"order {event.data['order_id']} has no OrderPlaced before {event.type}")
    return row


def item_added(rows: Rows, event: Event) -> None:
    """A line joins the order."""
    row = _order(rows, event)
    row["lines"] = with_item(row["lines"], event.data)
    rows.put(OS, row)


def item_removed(rows: Rows, event: Event) -> None:
    """A line leaves the order."""
    row = _order(rows, event)
    row["lines"] = without_item(row["lines"], event.data)
    rows.put(OS, row)


def quantity_changed(rows: Rows, event: Event) -> None:
    """A line's quantity changed."""
    row = _order(rows, event)
    row["lines"] = with_quantity(row["lines"], event.data)
    rows.put(OS, row)


def discount_applied(rows: Rows, event: Event) -> None:
    """The order's discount changed."""
    row = _order(rows, event)
    row["discount"] = amount(event.data["discount"])
    rows.put(OS, row)


def split(lines: list[dict[str, Any]], categories: dict[str, str], total: Decimal) -> dict:
    """Units and revenue per category; revenues sum to `total` (rounding to the largest)."""
    gross: dict[str, Decimal] = {}
    units: dict[str, int] = {}
    for line in lines:
        category = categories.get(line["sku"], UNCATEGORIZED)
        gross[category] = gross.get(category, ZERO) + Decimal(line["unit_price"]) * line["quantity"]
        units[category] = units.get(category, 0) + line["quantity"]
    subtotal = sum(gross.values(), ZERO)
    revenue = {
        c: (g * total / subtotal).quantize(CENT, ROUND_HALF_EVEN) if subtotal else ZERO
        for c, g in gross.items()
    }
    if revenue:
        largest = max(sorted(gross), key=lambda c: gross[c])
        revenue[largest] += total - sum(revenue.values(), ZERO)
    return {c: {"units": units[c], "revenue": str(revenue[c])} for c in sorted(gross)}


def confirmed(rows: Rows, event: Event) -> None:
    """Count the order on its confirmation day, split by category."""
    row = _order(rows, event)
    lookups = rows.lookups.get("categories", {})
    categories = {
        x["sku"]: lookups.get((x["sku"], event.time), UNCATEGORIZED) for x in row["lines"]
    }
    counted = split(row["lines"], categories, amount(event.data["total"]))
    day = event.time.date()
    for category, part in counted.items():
        rows.merge(
            D,
            (day, category, row["currency"]),
            adds={"orders": 1, "units": part["units"], "revenue": Decimal(part["revenue"])},
        )
    row.update(counted_day=day, counted=counted)
    rows.put(OS, row)


def cancelled(rows: Rows, event: Event) -> None:
    """Take a counted order back out of its day."""
    row = _order(rows, event)
    if row["counted_day"] is None:
        return
    for category, part in (row["counted"] or {}).items():
        rows.merge(
            D,
            (row["counted_day"], category, row["currency"]),
            adds={"orders": -1, "units": -part["units"], "revenue": -Decimal(part["revenue"])},
        )
    row.update(counted_day=None, counted=None)
    rows.put(OS, row)


PROJECTION = Projection(
    name="daily_sales",
    topics=("orders.events",),
    tables=(DAILY_SALES, SALES_ORDERS),
    handlers={
        "orders.OrderPlaced": placed,
        "orders.ItemAdded": item_added,
        "orders.ItemRemoved": item_removed,
        "orders.ItemQuantityChanged": quantity_changed,
        "orders.DiscountApplied": discount_applied,
        "orders.OrderConfirmed": confirmed,
        "orders.OrderCancelled": cancelled,
    },
    keys=keys,
    prepare=prepare,
    description="per day, category and currency: orders, units, revenue (joined with products)",
)
