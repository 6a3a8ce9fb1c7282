"""Reference paths for bench/eventstore: the least a writer can do on the events table.

Neither is an event store: no expected-version check, no stream row, no decoding, prepared
statements on dedicated connections. They show how much of raw INSERT the events table itself
(its three unique indexes and wider rows) leaves on this machine, so the store's ratios can be
read against what any implementation of DESIGN §3 could reach here.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg

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
