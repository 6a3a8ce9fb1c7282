"""A subscriber through a restart of its Kafka broker (a private one): it goes on by itself.

While the broker is away the subscriber neither ends nor hangs; afterwards it handles what was
produced before and after, each record once, and its committed offsets hold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from annals.messaging import Received, Subscriber
from annals.messaging.security import client_security
from annals.messaging.topics import TopicSpec, ensure_topics
from annals.stack.secrets import secrets_dir
from annals.stack.settings import StackSettings
from tests.faults.messaging.private_servers import PrivateKafka
from tests.integration.messaging.support import eventually
from tests.unit.messaging.poison import REGISTRY, good

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture
async def private_kafka(stack: StackSettings) -> AsyncIterator[PrivateKafka]:
    """A private broker using the stack's jars."""
    broker = PrivateKafka(stack.jars_dir, secrets_dir(stack))
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.destroy)


async def produce(bootstrap: str, topic: str, streams: list[str], version: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_security("admin"), acks="all")
    await producer.start()
    try:
        for stream in streams:
            item = good(stream, version)
            await producer.send_and_wait(topic, item.value, key=item.key, headers=item.headers)
    finally:
        await producer.stop()


async def test_the_subscriber_goes_on_by_itself_after_the_broker_restarts(
    private_kafka: PrivateKafka, unique: str
):
    bootstrap = private_kafka.bootstrap
    topic = f"test.events.{unique}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 3)])
    streams = [f"order-{unique}-{i}" for i in range(6)]
    handled: list[tuple[str | None, int | None]] = []

    async def handle(received: Received) -> None:
        handled.append((received.subject, received.version))

    sub = Subscriber(
        [topic], f"test-restart-{unique}", handle, registry={"orders": REGISTRY},
        bootstrap=bootstrap, max_backoff=2.0,
        consumer_options={"session_timeout_ms": 10000, "request_timeout_ms": 10000},
    )  # fmt: skip
    running = asyncio.create_task(sub.run())
    try:
        await produce(bootstrap, topic, streams, 1)
        await eventually(lambda: len(handled) >= 6, 60, "first round handled")

        await asyncio.to_thread(private_kafka.stop)
        await asyncio.sleep(3)
        assert not running.done()
        await asyncio.to_thread(private_kafka.start)
        restarted = time.monotonic()
        await produce(bootstrap, topic, streams, 2)
        await eventually(lambda: len(handled) >= 12, 60, "second round handled")
        resumed_after = time.monotonic() - restarted
        assert not running.done()
    finally:
        sub.stop()
        await asyncio.wait_for(running, 60)

    assert sorted(handled) == sorted((s, v) for s in streams for v in (1, 2))
    assert sub.stats.dead_lettered == 0
    print(f"handling resumed {resumed_after:.1f}s after the restart; restarts {sub.stats.restarts}")
