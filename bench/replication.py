"""bench/replication: the relay, raw produce and a live projection on a 3-node Kafka cluster
(replication factor 3, min.insync.replicas 2, acks=all) beside the stack's single broker
(replication factor 1), in the same run; each RF 3 figure's baseline is its RF 1 twin, so the
ratio column is the throughput RF3/RF1.

On one machine the cluster's three JVMs, the relay or projector and PostgreSQL share the same
cores (2 here): a follower's fetch and the leader's acks=all wait cost CPU and a round trip
over loopback, not a network or disk, so the ratio says what replication costs in CPU and
latency, not what a real cluster of three machines would do (there RF 3 mostly costs bandwidth).
Run `.venv/bin/python -m bench.replication` (needs the stack: PostgreSQL, Kafka's jars).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.checkpoints import migrate_messaging
from annals.messaging.topics import TopicSpec, delete_topics, ensure_topics
from annals.projections.sandbox import create, destroy, produce, recorded
from annals.stack.scratch_cluster import scratch_cluster
from annals.stack.settings import StackSettings
from bench.baselines import kafka_produce_rps
from bench.eventstore import APP, OWNER, drop_database, scratch_database
from bench.harness import Result, write_results
from bench.projections import live_rate, order_history
from bench.publish import prefill, relay_rate

EVENTS = int(os.environ.get("BENCH_REPLICATION_EVENTS", "50000"))
LIVE_ORDERS = int(os.environ.get("BENCH_REPLICATION_ORDERS", "20000"))  # x 5 events


async def publish_rates(settings: StackSettings, dsn: str, replication: int) -> tuple[float, ...]:
    """Relay events/s and raw produce records/s (same value size) at `replication`."""
    tag = uuid.uuid4().hex[:8]
    topic, raw_topic = f"bench.rf{replication}.{tag}", f"bench.rf{replication}.raw.{tag}"
    try:
        rate, size = await relay_rate(settings, dsn, topic, replication)
        raw = await kafka_produce_rps(
            settings.kafka_bootstrap, raw_topic, EVENTS, size, "all", replication
        )
    finally:
        await delete_topics(settings.kafka_bootstrap, [topic, raw_topic])
    return rate, raw, size


async def projection_rate(settings: StackSettings, replication: int) -> float:
    """Events/s of one order_summary worker reading a topic of `replication` from the start."""
    rig = await create(settings, uuid.uuid4().hex[:12])
    try:
        topic = rig.topic("orders.events")
        await ensure_topics(settings.kafka_bootstrap, [TopicSpec(topic, 6, replication)])
        now = datetime.now(UTC)
        events = [
            recorded(f"order-l{i}", v, kind, data, now)
            for i in range(LIVE_ORDERS)
            for v, (kind, data) in enumerate(order_history(f"l{i}", now), 1)
        ]
        await produce(settings.kafka_bootstrap, topic, "orders", events)
        return await live_rate(rig, len(events))
    finally:
        await destroy(rig)


async def prepared(stack: StackSettings) -> str:
    """A scratch event store holding EVENTS events (what both relays publish); its name."""
    db_name = await scratch_database(stack)
    await migrate_messaging(stack.dsn(db_name, OWNER), APP)
    store = await PostgresEventStore.connect(stack.dsn(db_name, APP), max_size=32)
    try:
        await prefill(store, EVENTS)
    finally:
        await store.close()
    return db_name


async def figures(settings: StackSettings, dsn: str, replication: int) -> tuple[float, ...]:
    """Relay, raw produce, value size and live projection rates at `replication`."""
    return (*await publish_rates(settings, dsn, replication),
            await projection_rate(settings, replication))  # fmt: skip


def measure(stack: StackSettings) -> list[Result]:
    """Every figure on the single broker, then on the cluster; RF 3 rows name their RF 1 twin."""
    db_name = asyncio.run(prepared(stack))
    dsn = stack.dsn(db_name, APP)
    try:
        single = asyncio.run(figures(stack, dsn, 1))
        with scratch_cluster(stack, 3) as cluster:  # started and stopped outside a loop
            replicated = asyncio.run(figures(cluster, dsn, 3))
    finally:
        asyncio.run(drop_database(stack, db_name))
    size = int(single[2])
    rows = [
        (f"store -> kafka events/s (relay, {size} B, acks=all)", "events/s", 0),
        (f"raw aiokafka produce rec/s ({size} B, acks=all)", "records/s", 1),
        ("live order_summary (1 process) events/s", "events/s", 3),
    ]
    results = []
    for name, unit, at in rows:
        results.append(Result(f"RF1 (1 broker): {name}", single[at], unit))
        results.append(Result(f"RF3 (3 nodes): {name}", replicated[at], unit, single[at]))
    return results


def main() -> None:
    """Run against the running stack and write bench/results/replication.json."""
    write_results("replication", measure(StackSettings()))


if __name__ == "__main__":
    main()
