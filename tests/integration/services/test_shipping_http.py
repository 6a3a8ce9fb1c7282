"""The shipping service on real PostgreSQL: its commands over HTTP, and its reactor opening a
shipment once for an OrderConfirmed delivered twice (causations in api.reactions)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from orders.domain.events import OrderConfirmed
from orders.domain.money import Money
from shipping.entrypoints.app import create_app
from shipping.service_layer.reactors import reactor_runner
from shipping.settings import ShippingSettings

from annals.reactors import PostgresCausations
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from tests.integration.services.conftest import _scratch, serve


@pytest.fixture(scope="module")
def shipping_db(stack: StackSettings) -> Iterator[str]:
    yield from _scratch(stack, "shipping")


@pytest.fixture
def settings(stack: StackSettings, shipping_db: str) -> ShippingSettings:
    return ShippingSettings(
        database=shipping_db,
        dsn=stack.dsn(shipping_db, "shipping_app"),
        owner_dsn=stack.dsn(shipping_db, "shipping_owner"),
        log_json=False,
    )


async def test_open_dispatch_deliver_over_http(settings: ShippingSettings, unique: str) -> None:
    token = mint_token(settings, ("shipping:write", "read"))
    auth = {"Authorization": f"Bearer {token}"}
    async with serve(create_app(settings)) as client:
        opened = await client.post("/shipments", json={"order_id": unique}, headers=auth)
        assert opened.status_code == 201, opened.text
        assert opened.headers["location"] == f"/shipments/{unique}"
        body = {"carrier": "DHL", "tracking_number": "JD0146000"}
        sent = await client.post(f"/shipments/{unique}/dispatch", json=body, headers=auth)
        assert sent.json()["status"] == "dispatched" and sent.headers["etag"] == '"2"'
        again = await client.post(f"/shipments/{unique}/dispatch", json=body, headers=auth)
        assert again.status_code == 422
        done = await client.post(f"/shipments/{unique}/deliver", headers=auth)
        assert done.json()["status"] == "delivered"
        got = await client.get(f"/shipments/{unique}", headers=auth)
        assert got.json()["tracking_number"] == "JD0146000"


async def test_a_redelivered_order_confirmed_opens_one_shipment(
    settings: ShippingSettings, unique: str
) -> None:
    app = create_app(settings)
    async with serve(app) as client:
        api = app.state.api
        runner = reactor_runner(api.deps, app.state.database, PostgresCausations())
        confirmed = OrderConfirmed(
            order_id=unique, total=Money(amount=Decimal("1"), currency="EUR")
        )
        first = await runner.on_event(f"ev-{unique}", "orders.OrderConfirmed", confirmed)
        again = await runner.on_event(f"ev-{unique}", "orders.OrderConfirmed", confirmed)
        assert (len(first.ran), len(again.ran), again.skipped) == (1, 0, 1)
        token = mint_token(settings, ("read",))
        got = await client.get(
            f"/shipments/{unique}/events", headers={"Authorization": f"Bearer {token}"}
        )
        events = got.json()["events"]
        assert [e["event_type"] for e in events] == ["ShipmentOpened"]
        assert events[0]["metadata"]["causation_id"] == f"ev-{unique}"
