"""kill -9 of the publisher in the middle of 5,000 appends: after a restart nothing is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.messaging.topics import describe_topics
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


async def test_every_event_arrives_in_order_after_the_publisher_is_killed(
    stack: StackSettings,
    msg_db: ScratchDatabase,
    store: PostgresEventStore,
    topic: str,
    unique: str,
    tmp_path: Path,
):
    appender = Appender(store, [f"order-{unique}-{i}" for i in range(50)], 5000, rate=1000)
    first = PublisherProcess(msg_db, topic, tmp_path, "first").start()
    second = PublisherProcess(msg_db, topic, tmp_path, "second")
    try:
        await wait_for(lambda: _leader(msg_db, topic), 30, what="publisher active")
        appending = asyncio.create_task(appender.run())
        await eventually(lambda: appender.count >= 2000, 30, "2,000 appends")
        published_before = (await checkpoint_row(msg_db, topic))[2]
        first.kill9()
        killed_at = appender.count
        await asyncio.sleep(0.5)
        second.start()
        await appending
        await caught_up(msg_db, topic)
        records = await read_topic(stack.kafka_bootstrap, topic, 5000, timeout=60)
    finally:
        first.stop()
        second.stop()

    got = delivery(records)
    [info] = await describe_topics(stack.kafka_bootstrap, [topic])
    assert published_before > 0 and killed_at < 5000
    assert sum(appender.appended.values()) == 5000
    assert got.problems(appender.appended) == [], (
        f"read {len(records)} of {info.records} records\n" + second.output()[-3000:]
    )
    print(
        f"\nkilled after {killed_at} appends ({published_before} published); "
        f"{len(records)} records for 5000 events, duplicates {got.duplicates}"
    )


async def _leader(db: ScratchDatabase, topic: str) -> bool:
    return (await checkpoint_row(db, topic))[3] is not None
