"""The query API on real read models: consistency tokens, ETags, keyset pages, masking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from customers.domain.events import CUSTOMER_EVENTS, CustomerRegistered
from projector.customer_orders import PROJECTION as CUSTOMER_ORDERS
from projector.daily_sales import PROJECTION as DAILY_SALES
from projector.order_summary import PROJECTION as ORDER_SUMMARY
from projector.products import PROJECTION as PRODUCTS
from query.app import create_app
from query.settings import QuerySettings

from annals.eventstore.codec import EventCodec
from annals.eventstore.pgstores import PostgresKeyStore
from annals.eventstore.registry import EventRegistry
from annals.projections.worker import Worker
from annals.web.auth import mint_token
from tests.integration.projections.cdc import ProductFeed
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig, order_events

PII = "***"
LINE = ("SKU-1", 1, "10.00")


@pytest.fixture
async def api(rig: Rig) -> AsyncIterator[tuple[httpx.AsyncClient, QuerySettings]]:
    """A client of the query app (real lifespan) on the rig's read models."""
    settings = QuerySettings(dsn=rig.app_dsn("readmodels"), owner_dsn=rig.owner_dsn("readmodels"),
                             database=rig.databases["readmodels"], log_json=False)  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://query") as client:
            yield client, settings


def auth(settings: QuerySettings, *scopes: str) -> dict[str, str]:
    """Bearer headers with scopes."""
    return {"Authorization": f"Bearer {mint_token(settings, scopes or ('read',))}"}


async def check_orders(client: httpx.AsyncClient, read: dict[str, str], version: int) -> None:
    """Consistency tokens, ETag/304, problems and keyset pages of /orders."""
    token = {"X-Consistency-Token": f"order-fresh@{version}"}
    answer = await client.get("/orders/fresh", headers={**read, **token})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-consistency"] == "satisfied"
    assert answer.json()["total"] == "30.00" and answer.json()["status"] == "confirmed"
    assert answer.headers["x-read-model"].startswith("order_summary@v1")
    cached = {**read, "If-None-Match": answer.headers["etag"]}
    assert (await client.get("/orders/fresh", headers=cached)).status_code == 304

    stale = await client.get("/orders/fresh?consistency=order-fresh@99&wait=0.2", headers=read)
    assert stale.status_code == 200 and stale.headers["x-consistency"] == "stale"
    bad = await client.get("/orders/fresh", headers={**read, "X-Consistency-Token": "nope"})
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    missing = await client.get("/orders/none", headers=read)
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/order-not-found"
    assert (await client.get("/orders/fresh")).status_code == 401

    seen: list[str] = []
    url: str | None = "/orders?customer=c1&status=confirmed&limit=2"
    while url:
        page = (await client.get(url, headers=read)).json()
        seen += [o["order_id"] for o in page["items"]]
        url = page["next"]
    assert sorted(seen) == sorted(["fresh", *(f"o{i}" for i in range(5))])
    assert len(seen) == len(set(seen)) == 6


async def check_customer(
    client: httpx.AsyncClient, read: dict[str, str], pii: dict[str, str], version: int
) -> None:
    """Personal data masked without read:pii; orders and spend from both topics."""
    token = {"X-Consistency-Token": f"customer-c1@1, order-fresh@{version}"}
    masked = (await client.get("/customers/c1/orders", headers={**read, **token})).json()
    assert masked["customer"]["email"] == PII and masked["customer"]["name"] == PII
    assert masked["customer"]["orders"] == 6
    assert masked["customer"]["total_spent"] == {"EUR": "80.00"}
    shown = (await client.get("/customers/c1/orders", headers=pii)).json()
    assert shown["customer"]["email"] == "ada@x.test"


async def check_catalog(client: httpx.AsyncClient, read: dict[str, str], version: int) -> None:
    """Products, their price history and the daily sales report."""
    product = await client.get("/products/SKU-1", headers=read)
    assert product.json()["category"] == "tools"
    history = (await client.get("/products/SKU-1/price-history", headers=read)).json()
    assert [v["is_current"] for v in history["versions"]] == [True]
    token = {"X-Consistency-Token": f"order-fresh@{version}"}
    report = await client.get("/reports/daily-sales?category=tools", headers={**read, **token})
    assert report.status_code == 200, report.text
    assert report.json()["totals"]["EUR"]["revenue"] == "80.00"


async def test_reads_with_consistency_tokens_etags_pages_and_masking(
    rig: Rig, api: tuple[httpx.AsyncClient, QuerySettings]
) -> None:
    client, settings = api
    customers, orders = await rig.store("customers"), await rig.store("orders")
    codec = EventCodec(EventRegistry(CUSTOMER_EVENTS), customers.keys)
    feed = ProductFeed(rig.stack.kafka_bootstrap, rig.topic("legacy.public.products"))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await feed.send([("c", "SKU-1", {"category": "tools", "unit_price": "10.00"}, yesterday)])
    registered = CustomerRegistered(customer_id="c1", name="Ada", email="ada@x.test")
    await customers.append("customer-c1", await codec.encode("customer-c1", [registered]))
    projector = rig.settings()
    keys = PostgresKeyStore(customers.database)
    workers = [Worker(p, projector, keys=keys) for p in (ORDER_SUMMARY, CUSTOMER_ORDERS, PRODUCTS)]
    catalog = "SELECT count(*) FROM readmodels.product_catalog"
    try:
        async with rig.relay("customers"), rig.relay("orders"), running(*workers):
            await eventually(lambda: fetchval(rig.app_dsn("readmodels"), catalog))
            async with running(Worker(DAILY_SALES, projector)):
                for i in range(5):
                    await orders.append(f"order-o{i}", order_events(f"o{i}", "c1", [LINE]))
                fresh = order_events("fresh", "c1", [("SKU-1", 3, "10.00")])
                placed = await orders.append("order-fresh", fresh)
                await check_orders(client, auth(settings, "read"), placed.version)
                read, pii = auth(settings, "read"), auth(settings, "read", "read:pii")
                await check_customer(client, read, pii, placed.version)
                await check_catalog(client, read, placed.version)
    finally:
        await customers.close()
        await orders.close()


async def test_tampered_cursors_and_tokens_are_400_and_waits_end_on_time(
    rig: Rig, api: tuple[httpx.AsyncClient, QuerySettings]
) -> None:
    """Issue 11 Build 7 on a deployed read model: bounded work per request."""
    client, settings = api
    orders = await rig.store("orders")
    read = auth(settings, "read")
    try:
        async with rig.relay("orders"), running(Worker(ORDER_SUMMARY, rig.settings())):
            for i in range(3):
                placed = await orders.append(f"order-b{i}", order_events(f"b{i}", "cb", [LINE]))
            token = {"X-Consistency-Token": f"order-b2@{placed.version}"}
            first = await client.get("/orders?customer=cb&limit=2", headers={**read, **token})
            assert first.status_code == 200 and first.headers["x-consistency"] == "satisfied"
            following = await client.get(first.json()["next"], headers=read)
            assert [o["order_id"] for o in following.json()["items"]] == ["b0"]
            for cursor in (
                "WyJ4IiwieSJd",
                "WzEsMl0",
                "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAwIiwiYSJd",
            ):
                bad = await client.get(f"/orders?cursor={cursor}", headers=read)
                assert bad.status_code == 400, (cursor, bad.text)
                assert bad.json()["errors"][0]["field"] == "query.cursor"
            many = ",".join(f"order-b{i}@1" for i in range(17))
            too_many = await client.get("/orders", headers={**read, "X-Consistency-Token": many})
            assert too_many.status_code == 400
            assert too_many.json()["type"] == "/problems/too-many-consistency-tokens"
            sixteen = ",".join(f"order-b{i}@{placed.version + 1}" for i in range(16))
            started = datetime.now(UTC)
            stale = await client.get(
                "/orders?wait=0.5", headers={**read, "X-Consistency-Token": sixteen}
            )
            took = (datetime.now(UTC) - started).total_seconds()
            assert stale.status_code == 200 and stale.headers["x-consistency"] == "stale"
            assert 0.4 < took < 2.0
            assert f"order-b2@{placed.version}" in stale.headers["x-consistency-applied"]
            huge = await client.get("/orders", headers={**read, "X-Huge": "h" * 20_000})
            assert huge.status_code == 431
            assert huge.headers["content-type"] == "application/problem+json"
    finally:
        await orders.close()
