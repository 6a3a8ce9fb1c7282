"""The broker stopped and restarted while events are published: publishing resumes, nothing lost.

This test stops the shared stack's Kafka for a few seconds; it always starts it again and
waits until the broker is healthy.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from annals.eventstore.postgres import PostgresEventStore
from annals.stack import kafka
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
DOWN_FOR = 4.0


async def test_publishing_resumes_after_the_broker_restarts(
    stack: StackSettings,
    msg_db: ScratchDatabase,
    store: PostgresEventStore,
    topic: str,
    unique: str,
    tmp_path: Path,
):
    appender = Appender(store, [f"order-{unique}-{i}" for i in range(20)], 3000, rate=250)
    publisher = PublisherProcess(msg_db, topic, tmp_path).start()
    try:
        await wait_for(lambda: _published(msg_db, topic, 0), 30, what="publisher active")
        appending = asyncio.create_task(appender.run())
        await eventually(lambda: appender.count >= 500, 30, "500 appends")
        published_before = (await checkpoint_row(msg_db, topic))[2]
        stopped_at = time.monotonic()
        try:
            await asyncio.to_thread(kafka.stop, stack)
            appended_while_down = appender.count
            await asyncio.sleep(DOWN_FOR)
        finally:
            await asyncio.to_thread(kafka.start, stack)  # waits until healthy
        downtime = time.monotonic() - stopped_at
        await appending
        await caught_up(msg_db, topic, timeout=90)
        records = await read_topic(stack.kafka_bootstrap, topic, 3000, timeout=60)
    finally:
        publisher.stop()
        if not await asyncio.to_thread(kafka.healthy, stack):
            await asyncio.to_thread(kafka.start, stack)

    got = delivery(records)
    assert published_before > 0 and appended_while_down < 3000
    assert got.problems(appender.appended) == [], publisher.output()[-3000:]
    print(
        f"\nbroker down {downtime:.1f}s; {len(records)} records for 3000 events, "
        f"duplicates {got.duplicates}"
    )


async def _published(db: ScratchDatabase, topic: str, at_least: int) -> bool:
    tx, _, published, leader = await checkpoint_row(db, topic)
    return leader is not None and published >= at_least and (at_least == 0 or tx > 0)
