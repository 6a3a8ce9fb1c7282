"""Reference paths: the least each benchmarked path must do, measured on the same server.

None is an event store or a projection: no expected-version check, no stream row, no typed
decoding, no projection logic, prepared statements on dedicated connections. Each is the
physical limit of one figure's work on this machine in this run (issue 15), so a figure's goal
is a ratio to its reference rather than an absolute rate that holds on one machine only:

- bare INSERT into the events table (appends) and the bare lifecycle (SELECT + INSERT);
- COPY into a table with the events table's columns and indexes (bulk import);
- one ordered scan of the events table decoding each row's JSON (read_all, rebuilds);
- a consumer that decodes the topic and upserts read-model rows with executemany (projections).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from annals.messaging.security import client_security
from annals.projections.rebuild import partitions_of
from bench.baselines import PAYLOAD

INSERT = """
INSERT INTO eventstore.events
    (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
VALUES ($1, 'reference', $2, $3, 'ItemAdded', 1, $4::jsonb, '{}')
RETURNING global_position
"""
LOAD = "SELECT version, data FROM eventstore.events WHERE stream_id = $1 ORDER BY version"


async def _run(dsn: str, workers: int, seconds: float, lifecycle: bool) -> float:
    conns = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(workers)))
    tag = uuid.uuid4().hex[:8]
    counts = [0] * workers
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        conn = conns[w]
        insert, load = await conn.prepare(INSERT), await conn.prepare(LOAD)
        stream, version = 0, 0
        while time.perf_counter() < deadline:
            sid = f"reference-{tag}-{w}-{stream}"
            if lifecycle:
                rows = await load.fetch(sid)
                _ = [json.loads(r[1]) for r in rows]
                version = len(rows)
            version += 1
            await insert.fetch(sid, version, uuid.uuid4(), PAYLOAD)
            counts[w] += 1
            if lifecycle and version == 5:
                stream, version = stream + 1, 0

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(workers)))
        return sum(counts) / (time.perf_counter() - started)
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def bare_insert_rate(dsn: str, workers: int, seconds: float) -> float:
    """One-row INSERTs into the events table, transactions/s."""
    return await _run(dsn, workers, seconds, lifecycle=False)


async def plain_lifecycle_rate(dsn: str, workers: int, seconds: float) -> float:
    """Commands/s of a bare lifecycle: SELECT the stream, then INSERT the next version."""
    return await _run(dsn, workers, seconds, lifecycle=True)


COPY_COLUMNS = ["stream_id", "stream_type", "version", "event_id", "event_type", "data", "metadata"]


async def indexed_copy_rate(admin_dsn: str, rows: int) -> float:
    """Rows/s of one COPY into a fresh table LIKE eventstore.events (columns, defaults, indexes).

    `admin_dsn` is a superuser DSN of a migrated event store; the table is dropped afterwards.
    """
    records = [
        (f"copy-{i // 5}", "copy", i % 5 + 1, uuid.uuid4(), "ItemAdded", PAYLOAD, "{}")
        for i in range(rows)
    ]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            "CREATE SCHEMA IF NOT EXISTS bench_ref; DROP TABLE IF EXISTS bench_ref.events;"
            "CREATE TABLE bench_ref.events (LIKE eventstore.events INCLUDING ALL)"
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "events", schema_name="bench_ref", records=records, columns=COPY_COLUMNS
        )
        return rows / (time.perf_counter() - started)
    finally:
        await conn.execute("DROP SCHEMA IF EXISTS bench_ref CASCADE")
        await conn.close()


SCAN = """
SELECT global_position, tx_id, stream_id, version, event_type, data FROM eventstore.events
 WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx_id, global_position
"""


async def decoded_scan_rate(dsn: str) -> tuple[float, int]:
    """Rows/s of one ordered scan of the whole events table, json.loads of each row's data."""
    conn = await asyncpg.connect(dsn)
    try:
        seen = 0
        started = time.perf_counter()
        async with conn.transaction(readonly=True):
            async for row in conn.cursor(SCAN, prefetch=5000):
                _ = json.loads(row[5])
                seen += 1
        return seen / (time.perf_counter() - started), seen
    finally:
        await conn.close()


UPSERT_COLUMNS = (
    "order_id, customer_id, status, currency, line_count, item_count, subtotal, discount, total, "
    "lines, placed_at, updated_at, version"
)
UPSERT = f"""
INSERT INTO bench_ref.order_summary ({UPSERT_COLUMNS})
VALUES ($1, $2, $3, 'EUR', 0, 0, 0, 0, 0, '[]', $4::text::timestamptz, $4::text::timestamptz, $5)
ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, version = excluded.version,
    updated_at = excluded.updated_at
"""
POSITION = """
INSERT INTO bench_ref.positions (topic, partition, next_offset) VALUES ($1, $2, $3)
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset
"""


async def _reference_tables(conn: asyncpg.Connection, like: str) -> None:
    await conn.execute(
        "CREATE SCHEMA IF NOT EXISTS bench_ref; DROP TABLE IF EXISTS bench_ref.order_summary;"
        f"CREATE TABLE bench_ref.order_summary (LIKE {like} INCLUDING ALL);"
        "CREATE TABLE IF NOT EXISTS bench_ref.positions (topic text, partition int, "
        "next_offset bigint, PRIMARY KEY (topic, partition))"
    )


def _upsert_args(value: bytes) -> tuple[str, str, str, str, int]:
    event = json.loads(value)
    data = event["data"]
    customer = data.get("customer_id", "")
    return data["order_id"], customer, event["type"], event["time"], event["streamversion"]


async def decode_upsert_rate(
    bootstrap: str, topic: str, count: int, admin_dsn: str, like: str
) -> float:
    """Records/s of a consumer that decodes each CloudEvent and upserts one row per record.

    Rows go to a copy of the `like` table (its columns and indexes) with executemany, one
    transaction per fetched batch that also stores the batch's offsets: what effectively-once
    delivery into a read model costs, without any projection logic.
    """
    conn = await asyncpg.connect(admin_dsn)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **client_security("admin"),
        enable_auto_commit=False, max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    try:
        await _reference_tables(conn, like)
        upsert, position = await conn.prepare(UPSERT), await conn.prepare(POSITION)
        await consumer.start()
        parts = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen, started = 0, 0.0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batch and not started:
                started = time.perf_counter()
            for tp, records in batch.items():
                async with conn.transaction():
                    await upsert.executemany([_upsert_args(r.value) for r in records])
                    await position.fetch(tp.topic, tp.partition, records[-1].offset + 1)
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await conn.execute("DROP SCHEMA IF EXISTS bench_ref CASCADE")
        await conn.close()
