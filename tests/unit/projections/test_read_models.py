"""Read-model handlers on staged rows: order_summary, daily_sales, products (SCD2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from projector import daily_sales, order_summary, products

from annals.cdc import Op, RowChange, Source
from annals.projections.events import Event
from annals.projections.projection import Projection, Rows
from annals.testing import ProjectionSpec

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
EUR = {"currency": "EUR"}


def staged(projection: Projection) -> Rows:
    return Rows(projection.table_sql("x_v1"))


def apply(projection: Projection, rows: Rows, events: list[Event]) -> None:
    for e in events:
        for table, key in projection.keys(e):
            rows.loaded[table].setdefault(key, None)
        projection.handlers[e.type](rows, e)


def order(kind: str, version: int, **data: Any) -> Event:
    return Event(f"orders.{kind}", {"order_id": "o1", **data}, T0, "order-o1", version)


def lifecycle() -> list[Event]:
    return [
        order("OrderPlaced", 1, customer_id="c1", **EUR),
        order("ItemAdded", 2, sku="A", quantity=2, unit_price={"amount": "10.00", **EUR}),
        order("ItemAdded", 3, sku="B", quantity=1, unit_price={"amount": "5.01", **EUR}),
        order("ItemQuantityChanged", 4, sku="A", quantity=3),
        order("DiscountApplied", 5, discount={"amount": "3.00", **EUR}),
        order("OrderConfirmed", 6, total={"amount": "32.01", **EUR}),
    ]


def test_order_summary_follows_the_order() -> None:
    summary = {"status": "confirmed", "item_count": 4, "line_count": 2,
               "subtotal": Decimal("35.01"), "total": Decimal("32.01"), "version": 6}  # fmt: skip
    ProjectionSpec(order_summary.PROJECTION).given(*lifecycle()).then_rows(
        "order_summary", {("o1",): summary, ("o2",): None}
    )


def test_order_summary_keeps_the_tracking_number_of_the_orders_shipment() -> None:
    ship = {"order_id": "o1", "shipment_id": "o1"}
    dispatched = Event("shipping.ShipmentDispatched", {**ship, "carrier": "DHL",
                       "tracking_number": "JD0146"}, T0, "shipment-o1", 2)  # fmt: skip
    opened = Event("shipping.ShipmentOpened", ship, T0, "shipment-o1", 1)
    tracking = {"carrier": "DHL", "tracking_number": "JD0146", "dispatched_at": T0}
    # The shipment's events come from another topic, so they may be applied before the order's.
    ProjectionSpec(order_summary.PROJECTION).given(opened, dispatched, *lifecycle()).then_rows(
        "order_tracking", {("o1",): tracking}
    ).then_rows("order_summary", {("o1",): {"status": "confirmed", "version": 6}})
    assert list(order_summary.keys(dispatched)) == []


def test_daily_sales_splits_the_total_by_category_without_losing_a_cent() -> None:
    lines = [{"sku": "A", "quantity": 1, "unit_price": "10.00"},
             {"sku": "B", "quantity": 1, "unit_price": "10.00"},
             {"sku": "C", "quantity": 1, "unit_price": "10.00"}]  # fmt: skip
    split = daily_sales.split(lines, {"A": "x", "B": "y", "C": "z"}, Decimal("20.00"))
    assert sum(Decimal(p["revenue"]) for p in split.values()) == Decimal("20.00")
    assert sorted(p["revenue"] for p in split.values()) == ["6.66", "6.67", "6.67"]


def test_daily_sales_counts_a_confirmed_order_and_takes_a_cancelled_one_back() -> None:
    spec = ProjectionSpec(daily_sales.PROJECTION, lookups={"categories": {("A", T0): "tools"}})
    day, other = T0.date(), daily_sales.UNCATEGORIZED
    confirmed = spec.given(*lifecycle()).then_merged("daily_sales", (day, other, "EUR"), units=1)
    tools = confirmed.rows.merges["daily_sales"][(day, "tools", "EUR")]
    others = confirmed.rows.merges["daily_sales"][(day, other, "EUR")]
    assert tools.adds["units"] == 3
    assert tools.adds["revenue"] + others.adds["revenue"] == Decimal("32.01")
    cancelled = spec.given(*lifecycle(), order("OrderCancelled", 7, reason="x"))
    cancelled.then_merged("daily_sales", (day, "tools", "EUR"), revenue=0)
    cancelled.then_rows("daily_sales_orders", {("o1",): {"counted_day": None}})


BASE = {"sku": "S1", "name": "lamp", "category": "home", "unit_price": "10.00", "active": True}


def change(op: str, lsn: int, at: datetime, **after: Any) -> Event:
    row = {**BASE, "updated_at": at.isoformat(), **after}
    source = Source("postgresql", "legacy", "legacy_erp", "public", "products",
                    int(at.timestamp() * 1000), lsn, 1, "false")  # fmt: skip
    data = RowChange(Op(op), {"sku": "S1"}, None, None if op == "d" else row, source)
    if op == "d":
        data = RowChange(Op.DELETE, {"sku": "S1"}, row, None, source)
    return Event("cdc.products", data, at)


def test_products_keep_a_type_2_history_and_ignore_redelivered_changes() -> None:
    rows = staged(products.PROJECTION)
    t = [T0 + timedelta(hours=i) for i in range(5)]
    apply(products.PROJECTION, rows, [
        change("c", 10, t[0]),
        change("u", 20, t[1], unit_price="12.00"),
        change("u", 20, t[1], unit_price="99.00"),  # redelivered LSN: ignored
        change("u", 30, t[2], unit_price="12.00", name="desk lamp"),
        change("u", 40, t[3], unit_price="12.00", name="desk lamp", category="office"),
        change("d", 50, t[4], unit_price="12.00", name="desk lamp", category="office"),
    ])  # fmt: skip
    history = sorted(rows.puts["product_price_history"].values(), key=lambda r: r["version"])
    assert [(h["unit_price"], h["category"]) for h in history] == [
        (Decimal("10.00"), "home"), (Decimal("12.00"), "home"), (Decimal("12.00"), "office"),
    ]  # fmt: skip
    assert [h["effective_to"] for h in history] == [t[1], t[3], t[4]]
    assert history[1]["name"] == "desk lamp" and not any(h["is_current"] for h in history)
    catalog = rows.get("product_catalog", ("S1",))
    assert catalog is not None and catalog["deleted"] and catalog["history_version"] == 3
