"""If-Match races, Idempotency-Key replays and auth failures: what gets appended and what not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from orders.entrypoints.app import create_app
from orders.settings import OrdersSettings

from annals.web.auth import mint_token
from tests.integration.services.conftest import serve

pytestmark = pytest.mark.stack
Auth = Callable[..., dict[str, str]]
ITEM = {"sku": "A", "quantity": 1, "unit_price": {"amount": "2.50", "currency": "EUR"}}


async def place(client: httpx.AsyncClient, auth: Auth, order_id: str) -> None:
    body = {"order_id": order_id, "customer_id": "c-1", "currency": "EUR"}
    assert (await client.post("/orders", json=body, headers=auth())).status_code == 201


async def versions(client: httpx.AsyncClient, auth: Auth, order_id: str) -> int:
    r = await client.get(f"/orders/{order_id}", headers=auth("read"))
    return 0 if r.status_code == 404 else int(r.json()["version"])


async def test_same_if_match_one_wins_the_other_gets_412(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    await place(orders, auth, unique)
    headers = {**auth(), "If-Match": '"1"'}
    first, second = await asyncio.gather(
        orders.post(f"/orders/{unique}/items", json=ITEM, headers=headers),
        orders.post(f"/orders/{unique}/items", json={**ITEM, "sku": "B"}, headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412]
    loser = first if first.status_code == 412 else second
    assert loser.json()["current_version"] == 2
    assert await versions(orders, auth, unique) == 2


async def test_same_idempotency_key_twice_appends_once(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    await place(orders, auth, unique)
    headers = {**auth(), "Idempotency-Key": f"key-{unique}"}
    first, second = await asyncio.gather(
        orders.post(f"/orders/{unique}/items", json=ITEM, headers=headers),
        orders.post(f"/orders/{unique}/items", json=ITEM, headers=headers),
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    token = f"order-{unique}@2"
    assert first.headers["x-consistency-token"] == second.headers["x-consistency-token"] == token
    assert "true" in (
        first.headers.get("idempotent-replayed"),
        second.headers.get("idempotent-replayed"),
    )
    assert await versions(orders, auth, unique) == 2
    other = await orders.post(f"/orders/{unique}/items", json={**ITEM, "sku": "Z"}, headers=headers)
    assert other.status_code == 422 and other.json()["rule"] == "idempotency-key-reused"


async def test_idempotent_creation_replays_after_restart(
    orders_settings: OrdersSettings, auth: Auth, unique: str
) -> None:
    body = {"customer_id": "c-1", "currency": "EUR"}
    headers = {**auth(), "Idempotency-Key": f"create-{unique}"}
    async with serve(create_app(orders_settings)) as client:
        first = await client.post("/orders", json=body, headers=headers)
    async with serve(create_app(orders_settings)) as client:
        again = await client.post("/orders", json=body, headers=headers)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
        order_id = first.json()["order_id"]
        page = (await client.get(f"/orders/{order_id}/events", headers=auth("read"))).json()
        assert len(page["events"]) == 1


async def test_an_expired_key_counts_as_new_and_is_purged(
    orders_settings: OrdersSettings, auth: Auth, unique: str
) -> None:
    ttl = 0.2 / 3600  # 200 ms
    app = create_app(orders_settings.model_copy(update={"idempotency_ttl_hours": ttl}))
    async with serve(app) as client:
        await place(client, auth, unique)
        headers = {**auth(), "Idempotency-Key": f"ttl-{unique}"}
        first = await client.post(f"/orders/{unique}/items", json=ITEM, headers=headers)
        reused = await client.post(
            f"/orders/{unique}/items", json={**ITEM, "sku": "B"}, headers=headers
        )
        assert first.status_code == 200 and reused.status_code == 422
        await asyncio.sleep(0.3)
        again = await client.post(
            f"/orders/{unique}/items", json={**ITEM, "sku": "B"}, headers=headers
        )
        assert again.status_code == 200 and "idempotent-replayed" not in again.headers
        assert await versions(client, auth, unique) == 3
        await asyncio.sleep(0.3)
        store = app.state.api.idempotency
        assert await store.purge(batch=1) >= 1
        left = await store.database.fetchval(
            "SELECT count(*) FROM api.idempotency_keys WHERE key = $1", f"ttl-{unique}"
        )
        assert left == 0


async def test_a_failed_request_does_not_use_up_its_key(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    headers = {**auth(), "Idempotency-Key": f"retry-{unique}"}
    assert (
        await orders.post(f"/orders/{unique}/items", json=ITEM, headers=headers)
    ).status_code == 404
    await place(orders, auth, unique)
    assert (
        await orders.post(f"/orders/{unique}/items", json=ITEM, headers=headers)
    ).status_code == 200


def _token(settings: OrdersSettings, **claims: object) -> dict[str, str]:
    now = int(time.time())
    base = {
        "sub": "eve",
        "scope": "orders:write read",
        "iat": now,
        "exp": now + 60,
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
    }
    secret = str(claims.pop("secret", settings.jwt_secret.get_secret_value()))
    return {"Authorization": "Bearer " + jwt.encode({**base, **claims}, secret, algorithm="HS256")}


async def test_auth_failures_append_nothing(
    orders: httpx.AsyncClient, orders_settings: OrdersSettings, auth: Auth, unique: str
) -> None:
    body = {"order_id": unique, "customer_id": "c-1", "currency": "EUR"}
    cases = {
        "no token": ({}, 401),
        "not bearer": ({"Authorization": "Basic abc"}, 401),
        "garbage": ({"Authorization": "Bearer not.a.jwt"}, 401),
        "bad signature": (_token(orders_settings, secret="x" * 40), 401),
        "expired": (_token(orders_settings, exp=int(time.time()) - 120), 401),
        "wrong audience": (_token(orders_settings, aud="elsewhere"), 401),
        "missing scope": (_token(orders_settings, scope="read customers:write"), 403),
    }
    for name, (headers, status) in cases.items():
        r = await orders.post("/orders", json=body, headers=headers)
        assert r.status_code == status, name
        assert r.headers["content-type"] == "application/problem+json", name
        assert "www-authenticate" in r.headers, name
    assert await versions(orders, auth, unique) == 0
    read_only = {"Authorization": "Bearer " + mint_token(orders_settings, ["read"])}
    await place(orders, auth, unique)
    r = await orders.post(f"/orders/{unique}/items", json=ITEM, headers=read_only)
    assert r.status_code == 403 and r.json()["type"] == "/problems/insufficient-scope"
    assert await versions(orders, auth, unique) == 1
    assert (
        await orders.get(f"/orders/{unique}", headers=_token(orders_settings, scope="orders:write"))
    ).status_code == 403
    admin = {"Authorization": "Bearer " + mint_token(orders_settings, ["admin"])}
    assert (await orders.get(f"/orders/{unique}", headers=admin)).status_code == 200


async def test_a_stale_state_cache_never_decides(
    orders_settings: OrdersSettings, auth: Auth, unique: str
) -> None:
    async with serve(create_app(orders_settings)) as a, serve(create_app(orders_settings)) as b:
        await place(a, auth, unique)  # worker a caches the empty order at version 1
        assert (
            await b.post(f"/orders/{unique}/items", json=ITEM, headers=auth())
        ).status_code == 200
        confirmed = await a.post(f"/orders/{unique}/confirm", headers=auth())
        assert confirmed.status_code == 200, confirmed.text  # not "order-empty" from the cache
        assert confirmed.json()["version"] == 3 and len(confirmed.json()["lines"]) == 1
        stale = await b.post(f"/orders/{unique}/ship", headers={**auth(), "If-Match": '"2"'})
        assert stale.status_code == 412 and stale.json()["current_version"] == 3
        shipped = await b.post(f"/orders/{unique}/ship", headers={**auth(), "If-Match": '"3"'})
        assert shipped.status_code == 200
        late = await a.post(f"/orders/{unique}/cancel", json={"reason": "x"}, headers=auth())
        assert late.status_code == 422 and late.json()["rule"] == "order-shipped"


async def test_an_order_over_its_bounds_is_a_422_naming_the_rule(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    await place(orders, auth, unique)
    price = {"amount": "1000000000", "currency": "EUR"}
    big = {"sku": "BIG", "quantity": 1001, "unit_price": price}
    refused = await orders.post(f"/orders/{unique}/items", json=big, headers=auth())
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert (
        body["rule"] == "order-total-exceeded" and body["type"] == "/problems/order-total-exceeded"
    )
    assert body["errors"][0]["field"] == "quantity"
    accepted = await orders.post(
        f"/orders/{unique}/items", json={**big, "quantity": 1000}, headers=auth()
    )
    assert accepted.status_code == 200, accepted.text
    over = await orders.patch(
        f"/orders/{unique}/items/BIG", json={"quantity": 1001}, headers=auth()
    )
    assert over.status_code == 422 and over.json()["rule"] == "order-total-exceeded"
    assert await versions(orders, auth, unique) == 2


async def test_oversized_request_headers_are_a_431(
    orders: httpx.AsyncClient, auth: Auth, unique: str
) -> None:
    huge = await orders.get(f"/orders/{unique}", headers={**auth("read"), "X-Huge": "h" * 9000})
    assert huge.status_code == 431
    assert huge.json()["type"] == "/problems/headers-too-large"
