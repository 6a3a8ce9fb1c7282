"""The read models on real topics: customer_orders (two topics, personal data), products (SCD2
from CDC), daily_sales joined with the catalog, and the order service's customer_status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from customers.domain.events import (
    CUSTOMER_EVENTS,
    CustomerDeactivated,
    CustomerForgotten,
    CustomerRegistered,
)
from projector.customer_orders import PROJECTION as CUSTOMER_ORDERS
from projector.customer_status import PROJECTION as CUSTOMER_STATUS
from projector.daily_sales import PROJECTION as DAILY_SALES
from projector.products import PROJECTION as PRODUCTS

from annals.eventstore.codec import EventCodec
from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.registry import EventRegistry
from annals.projections.worker import Worker
from tests.integration.projections.cdc import ProductFeed
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig, order_events


async def _is(dsn: str, sql: str, want: object, *args: object) -> bool:
    return await fetchval(dsn, sql, *args) == want


async def test_customer_orders_from_both_services_with_personal_data(rig: Rig) -> None:
    settings = rig.settings()
    customers, orders = await rig.store("customers"), await rig.store("orders")
    codec = EventCodec(EventRegistry(CUSTOMER_EVENTS), customers.keys)
    keys = PostgresKeyStore(customers.database)
    reader = rig.app_dsn("readmodels")
    try:
        registered = CustomerRegistered(customer_id="c1", name="Ada Keller", email="ada@x.test")
        await customers.append("customer-c1", await codec.encode("customer-c1", [registered]))
        for i, cancel in ((1, False), (2, False), (3, True)):
            events = order_events(f"o{i}", "c1", [("SKU-1", i, "10.00")], cancel=cancel)
            await orders.append(f"order-o{i}", events)
        worker = Worker(CUSTOMER_ORDERS, settings, keys=keys)
        async with rig.relay("customers"), rig.relay("orders"), running(worker):
            spent = "SELECT total_spent FROM readmodels.customer_spend WHERE customer_id = 'c1'"
            await eventually(lambda: _is(reader, spent, Decimal("30.00")))
            status = "SELECT status FROM readmodels.customer_orders WHERE customer_id = 'c1'"
            await eventually(lambda: _is(reader, status, "active"))
            # o3 is cancelled, so the spend reaches 30.00 before o3 may have been counted.
            count = "SELECT orders FROM readmodels.customer_orders WHERE customer_id = 'c1'"
            await eventually(lambda: _is(reader, count, 3))
            row = await fetchval(
                reader, "SELECT row(name, email, orders, status) FROM readmodels.customer_orders"
            )
            assert tuple(row) == ("Ada Keller", "ada@x.test", 3, "active")
            await keys.forget("c1")
            forgotten = await codec.encode("customer-c1", [CustomerForgotten(customer_id="c1")])
            await customers.append("customer-c1", forgotten)
            await eventually(lambda: _is(reader, status, "forgotten"))
        assert await fetchval(reader, "SELECT name FROM readmodels.customer_orders") is None
    finally:
        await customers.close()
        await orders.close()


async def test_customer_status_replica_in_the_orders_database(rig: Rig) -> None:
    customers = await rig.store("customers")
    codec = EventCodec(EventRegistry(CUSTOMER_EVENTS), customers.keys)
    replica = rig.app_dsn("orders")  # what the order service's role reads
    sql = "SELECT status FROM customer_directory.customer_status WHERE customer_id = $1"
    try:
        for cid in ("a", "b"):
            event = CustomerRegistered(customer_id=cid, name="N", email=f"{cid}@x.test")
            await customers.append(
                f"customer-{cid}", await codec.encode(f"customer-{cid}", [event])
            )
        await customers.append(
            "customer-b", await codec.encode("customer-b", [CustomerDeactivated(customer_id="b")])
        )
        async with rig.relay("customers"), running(Worker(CUSTOMER_STATUS, rig.settings())):
            await eventually(lambda: _is(replica, sql, "deactivated", "b"))
            await eventually(lambda: _is(replica, sql, "active", "a"))
            assert await fetchval(replica, sql, "nobody") is None
    finally:
        await customers.close()


async def test_products_scd2_and_daily_sales_by_category_as_of_confirmation(rig: Rig) -> None:
    settings = rig.settings()
    reader = rig.app_dsn("readmodels")
    now = datetime.now(UTC)
    feed = ProductFeed(rig.stack.kafka_bootstrap, rig.topic("legacy.public.products"))
    await feed.send([
        ("r", "SKU-A", {"category": "tools", "unit_price": "10.00"}, now - timedelta(days=3)),
        ("c", "SKU-B", {"category": "garden", "unit_price": "5.00"}, now - timedelta(days=2)),
        ("u", "SKU-A", {"unit_price": "12.00"}, now - timedelta(days=1)),
        ("u", "SKU-A", {"name": "renamed"}, now - timedelta(hours=20)),
    ])  # fmt: skip
    orders = await rig.store("orders")
    try:
        async with rig.relay("orders"), running(Worker(PRODUCTS, settings)):
            history = "SELECT count(*) FROM readmodels.product_price_history WHERE sku = 'SKU-A'"
            await eventually(lambda: _is(reader, history, 2))
            lines = [("SKU-A", 2, "12.00"), ("SKU-B", 1, "5.00")]
            await orders.append("order-o1", order_events("o1", "c", lines))
            async with running(Worker(DAILY_SALES, settings)):
                await eventually(
                    lambda: _is(reader, "SELECT sum(orders) FROM readmodels.daily_sales", 2)
                )
                # the category changes now: the confirmed order keeps the old one
                await feed.send([("u", "SKU-A", {"category": "kitchen"}, datetime.now(UTC)),
                                 ("d", "SKU-B", {}, datetime.now(UTC))])  # fmt: skip
                await eventually(lambda: _is(reader, history, 3))
        rows = await fetchval(
            reader, "SELECT array_agg(row(category, orders, units, revenue) ORDER BY category) "
            "FROM readmodels.daily_sales",
        )  # fmt: skip
        assert [tuple(r) for r in rows] == [
            ("garden", 1, 1, Decimal("5.00")), ("tools", 1, 2, Decimal("24.00")),
        ]  # fmt: skip
        versions = await fetchval(
            reader, "SELECT array_agg(row(version, category, unit_price, is_current, "
            "effective_to IS NULL) ORDER BY version) FROM readmodels.product_price_history "
            "WHERE sku = 'SKU-A'",
        )  # fmt: skip
        assert [tuple(v) for v in versions] == [
            (1, "tools", Decimal("10.00"), False, False),
            (2, "tools", Decimal("12.00"), False, False),
            (3, "kitchen", Decimal("12.00"), True, True),
        ]
        catalog = "SELECT row(name, deleted) FROM readmodels.product_catalog WHERE sku = $1"
        assert tuple(await fetchval(reader, catalog, "SKU-A")) == ("renamed", False)
        assert tuple(await fetchval(reader, catalog, "SKU-B")) == ("oak mug", True)
    finally:
        await orders.close()
