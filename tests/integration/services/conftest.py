"""Scratch `orders` and `customers` databases per session; apps with their real lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from customers.entrypoints.app import create_app as create_customers
from customers.settings import CustomersSettings
from fastapi import FastAPI
from orders.entrypoints.app import create_app as create_orders
from orders.settings import OrdersSettings

from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from annals.web.settings import ServiceSettings

ALL_SCOPES = ("orders:write", "customers:write", "read", "read:pii")


def _scratch(stack: StackSettings, service: str) -> Iterator[str]:
    owner, app_role = f"{service}_owner", f"{service}_app"
    name = asyncio.run(create_database(stack, f"{service}_test", owner, [app_role]))
    try:
        yield name
    finally:
        asyncio.run(drop_database(stack, name))


@pytest.fixture(scope="session")
def orders_db(stack: StackSettings) -> Iterator[str]:
    """A scratch database owned by orders_owner."""
    yield from _scratch(stack, "orders")


@pytest.fixture(scope="session")
def customers_db(stack: StackSettings) -> Iterator[str]:
    """A scratch database owned by customers_owner."""
    yield from _scratch(stack, "customers")


@pytest.fixture
def orders_settings(stack: StackSettings, orders_db: str) -> OrdersSettings:
    """Orders settings on the scratch database."""
    return OrdersSettings(
        database=orders_db,
        dsn=stack.dsn(orders_db, "orders_app"),
        owner_dsn=stack.dsn(orders_db, "orders_owner"),
        log_json=False,
    )


@pytest.fixture
def customers_settings(stack: StackSettings, customers_db: str) -> CustomersSettings:
    """Customers settings on the scratch database."""
    return CustomersSettings(
        database=customers_db,
        dsn=stack.dsn(customers_db, "customers_app"),
        owner_dsn=stack.dsn(customers_db, "customers_owner"),
        log_json=False,
    )


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, inside its real lifespan."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def orders(orders_settings: OrdersSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the orders app on real PostgreSQL."""
    async with serve(create_orders(orders_settings)) as client:
        yield client


@pytest.fixture
async def customers(customers_settings: CustomersSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the customers app on real PostgreSQL."""
    async with serve(create_customers(customers_settings)) as client:
        yield client


@pytest.fixture
def auth(orders_settings: OrdersSettings) -> Callable[..., dict[str, str]]:
    """auth(*scopes, subject=...) -> Authorization headers with a fresh token."""

    def headers(
        *scopes: str, subject: str = "tester", settings: ServiceSettings | None = None
    ) -> dict[str, str]:
        token = mint_token(settings or orders_settings, scopes or ALL_SCOPES, subject=subject)
        return {"Authorization": f"Bearer {token}"}

    return headers
