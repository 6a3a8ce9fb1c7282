"""Waiting for read models, reading DLQs and metrics in projection tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY

from annals.messaging.dlq import read_dlq_headers
from annals.messaging.security import client_security
from annals.projections.worker import Worker


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.05
) -> Any:
    """The first truthy result of `check`, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached in {timeout}s (last: {last!r})")


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    """One value from a fresh connection."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    """Run workers for the block (started: joined their group)."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        for worker, task in zip(workers, tasks, strict=True):
            started = asyncio.ensure_future(worker.started.wait())
            await asyncio.wait({started, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            started.cancel()
            if task.done():
                task.result()
        yield
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)


async def dlq_records(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[dict]:
    """The dlq_* headers of the first `count` records of a DLQ topic."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        **client_security("admin"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                found += [read_dlq_headers(list(r.headers)) for r in batch]
    finally:
        await consumer.stop()
    return found


def metric(name: str, **labels: str) -> float:
    """A sample of the default registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
