"""bench/eventstore: appends, order lifecycle, bulk import and typed read_all vs their references.

Each figure's goal is a ratio to a reference path measured in the same run (bench/reference_paths),
the appends, lifecycles and read_all as medians of ROUNDS rounds that alternate them with their
references: appends to a bare INSERT into the events table, the lifecycle (with and without the
aggregate cache) to a bare SELECT + INSERT lifecycle, the import to a COPY into a table with the
events table's indexes, read_all to one ordered scan decoding each row's JSON.

Run `.venv/bin/python -m bench.eventstore`; needs the stack's PostgreSQL. Creates scratch
databases (dropped at the end) and writes bench/results/eventstore.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from annals.eventstore import NO_STREAM, NewEvent
from annals.eventstore.codec import EventCodec
from annals.eventstore.importer import import_file
from annals.eventstore.migrations import migrate
from annals.eventstore.postgres import PostgresEventStore
from annals.stack import scratch
from annals.stack.settings import StackSettings
from bench.baselines import ensure_bench_database, pg_insert_tps, settle
from bench.harness import Result, percentile, write_results
from bench.lifecycle import ITEM, REGISTRY, lifecycle
from bench.reference_paths import (
    bare_insert_rate,
    decoded_scan_rate,
    indexed_copy_rate,
    plain_lifecycle_rate,
)

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(
    os.environ.get("BENCH_ROUNDS", "3")
)  # alternating rounds of a figure and its reference
IMPORT_EVENTS = int(os.environ.get("BENCH_IMPORT_EVENTS", "200000"))
BIG_STORE_STREAMS = int(os.environ.get("BENCH_BIG_STORE_STREAMS", "1000000"))
CACHE_SIZE = 10_000
OWNER, APP = "orders_owner", "orders_app"
STORE_TABLES = ("eventstore.events", "eventstore.streams")


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
    async for page in store.catch_up(None, batch_size=2000):
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
    """Every figure of the issue, each with its reference path measured in this run."""
    raw_dsn = await ensure_bench_database(settings.dsn())
    name = await scratch_database(settings)
    try:
        return await _measure(settings, raw_dsn, name)
    finally:
        await drop_database(settings, name)


async def _measure(settings: StackSettings, raw_dsn: str, name: str) -> list[Result]:
    admin, app_dsn = settings.dsn(name), settings.dsn(name, APP)
    raw: dict[int, float] = {}
    for connections in (1, 8, 32):
        await settle(raw_dsn)
        raw[connections] = await pg_insert_tps(raw_dsn, connections, SECONDS)
    results = [Result(f"raw INSERT, {n} conn (no index)", raw[n], "tx/s") for n in (1, 8, 32)]
    for writers in (1, 32):
        rate = await _appends(admin, app_dsn, writers)
        results.append(Result(f"append 1 event, {writers} writers", rate, "tx/s", raw[writers]))
    bare, rate = await alternate(
        admin, lambda: bare_insert_rate(app_dsn, 8, SECONDS), lambda: _appends(admin, app_dsn, 8)
    )
    results.append(Result("reference: bare INSERT into events, 8", bare, "tx/s", raw[8]))
    results.append(Result("append 1 event, 8 writers", rate, "tx/s", bare, 0.9))
    store = await PostgresEventStore.connect(app_dsn, min_size=9, max_size=10)
    try:
        results += await _lifecycles(store, admin, app_dsn)
        results += await _import_and_read(store, admin, settings.dsn(name, OWNER), app_dsn)
        wake = await bench_wakeup(store)
        results.append(Result("subscriber wake-up p50", percentile(wake, 50), "ms"))
        results.append(Result("subscriber wake-up p99", percentile(wake, 99), "ms"))
    finally:
        await store.close()
    return results


async def _appends(admin: str, app_dsn: str, writers: int) -> float:
    await settle(admin, *STORE_TABLES)
    store = await PostgresEventStore.connect(app_dsn, min_size=writers + 1, max_size=writers + 2)
    try:
        return await bench_appends(store, writers)
    finally:
        await store.close()


async def alternate(admin: str, *runs: Callable[[], Awaitable[float]]) -> list[float]:
    """The median rate of each run over ROUNDS rounds that alternate them, settled before each.

    A slow moment of this shared machine then lands on every side instead of on one.
    """
    rates: list[list[float]] = [[] for _ in runs]
    for _ in range(ROUNDS):
        for i, run in enumerate(runs):
            await settle(admin, *STORE_TABLES)
            rates[i].append(await run())
    return [statistics.median(r) for r in rates]


async def _lifecycles(store: PostgresEventStore, admin: str, app_dsn: str) -> list[Result]:
    async def plain_rate() -> float:
        return (await lifecycle(store, 8, SECONDS, cache_size=0)).rate

    async def cached_rate() -> float:
        return (await lifecycle(store, 8, SECONDS, cache_size=CACHE_SIZE)).rate

    bare, plain, cached = await alternate(
        admin, lambda: plain_lifecycle_rate(app_dsn, 8, SECONDS), plain_rate, cached_rate
    )
    return [
        Result("reference: bare lifecycle, 8", bare, "cmd/s"),
        Result("order lifecycle, 8 concurrent, no cache", plain, "cmd/s", bare, 0.9),
        Result("order lifecycle, 8 concurrent, aggregate cache", cached, "cmd/s", bare, 1.3),
    ]


async def _import_and_read(
    store: PostgresEventStore, admin: str, owner_dsn: str, app_dsn: str
) -> list[Result]:
    await settle(admin, *STORE_TABLES)
    copy_rate = await indexed_copy_rate(admin, IMPORT_EVENTS)
    out = [Result("reference: COPY into an indexed events table", copy_rate, "rows/s")]
    await settle(admin, *STORE_TABLES)
    rate = await import_rate(app_dsn, IMPORT_EVENTS, "legacy")
    out.append(Result("bulk import (COPY)", rate, "events/s", copy_rate, 0.8))
    await add_streams(owner_dsn, BIG_STORE_STREAMS)
    await settle(admin, *STORE_TABLES)
    rate = await import_rate(app_dsn, IMPORT_EVENTS, "history")
    label = f"bulk import, store of {BIG_STORE_STREAMS:,} streams"
    out.append(Result(label, rate, "events/s", copy_rate, 0.8))
    scanned = 0

    async def scan_rate() -> float:
        nonlocal scanned
        rate, scanned = await decoded_scan_rate(app_dsn)
        return rate

    async def typed_rate() -> float:
        rate, count = await bench_read_all(store)
        assert count == scanned, (count, scanned)
        return rate

    scan, read_rate = await alternate(admin, scan_rate, typed_rate)
    out.append(Result("reference: ordered scan, JSON decoded", scan, "events/s"))
    out.append(Result("read_all, typed events", read_rate, "events/s", scan, 0.8))
    return out


def main() -> None:
    """Run against the running stack and write bench/results/eventstore.json."""
    write_results("eventstore", asyncio.run(measure(StackSettings())))


if __name__ == "__main__":
    main()
