"""The live log follows a topic from just before its end, filtered by type and stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from annals.console.live import Filter, follow
from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import to_kafka
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.stack.settings import StackSettings

pytestmark = [pytest.mark.stack, pytest.mark.asyncio]


def _event(stream: str, version: int, kind: str) -> RecordedEvent:
    return RecordedEvent(0, 0, stream, "order", version, uuid7(), kind, 1,
                         json.dumps({"n": version}), "{}", datetime.now(UTC))  # fmt: skip


async def test_follow_yields_the_backlog_and_new_records(stack: StackSettings) -> None:
    topic = f"console-live-{uuid.uuid4().hex[:8]}"
    await ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic, partitions=1)])
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, **client_security("admin"))
    await producer.start()
    stream = f"order-{uuid.uuid4().hex[:8]}"
    try:
        for version, kind in ((1, "OrderPlaced"), (2, "OrderConfirmed")):
            record = to_kafka(_event(stream, version, kind), "orders")
            await producer.send_and_wait(topic, record.value, key=record.key,
                                         headers=record.headers)  # fmt: skip
    finally:
        await producer.stop()

    async def never() -> bool:
        return False

    seen = []
    keep = Filter("OrderConfirmed", stream)
    async with asyncio.timeout(30):
        async with contextlib.aclosing(follow([topic], 10, never)) as items:
            async for item in items:
                if item is not None and keep.keeps(item):
                    seen.append(item)
                    break
    [confirmed] = seen
    assert confirmed["stream"] == stream and confirmed["version"] == 2
    assert confirmed["short_type"] == "OrderConfirmed" and confirmed["data"] == {"n": 2}
