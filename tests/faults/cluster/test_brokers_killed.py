"""kill -9 of Kafka nodes on the 3-node cluster (RF 3, min.insync.replicas 2) under publishing.

One node down (the one leading most partitions of the topic): its partitions get new leaders,
publishing goes on on the other two, nothing the relay had acknowledged is lost and every
stream keeps its order. Two nodes down: no write can be acknowledged, yet appends succeed (the
store is the outbox) and are published once a node returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.topics import TopicSpec, describe_topics, ensure_topics
from annals.stack import kafka, kafka_nodes
from annals.stack.settings import StackSettings
from tests.faults.messaging.appender import Appender
from tests.integration.messaging.support import (
    PublisherProcess,
    ScratchDatabase,
    caught_up,
    checkpoint_row,
    delivery,
    eventually,
    read_topic,
    wait_for,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]


async def _topic(cluster: StackSettings, unique: str) -> str:
    name = f"cluster.events.{unique}"
    await ensure_topics(cluster.kafka_bootstrap, [TopicSpec(name, 6, 3)])
    [info] = await describe_topics(cluster.kafka_bootstrap, [name])
    assert len(set(info.leaders.values())) >= 2  # the leaders are spread over the nodes
    return name


def _publisher(
    db: ScratchDatabase, topic: str, cluster: StackSettings, logs: Path
) -> PublisherProcess:
    publisher = PublisherProcess(db, topic, logs)
    publisher.env.update({
        "ANNALS_KAFKA_BOOTSTRAP": cluster.kafka_bootstrap,
        "ANNALS_ORDERS_PUBLISHER_REQUEST_TIMEOUT_MS": "8000",
        "ANNALS_ORDERS_PUBLISHER_PUBLISH_TIMEOUT": "10",
        "ANNALS_ORDERS_PUBLISHER_RESTART_CAP": "2",
    })  # fmt: skip
    return publisher.start()


async def _published(db: ScratchDatabase, topic: str) -> int:
    return (await checkpoint_row(db, topic))[2]


def _node(cluster: StackSettings, node_id: int) -> kafka_nodes.Node:
    return next(n for n in kafka_nodes.nodes(cluster) if n.id == node_id)


async def test_kill9_of_the_leaders_node_loses_nothing_and_publishing_goes_on(
    whole: StackSettings,
    cluster_db: ScratchDatabase,
    cluster_store: PostgresEventStore,
    unique: str,
    tmp_path: Path,
) -> None:
    topic, store = await _topic(whole, unique), cluster_store
    appender = Appender(store, [f"order-{unique}-{i}" for i in range(24)], 3000, rate=300)
    publisher = _publisher(cluster_db, topic, whole, tmp_path)
    try:
        await wait_for(lambda: _leading(cluster_db, topic), 30, what="publisher active")
        appending = asyncio.create_task(appender.run())
        await eventually(lambda: appender.count >= 600, 30, "600 appends")
        [info] = await describe_topics(whole.kafka_bootstrap, [topic])
        victim = Counter(info.leaders.values()).most_common(1)[0][0]
        acknowledged = await _published(cluster_db, topic)
        kafka.kill_node(whole, _node(whole, victim))
        killed_at = time.monotonic()
        await appending
        await caught_up(cluster_db, topic, timeout=90)
        recovered = time.monotonic() - killed_at
        records = await read_topic(whole.kafka_bootstrap, topic, 3000, timeout=60)
        [after] = await describe_topics(whole.kafka_bootstrap, [topic])
    finally:
        publisher.stop()
    assert acknowledged > 0 and appender.count == 3000
    assert victim not in after.leaders.values(), after.leaders  # the others lead its partitions
    got = delivery(records)
    assert got.problems(appender.appended) == [], publisher.output()[-3000:]
    print(f"\nnode {victim} killed after {acknowledged} acknowledged; all 3000 published "
          f"{recovered:.1f}s later, {got.duplicates} duplicates")  # fmt: skip


async def test_two_nodes_down_appends_succeed_and_publish_when_one_returns(
    whole: StackSettings,
    cluster_db: ScratchDatabase,
    cluster_store: PostgresEventStore,
    unique: str,
    tmp_path: Path,
) -> None:
    topic, store = await _topic(whole, unique), cluster_store
    before = Appender(store, [f"order-{unique}-a{i}" for i in range(12)], 300, rate=1000)
    during = Appender(store, [f"order-{unique}-b{i}" for i in range(12)], 600, rate=1000)
    publisher = _publisher(cluster_db, topic, whole, tmp_path)
    down = [n for n in kafka_nodes.nodes(whole) if n.id != 1]
    try:
        await wait_for(lambda: _leading(cluster_db, topic), 30, what="publisher active")
        await before.run()
        await caught_up(cluster_db, topic, timeout=30)
        for node in down:  # at once: the controllers lose their majority before any fencing
            kafka.kill_node(whole, node)
        await asyncio.wait_for(during.run(), 30)  # the store takes every append
        await asyncio.sleep(3)
        stalled = await _published(cluster_db, topic)
        await asyncio.to_thread(kafka.start_node, whole, down[0])
        returned_at = time.monotonic()
        await caught_up(cluster_db, topic, timeout=90)
        resumed = time.monotonic() - returned_at
        records = await read_topic(whole.kafka_bootstrap, topic, 900, timeout=60)
    finally:
        publisher.stop()
    assert during.count == 600
    assert stalled < 900, "nothing can be acknowledged with two of three nodes down"
    got = delivery(records)
    expected = {**before.appended, **during.appended}
    assert got.problems(expected) == [], publisher.output()[-3000:]
    print(f"\ntwo nodes down: {during.count} appends stored, {stalled - 300} acknowledged; "
          f"all published {resumed:.1f}s after node {down[0].id} returned")  # fmt: skip


async def _leading(db: ScratchDatabase, topic: str) -> bool:
    return (await checkpoint_row(db, topic))[3] is not None
