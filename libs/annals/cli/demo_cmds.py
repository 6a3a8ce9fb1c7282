"""`annals platform up|down|status` (the whole platform on the stack) and `annals demo`."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx
import typer
from rich.console import Console
from rich.table import Table

from annals.stack.errors import StackError
from annals.stack.settings import StackSettings
from annals.stack.supervisor import LISTENER, ProcessStatus, Supervisor

console = Console(highlight=False, soft_wrap=True)
platform_app = typer.Typer(
    help="The platform on a running stack: services, publishers, legacy CDC, projectors, query.",
    no_args_is_help=True,
)
ORDERS, CUSTOMERS, QUERY = "http://127.0.0.1:8001", "http://127.0.0.1:8002", "http://127.0.0.1:8003"
FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Greta", "Hugo", "Ines", "Jon")
LAST = ("Keller", "Lang", "Meyer", "Novak", "Ortiz", "Petit", "Quinn", "Rossi")


def register(app: typer.Typer) -> None:
    """Add `annals platform ...` and `annals demo` to app."""
    app.add_typer(platform_app, name="platform")
    app.command("demo")(demo)


def _fail(message: str) -> None:
    console.print(f"[red]error[/red] {message}")
    raise typer.Exit(1)


def _services() -> None:
    from annals.web import launcher

    stack = StackSettings()
    for spec in launcher.specs().values():
        settings = spec.settings()
        launcher.migrate(spec, settings)
        pid = launcher.start(spec, settings, stack, 60)
        console.print(
            f"[green]✓[/green] {spec.name} API http://{settings.host}:{settings.port} (pid {pid})"
        )


def _publishers() -> None:
    from annals.messaging import workers
    from annals.messaging.settings import KafkaSettings, PublisherSettings

    for service in KafkaSettings().service_names:
        if PublisherSettings.for_service(service).publisher != "relay":
            console.print(f"  {service}: Debezium outbox mode, run `annals publishers up`")
            continue
        asyncio.run(workers.prepare(service))
        console.print(f"[green]✓[/green] publisher {service} (pid {workers.start(service)})")


def _legacy() -> None:
    from legacy.schema import migrate

    from annals.cli.legacy_cmds import legacy_dsn
    from annals.connect.client import ConnectClient
    from annals.connect.configs import deploy_dir, load_spec

    async def schema() -> None:
        conn = await asyncpg.connect(legacy_dsn())
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(schema())
    stack = StackSettings()
    with ConnectClient(stack.connect_url) as client:
        client.apply(load_spec(deploy_dir(stack) / "legacy-erp.json", stack))
    console.print("[green]✓[/green] legacy ERP schema and the legacy-erp Debezium connector")


def _projectors_and_query(processes: int) -> None:
    from annals.cli.projections_cmds import _query_spec
    from annals.projections import launcher
    from annals.web import launcher as web

    stack = StackSettings()
    for index, pid in launcher.start_projectors(processes, [], stack).items():
        port = launcher.METRICS_BASE + index
        console.print(f"[green]✓[/green] projector-{index} (pid {pid}, metrics :{port}/metrics)")
    spec = _query_spec()
    settings = spec.settings()
    pid = web.start(spec, settings, stack, 60)
    console.print(f"[green]✓[/green] query API http://{settings.host}:{settings.port} (pid {pid})")


@platform_app.command("up")
def up(processes: int = typer.Option(2, help="projector worker processes")) -> None:
    """Start services, publishers, legacy CDC, projectors and the query API; print the URLs."""
    from annals.stack import stack as native

    if not all(c.healthy for c in native.status(StackSettings())):
        _fail("the stack is not healthy: run `annals stack up` (or `make up`) first")
    try:
        _services()
        _publishers()
        _legacy()
        _projectors_and_query(processes)
    except StackError as exc:
        _fail(exc.line())
    except Exception as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    urls()


@platform_app.command("urls")
def urls() -> None:
    """Print where everything is."""
    table = Table("what", "where", title="Annals platform")
    for what, where in (
        ("orders API (docs)", f"{ORDERS}/docs"),
        ("customers API (docs)", f"{CUSTOMERS}/docs"),
        ("query API (docs)", f"{QUERY}/docs"),
        ("projector metrics", "http://127.0.0.1:9401/metrics, :9402/metrics"),
        ("Kafka Connect", StackSettings().connect_url),
        ("a token", "annals token -s orders:write -s customers:write -s read -s read:pii"),
        ("read models", "annals projections status"),
    ):
        table.add_row(what, where)
    console.print(table)


@platform_app.command("down")
def down() -> None:
    """Stop what `platform up` started (the stack and the connector keep running)."""
    from annals.cli.projections_cmds import _query_spec
    from annals.messaging import workers
    from annals.messaging.settings import KafkaSettings
    from annals.projections import launcher
    from annals.web import launcher as web

    stack = StackSettings()
    web.stop(_query_spec(), stack)
    launcher.stop_projectors(stack)
    for service in KafkaSettings().service_names:
        workers.stop(service)
    for spec in web.specs().values():
        web.stop(spec, stack)
    Supervisor(stack).shutdown()
    console.print("platform stopped (query, projectors, publishers, services, supervisord)")


def processes_table(rows: list[ProcessStatus]) -> Table:
    """The supervised processes: state, pid, uptime and restarts since they were started."""
    table = Table("process", "state", "pid", "uptime", "restarts", title="supervised processes")
    for row in rows:
        if row.program == LISTENER:
            continue
        colour = "green" if row.state == "RUNNING" else "yellow" if row.alive else "red"
        uptime = "-" if row.uptime is None else _duration(row.uptime)
        table.add_row(
            row.name, f"[{colour}]{row.state}[/{colour}]", str(row.pid or "-"), uptime,
            str(row.restarts),
        )  # fmt: skip
    return table


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _addresses() -> list[tuple[str, str]]:
    from annals.cli.projections_cmds import _query_spec
    from annals.web import launcher

    specs = [*launcher.specs().values(), _query_spec()]
    out = []
    for spec in specs:
        settings = spec.settings()
        out.append((spec.name, f"http://{settings.host}:{settings.port}"))
    return out


@platform_app.command("status")
def status() -> None:
    """Supervised processes (state, pid, uptime, restarts), readiness, read models; 1 if trouble."""
    from annals.cli.projections_cmds import status_

    rows = Supervisor(StackSettings()).status()
    if rows:
        console.print(processes_table(rows))
    else:
        console.print("supervisord is not running: nothing started (`make up`)")
    down = [r.name for r in rows if r.program != LISTENER and not r.alive]
    with httpx.Client(timeout=2) as client:
        for name, url in _addresses():
            try:
                ok = client.get(f"{url}/readyz").status_code == 200
            except httpx.HTTPError:
                ok = False
            console.print(
                f"{name:10} {url:24} {'[green]ready[/green]' if ok else '[red]down[/red]'}"
            )
    try:
        status_(None)
    except typer.Exit:
        down.append("read models")
    if down:
        console.print(f"[red]not running or in trouble[/red]: {', '.join(down)}")
        raise typer.Exit(1)


def demo(
    customers: int = typer.Option(8, help="customers to register"),
    orders: int = typer.Option(30, help="orders to place"),
    legacy_seconds: float = typer.Option(5.0, help="seconds of legacy ERP changes"),
    seed: int = typer.Option(42, help="seed of the random choices"),
    once: bool = typer.Option(False, "--once", help="do nothing when orders exist already"),
) -> None:
    """Seed the running platform: legacy changes, customers and orders over HTTP; show curls."""
    from orders.settings import OrdersSettings

    from annals.web.auth import mint_token

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
    from query.settings import QuerySettings

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
    from legacy.schema import migrate
    from legacy.simulator import Simulator

    from annals.cli.legacy_cmds import legacy_dsn

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
    return str(_post(http, f"{CUSTOMERS}/customers", body).json()["customer_id"])


def _order(
    http: httpx.Client, rng: random.Random, customer: str, skus: list[tuple[str, str]]
) -> tuple[str, int]:
    order = _post(http, f"{ORDERS}/orders", {"customer_id": customer, "currency": "EUR"})
    order_id = order.json()["order_id"]
    answer = order
    for sku, price in rng.sample(skus, rng.randint(1, min(3, len(skus)))):
        item = {"sku": sku, "quantity": rng.randint(1, 4),
                "unit_price": {"amount": price, "currency": "EUR"}}  # fmt: skip
        answer = _post(http, f"{ORDERS}/orders/{order_id}/items", item)
    fate = rng.random()
    if fate < 0.8:
        answer = _post(http, f"{ORDERS}/orders/{order_id}/confirm")
        if fate < 0.4:
            answer = _post(http, f"{ORDERS}/orders/{order_id}/ship")
    elif fate < 0.9:
        answer = _post(http, f"{ORDERS}/orders/{order_id}/cancel", {"reason": "demo"})
    return order_id, int(answer.headers["etag"].strip('"'))


def _show_curls(last: tuple[str, int], customer: str) -> None:
    order_id, version = last
    console.print("\nTry (a read token: `TOKEN=$(.venv/bin/annals token -s read -s read:pii)`):")
    for line in (
        f'curl -s -H "Authorization: Bearer $TOKEN" -H "X-Consistency-Token: '
        f'order-{order_id}@{version}" {QUERY}/orders/{order_id}',
        f'curl -s -H "Authorization: Bearer $TOKEN" "{QUERY}/orders?customer={customer}"',
        f'curl -s -H "Authorization: Bearer $TOKEN" {QUERY}/customers/{customer}/orders',
        f'curl -s -H "Authorization: Bearer $TOKEN" "{QUERY}/reports/daily-sales"',
    ):
        console.print(f"  {line}")
