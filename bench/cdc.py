"""bench/cdc: legacy changes from commit to Kafka through Debezium (throughput and latency).

Runs on a private copy of the legacy pipeline (legacy.sandbox: own schema, publication, slot,
connector and topics, all removed at the end), using the shipped legacy connector config.

1. baseline: raw single-row INSERT transactions/s into a legacy-shaped table that is not
   captured, with the same writers (what the database alone sustains);
2. live throughput: the same writers insert into the captured products table; changes/s from
   the first commit to the last record's append time in Kafka;
3. drain rate: with the connector paused, a backlog of changes is committed; after resume,
   changes/s between the first and the last append in Kafka (Debezium's own capacity);
4. latency: the legacy simulator at 200 changes/s (its mix of c/u/d); commit (source.ts_ms)
   -> Kafka append (record timestamp) and -> our consumer, p50/p99.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import asyncpg
from legacy.sandbox import Sandbox, sandbox
from legacy.simulator import Simulator

from annals.cdc import RowChange
from annals.stack.settings import StackSettings
from bench.harness import Result, percentile, write_results

WRITERS = 4
BASELINE_SECONDS = 5.0
THROUGHPUT_ROWS = 20_000
BACKLOG_ROWS = 40_000
LATENCY_RATE = 200.0
LATENCY_SECONDS = 20.0


async def _insert_rows(pool: asyncpg.Pool, table: str, rows: int, tag: str) -> tuple[float, float]:
    """Insert `rows` single-row transactions over WRITERS connections; (first, last) commit."""
    per_writer = rows // WRITERS
    first: list[float] = []

    async def writer(i: int) -> None:
        async with pool.acquire() as conn:
            stmt = await conn.prepare(
                f"INSERT INTO {table} (sku, name, category, unit_price) VALUES ($1, $2, $3, $4)"
            )
            for n in range(per_writer):
                await stmt.fetch(f"{tag}-{i}-{n:07d}", "bench item", "tools", Decimal("19.99"))
                if n == 0:
                    first.append(time.time())

    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return min(first), time.time()


async def baseline_insert_rate(box: Sandbox, pool: asyncpg.Pool) -> float:
    """Raw INSERT transactions/s into an uncaptured copy of products, for BASELINE_SECONDS."""
    table = box.where.table("baseline_products")
    await box.owner.execute(
        f"CREATE TABLE {table} (LIKE {box.where.table('products')} INCLUDING ALL)"
    )
    counts = [0] * WRITERS
    deadline = time.monotonic() + BASELINE_SECONDS

    async def writer(i: int) -> None:
        async with pool.acquire() as conn:
            stmt = await conn.prepare(
                f"INSERT INTO {table} (sku, name, category, unit_price) VALUES ($1, $2, $3, $4)"
            )
            while time.monotonic() < deadline:
                await stmt.fetch(f"b-{i}-{counts[i]}", "bench item", "tools", Decimal("19.99"))
                counts[i] += 1

    started = time.monotonic()
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    return sum(counts) / (time.monotonic() - started)


async def cdc_throughput(box: Sandbox, pool: asyncpg.Pool) -> tuple[float, float]:
    """(changes/s commit -> Kafka, writer changes/s) for THROUGHPUT_ROWS inserts."""
    rows = THROUGHPUT_ROWS - THROUGHPUT_ROWS % WRITERS
    first_commit, last_commit = await _insert_rows(pool, box.where.table("products"), rows, "t")
    last_append = max(await _appends(box, "products", rows))
    return rows / (last_append / 1000 - first_commit), rows / (last_commit - first_commit)


async def _appends(box: Sandbox, table: str, rows: int, timeout: float = 180) -> list[int]:
    """Kafka append times (ms) of the next `rows` streamed changes of a table."""
    appended: list[int] = []
    async with box.reader() as reader:
        deadline = time.monotonic() + timeout
        while len(appended) < rows and time.monotonic() < deadline:
            for event in await reader.poll():
                if not isinstance(event, RowChange) or event.source.table != table:
                    continue
                if event.position is not None and event.position.timestamp_ms:
                    appended.append(event.position.timestamp_ms)
    if len(appended) < rows:
        raise RuntimeError(f"only {len(appended)} of {rows} changes reached Kafka in {timeout}s")
    return appended


async def cdc_drain_rate(box: Sandbox) -> float:
    """Changes/s Debezium moves to Kafka from a backlog committed while it was paused."""
    await asyncio.to_thread(box.connect.pause, box.name)
    await _wait_state(box, "PAUSED")
    table = box.where.table("stock_levels")
    await box.owner.execute(
        f"INSERT INTO {box.where.table('products')} (sku, name, category, unit_price) "
        "VALUES ('DRAIN', 'drain', 'tools', 1)"
    )
    for start in range(0, BACKLOG_ROWS, 100):  # 100-row transactions, like a batch job
        await box.owner.execute(
            f"INSERT INTO {table} (sku, warehouse, quantity) "
            f"SELECT 'DRAIN', 'W' || g, g FROM generate_series({start}, {start + 99}) g"
        )
    resumed = time.time()
    await asyncio.to_thread(box.connect.resume, box.name)
    appended = await _appends(box, "stock_levels", BACKLOG_ROWS)
    return len(appended) / (max(appended) / 1000 - resumed)


async def _wait_state(box: Sandbox, state: str, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            status = await asyncio.to_thread(box.connect.status, box.name)
            if status.state == state and all(t.state == state for t in status.tasks):
                return
            await asyncio.sleep(0.25)


async def cdc_latency(box: Sandbox) -> tuple[list[float], list[float], float]:
    """(commit -> Kafka ms, commit -> consumer ms, achieved rate) at LATENCY_RATE changes/s."""
    to_kafka: list[float] = []
    to_consumer: list[float] = []
    stop, caught_up = asyncio.Event(), asyncio.Event()
    phase_start_ms = float("inf")

    async def consume() -> None:
        had_data = False
        async with box.reader() as reader:
            while not stop.is_set():
                events = await reader.poll(timeout_ms=100)
                now_ms = time.time() * 1000
                if events:
                    had_data = True
                elif had_data:  # read the earlier phases' records to the end
                    caught_up.set()
                for event in events:
                    if not isinstance(event, RowChange) or event.is_snapshot:
                        continue
                    if event.source.table == "debezium_heartbeat" or event.position is None:
                        continue
                    committed = event.source.ts_ms
                    if committed < phase_start_ms:  # the throughput phase, read late
                        continue
                    to_kafka.append(float((event.position.timestamp_ms or 0) - committed))
                    to_consumer.append(now_ms - committed)

    # every table's topic exists before the run: a consumer discovers a new topic only at its
    # next metadata refresh, which would add up to a second to the first changes of that table
    await box.owner.execute(
        f"INSERT INTO {box.where.table('legacy_customers')} (legacy_id, customer_no, full_name) "
        "VALUES (0, 'C-WARMUP', 'warm up')"
    )
    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(120):  # the reader is past the earlier phases' records
        await caught_up.wait()
    phase_start_ms = time.time() * 1000
    simulator = Simulator(box.owner, box.where, seed=7)
    summary = await simulator.run(rate=LATENCY_RATE, duration=LATENCY_SECONDS)
    async with asyncio.timeout(60):
        while True:
            if len(to_kafka) >= summary.changes:
                break
            await asyncio.sleep(0.2)
    stop.set()
    await consumer
    return to_kafka, to_consumer, summary.rate


async def main() -> None:
    """Run the three phases on a sandbox and write bench/results/cdc.json."""
    stack = StackSettings()
    async with sandbox(stack, "b" + uuid.uuid4().hex[:10]) as box:
        dsn = stack.dsn("legacy_erp", "legacy_app")
        pool = await asyncpg.create_pool(dsn, min_size=WRITERS, max_size=WRITERS)
        try:
            raw = await baseline_insert_rate(box, pool)
            await box.start()
            through, writer_rate = await cdc_throughput(box, pool)
        finally:
            await pool.close()
        drain = await cdc_drain_rate(box)
        to_kafka, to_consumer, rate = await cdc_latency(box)
    live, writers = "CDC throughput, 4 live writers", "writers' rate while captured"
    results = [
        Result(live, through, "changes/s", raw, "≈ writers' rate"),
        Result(writers, writer_rate, "changes/s", raw),
        Result("CDC drain rate, 40k backlog", drain, "changes/s", raw),
        Result("simulator rate (latency run)", rate, "changes/s", goal=LATENCY_RATE),
        Result("commit -> Kafka latency p50 @200/s", percentile(to_kafka, 50), "ms"),
        Result("commit -> Kafka latency p99 @200/s", percentile(to_kafka, 99), "ms"),
        Result("commit -> consumer latency p50 @200/s", percentile(to_consumer, 50), "ms"),
        Result("commit -> consumer latency p99 @200/s", percentile(to_consumer, 99), "ms"),
    ]
    write_results("cdc", results)


if __name__ == "__main__":
    asyncio.run(main())
