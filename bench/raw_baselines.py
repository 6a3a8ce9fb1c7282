"""bench/raw_baselines: raw PostgreSQL and Kafka rates that every other benchmark compares to."""

from __future__ import annotations

import asyncio
import uuid

from annals.stack.settings import StackSettings
from bench.baselines import (
    ensure_bench_database,
    kafka_produce_rps,
    pg_copy_rows_per_s,
    pg_insert_tps,
)
from bench.harness import Result, write_results


async def measure(settings: StackSettings) -> list[Result]:
    """Measure one-row INSERT tx/s at 1/8/32 connections, COPY rows/s and Kafka produce/s."""
    dsn = await ensure_bench_database(settings.dsn())
    results = [
        Result(f"pg insert tx/s, {n} conn", await pg_insert_tps(dsn, n), "tx/s") for n in (1, 8, 32)
    ]
    results.append(Result("pg COPY rows/s", await pg_copy_rows_per_s(dsn), "rows/s"))
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    rate = await kafka_produce_rps(settings.kafka_bootstrap, topic)
    results.append(Result("kafka produce rec/s (acks=all, 1 KiB)", rate, "records/s"))
    return results


def main() -> None:
    """Run the benchmark against the running stack and write bench/results/raw_baselines.json."""
    write_results("raw_baselines", asyncio.run(measure(StackSettings())))


if __name__ == "__main__":
    main()
