"""bench/faults: order lifecycles over HTTP through a PostgreSQL crash, a Kafka restart and a
projector kill -9 (issue 11): nothing acknowledged may be lost, no 5xx but 503, no hung worker.

Run `.venv/bin/python -m bench.faults` on a stack of its OWN: it stops the stack's PostgreSQL
with `pg_ctl stop -m immediate` and restarts its Kafka broker. Point it at a private stack with
ANNALS_STACK_DIR (and ANNALS_STACK_PG_PORT / KAFKA_PORT / CONTROLLER_PORT); on the default
stack (`.stack/` of the checkout) it runs only with BENCH_FAULTS_ON_DEFAULT_STACK=1.
BENCH_FAULTS_DRY=1 runs everything but the two server restarts (safe on a shared stack; its
figures are not the benchmark's and it writes bench/results/faults-dry.json).

A private platform (sandbox rig: scratch databases, own topic prefix) is served by the orders
app (3 uvicorn workers) and the query API (2 workers) as subprocesses, the orders relay in this
process and two `annals projections run order_summary` processes. CLIENTS clients run order
lifecycles (place, 2 x add item, confirm; each command with its Idempotency-Key, retried after a
503 or no answer) and one reader reads its orders back through the query API. Afterwards every
acknowledged command is looked for in the event store and, after catch-up, in order_summary.
Writes bench/results/faults.json; databases, topics and processes are removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from annals.backoff import Backoff
from annals.commands.storage import migrate_tables
from annals.projections import sandbox
from annals.stack import kafka, postgres
from annals.stack.settings import REPO_ROOT, StackSettings
from annals.web import launcher
from annals.web.auth import mint_token
from bench.harness import Result, write_results
from bench.http_commands import free_port

DRY = os.environ.get("BENCH_FAULTS_DRY") == "1"
CLIENTS = int(os.environ.get("BENCH_FAULTS_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_FAULTS_SECONDS", "60"))
PG_AT, KAFKA_AT, KILL_AT = 0.15 * SECONDS, 0.45 * SECONDS, 0.7 * SECONDS
PG_DOWN = 5.0
TIMEOUT = 5.0  # the load's client timeout: a request without an answer by then is "hung"
PROBE_TIMEOUT, PROBE_RUN, PROBE_FOR = 2.0, 200, 60.0  # docs/request-path-failures.md#probes
CATCH_UP = 120.0
ITEM = {"quantity": 2, "unit_price": {"amount": "9.90", "currency": "EUR"}}


@dataclass
class Tally:
    """What the load saw: answers by class, acknowledged commands, the orders' acked versions."""

    answers: Counter[str] = field(default_factory=Counter)
    acked: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    gave_up: int = 0

    def saw(self, service: str, status: int | None) -> None:
        """Count one answer (None: no answer within TIMEOUT or a connection error)."""
        if status is None:
            kind = "none"
        elif status == 503:
            kind = "503"
        else:
            kind = f"{status // 100}xx"
        self.answers[kind] += 1
        self.answers[f"{service}:{kind}"] += 1


def pg_crash(stack: StackSettings) -> None:
    """`pg_ctl stop -m immediate`: every session dies without a goodbye."""
    command = [str(postgres.bin_dir(stack) / "pg_ctl"), "stop", "-D",
               str(postgres.data_dir(stack)), "-m", "immediate", "-w", "-t", "30"]  # fmt: skip
    if os.geteuid() == 0:
        command = ["runuser", "-u", postgres.RUN_AS, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child process in its own session, output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, env={**os.environ, **env}, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def end(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child: SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def service_env(rig: sandbox.Rig, name: str, kind: str, role: str, port: int) -> dict[str, str]:
    """ANNALS_<NAME>_* of a service on the rig's `kind` database."""
    p = f"ANNALS_{name.upper()}_"
    return {
        f"{p}DATABASE": rig.databases[kind], f"{p}DSN": rig.stack.dsn(rig.databases[kind], role),
        f"{p}OWNER_DSN": rig.owner_dsn(kind), f"{p}PORT": str(port), f"{p}MIGRATE": "false",
        f"{p}LOG_LEVEL": "warning", f"{p}WORKERS": "3" if name == "orders" else "2",
    }  # fmt: skip


def specs() -> dict[str, launcher.ServiceSpec]:
    """The orders app and the query API as the launcher runs them."""
    from query.settings import QuerySettings

    query = launcher.ServiceSpec("query", "query.app:create_app", QuerySettings, (), ())
    return {"orders": launcher.specs()["orders"], "query": query}


@contextlib.asynccontextmanager
async def platform(rig: sandbox.Rig, logs: Path) -> AsyncIterator[dict[str, Any]]:
    """The orders app, the query API and two projectors on the rig; yield URLs and processes."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    metrics = Path(tempfile.mkdtemp(prefix="annals-bench-faults-"))
    try:
        for name, (kind, role) in {"orders": ("orders", "orders_app"),
                                   "query": ("readmodels", "query_app")}.items():  # fmt: skip
            spec, env = specs()[name], service_env(rig, name, kind, role, free_port())
            settings = spec.settings.model_validate(
                {k.removeprefix(f"ANNALS_{name.upper()}_").lower(): v for k, v in env.items()}
            )
            if name == "orders":
                await migrate_tables(settings.owner_dsn, settings.app_role, spec.steps, spec.grants)
            (metrics / name).mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics / name)
            procs[name] = spawn(launcher.uvicorn_args(spec, settings), env, logs / f"{name}.log")
            urls[name] = f"http://{settings.host}:{settings.port}"
        for i in (1, 2):
            args = [sys.executable, "-m", "annals.cli.main", "projections", "run", "order_summary"]
            env = {**rig.env(), "ANNALS_PROJECTOR_SESSION_TIMEOUT_MS": "6000"}
            procs[f"projector{i}"] = spawn(args, env, logs / f"projector{i}.log")
        yield {
            "urls": urls,
            "procs": procs,
            "token": mint_token(settings, ["orders:write", "read"]),
        }
    finally:
        for proc in procs.values():
            end(proc)


async def ready(urls: dict[str, str], seconds: float = 90) -> None:
    """Wait until every service's /readyz answers 200."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        for url in urls.values():
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not become ready")
                await asyncio.sleep(0.3)


async def command(
    client: httpx.AsyncClient, tally: Tally, method: str, path: str, body: Any
) -> int | None:
    """One command until it is acknowledged (its stream version) or refused; None: not acked."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    backoff = Backoff(base=0.1, cap=2.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = await client.request(method, path, json=body, headers=headers)
        except httpx.HTTPError:
            tally.saw("orders", None)
        else:
            tally.saw("orders", answer.status_code)
            if answer.is_success:
                return int(answer.headers["etag"].strip('"'))
            if answer.status_code < 500:
                return None
        await backoff.sleep()
    tally.gave_up += 1
    return None


async def lifecycles(
    client: httpx.AsyncClient, tally: Tally, who: str, stop: asyncio.Event
) -> None:
    """Order lifecycles until `stop`: place, two items, confirm."""
    n = 0
    while not stop.is_set():
        n += 1
        oid = f"{who}-{n}"
        steps = [
            ("POST", "/orders", {"order_id": oid, "customer_id": who, "currency": "EUR"}),
            ("POST", f"/orders/{oid}/items", {"sku": "A", **ITEM}),
            ("POST", f"/orders/{oid}/items", {"sku": "B", **ITEM}),
            ("POST", f"/orders/{oid}/confirm", None),
        ]
        for method, path, body in steps:
            version = await command(client, tally, method, path, body)
            if version is None:
                break
            tally.commands += 1
            tally.acked[oid] = max(tally.acked.get(oid, 0), version)


async def reader(client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    """Reads acknowledged orders back through the query API (consistency token, 1 s wait)."""
    while not stop.is_set():
        if not tally.acked:
            await asyncio.sleep(0.1)
            continue
        oid, version = next(reversed(tally.acked.items()))
        token = {"X-Consistency-Token": f"order-{oid}@{version}"}
        try:
            answer = await client.get(f"/orders/{oid}?wait=1", headers=token)
            tally.saw("query", answer.status_code)
        except httpx.HTTPError:
            tally.saw("query", None)
        await asyncio.sleep(0.02)


Probe = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def place_probe(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    """A write through the orders service (a new order: the event store must answer)."""
    oid = f"probe{uuid.uuid4().hex[:12]}"
    return client.post("/orders", json={"order_id": oid, "customer_id": "probe", "currency": "EUR"})


def read_probe(order_id: str) -> Probe:
    """A read of the query API (its read-model pool must answer; 404 is an answer too)."""
    return lambda client: client.get(f"/orders/{order_id}")


async def recovery(
    url: str, probe: Probe, token: str, since: float, tally: Tally, service: str
) -> float:
    """Seconds from `since` to the first of PROBE_RUN consecutive answers (each on a new
    connection, PROBE_TIMEOUT s at most, any status below 500); PROBE_FOR when never.
    The probes' answers are counted with the load's."""
    auth = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_keepalive_connections=0)  # new connections reach every worker
    async with httpx.AsyncClient(
        base_url=url, headers=auth, timeout=PROBE_TIMEOUT, limits=limits
    ) as client:
        run_started, run = time.monotonic(), 0
        while time.monotonic() - since < PROBE_FOR:
            started = time.monotonic()
            try:
                status: int | None = (await probe(client)).status_code
            except httpx.HTTPError:
                status = None
            tally.saw(service, status)
            ok = status is not None and status < 500
            if not ok:
                run = 0
                await asyncio.sleep(0.05)
                continue
            run_started, run = (started, 1) if run == 0 else (run_started, run + 1)
            if run >= PROBE_RUN:
                return max(0.0, run_started - since)
    return PROBE_FOR


@contextlib.asynccontextmanager
async def load(urls: dict[str, str], token: str, tally: Tally) -> AsyncIterator[asyncio.Event]:
    """CLIENTS lifecycle clients and one reader, until the yielded event is set."""
    stop = asyncio.Event()
    auth = {"Authorization": f"Bearer {token}"}
    orders = httpx.AsyncClient(base_url=urls["orders"], headers=auth, timeout=TIMEOUT)
    query = httpx.AsyncClient(base_url=urls["query"], headers=auth, timeout=TIMEOUT)
    tag = uuid.uuid4().hex[:6]
    tasks = [
        asyncio.create_task(lifecycles(orders, tally, f"f{tag}c{i}", stop)) for i in range(CLIENTS)
    ]
    tasks.append(asyncio.create_task(reader(query, tally, stop)))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await orders.aclose()
        await query.aclose()


async def faults(stack: StackSettings, urls: dict[str, str], token: str, procs: dict[str, Any],
                 tally: Tally) -> dict[str, float]:  # fmt: skip
    """The run: PostgreSQL crash and restart, Kafka restart, projector kill -9, under load."""
    began = time.monotonic()
    out: dict[str, float] = {}
    await asyncio.sleep(PG_AT)
    if not DRY:
        await asyncio.to_thread(pg_crash, stack)
    await asyncio.sleep(PG_DOWN)
    if not DRY:
        await asyncio.to_thread(postgres.start, stack)
    back = time.monotonic()
    some = next(iter(tally.acked), "none")
    probes = [recovery(urls["orders"], place_probe, token, back, tally, "orders"),
              recovery(urls["query"], read_probe(some), token, back, tally, "query")]  # fmt: skip
    out["orders"], out["query"] = await asyncio.gather(*probes)
    await asyncio.sleep(max(0.0, KAFKA_AT - (time.monotonic() - began)))
    if not DRY:
        await asyncio.to_thread(kafka.stop, stack)
        await asyncio.to_thread(kafka.start, stack)
    await asyncio.sleep(max(0.0, KILL_AT - (time.monotonic() - began)))
    os.kill(procs["projector1"].pid, signal.SIGKILL)
    await asyncio.sleep(max(0.0, SECONDS - (time.monotonic() - began)))
    return out


async def lost(rig: sandbox.Rig, acked: dict[str, int]) -> tuple[int, int]:
    """Acknowledged commands missing from the event store, and from order_summary after
    catch-up (each command of a lifecycle appends one event: version n is the n-th command)."""
    streams = [f"order-{oid}" for oid in acked]
    store = await asyncpg.connect(rig.owner_dsn("orders"))
    try:
        rows = await store.fetch(
            "SELECT stream_id, version FROM eventstore.streams WHERE stream_id = ANY($1)", streams
        )
    finally:
        await store.close()
    stored = {r["stream_id"].removeprefix("order-"): r["version"] for r in rows}
    in_store = sum(max(0, v - stored.get(oid, 0)) for oid, v in acked.items())
    reads = await asyncpg.connect(rig.owner_dsn("readmodels"))
    deadline = time.monotonic() + CATCH_UP
    try:
        while True:
            rows = await reads.fetch(
                "SELECT order_id, version FROM readmodels.order_summary WHERE order_id = ANY($1)",
                list(acked),
            )
            seen = {r["order_id"]: r["version"] for r in rows}
            missing = sum(max(0, v - seen.get(oid, 0)) for oid, v in acked.items())
            if missing == 0 or time.monotonic() > deadline:
                return in_store, missing
            await asyncio.sleep(1)
    finally:
        await reads.close()


def restore(stack: StackSettings) -> None:
    """Leave the stack's servers running, whatever happened."""
    if not postgres.is_running(stack):
        postgres.start(stack)
    if not kafka.healthy(stack):
        kafka.start(stack)


async def run(stack: StackSettings, logs: Path) -> list[Result]:
    """Build the rig, run the load through the faults, count what was lost; the figures."""
    rig = await sandbox.create(stack, f"bf{uuid.uuid4().hex[:8]}")
    tally = Tally()
    try:
        async with platform(rig, logs) as live:
            await ready(live["urls"])
            async with rig.relay("orders"):  # through the catch-up: it publishes the last acks
                async with load(live["urls"], live["token"], tally):
                    recovered = await faults(
                        stack, live["urls"], live["token"], live["procs"], tally
                    )
                in_store, in_reads = await lost(rig, tally.acked)
    finally:
        if not DRY:
            await asyncio.to_thread(restore, stack)
        with contextlib.suppress(Exception):
            await sandbox.destroy(rig)
    return figures(tally, recovered, in_store, in_reads)


def figures(
    tally: Tally, recovered: dict[str, float], in_store: int, in_reads: int
) -> list[Result]:
    """The results in the harness's format: counts have no baseline and their goal as text."""
    a = tally.answers  # "5xx" excludes 503, counted apart
    since = "PostgreSQL restart -> {} workers answer again (200 in a row, 2 s each)"
    return [
        Result(f"commands acknowledged ({CLIENTS} clients, {SECONDS:.0f} s)", tally.commands,
               "commands"),
        Result("acknowledged but lost: not in the event store", in_store, "commands", None, "0"),
        Result("acknowledged but lost: not in order_summary after catch-up", in_reads, "commands",
               None, "0"),
        Result("5xx answers other than 503 (orders + query)", a["5xx"], "responses", None, "0"),
        Result("503 answers (orders + query)", a["503"], "responses"),
        Result("orders 4xx answers (none is expected)", a["orders:4xx"], "responses", None, "0"),
        Result("query 4xx answers (404: not applied within ?wait=1)", a["query:4xx"], "responses"),
        Result(f"requests without an answer within {TIMEOUT:.0f} s", a["none"], "requests", None,
               "0"),
        Result("commands given up after 30 s of retries", tally.gave_up, "commands", None, "0"),
        Result(since.format("orders"), recovered["orders"], "s", None, "<= 10 s"),
        Result(since.format("query"), recovered["query"], "s", None, "<= 10 s"),
        Result(since.format("all"), max(recovered.values()), "s", None, "<= 10 s"),
    ]  # fmt: skip


def main() -> None:
    """Run against ANNALS_STACK_* (a private stack) and write bench/results/faults.json."""
    stack = StackSettings()
    default = stack.dir.resolve() == (REPO_ROOT / ".stack").resolve()
    if default and not DRY and os.environ.get("BENCH_FAULTS_ON_DEFAULT_STACK") != "1":
        print("bench/faults restarts the stack's PostgreSQL and Kafka: set ANNALS_STACK_DIR to a"
              " stack of its own, or BENCH_FAULTS_ON_DEFAULT_STACK=1; skipped")  # fmt: skip
        return
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the broker restart, by the thousand
    logs = Path(tempfile.mkdtemp(prefix="annals-bench-faults-logs-"))
    print(f"logs of the platform's processes: {logs}")
    write_results("faults-dry" if DRY else "faults", asyncio.run(run(stack, logs)))


if __name__ == "__main__":
    main()
