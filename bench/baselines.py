"""Raw baselines that every other benchmark measures in its own run: PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import json
import os
import time

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from annals.messaging.security import client_security

PAYLOAD = json.dumps({"sku": "SKU-000042", "quantity": 3, "unit_price": "19.99", "note": "x" * 120})


async def ensure_bench_database(admin_dsn: str) -> str:
    """Create the scratch database `annals_bench` if missing; return its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'annals_bench'")
        if not exists:
            await conn.execute("CREATE DATABASE annals_bench")
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + "/annals_bench"


async def settle(dsn: str, *tables: str) -> None:
    """VACUUM (ANALYZE) `tables` and CHECKPOINT (superuser `dsn`), so that the writes of one
    measurement (dirty pages, dead tuples, autovacuum) are not paid for by the next one."""
    conn = await asyncpg.connect(dsn)
    try:
        if tables:
            await conn.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def pg_insert_tps(dsn: str, connections: int, seconds: float = 5.0) -> float:
    """Raw one-row INSERT transactions per second (autocommit) over `connections` connections."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    assert pool is not None
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_insert (id bigint GENERATED ALWAYS AS IDENTITY, "
            "stream_id text NOT NULL, data jsonb NOT NULL)"
        )
    deadline = time.perf_counter() + seconds
    counts = [0] * connections

    async def worker(i: int) -> None:
        async with pool.acquire() as conn:
            stmt = await conn.prepare("INSERT INTO raw_insert (stream_id, data) VALUES ($1, $2)")
            while time.perf_counter() < deadline:
                await stmt.fetch(f"s-{i}", PAYLOAD)
                counts[i] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE raw_insert")
    await pool.close()
    return sum(counts) / elapsed


async def pg_copy_rows_per_s(dsn: str, rows: int = 200_000) -> float:
    """Raw COPY rows per second into a table shaped like an event row."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_copy (id bigint GENERATED ALWAYS AS IDENTITY, "
            "stream_id text NOT NULL, version int NOT NULL, data jsonb NOT NULL)"
        )
        records = [(f"s-{i // 10}", i % 10 + 1, PAYLOAD) for i in range(rows)]
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "raw_copy", records=records, columns=["stream_id", "version", "data"]
        )
        elapsed = time.perf_counter() - started
        await conn.execute("TRUNCATE raw_copy")
    finally:
        await conn.close()
    return rows / elapsed


async def kafka_produce_rps(
    bootstrap: str,
    topic: str,
    records: int = 50_000,
    value_size: int = 1024,
    acks: str = "all",
    replication: int = 1,
) -> float:
    """Raw aiokafka produce records/s (idempotent, acks=all by default, `value_size` values)."""
    value = os.urandom(value_size // 2).hex().encode()[:value_size]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_security("admin"))
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=replication)])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **client_security("admin"),
        acks=acks if acks == "all" else int(acks),
        enable_idempotence=acks == "all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"warmup")
        started = time.perf_counter()
        futures = []
        for i in range(records):
            futures.append(await producer.send(topic, value, key=f"k-{i % 512}".encode()))
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return records / elapsed
