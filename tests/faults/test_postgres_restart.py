"""PostgreSQL stopped with `-m immediate` and restarted under HTTP load (issue 11, Build 1).

Orders, customers and the query API run as real uvicorn processes on scratch databases while a
few clients each write (or read) as fast as they are answered. Every answer must be 2xx, 4xx
or 503 (never another 5xx, never a hang past the client's timeout); within 10 s of the restart
each service must answer 200 consecutive requests (2 s timeout each); everything acknowledged
must read back afterwards; each worker logs the outage in a few lines, not a traceback per
request; /readyz is 503 while the database is away, and /healthz fails only past the liveness
limit (shortened to 1.5 s for the query API here) and passes again once the database is back.

The server restarted is the stack fixture's PostgreSQL (brought back healthy in a `finally`);
ANNALS_FAULTS_PG_DIR and ANNALS_FAULTS_PG_PORT point the test at a private server instead.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from orders.settings import OrdersSettings

from annals.stack import postgres
from annals.stack.errors import StackError
from annals.stack.scratch import create_database, drop_database
from annals.stack.settings import StackSettings
from annals.web.auth import mint_token
from tests.support.live_services import (
    LiveService,
    free_port,
    install_order_summary,
    service_env,
)

pytestmark = pytest.mark.stack
CLIENTS = 2  # per service
LOAD_TIMEOUT = 10.0  # a request unanswered this long counts as hung
STREAK, STREAK_TIMEOUT, RECOVERY = 200, 2.0, 10.0
DOWN_FOR = 3.0
WORKERS = {"orders": 2}
# The query API is told to call itself dead after 1.5 s without a connection (30 s by default),
# so that the outage shows the liveness rule at work: alive at first, dead later on.
LIVENESS = {"query": "1.5"}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> StackSettings:
    """The PostgreSQL server this test stops and starts."""
    private = os.environ.get("ANNALS_FAULTS_PG_DIR")
    if private:
        port = int(os.environ["ANNALS_FAULTS_PG_PORT"])
        settings = StackSettings(dir=Path(private), pg_port=port)
    else:
        settings = request.getfixturevalue("stack")
    try:
        native = postgres.is_running(settings)
    except StackError:
        native = False
    if not native:
        pytest.skip("PostgreSQL is not a process of the native stack here (pg_ctl cannot stop it)")
    return settings


@pytest.fixture
def databases(server: StackSettings) -> Iterator[dict[str, str]]:
    """Scratch orders, customers and readmodels databases (order_summary installed)."""
    made: dict[str, str] = {}
    try:
        for service, owner, roles in (
            ("orders", "orders_owner", ["orders_app"]),
            ("customers", "customers_owner", ["customers_app"]),
            ("query", "readmodels_owner", ["query_app"]),
        ):
            made[service] = asyncio.run(create_database(server, f"{service}_fault", owner, roles))
        asyncio.run(install_order_summary(server, made["query"]))
        yield made
    finally:
        ensure_running(server)
        for name in made.values():
            asyncio.run(drop_database(server, name))


@pytest.fixture
def services(
    server: StackSettings, databases: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, LiveService]]:
    """The three APIs (orders with two workers, the others one), started in parallel."""
    running: dict[str, LiveService] = {}
    for name, database in databases.items():
        port = free_port()
        env = service_env(
            name, server, database, port,
            LOG_JSON="false", ACQUIRE_TIMEOUT="5", LIVENESS_LIMIT=LIVENESS.get(name, "30"),
        )  # fmt: skip
        workers = WORKERS.get(name, 1)
        running[name] = LiveService(name, port, tmp_path / f"{name}.log", env, workers)
    try:
        asyncio.run(_start_all(list(running.values())))
        yield running
    finally:
        for service in running.values():
            service.stop()


async def _start_all(services: list[LiveService]) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in services))


def stop_immediately(settings: StackSettings) -> None:
    """`pg_ctl stop -m immediate`: every session is cut, the next start runs crash recovery."""
    args = [
        str(postgres.bin_dir(settings) / "pg_ctl"), "stop", "-D", str(postgres.data_dir(settings)),
        "-m", "immediate", "-w", "-t", "30",
    ]  # fmt: skip
    if os.geteuid() == 0:
        args = ["runuser", "-u", postgres.RUN_AS, "--", *args]
    subprocess.run(args, check=True, capture_output=True)


def ensure_running(settings: StackSettings) -> None:
    """Start the server if it is down and wait until it answers queries."""
    if not postgres.is_running(settings):
        postgres.start(settings)
    deadline = time.monotonic() + 60
    while not postgres.healthy(settings):
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.2)


@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter[str] = field(default_factory=Counter)
    acked: dict[str, list[str]] = field(default_factory=lambda: {"orders": [], "customers": []})

    def bad(self) -> dict[str, int]:
        """Answers that are neither 2xx, 4xx nor 503 (hangs and transport errors included)."""
        return {
            k: n
            for k, n in self.statuses.items()
            if not (k.isdigit() and (k[0] in "24" or k == "503"))
        }


Request = Callable[[httpx.AsyncClient, str], Awaitable[tuple[httpx.Response, str | None]]]


def requests(unique: str, auth: dict[str, str]) -> dict[str, Request]:
    """One request per service; a write returns the id it acknowledges on 2xx."""

    async def order(client: httpx.AsyncClient, n: str) -> tuple[httpx.Response, str | None]:
        ident = f"{unique}-o{n}"
        body = {"order_id": ident, "customer_id": "c-1", "currency": "EUR"}
        keyed = {"Idempotency-Key": f"k-{ident}"} if int(n[-1]) % 2 else {}
        return await client.post("/orders", json=body, headers={**auth, **keyed}), ident

    async def customer(client: httpx.AsyncClient, n: str) -> tuple[httpx.Response, str | None]:
        ident = f"{unique}-c{n}"
        body = {"customer_id": ident, "name": "Ada", "email": f"{ident}@example.com"}
        keyed = {"Idempotency-Key": f"k-{ident}"} if int(n[-1]) % 2 else {}
        return await client.post("/customers", json=body, headers={**auth, **keyed}), ident

    async def read(client: httpx.AsyncClient, n: str) -> tuple[httpx.Response, str | None]:
        return await client.get("/orders?customer=c-1&limit=5", headers=auth), None

    return {"orders": order, "customers": customer, "query": read}


async def one(tally: Tally, name: str, client: httpx.AsyncClient, request: Request, n: str) -> bool:
    """Send one request and count what came back; True on 2xx."""
    try:
        answer, ident = await request(client, n)
    except httpx.TimeoutException:
        tally.statuses[f"{name} hung"] += 1
        return False
    except httpx.TransportError as exc:
        tally.statuses[f"{name} {type(exc).__name__}"] += 1
        return False
    tally.statuses[str(answer.status_code)] += 1
    ok = 200 <= answer.status_code < 300
    if ok and ident is not None:
        tally.acked[name].append(ident)
    return ok


async def load(tally: Tally, name: str, client: httpx.AsyncClient, request: Request, k: int,
               stop: asyncio.Event) -> None:  # fmt: skip
    n = 0
    while not stop.is_set():
        n += 1
        if not await one(tally, name, client, request, f"{k}-{n}"):
            await asyncio.sleep(0.05)


async def streak(tally: Tally, name: str, client: httpx.AsyncClient, request: Request) -> float:
    """When a run of STREAK consecutive successes began (monotonic time)."""
    began, run, n = time.monotonic(), 0, 0
    while run < STREAK:
        n += 1
        started = time.monotonic()
        if await one(tally, name, client, request, f"s-{n}"):
            if run == 0:
                began = started
            run += 1
        else:
            run = 0
            await asyncio.sleep(0.05)
    return began


@asynccontextmanager
async def clients(
    services: dict[str, LiveService], timeout: float, keepalive: bool = True
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One HTTP client per service (without keep-alive: each request may reach any worker)."""
    limits = httpx.Limits(max_keepalive_connections=None if keepalive else 0)
    made = {
        n: httpx.AsyncClient(base_url=s.url, timeout=timeout, limits=limits)
        for n, s in services.items()
    }
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


async def test_services_answer_503_through_a_postgres_restart_and_recover(
    server: StackSettings, services: dict[str, LiveService], unique: str
):
    auth = {"Authorization": f"Bearer {mint_token(OrdersSettings(), ALL_SCOPES)}"}
    calls = requests(unique, auth)
    tally, stop = Tally(), asyncio.Event()
    async with clients(services, LOAD_TIMEOUT) as http:
        loaders = [
            asyncio.create_task(load(tally, name, http[name], calls[name], k, stop))
            for name in services
            for k in range(CLIENTS)
        ]
        try:
            await asyncio.sleep(2)
            await asyncio.to_thread(stop_immediately, server)
            await asyncio.sleep(0.5)
            health = await probes_of(http)
            await asyncio.sleep(DOWN_FOR - 0.5)
            health_late = await probes_of(http)
        finally:
            await asyncio.to_thread(ensure_running, server)
        restarted = time.monotonic()
        async with clients(services, STREAK_TIMEOUT, keepalive=False) as probes:
            began = await asyncio.gather(
                *(streak(tally, name, probes[name], calls[name]) for name in services)
            )
        stop.set()
        await asyncio.gather(*loaders)
        recovered = {name: round(b - restarted, 1) for name, b in zip(services, began, strict=True)}
        missing = await unread(http, tally, auth)
        health_after = await probes_of(http)

    assert tally.bad() == {}, tally.statuses
    assert tally.statuses["503"] > 0, tally.statuses  # the outage was seen, and answered 503
    assert all(after <= RECOVERY for after in recovered.values()), recovered
    assert missing == {}, missing
    # While the database was away: not ready, but alive until the liveness limit has passed.
    assert health == {name: (200, 503) for name in services}, health
    late = {name: (503 if name in LIVENESS else 200, 503) for name in services}
    assert health_late == late, health_late
    assert health_after == {name: (200, 200) for name in services}, health_after
    for service in services.values():
        output = service.output()
        assert "Traceback" not in output, output[-3000:]
        assert "unhandled error" not in output, output[-3000:]
        warnings = output.count("is unreachable")  # one per outage and worker (a flap or two)
        assert 1 <= warnings <= 3 * service.workers, (service.name, warnings)


ALL_SCOPES = ("orders:write", "customers:write", "read", "read:pii")


async def probes_of(http: dict[str, httpx.AsyncClient]) -> dict[str, tuple[int, int]]:
    """(/healthz, /readyz) statuses of each service."""
    out = {}
    for name, client in http.items():
        live, ready = await client.get("/healthz"), await client.get("/readyz")
        out[name] = (live.status_code, ready.status_code)
    return out


async def unread(
    http: dict[str, httpx.AsyncClient], tally: Tally, auth: dict[str, str]
) -> dict[str, list[str]]:
    """Acknowledged orders and customers that do not read back from their service."""
    missing: dict[str, list[str]] = {}
    for name, ids in tally.acked.items():
        assert ids, f"no {name} write was acknowledged"
        for chunk in range(0, len(ids), 16):
            batch = ids[chunk : chunk + 16]
            answers = await asyncio.gather(
                *(http[name].get(f"/{name}/{ident}", headers=auth) for ident in batch)
            )
            lost = [i for i, a in zip(batch, answers, strict=True) if a.status_code != 200]
            if lost:
                missing.setdefault(name, []).extend(lost)
    return missing
