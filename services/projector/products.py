"""product_catalog (current) and product_price_history (SCD type 2), from legacy CDC.

A product's changes arrive in order on one partition (key = sku); a change whose LSN is not
newer than the one applied is a redelivery (a connector restart) and is ignored. The history
gets a new version whenever price or category change (effective_from/effective_to/is_current);
a rename or a toggle of `active` only updates the catalog and the current history row's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from legacy.rows import Product

from annals.cdc import Op
from annals.projections import Event, Projection, Rows
from annals.projections.tables import Key

metadata = sa.MetaData()
CATALOG = sa.Table(
    "product_catalog",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("price_since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("history_version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source_lsn", sa.BigInteger),
    sa.Index("product_catalog_category_idx", "category", "sku"),
)
HISTORY = sa.Table(
    "product_price_history",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
    sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("effective_to", sa.DateTime(timezone=True)),
    sa.Column("is_current", sa.Boolean, nullable=False),
    sa.Index("product_price_history_asof_idx", "sku", "effective_from"),
)
P, H = "product_catalog", "product_price_history"


def keys(event: Event) -> Iterable[tuple[str, Key]]:
    """A product change reads the product's catalog row."""
    sku = _sku(event)
    return ((P, (sku,)),) if sku is not None else ()


def _sku(event: Event) -> str | None:
    row = event.change.row or event.change.key or {}
    sku = row.get("sku")
    return None if sku is None else str(sku)


def _history_row(catalog: dict[str, Any], effective_to: datetime | None) -> dict[str, Any]:
    return {
        "sku": catalog["sku"], "version": catalog["history_version"], "name": catalog["name"],
        "category": catalog["category"], "unit_price": catalog["unit_price"],
        "effective_from": catalog["price_since"], "effective_to": effective_to,
        "is_current": effective_to is None,
    }  # fmt: skip


def product_changed(rows: Rows, event: Event) -> None:
    """Create, snapshot read, update or delete of a legacy product row."""
    change = event.change
    sku = _sku(event)
    if sku is None or change.op in (Op.TRUNCATE, Op.MESSAGE):
        return
    current = rows.get(P, (sku,))
    lsn = change.lsn
    stored = None if current is None else current["source_lsn"]
    if lsn is not None and stored is not None and lsn <= stored:
        return  # redelivered after a connector restart
    at = change.source.committed_at
    if change.op is Op.DELETE:
        if current is None or current["deleted"]:
            return
        rows.put(H, _history_row(current, at))
        rows.put(P, {**current, "deleted": True, "active": False, "updated_at": at,
                     "source_lsn": lsn})  # fmt: skip
        return
    product = change.after_as(Product)
    if product is None:
        return
    if change.op is Op.READ:
        at = product.updated_at  # a snapshot row: when the legacy system last changed it
    price = product.unit_price
    values = {
        "sku": sku, "name": product.name, "category": product.category, "unit_price": price,
        "active": product.active, "deleted": False, "updated_at": at, "source_lsn": lsn,
    }  # fmt: skip
    if current is None or current["deleted"]:
        version = 1 if current is None else current["history_version"] + 1
        row = {**values, "price_since": at, "history_version": version}
    elif current["unit_price"] != price or current["category"] != values["category"]:
        rows.put(H, _history_row(current, at))
        row = {**values, "price_since": at, "history_version": current["history_version"] + 1}
    else:
        row = {**current, **values}
    rows.put(P, row)
    rows.put(H, _history_row(row, None))


PROJECTION = Projection(
    name="products",
    topics=("legacy.public.products",),
    tables=(CATALOG, HISTORY),
    handlers={"cdc.products": product_changed},
    keys=keys,
    description="product_catalog (current) and product_price_history (SCD2) from legacy CDC",
)
