"""bench/projections: live projection rate, rebuild from the store, command-to-query freshness.

Goals are ratios to reference paths of the same run (bench/reference_paths): the live worker
to a consumer that decodes the topic and upserts rows with executemany (no projection logic),
rebuilds to one ordered scan of the store decoding each row's JSON, the import to a COPY into a
table with the events table's indexes.

Run `.venv/bin/python -m bench.projections`; needs the stack (PostgreSQL, Kafka). Every phase
runs on a private sandbox (scratch databases, own topics) that is removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from orders.settings import OrdersSettings
from projector.daily_sales import PROJECTION as DAILY_SALES
from projector.order_summary import PROJECTION as ORDER_SUMMARY

from annals.eventstore.importer import import_file
from annals.messaging.security import client_security
from annals.projections.rebuild import Rebuild, partitions_of, stop_consumer
from annals.projections.sandbox import Rig, create, destroy, live_schema, produce, recorded
from annals.projections.worker import Worker
from annals.stack.settings import REPO_ROOT, StackSettings
from annals.web.auth import mint_token
from bench.harness import Result, percentile, write_results
from bench.reference_paths import decode_upsert_rate, decoded_scan_rate, indexed_copy_rate

LIVE_ORDERS = int(os.environ.get("BENCH_LIVE_ORDERS", "40000"))  # x 5 events
REBUILD_EVENTS = int(os.environ.get("BENCH_REBUILD_EVENTS", "1000000"))
FRESH_RATE = int(os.environ.get("BENCH_FRESH_RATE", "300"))  # commands/s
FRESH_SECONDS = int(os.environ.get("BENCH_FRESH_SECONDS", "20"))
EUR = {"currency": "EUR"}


def order_history(order_id: str, at: datetime) -> list[tuple[str, dict]]:
    """(event type, data) of one order: placed, two items, confirmed, shipped."""
    item = {"order_id": order_id, "quantity": 2, "unit_price": {"amount": "12.50", **EUR}}
    return [
        ("OrderPlaced", {"order_id": order_id, "customer_id": f"c{hash(order_id) % 500}", **EUR}),
        ("ItemAdded", {**item, "sku": "SKU-1"}),
        ("ItemAdded", {**item, "sku": "SKU-2"}),
        ("OrderConfirmed", {"order_id": order_id, "total": {"amount": "50.00", **EUR}}),
        ("OrderShipped", {"order_id": order_id}),
    ]


async def live_throughput(rig: Rig) -> list[Result]:
    """One worker process applying order_summary from Kafka, vs a raw consumer of the topic."""
    now = datetime.now(UTC)
    events = [
        recorded(f"order-l{i}", v, kind, data, now)
        for i in range(LIVE_ORDERS)
        for v, (kind, data) in enumerate(order_history(f"l{i}", now), 1)
    ]
    topic = rig.topic("orders.events")
    await produce(rig.stack.kafka_bootstrap, topic, "orders", events)
    raw = await raw_consume_rate(rig.stack.kafka_bootstrap, topic, len(events))
    rate = await live_rate(rig, len(events))
    schema = await live_schema(rig.owner_dsn("readmodels"), ORDER_SUMMARY.name)
    reference = await decode_upsert_rate(
        rig.stack.kafka_bootstrap, topic, len(events),
        rig.stack.dsn(rig.databases["readmodels"]), f'"{schema}".order_summary',
    )  # fmt: skip
    return [
        Result("reference: bare consume (no work)", raw, "records/s"),
        Result("reference: decode + executemany upsert", reference, "records/s"),
        Result("live order_summary (1 process)", rate, "events/s", reference, 0.7),
    ]


async def live_rate(rig: Rig, count: int) -> float:
    """Events/s of one projector worker applying order_summary from the first record."""
    worker = Worker(ORDER_SUMMARY, rig.settings(batch_records=5000, batch_ms=20))
    task = asyncio.create_task(worker.run())
    try:
        while worker.records < count:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        assert worker.first_record_at is not None
        return count / (time.monotonic() - worker.first_record_at)
    finally:
        worker.stop()
        await task


async def raw_consume_rate(bootstrap: str, topic: str, count: int) -> float:
    """Records/s of a bare aiokafka consumer reading the topic from the start (no work)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **client_security("admin"),
        enable_auto_commit=False, max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await stop_consumer(consumer)


def ndjson(path: Path, events: int) -> None:
    """An import file of order histories (5 events each), spread over the last 30 days."""
    start = datetime.now(UTC) - timedelta(days=30)
    with path.open("w") as out:
        for i in range(events // 5):
            at = (start + timedelta(seconds=i * 2.5)).isoformat()
            for kind, data in order_history(f"r{i}", start):
                line = {"stream_id": f"order-r{i}", "event_type": kind, "data": data,
                        "recorded_at": at}  # fmt: skip
                out.write(json.dumps(line) + "\n")


async def rebuild_from_store(rig: Rig) -> list[Result]:
    """Rebuild order_summary and daily_sales from 1,000,000 stored events."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.ndjson"
        ndjson(path, REBUILD_EVENTS)
        imported = await import_file(rig.app_dsn("orders"), path)
    scan, scanned = await decoded_scan_rate(rig.app_dsn("orders"))
    assert scanned == REBUILD_EVENTS, scanned
    copy = await indexed_copy_rate(rig.stack.dsn(rig.databases["orders"]), REBUILD_EVENTS // 5)
    settings = rig.settings()
    out = [
        Result("reference: COPY into an indexed events table", copy, "rows/s"),
        Result(
            f"import {REBUILD_EVENTS:,} events (COPY importer)",
            imported.rate,
            "events/s",
            copy,
            0.8,
        ),
        Result("reference: ordered scan, JSON decoded", scan, "events/s"),
    ]
    for projection in (ORDER_SUMMARY, DAILY_SALES):
        result = await Rebuild(projection, settings, source="store").run()
        assert result.store_events == REBUILD_EVENTS, result
        rate = result.store_events / result.seconds
        out.append(
            Result(
                f"rebuild {projection.name} from store ({REBUILD_EVENTS:,})",
                rate,
                "events/s",
                scan,
                0.7,
            )
        )
    return out


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PROCESSES = ("orders", "relay", "projector", "query")


class Processes:
    """The orders API, its relay, a projector and the query API as real processes."""

    def __init__(self, rig: Rig, log_dir: Path) -> None:
        self.rig = rig
        self.log_dir = log_dir
        self.orders_port, self.query_port = free_port(), free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self.projections: tuple[str, ...] = ("order_summary",)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.names.append(name)
        self.procs.append(
            subprocess.Popen(
                args, env={**os.environ, **env}, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        )

    def _uvicorn(self, name: str, workers: int, port: int, app: str, env: dict[str, str]) -> None:
        args = [sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1",
                "--workers", str(workers), "--no-access-log", "--log-level", "warning",
                "--port", str(port), app]  # fmt: skip
        self._start(name, args, env)

    def start(
        self, only: tuple[str, ...] = PROCESSES, orders_workers: int = 1, query_workers: int = 1
    ) -> None:
        """Start the processes named in `only` (default: all four)."""
        rig, py = self.rig, sys.executable
        if "orders" in only:
            self._uvicorn("orders", orders_workers, self.orders_port,
                          "orders.entrypoints.app:create_app", {
                "ANNALS_ORDERS_DATABASE": rig.databases["orders"],
                "ANNALS_ORDERS_DSN": rig.app_dsn("orders"),
                "ANNALS_ORDERS_OWNER_DSN": rig.owner_dsn("orders"),
            })  # fmt: skip
        if "relay" in only:
            self._start("relay", [py, "-m", "annals.cli.main", "publish", "orders"], {
                "ANNALS_ORDERS_DSN": rig.app_dsn("orders"),
                "ANNALS_ORDERS_OWNER_DSN": rig.owner_dsn("orders"),
                "ANNALS_ORDERS_TOPIC": rig.topic("orders.events"),
                "ANNALS_ORDERS_PUBLISHER_NAME": f"{rig.prefix}orders",
            })  # fmt: skip
        if "projector" in only:
            self._start("projector", [py, "-m", "annals.cli.main", "projections", "run",
                                      *self.projections], rig.env())  # fmt: skip
        if "query" in only:
            self._uvicorn("query", query_workers, self.query_port, "query.app:create_app", {
                "ANNALS_QUERY_DATABASE": rig.databases["readmodels"],
                "ANNALS_QUERY_DSN": rig.app_dsn("readmodels"),
            })  # fmt: skip

    def stop(self) -> None:
        """Stop every process."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def freshness(stack: StackSettings) -> list[Result]:
    """HTTP PlaceOrder accepted -> visible in the query API, at FRESH_RATE commands/s."""
    rig = await create(stack, uuid.uuid4().hex[:12])
    with tempfile.TemporaryDirectory() as folder:
        procs = Processes(rig, Path(folder))
        try:
            procs.start()
            return await _measure(procs)
        except BaseException:
            _show_logs(Path(folder))
            raise
        finally:
            procs.stop()
            await destroy(rig)


def _show_logs(folder: Path) -> None:
    for log in folder.glob("*.log"):
        print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client: a load generator must cost little CPU itself."""

    def __init__(self, host: str, port: int, auth: str, size: int) -> None:
        self.host, self.port, self.auth = host, port, auth
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.size = size
        self.opened = 0

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body of one request."""
        if self.idle.empty() and self.opened < self.size:
            self.opened += 1
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
        reader, writer = await self.idle.get()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {self.auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        ).encode() + body
        writer.write(head)
        status_line = await reader.readline()
        if not status_line:  # the server closed the idle connection before reading: send again
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(head)
            status_line = await reader.readline()
        found: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            found[name.strip().lower()] = value.strip()
        content = await reader.readexactly(int(found.get("content-length", "0")))
        self.idle.put_nowait((reader, writer))
        return int(status_line.split()[1]), found, content

    async def close(self) -> None:
        """Close the idle connections."""
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def _measure(procs: Processes) -> list[Result]:
    auth = "Bearer " + mint_token(OrdersSettings(), ["orders:write", "read"])
    orders = RawHttp("127.0.0.1", procs.orders_port, auth, 200)
    query = RawHttp("127.0.0.1", procs.query_port, auth, 400)
    try:
        await _ready(procs)
        for i in range(20):  # warm up: the projector joined its group and applies
            await _one(orders, query, f"warm{i}-{uuid.uuid4().hex[:6]}", [], [])
        latencies: list[float] = []
        accepted: list[float] = []
        tasks = []
        started = time.perf_counter()
        for n in range(FRESH_RATE * FRESH_SECONDS):
            delay = started + n / FRESH_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            one = _one(orders, query, f"f{n}-{uuid.uuid4().hex[:6]}", latencies, accepted)
            tasks.append(asyncio.create_task(one))
        sent = len(tasks) / (time.perf_counter() - started)
        await asyncio.gather(*tasks)
    finally:
        await orders.close()
        await query.close()
    ms = [x * 1000 for x in latencies]
    return [
        Result("freshness p50 (command -> query)", percentile(ms, 50), "ms"),
        Result("freshness p99 (command -> query)", percentile(ms, 99), "ms"),
        Result("command latency p50 (baseline)", percentile([a * 1e3 for a in accepted], 50), "ms"),
        Result(f"commands sent (asked {FRESH_RATE}/s)", sent, "commands/s"),
    ]


async def _ready(procs: Processes) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient() as client:
        for port in (procs.orders_port, procs.query_port):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"port {port} did not become ready")
                await asyncio.sleep(0.2)


async def _one(
    orders: RawHttp, query: RawHttp, order_id: str, latencies: list[float], accepted: list[float]
) -> None:
    sent = time.perf_counter()
    body = json.dumps({"order_id": order_id, "customer_id": "c1", "currency": "EUR"}).encode()
    status, headers, text = await orders.request("POST", "/orders", body)
    assert status == 201, text
    done = time.perf_counter()
    token = f"X-Consistency-Token: order-{order_id}@{headers['etag'].strip(chr(34))}\r\n"
    status, headers, text = await query.request("GET", f"/orders/{order_id}?wait=10", b"", token)
    assert status == 200 and headers.get("x-consistency") == "satisfied", text
    latencies.append(time.perf_counter() - done)
    accepted.append(done - sent)


async def main(only: set[str]) -> None:
    stack = StackSettings()
    results: list[Result] = []
    rig = await create(stack, uuid.uuid4().hex[:12])
    try:
        for name, phase in (("live", live_throughput), ("rebuild", rebuild_from_store)):
            if not only or name in only:
                print(f"== {name}", flush=True)
                results += await phase(rig)
                print(
                    "\n".join(f"   {r.name}: {r.value:,.1f} {r.unit}" for r in results), flush=True
                )
    finally:
        await destroy(rig)
    if not only or "freshness" in only:
        print("== freshness", flush=True)
        results += await freshness(stack)
    write_results("projections", results)


if __name__ == "__main__":
    asyncio.run(main(set(sys.argv[1:])))
