"""bench/eventstore: appends, order lifecycle, bulk import and typed read_all vs raw baselines.

Two reference rows (bench/reference_paths.py) show what bare statements on the events table
reach in the same run, next to the store's appends and lifecycle.

Run `.venv/bin/python -m bench.eventstore`; needs the stack's PostgreSQL. Creates scratch
databases (dropped at the end) and writes bench/results/eventstore.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from annals.eventstore import NO_STREAM, Aggregate, DomainEvent, EventRegistry, NewEvent
from annals.eventstore.codec import EventCodec
from annals.eventstore.importer import import_file
from annals.eventstore.migrations import migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.repository import Repository
from annals.stack import scratch
from annals.stack.settings import StackSettings
from bench.baselines import (
    PAYLOAD,
    ensure_bench_database,
    pg_copy_rows_per_s,
    pg_insert_tps,
    settle,
)
from bench.harness import Result, percentile, write_results
from bench.reference_paths import bare_insert_rate, plain_lifecycle_rate

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
IMPORT_EVENTS = int(os.environ.get("BENCH_IMPORT_EVENTS", "200000"))
BIG_STORE_STREAMS = int(os.environ.get("BENCH_BIG_STORE_STREAMS", "1000000"))
OWNER, APP = "orders_owner", "orders_app"
STORE_TABLES = ("eventstore.events", "eventstore.streams")
ITEM = json.loads(PAYLOAD)


class OrderCreated(DomainEvent):
    """An order was created."""

    customer_id: str


class ItemAdded(DomainEvent):
    """An item line was added (the baseline's payload)."""

    sku: str
    quantity: int
    unit_price: str
    note: str


class OrderConfirmed(DomainEvent):
    """The order was confirmed."""


REGISTRY = EventRegistry([OrderCreated, ItemAdded, OrderConfirmed])


class Order(Aggregate[dict]):
    """Order lifecycle: created, items, confirmed."""

    stream_type = "order"

    @classmethod
    def initial_state(cls) -> dict:
        return {"created": False, "items": 0, "confirmed": False}

    @classmethod
    def evolve(cls, state: dict, event: DomainEvent) -> dict:
        if isinstance(event, OrderCreated):
            return {**state, "created": True}
        if isinstance(event, ItemAdded):
            return {**state, "items": state["items"] + 1}
        return {**state, "confirmed": True}


def decide_create(state: dict) -> list[DomainEvent]:
    """Create unless created."""
    assert not state["created"]
    return [OrderCreated(customer_id="c-1")]


def decide_add(state: dict) -> list[DomainEvent]:
    """Add an item to an open order."""
    assert state["created"] and not state["confirmed"]
    return [ItemAdded(**ITEM)]


def decide_confirm(state: dict) -> list[DomainEvent]:
    """Confirm an order with items."""
    assert state["items"] > 0 and not state["confirmed"]
    return [OrderConfirmed()]


LIFECYCLE = (decide_create, decide_add, decide_add, decide_add, decide_confirm)


async def run_for(workers: int, seconds: float, op: Callable[[int], Awaitable[int]]) -> float:
    """Run `op(worker)` in a loop on `workers` tasks for `seconds`; return operations/s."""
    deadline = time.perf_counter() + seconds
    counts = [0] * workers

    async def loop(w: int) -> None:
        while time.perf_counter() < deadline:
            counts[w] += await op(w)

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    return sum(counts) / (time.perf_counter() - started)


async def bench_appends(store: PostgresEventStore, writers: int) -> float:
    """Single-event appends with an exact expected version, one stream per writer."""
    tag = uuid.uuid4().hex[:8]
    versions = [0] * writers

    async def op(w: int) -> int:
        event = NewEvent("ItemAdded", ITEM)
        expected = versions[w] or NO_STREAM
        versions[w] = (await store.append(f"bench-{tag}-{w}", [event], expected)).version
        return 1

    return await run_for(writers, SECONDS, op)


async def bench_lifecycle(store: PostgresEventStore, workers: int) -> float:
    """Commands/s: each loads the order stream, decides and appends one event."""
    repo = Repository(store, EventCodec(REGISTRY, store.keys), Order)
    tag = uuid.uuid4().hex[:8]
    orders = [0] * workers

    async def op(w: int) -> int:
        stream = f"order-{tag}-{w}-{orders[w]}"
        for decide in LIFECYCLE:
            order = await repo.load(stream)
            order.execute(decide)
            await repo.save(order, {"correlation_id": stream})
        orders[w] += 1
        return len(LIFECYCLE)

    return await run_for(workers, SECONDS, op)


def write_import_file(path: Path, events: int, prefix: str = "legacy") -> None:
    """NDJSON history: orders of 5 events each."""
    with path.open("w") as out:
        for i in range(events):
            order, step = divmod(i, 5)
            kind, data = (
                ("OrderCreated", {"customer_id": f"c-{order}"})
                if step == 0
                else ("ItemAdded", ITEM)
                if step < 4
                else ("OrderConfirmed", {})
            )
            line = {"stream_id": f"{prefix}-{order}", "event_type": kind, "data": data}
            out.write(json.dumps(line) + "\n")


async def import_rate(dsn: str, events: int, prefix: str) -> float:
    """Events/s of `annals import` of a generated history file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.ndjson"
        write_import_file(path, events, prefix)
        return (await import_file(dsn, path)).rate


async def add_streams(dsn: str, count: int) -> None:
    """`count` more (empty) streams, so the next import meets a big store."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO eventstore.streams (stream_id, stream_type, version) "
            "SELECT 'filler-' || g, 'filler', 0 FROM generate_series(1, $1::int) g",
            count,
        )
        await conn.execute("ANALYZE eventstore.streams")
    finally:
        await conn.close()


async def bench_read_all(store: PostgresEventStore) -> tuple[float, int]:
    """Typed events/s of read_all from the start, decoded by the codec."""
    codec = EventCodec(REGISTRY, store.keys)
    count = 0
    started = time.perf_counter()
    async for page in store.catch_up(None, stream_types=["legacy"], batch_size=2000):
        count += len(await codec.decode(page))
    return count / (time.perf_counter() - started), count


async def bench_wakeup(store: PostgresEventStore, samples: int = 40) -> list[float]:
    """Latency (ms) from an append's return to the subscriber receiving the event."""
    head = None
    while page := await store.read_all(head, 10_000):
        head = page[-1].checkpoint
    sent: dict[uuid.UUID, float] = {}
    latencies: list[float] = []
    stream = f"wake-{uuid.uuid4().hex[:8]}"

    async def follow() -> None:
        async for event in store.subscribe_all(head, stream_types=["wake"]):
            latencies.append((time.perf_counter() - sent[event.event_id]) * 1000)
            if len(latencies) == samples:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    for _ in range(samples):
        event = NewEvent("Woken", {})
        sent[event.event_id] = time.perf_counter()
        await store.append(stream, [event])
        await asyncio.sleep(0.03)
    await asyncio.wait_for(task, 30)
    return latencies


async def scratch_database(settings: StackSettings) -> str:
    """Create and migrate a scratch event store; return its name."""
    name = await scratch.create_database(settings, "es_bench", OWNER, [APP])
    await migrate(settings.dsn(name, OWNER), APP)
    return name


async def drop_database(settings: StackSettings, name: str) -> None:
    """Drop a scratch database."""
    await scratch.drop_database(settings, name)


async def measure(settings: StackSettings) -> list[Result]:
    """Every figure of the issue, each with its raw baseline measured in this run."""
    raw_dsn = await ensure_bench_database(settings.dsn())
    name = await scratch_database(settings)
    results: list[Result] = []
    try:
        store_admin = settings.dsn(name)
        raw: dict[int, float] = {}
        for connections in (1, 8, 32):
            await settle(raw_dsn)
            raw[connections] = await pg_insert_tps(raw_dsn, connections, SECONDS)
        for writers in (1, 8, 32):
            await settle(store_admin, *STORE_TABLES)
            store = await PostgresEventStore.connect(
                settings.dsn(name, APP), min_size=writers + 1, max_size=writers + 2
            )
            try:
                rate = await bench_appends(store, writers)
            finally:
                await store.close()
            goal = 0.9 if writers == 8 else None
            results.append(
                Result(f"append 1 event, {writers} writers", rate, "tx/s", raw[writers], goal)
            )
        app_dsn = settings.dsn(name, APP)
        await settle(store_admin, *STORE_TABLES)
        rate = await bare_insert_rate(app_dsn, 8, SECONDS)
        results.append(Result("reference: bare INSERT into events, 8", rate, "tx/s", raw[8]))
        store = await PostgresEventStore.connect(app_dsn, min_size=9, max_size=10)
        try:
            await settle(store_admin, *STORE_TABLES)
            rate = await bench_lifecycle(store, 8)
            results.append(Result("order lifecycle, 8 concurrent", rate, "cmd/s", raw[8], 0.75))
            await settle(store_admin, *STORE_TABLES)
            rate = await plain_lifecycle_rate(app_dsn, 8, SECONDS)
            results.append(Result("reference: bare lifecycle, 8", rate, "cmd/s", raw[8]))
            copy_rate = await pg_copy_rows_per_s(raw_dsn, IMPORT_EVENTS)
            rate = await import_rate(settings.dsn(name, APP), IMPORT_EVENTS, "legacy")
            import_goal = ">= 100,000/s"
            results.append(Result("bulk import (COPY)", rate, "events/s", copy_rate, import_goal))
            await add_streams(settings.dsn(name, OWNER), BIG_STORE_STREAMS)
            rate = await import_rate(settings.dsn(name, APP), IMPORT_EVENTS, "history")
            label = f"bulk import, store of {BIG_STORE_STREAMS:,} streams"
            results.append(Result(label, rate, "events/s", copy_rate, import_goal))
            read_rate, count = await bench_read_all(store)
            assert count == IMPORT_EVENTS, count
            results.append(
                Result("read_all, typed events", read_rate, "events/s", None, ">= 100,000/s")
            )
            wake = await bench_wakeup(store)
            results.append(Result("subscriber wake-up p50", percentile(wake, 50), "ms"))
            results.append(Result("subscriber wake-up p99", percentile(wake, 99), "ms"))
        finally:
            await store.close()
    finally:
        await drop_database(settings, name)
    return results


def main() -> None:
    """Run against the running stack and write bench/results/eventstore.json."""
    write_results("eventstore", asyncio.run(measure(StackSettings())))


if __name__ == "__main__":
    main()
