"""The orders API over HTTP on real PostgreSQL: lifecycle, rules, audit trail, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.stack
Auth = Callable[..., dict[str, str]]


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


async def place(
    client: httpx.AsyncClient, auth: Auth, order_id: str, **extra: Any
) -> httpx.Response:
    body = {"order_id": order_id, "customer_id": "c-1", "currency": "EUR"}
    r = await client.post("/orders", json=body, headers={**auth(), **extra})
    assert r.status_code == 201, r.text
    return r


async def test_order_lifecycle(orders: httpx.AsyncClient, auth: Auth, unique: str) -> None:
    r = await place(orders, auth, unique, **{"X-Correlation-ID": f"corr-{unique}"})
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/orders/{unique}"
    assert r.headers["x-correlation-id"] == f"corr-{unique}"
    for sku, qty, price in (("A", 2, "9.90"), ("B", 1, "0.05"), ("C", 3, "100")):
        body = {"sku": sku, "quantity": qty, "unit_price": eur(price)}
        r = await orders.post(f"/orders/{unique}/items", json=body, headers=auth())
        assert r.status_code == 200, r.text
    r = await orders.patch(f"/orders/{unique}/items/A", json={"quantity": 3}, headers=auth())
    assert r.json()["lines"][0]["line_total"] == eur("29.70")
    r = await orders.delete(f"/orders/{unique}/items/B", headers=auth())
    assert [line["sku"] for line in r.json()["lines"]] == ["A", "C"]
    r = await orders.put(
        f"/orders/{unique}/discount", json={"discount": eur("9.70")}, headers=auth()
    )
    assert r.json()["subtotal"] == eur("329.70") and r.json()["total"] == eur("320.00")
    r = await orders.post(f"/orders/{unique}/confirm", headers={**auth(), "If-Match": '"7"'})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.headers["etag"] == '"8"'
    assert (await orders.post(f"/orders/{unique}/ship", headers=auth())).status_code == 200
    r = await orders.post(f"/orders/{unique}/deliver", headers=auth())
    assert r.json()["status"] == "delivered" and r.json()["version"] == 10

    got = await orders.get(f"/orders/{unique}", headers=auth("read"))
    assert got.status_code == 200 and got.headers["etag"] == '"10"'
    assert got.json() == r.json()

    page = (await orders.get(f"/orders/{unique}/events?limit=4", headers=auth("read"))).json()
    assert [e["version"] for e in page["events"]] == [1, 2, 3, 4]
    assert page["events"][0]["event_type"] == "OrderPlaced"
    meta = page["events"][0]["metadata"]
    assert meta["correlation_id"] == f"corr-{unique}" and meta["actor"] == "tester"
    assert meta["command"] == "PlaceOrder" and meta["causation_id"]
    assert page["events"][1]["data"]["unit_price"] == eur("9.90")
    following = (await orders.get(page["next"], headers=auth("read"))).json()
    assert [e["version"] for e in following["events"]] == [5, 6, 7, 8]
    last = (await orders.get(following["next"], headers=auth("read"))).json()
    assert [e["event_type"] for e in last["events"]] == ["OrderShipped", "OrderDelivered"]
    assert last["next"] is None


async def test_illegal_transitions_are_422_with_the_rule(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    await place(orders, auth, unique)
    r = await orders.post(f"/orders/{unique}/confirm", headers=auth())
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["rule"] == "order-empty"
    r = await orders.post(f"/orders/{unique}/ship", headers=auth())
    assert (r.status_code, r.json()["rule"]) == (422, "order-not-confirmed")
    body = {"sku": "A", "quantity": 1, "unit_price": {"amount": "1.00", "currency": "USD"}}
    r = await orders.post(f"/orders/{unique}/items", json=body, headers=auth())
    assert r.json()["rule"] == "currency-mismatch"
    assert r.json()["errors"][0]["field"] == "unit_price.currency"
    r = await orders.put(f"/orders/{unique}/discount", json={"discount": eur("1")}, headers=auth())
    assert r.json()["rule"] == "discount-exceeds-subtotal"
    await orders.post(
        f"/orders/{unique}/items",
        json={"sku": "A", "quantity": 1, "unit_price": eur("5")},
        headers=auth(),
    )
    await orders.post(f"/orders/{unique}/confirm", headers=auth())
    await orders.post(f"/orders/{unique}/ship", headers=auth())
    r = await orders.post(f"/orders/{unique}/cancel", json={"reason": "late"}, headers=auth())
    assert (r.status_code, r.json()["rule"]) == (422, "order-shipped")


async def test_cancel_needs_a_reason_and_stops_changes(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    await place(orders, auth, unique)
    r = await orders.post(f"/orders/{unique}/cancel", json={}, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await orders.post(
        f"/orders/{unique}/cancel", json={"reason": "changed mind"}, headers=auth()
    )
    assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "changed mind"
    r = await orders.post(
        f"/orders/{unique}/items",
        json={"sku": "A", "quantity": 1, "unit_price": eur("1")},
        headers=auth(),
    )
    assert r.json()["rule"] == "order-not-open"


async def test_unknown_existing_and_malformed(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    r = await orders.post(f"/orders/{unique}/confirm", headers=auth())
    assert r.status_code == 404 and r.json()["rule"] == "order-not-found"
    assert (await orders.get(f"/orders/{unique}", headers=auth())).status_code == 404
    assert (await orders.get(f"/orders/{unique}/events", headers=auth())).status_code == 404
    await place(orders, auth, unique)
    r = await orders.post(
        "/orders", json={"order_id": unique, "customer_id": "c", "currency": "EUR"}, headers=auth()
    )
    assert r.status_code == 409 and r.json()["rule"] == "order-exists"
    r = await orders.post(
        f"/orders/{unique}/items",
        content=b'{"sku": ',
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["type"] == "/problems/malformed"
    r = await orders.post(
        f"/orders/{unique}/items",
        json={"sku": "A", "quantity": 1, "unit_price": {"amount": 1.5, "currency": "EUR"}},
        headers=auth(),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "unit_price.amount"
    r = await orders.post(f"/orders/{unique}/confirm", headers={**auth(), "If-Match": "banana"})
    assert r.status_code == 400
    r = await orders.post(f"/orders/{unique}/confirm", headers={**auth(), "Idempotency-Key": "a b"})
    assert r.status_code == 400
    r = await orders.get("/nowhere", headers=auth())
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await orders.put("/orders", headers=auth())
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


async def test_body_too_large_is_413(orders: httpx.AsyncClient, auth: Auth, unique: str) -> None:
    big = {"reason": "x" * 70_000}
    r = await orders.post(f"/orders/{unique}/cancel", json=big, headers=auth())
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


async def test_health_ready_metrics_openapi(orders: httpx.AsyncClient) -> None:
    assert (await orders.get("/healthz")).json() == {"status": "ok"}
    assert (await orders.get("/readyz")).json() == {"status": "ready"}
    metrics = await orders.get("/metrics")
    assert "annals_http_requests_total" in metrics.text
    spec = (await orders.get("/openapi.json")).json()
    assert "/orders/{order_id}/items" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    place_op = spec["paths"]["/orders"]["post"]
    assert "examples" in str(place_op) or "example" in str(
        spec["components"]["schemas"]["PlaceOrder"]
    )
