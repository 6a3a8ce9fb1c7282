"""`annals demo`: seed the running sample platform with legacy changes, customers and orders."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx
import typer
from customers.settings import CustomersSettings
from orders.settings import OrdersSettings
from query.settings import QuerySettings
from rich.console import Console

from annals.web.auth import mint_token
from annals.web.settings import ServiceSettings
from legacy.cli import legacy_dsn
from legacy.schema import migrate
from legacy.simulator import Simulator

console = Console(highlight=False, soft_wrap=True)
FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Greta", "Hugo", "Ines", "Jon")
LAST = ("Keller", "Lang", "Meyer", "Novak", "Ortiz", "Petit", "Quinn", "Rossi")


def register(app: typer.Typer) -> None:
    """Add `annals demo` to app (entry point `annals.cli: demo`)."""
    app.command("demo")(demo)


def _url(settings: ServiceSettings) -> str:
    return f"http://{settings.host}:{settings.port}"


def _fail(message: str) -> None:
    console.print(f"[red]error[/red] {message}")
    raise typer.Exit(1)


def demo(
    customers: int = typer.Option(8, help="customers to register"),
    orders: int = typer.Option(30, help="orders to place"),
    legacy_seconds: float = typer.Option(5.0, help="seconds of legacy ERP changes"),
    seed: int = typer.Option(42, help="seed of the random choices"),
    once: bool = typer.Option(False, "--once", help="do nothing when orders exist already"),
) -> None:
    """Seed the running platform: legacy changes, customers and orders over HTTP; show curls."""
    if once and asyncio.run(_seeded()):
        console.print("demo data is there already (`annals demo` without --once adds more)")
        return
    rng = random.Random(seed)
    token = mint_token(OrdersSettings(), ["orders:write", "customers:write", "read", "read:pii"])
    console.print(f"legacy ERP: {legacy_seconds:.0f}s of product, stock and customer changes")
    skus = asyncio.run(_legacy_changes(legacy_seconds, seed))
    if not skus:
        _fail("the legacy ERP has no active products")
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=15) as http:
        ids = [_customer(http, rng) for _ in range(customers)]
        last = ("", 0)
        for _ in range(orders):
            last = _order(http, rng, rng.choice(ids), skus)
    console.print(f"[green]✓[/green] {customers} customers, {orders} orders, legacy changes")
    _show_curls(last, ids[0])


async def _seeded() -> bool:
    try:
        conn = await asyncpg.connect(QuerySettings().dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM readmodels.order_summary)"))
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()


async def _legacy_changes(seconds: float, seed: int) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(legacy_dsn())
    try:
        await migrate(conn)
        await Simulator(conn, seed=seed + int(time.time())).run(rate=40, duration=seconds)
        rows = await conn.fetch(
            "SELECT sku, unit_price::text FROM products WHERE active ORDER BY sku LIMIT 40"
        )
        return [(r[0], r[1]) for r in rows]
    finally:
        await conn.close()


def _post(http: httpx.Client, url: str, body: Any | None = None) -> httpx.Response:
    for _ in range(50):  # the order service's customer replica follows within milliseconds
        answer = http.post(url, json=body)
        if answer.status_code != 422 or "customer-unknown" not in answer.text:
            break
        time.sleep(0.2)
    if answer.status_code >= 400:
        _fail(f"POST {url}: {answer.status_code} {answer.text[:300]}")
    return answer


def _customer(http: httpx.Client, rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    tag = uuid.uuid4().hex[:6]
    body = {"customer_id": f"{first.lower()}-{tag}", "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}.{tag}@example.com"}  # fmt: skip
    return str(_post(http, f"{_url(CustomersSettings())}/customers", body).json()["customer_id"])


def _order(
    http: httpx.Client, rng: random.Random, customer: str, skus: list[tuple[str, str]]
) -> tuple[str, int]:
    orders = f"{_url(OrdersSettings())}/orders"
    order = _post(http, orders, {"customer_id": customer, "currency": "EUR"})
    order_id = order.json()["order_id"]
    answer = order
    for sku, price in rng.sample(skus, rng.randint(1, min(3, len(skus)))):
        item = {"sku": sku, "quantity": rng.randint(1, 4),
                "unit_price": {"amount": price, "currency": "EUR"}}  # fmt: skip
        answer = _post(http, f"{orders}/{order_id}/items", item)
    fate = rng.random()
    if fate < 0.8:
        answer = _post(http, f"{orders}/{order_id}/confirm")
        if fate < 0.4:
            answer = _post(http, f"{orders}/{order_id}/ship")
    elif fate < 0.9:
        answer = _post(http, f"{orders}/{order_id}/cancel", {"reason": "demo"})
    return order_id, int(answer.headers["etag"].strip('"'))


def _show_curls(last: tuple[str, int], customer: str) -> None:
    order_id, version = last
    query = _url(QuerySettings())
    console.print("\nTry (a read token: `TOKEN=$(.venv/bin/annals token -s read -s read:pii)`):")
    for line in (
        f'curl -s -H "Authorization: Bearer $TOKEN" -H "X-Consistency-Token: '
        f'order-{order_id}@{version}" {query}/orders/{order_id}',
        f'curl -s -H "Authorization: Bearer $TOKEN" "{query}/orders?customer={customer}"',
        f'curl -s -H "Authorization: Bearer $TOKEN" {query}/customers/{customer}/orders',
        f'curl -s -H "Authorization: Bearer $TOKEN" "{query}/reports/daily-sales"',
    ):
        console.print(f"  {line}")
