"""The customers API over HTTP on real PostgreSQL: email uniqueness, masking, forgetting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from customers.settings import CustomersSettings

from annals.stack.settings import StackSettings

pytestmark = pytest.mark.stack
Auth = Callable[..., dict[str, str]]
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def writer(auth: Auth, settings: CustomersSettings) -> dict[str, str]:
    return auth("customers:write", "read", "read:pii", settings=settings)


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, email: str, **extra: Any
) -> httpx.Response:
    body = {"customer_id": customer_id, "name": "Ada Lovelace", "email": email, **extra}
    return await client.post("/customers", json=body, headers=headers)


async def test_register_and_change(
    customers: httpx.AsyncClient, customers_settings: CustomersSettings, auth: Auth, unique: str
) -> None:
    w = writer(auth, customers_settings)
    r = await register(
        customers,
        w,
        unique,
        f"ada-{unique}@example.com",
        phone="+44 20 7946 0000",
        address=ADDRESS,
        tier="gold",
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"] == f"ada-{unique}@example.com" and r.json()["tier"] == "gold"
    r = await customers.put(
        f"/customers/{unique}/email", json={"email": f"new-{unique}@example.com"}, headers=w
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await customers.put(f"/customers/{unique}/tier", json={"tier": "platinum"}, headers=w)
    assert r.json()["tier"] == "platinum"
    r = await customers.put(f"/customers/{unique}/address", json={"address": None}, headers=w)
    assert r.json()["address"] is None and r.json()["version"] == 4
    r = await customers.put(f"/customers/{unique}/tier", json={"tier": "platinum"}, headers=w)
    assert r.status_code == 200 and r.json()["version"] == 4  # no change, no event


async def test_personal_data_is_masked_without_read_pii(
    customers: httpx.AsyncClient, customers_settings: CustomersSettings, auth: Auth, unique: str
) -> None:
    w = writer(auth, customers_settings)
    await register(
        customers, w, unique, f"m-{unique}@example.com", phone="+1 555 0100", address=ADDRESS
    )
    reader = auth("read", settings=customers_settings)
    view = (await customers.get(f"/customers/{unique}", headers=reader)).json()
    assert view["email"] == view["phone"] == view["address"] == view["name"] == "***"
    events = (await customers.get(f"/customers/{unique}/events", headers=reader)).json()
    assert events["events"][0]["data"]["email"] == "***"
    full = (await customers.get(f"/customers/{unique}", headers=w)).json()
    assert full["email"] == f"m-{unique}@example.com" and full["address"]["city"] == "Springfield"


async def test_email_is_unique_among_active_customers(
    customers: httpx.AsyncClient, customers_settings: CustomersSettings, auth: Auth, unique: str
) -> None:
    w = writer(auth, customers_settings)
    email = f"same-{unique}@example.com"
    assert (await register(customers, w, f"{unique}-a", email)).status_code == 201
    r = await register(customers, w, f"{unique}-b", email.upper())
    assert r.status_code == 422 and r.json()["rule"] == "email-unique"
    assert (await customers.get(f"/customers/{unique}-b", headers=w)).status_code == 404
    # deactivating frees the email; reactivating needs it back
    assert (
        await customers.post(
            f"/customers/{unique}-a/deactivate", json={"reason": "asked"}, headers=w
        )
    ).status_code == 200
    assert (await register(customers, w, f"{unique}-b", email)).status_code == 201
    r = await customers.post(f"/customers/{unique}-a/reactivate", headers=w)
    assert r.status_code == 422 and r.json()["rule"] == "email-unique"
    r = await customers.put(
        f"/customers/{unique}-b/email", json={"email": f"other-{unique}@example.com"}, headers=w
    )
    assert r.status_code == 200
    assert (await customers.post(f"/customers/{unique}-a/reactivate", headers=w)).json()[
        "status"
    ] == "active"


async def test_concurrent_registrations_of_one_email_admit_one(
    customers: httpx.AsyncClient, customers_settings: CustomersSettings, auth: Auth, unique: str
) -> None:
    w = writer(auth, customers_settings)
    email = f"race-{unique}@example.com"
    results = await asyncio.gather(
        *(register(customers, w, f"{unique}-{i}", email) for i in range(6))
    )
    assert sorted(r.status_code for r in results) == [201] + [422] * 5


async def test_reservation_rolls_back_with_a_failed_append(
    customers: httpx.AsyncClient, customers_settings: CustomersSettings, auth: Auth, unique: str
) -> None:
    w = writer(auth, customers_settings)
    await register(customers, w, f"{unique}-a", f"a-{unique}@example.com")
    wanted = f"wanted-{unique}@example.com"
    r = await customers.put(
        f"/customers/{unique}-a/email", json={"email": wanted}, headers={**w, "If-Match": '"7"'}
    )
    assert r.status_code == 412
    assert (await register(customers, w, f"{unique}-b", wanted)).status_code == 201


async def test_forget_shreds_personal_data(
    customers: httpx.AsyncClient,
    customers_settings: CustomersSettings,
    stack: StackSettings,
    auth: Auth,
    unique: str,
) -> None:
    w = writer(auth, customers_settings)
    email = f"gone-{unique}@example.com"
    await register(customers, w, unique, email, phone="+1 555 0199", address=ADDRESS)
    r = await customers.post(f"/customers/{unique}/forget", headers=w)
    assert r.status_code == 403
    admin = auth("admin", settings=customers_settings)
    r = await customers.post(f"/customers/{unique}/forget", headers=admin)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["forgotten"] and view["email"] == "<forgotten>" and view["name"] == "<forgotten>"
    assert view["phone"] is None and view["address"] is None
    page = (await customers.get(f"/customers/{unique}/events", headers=admin)).json()
    assert page["events"][0]["data"]["email"] == "<forgotten>"
    assert page["events"][-1]["event_type"] == "CustomerForgotten"
    conn = await asyncpg.connect(stack.dsn(customers_settings.database))
    try:
        raw = await conn.fetch(
            "SELECT data::text FROM eventstore.events WHERE stream_id = $1", f"customer-{unique}"
        )
        reserved = await conn.fetchval(
            "SELECT count(*) FROM api.email_reservations WHERE customer_id = $1", unique
        )
    finally:
        await conn.close()
    assert raw and all(email not in row[0] and "Springfield" not in row[0] for row in raw)
    assert reserved == 0
    r = await customers.put(f"/customers/{unique}/tier", json={"tier": "gold"}, headers=w)
    assert r.status_code == 422 and r.json()["rule"] == "customer-forgotten"
    assert (await register(customers, w, f"{unique}-new", email)).status_code == 201
    again = await customers.post(f"/customers/{unique}/forget", headers=admin)
    assert again.status_code == 200 and again.json()["version"] == view["version"]
