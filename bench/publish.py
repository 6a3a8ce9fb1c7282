"""bench/publish: event store -> Kafka throughput of the relay and commit -> Kafka latency.

Throughput is compared with raw aiokafka produce records/s of the same value size and acks,
measured in the same run (goal: ratio >= 0.7). Latency is measured at 500 appends/s with the
publisher as its own process (`annals publish`), from the append's commit until a consumer
holds the record (goal: p99 <= 100 ms).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from annals.eventstore.ports import START, Checkpoint, NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.checkpoints import PostgresCheckpointStore, migrate_messaging
from annals.messaging.cloudevents import to_kafka
from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.messaging.relay import Relay, drain
from annals.messaging.runner import reader_on
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, delete_topics, ensure_topics
from annals.stack.settings import REPO_ROOT, StackSettings
from bench.baselines import kafka_produce_rps
from bench.eventstore import APP, OWNER, drop_database, scratch_database
from bench.harness import Result, percentile, write_results

EVENTS = 50_000
PER_APPEND = 10
ROUNDS = 2
RATE = 500
LATENCY_SECONDS = 20
WARMUP_SECONDS = 2
DATA = {"sku": "SKU-000042", "quantity": 3, "unit_price": "19.99", "note": "x" * 120}
LAST = (
    "SELECT tx_id::text::bigint, global_position FROM eventstore.events "
    "ORDER BY tx_id DESC, global_position DESC LIMIT 1"
)


async def prefill(store: PostgresEventStore, events: int) -> None:
    """`events` events in appends of PER_APPEND, 32 appends in flight."""
    queue = iter(range(events // PER_APPEND))

    async def worker() -> None:
        for i in queue:
            stream = f"order-{i}"
            batch = [NewEvent("ItemAdded", {**DATA, "order_id": stream}) for _ in range(PER_APPEND)]
            await store.append(stream, batch, metadata={"correlation_id": str(uuid.uuid4())})

    await asyncio.gather(*(worker() for _ in range(32)))


async def relay_rate(
    settings: StackSettings, dsn: str, topic: str, replication: int = 1
) -> tuple[float, int]:
    """Events/s of the relay publishing the whole store from the start, and the mean value size."""
    await ensure_topics(settings.kafka_bootstrap, [TopicSpec(topic, 6, replication)])
    conn = await asyncpg.connect(dsn)
    producer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        sample = await reader_on(conn)(START, 2000)
        size = sum(len(to_kafka(e, "orders").value) for e in sample) // len(sample)
        last = Checkpoint(*(await conn.fetchrow(LAST)))
        relay = Relay(
            topic,
            reader_on(conn),
            KafkaPublisher(producer, topic, "orders"),
            PostgresCheckpointStore(conn),
        )
        started = time.perf_counter()
        stats = await drain(relay, last, timeout=300)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
        await conn.close()
    return stats.published / elapsed, size


async def latencies(
    settings: StackSettings, db_name: str, store: PostgresEventStore, topic: str
) -> list[float]:
    """Commit -> consumer latencies (ms) of single-event appends at RATE per second."""
    app_dsn = settings.dsn(db_name, APP)
    await ensure_topics(settings.kafka_bootstrap, [TopicSpec(topic, 6)])
    conn = await asyncpg.connect(app_dsn)
    try:  # the publisher of this topic starts at the end of the prefilled store
        await PostgresCheckpointStore(conn).save(topic, Checkpoint(*(await conn.fetchrow(LAST))))
    finally:
        await conn.close()
    env = {
        **os.environ,
        "ANNALS_ORDERS_DSN": app_dsn,
        "ANNALS_ORDERS_OWNER_DSN": settings.dsn(db_name, OWNER),
        "ANNALS_ORDERS_TOPIC": topic,
        "ANNALS_ORDERS_PUBLISHER": "relay",
    }
    log = open(settings.log("bench-publisher"), "wb")  # noqa: ASYNC230, SIM115
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "annals.cli.main", "publish", "orders",
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        **client_security("admin"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    committed: dict[bytes, float] = {}
    samples: list[float] = []
    try:
        await asyncio.sleep(3)  # the publisher process starts and takes the lock
        total = RATE * LATENCY_SECONDS
        receiving = asyncio.create_task(_receive(consumer, committed, samples, total))
        started = time.monotonic()
        for i in range(total):
            event = NewEvent("OrderPlaced", {**DATA, "order_id": f"lat-{i}"})
            await store.append(f"lat-{i % 200}", [event])
            committed[str(event.event_id).encode()] = time.monotonic()
            ahead = (i + 1) / RATE - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        try:
            await asyncio.wait_for(receiving, 30)
        except TimeoutError:  # reported: records the consumer did not see in time
            print(f"received {len(samples)} of {total} within 30 s after the last append")
    finally:
        await consumer.stop()
        publisher.terminate()
        await asyncio.wait_for(publisher.wait(), 30)
    return samples[RATE * WARMUP_SECONDS :]


async def _receive(
    consumer: AIOKafkaConsumer, committed: dict[bytes, float], samples: list[float], total: int
) -> None:
    seen = 0
    while seen < total:
        for records in (await consumer.getmany(timeout_ms=100)).values():
            now = time.monotonic()
            for record in records:
                event_id = dict(record.headers)["ce_id"]
                if event_id in committed:
                    samples.append((now - committed.pop(event_id)) * 1000)
                    seen += 1


async def measure(settings: StackSettings) -> list[Result]:
    """Run both measurements on a scratch database and clean up."""
    db_name = await scratch_database(settings)
    tag = uuid.uuid4().hex[:8]
    topics = [f"bench.publish.{tag}.{i}" for i in range(ROUNDS)] + [f"bench.latency.{tag}"]
    raw_topics = [f"bench.raw.{tag}.{i}" for i in range(ROUNDS)]
    try:
        await migrate_messaging(settings.dsn(db_name, OWNER), APP)
        store = await PostgresEventStore.connect(settings.dsn(db_name, APP), max_size=32)
        try:
            await prefill(store, EVENTS)
            rates, raws = [], []
            for i in range(ROUNDS):
                rate, size = await relay_rate(settings, settings.dsn(db_name, APP), topics[i])
                rates.append(rate)
                raws.append(
                    await kafka_produce_rps(
                        settings.kafka_bootstrap, raw_topics[i], EVENTS, size, "all"
                    )
                )
            lat = sorted(await latencies(settings, db_name, store, topics[-1]))
        finally:
            await store.close()
    finally:
        await delete_topics(settings.kafka_bootstrap, topics + raw_topics)
        await drop_database(settings, db_name)
    raw = max(raws)
    return [
        Result(
            f"store -> kafka events/s (relay, {size} B values, acks=all)",
            max(rates), "events/s", baseline=raw, goal=0.7,
        ),
        Result(f"raw aiokafka produce rec/s ({size} B, acks=all)", raw, "records/s"),
        Result(f"commit -> kafka latency p50 @{RATE} appends/s", percentile(lat, 50), "ms"),
        Result(
            f"commit -> kafka latency p99 @{RATE} appends/s", percentile(lat, 99), "ms",
            goal="<= 100 ms",
        ),
        Result(f"commit -> kafka latency max @{RATE} appends/s", lat[-1], "ms"),
    ]  # fmt: skip


def main() -> None:
    """Run against the running stack and write bench/results/publish.json."""
    write_results("publish", asyncio.run(measure(StackSettings())))


if __name__ == "__main__":
    main()
