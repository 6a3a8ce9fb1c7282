"""End to end on the real stack: HTTP command -> event store -> relay -> Kafka -> projector ->
query API, read back with a consistency token; the order service's customer replica."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from customers.entrypoints.app import create_app as create_customers
from customers.settings import CustomersSettings
from fastapi import FastAPI
from orders.adapters.customer_directory import CustomerDirectory
from orders.entrypoints.app import create_app as create_orders
from orders.settings import OrdersSettings
from query.app import create_app as create_query
from query.settings import QuerySettings

from annals.commands.errors import RuleBroken
from annals.eventstore.pgstores import PostgresKeyStore
from annals.projections.process import registries
from annals.projections.worker import Worker
from annals.topology import topology
from annals.web.auth import mint_token
from tests.integration.projections.helpers import eventually, fetchval, running
from tests.integration.projections.rig import Rig

pytestmark = pytest.mark.stack


@contextlib.asynccontextmanager
async def serve(app: FastAPI, base: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on an app inside its real lifespan."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base) as client:
            yield client


def apps(rig: Rig) -> tuple[FastAPI, FastAPI, FastAPI, QuerySettings]:
    """The orders, customers and query apps on the rig's databases."""
    db = rig.databases
    orders = OrdersSettings(database=db["orders"], dsn=rig.app_dsn("orders"),
                            owner_dsn=rig.owner_dsn("orders"), log_json=False)  # fmt: skip
    customers = CustomersSettings(database=db["customers"], dsn=rig.app_dsn("customers"),
                                  owner_dsn=rig.owner_dsn("customers"), log_json=False)  # fmt: skip
    query = QuerySettings(database=db["readmodels"], dsn=rig.app_dsn("readmodels"),
                          owner_dsn=rig.owner_dsn("readmodels"), log_json=False)  # fmt: skip
    return create_orders(orders), create_customers(customers), create_query(query), query


async def test_http_command_is_read_back_from_the_query_api(rig: Rig) -> None:
    orders_app, customers_app, query_app, settings = apps(rig)
    token = mint_token(settings, ["orders:write", "customers:write", "read", "read:pii"])
    auth = {"Authorization": f"Bearer {token}"}
    projector = rig.settings()
    wanted = ("order_summary", "customer_orders", "daily_sales", "customer_status")
    async with (
        serve(customers_app, "http://customers") as customers,
        serve(orders_app, "http://orders") as orders,
        serve(query_app, "http://query") as query,
        rig.relay("orders"),
        rig.relay("customers"),
    ):
        keys = PostgresKeyStore(customers_app.state.database)
        workers = [Worker(topology().projections[n], projector, keys=keys, registries=registries())
                   for n in wanted]  # fmt: skip
        async with running(*workers):
            body = {"customer_id": "ada", "name": "Ada Keller", "email": "ada@e2e.test"}
            registered = await customers.post("/customers", json=body, headers=auth)
            assert registered.status_code == 201, registered.text
            directory = CustomerDirectory(orders_app.state.database, wait_unknown=10)
            await directory.check("ada")  # the replica in the orders database has her
            with pytest.raises(RuleBroken, match="not known"):
                await CustomerDirectory(orders_app.state.database, wait_unknown=0).check("bob")

            unknown = {"order_id": "o0", "customer_id": "bob", "currency": "EUR"}
            refused = await orders.post("/orders", json=unknown, headers=auth)
            assert refused.status_code == 422, refused.text
            assert refused.json()["rule"] == "customer-unknown"
            order = {"order_id": "o1", "customer_id": "ada", "currency": "EUR"}
            placed = await orders.post("/orders", json=order, headers=auth)
            assert placed.status_code == 201, placed.text
            price = {"amount": "4.50", "currency": "EUR"}
            item = {"sku": "SKU-9", "quantity": 2, "unit_price": price}
            added = await orders.post("/orders/o1/items", json=item, headers=auth)
            assert added.status_code == 200, added.text
            confirmed = await orders.post("/orders/o1/confirm", headers=auth)
            assert confirmed.status_code == 200, confirmed.text
            version = confirmed.headers["etag"].strip('"')
            token = confirmed.headers["x-consistency-token"]
            assert token == f"order-o1@{version}"

            consistency = {"X-Consistency-Token": token, **auth}
            read = await query.get("/orders/o1", headers=consistency)
            assert read.status_code == 200, read.text
            assert read.headers["x-consistency"] == "satisfied"
            assert read.json()["status"] == "confirmed" and read.json()["total"] == "9.00"
            assert read.json()["version"] == int(version)
            customer = await query.get("/customers/ada/orders", headers=consistency)
            assert customer.json()["customer"]["email"] == "ada@e2e.test"
            assert customer.json()["customer"]["total_spent"] == {"EUR": "9.00"}
            report = await query.get("/reports/daily-sales", headers=consistency)
            assert report.json()["totals"]["EUR"]["revenue"] == "9.00"
        applied = (
            "SELECT version FROM readmodels.order_summary__applied WHERE stream_id = 'order-o1'"
        )
        assert await eventually(lambda: fetchval(rig.app_dsn("readmodels"), applied)) == int(
            version
        )
