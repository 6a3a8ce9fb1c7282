"""The subscriber library on real Kafka: typed events, commits, retries, the DLQ, rebalances."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from annals.eventstore.domain import DomainEvent
from annals.eventstore.memory import InMemoryKeyStore
from annals.eventstore.ports import RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.messaging import PermanentError, Received, Subscriber
from annals.messaging.cloudevents import to_kafka
from annals.messaging.dlq import read_dlq_headers
from annals.messaging.security import client_security
from annals.messaging.topics import delete_topics
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import eventually, read_topic
from tests.unit.messaging.poison import FLAKY_SKU, PERMANENT_SKU, good, poison
from tests.unit.messaging.poison import REGISTRY as POISON_REGISTRY

pytestmark = pytest.mark.stack


class OrderPlaced(DomainEvent):
    order_id: str
    sku: str
    quantity: int


REGISTRY = EventRegistry([OrderPlaced])


def recorded(stream: str, version: int, sku: str = "SKU-1", event_type: str = "OrderPlaced"):
    data = {"order_id": stream, "sku": sku, "quantity": version}
    return RecordedEvent(
        version, 1, stream, "order", version, uuid.uuid4(), event_type, 1,
        json.dumps(data), "{}", datetime.now(UTC),
    )  # fmt: skip


async def produce(stack: StackSettings, topic: str, items: list) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, **client_security("admin"), acks="all"
    )
    await producer.start()
    try:
        for item in items:
            if isinstance(item, RecordedEvent):
                record = to_kafka(item, "orders")
                await producer.send_and_wait(
                    topic, record.value, key=record.key, headers=record.headers
                )
            else:
                key, value, headers = item
                await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def run_until(subscriber: Subscriber, done: Callable[[], bool], timeout: float = 45) -> None:
    task = asyncio.create_task(subscriber.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        subscriber.stop()
        await task


def subscriber(stack: StackSettings, topic: str, group: str, handler, **kwargs) -> Subscriber:
    return Subscriber(
        [topic], group, handler, registry={"orders": REGISTRY}, bootstrap=stack.kafka_bootstrap,
        backoff=0.05, consumer_options={"session_timeout_ms": 10000}, **kwargs,
    )  # fmt: skip


async def test_typed_events_arrive_in_stream_order_and_offsets_are_committed(
    stack: StackSettings, topic: str, unique: str
):
    streams = [f"order-{unique}-{i}" for i in range(3)]
    await produce(stack, topic, [recorded(s, v) for v in range(1, 11) for s in streams])
    seen: list[Received] = []

    async def handle(received: Received) -> None:
        seen.append(received)

    group = f"test-typed-{unique}"
    try:
        await run_until(subscriber(stack, topic, group, handle), lambda: len(seen) >= 30)
        assert all(isinstance(r.event, OrderPlaced) for r in seen)
        for stream in streams:
            assert [r.version for r in seen if r.subject == stream] == list(range(1, 11))
        assert {r.event.order_id for r in seen if r.event} == set(streams)  # type: ignore[attr-defined]

        again: list[Received] = []

        async def late(received: Received) -> None:
            again.append(received)

        second = subscriber(stack, topic, group, late)
        task = asyncio.create_task(second.run())
        await asyncio.wait_for(second.started.wait(), 30)
        await asyncio.sleep(5)
        second.stop()
        await task
        assert again == []  # everything handled before was committed
    finally:
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])


async def test_every_poison_shape_goes_to_the_dlq_with_headers_and_the_consumer_goes_on(
    stack: StackSettings, topic: str, unique: str
):
    items = poison(f"order-{unique}")
    later = [good(f"order-{unique}-later-{n}", 1) for n in range(3)]
    await produce(stack, topic, [(i.key, i.value, i.headers) for i in [*items, *later]])
    handled: list[tuple[str | None, int | None]] = []

    async def handle(received: Received) -> None:
        if received.data["sku"] == PERMANENT_SKU:
            raise PermanentError("this order cannot be billed")
        if received.data["sku"] == FLAKY_SKU:
            raise ConnectionResetError("billing service went away")
        handled.append((received.subject, received.version))

    keys = InMemoryKeyStore()
    await keys.get_or_create(items[9].stream)  # the key exists, the envelope still does not open
    group = f"test-dlq-{unique}"
    sub = Subscriber(
        [topic], group, handle, registry={"orders": POISON_REGISTRY}, keys=keys,
        bootstrap=stack.kafka_bootstrap, backoff=0.05, max_attempts=3,
        consumer_options={"session_timeout_ms": 10000},
    )  # fmt: skip
    try:
        # Partitions are consumed independently: the good records may all be handled while a
        # retriable one is still being retried, so wait for both.
        await run_until(
            sub, lambda: len(handled) >= len(later) and sub.stats.dead_lettered >= len(items)
        )
        assert sorted(handled) == sorted((i.stream, 1) for i in later)
        assert sub.stats.dead_lettered == len(items)

        letters = await read_topic(stack.kafka_bootstrap, f"{group}.dlq", len(items), timeout=20)
        by_stream = {_stream_of(r.key): r for r in letters}
        assert len(letters) == len(items)
        for item in items:
            letter = by_stream[item.stream]
            info = read_dlq_headers(list(letter.headers))
            assert info["reason"] == item.reason, (item.stream, info)
            assert info["original_topic"] == topic
            assert info["original_partition"].isdigit() and info["original_offset"].isdigit()
            assert info["error_class"] and info["timestamp"] and info["group"] == group
            assert letter.value == item.value
        assert ("source", b"test") in list(by_stream[items[0].stream].headers)
        assert (
            "OrderTeleported"
            in read_dlq_headers(list(by_stream[items[7].stream].headers))["error_message"]
        )
        flaky = read_dlq_headers(list(by_stream[items[11].stream].headers))
        assert (flaky["attempts"], flaky["retriable"]) == ("3", "true")
    finally:
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])


async def test_dead_letters_replay_through_the_handler_once_and_unpark_the_stream(
    stack: StackSettings, topic: str, unique: str
):
    stream = f"order-{unique}"
    await produce(
        stack, topic,
        [recorded(stream, 1), recorded(stream, 2, sku="PERMANENT"), recorded(stream, 3)],
    )  # fmt: skip
    handled: list[int | None] = []
    broken = True

    async def handle(received: Received) -> None:
        if broken and received.data["sku"] == "PERMANENT":
            raise PermanentError("billing rejects it")
        handled.append(received.version)

    group = f"test-replay-{unique}"

    async def member(until: Callable[[Subscriber], bool], then=None) -> Subscriber:
        sub = subscriber(stack, topic, group, handle)
        task = asyncio.create_task(sub.run())
        try:
            await eventually(lambda: until(sub), 30, "the member's work")
            if then is not None:
                await then(sub)
        finally:
            sub.stop()
            await task
        return sub

    try:
        await member(lambda sub: sub.stats.dead_lettered >= 2)
        assert handled == [1]  # version 3 waits behind version 2: parked, not skipped

        async def fix_and_replay(sub: Subscriber) -> None:
            nonlocal broken
            assert handled == [1]  # after a restart, version 4 is parked too
            broken = False
            result = await sub.replay_dead_letters()
            assert (result.handled, result.failed) == (3, [])
            assert handled == [1, 2, 3, 4]
            again = await sub.replay_dead_letters()
            assert (again.handled, again.skipped, again.failed) == (0, 0, [])

        await produce(stack, topic, [recorded(stream, 4)])
        await member(lambda sub: sub.stats.dead_lettered >= 1, fix_and_replay)
        await produce(stack, topic, [recorded(stream, 5)])
        last = await member(lambda sub: sub.stats.handled >= 1)
        assert handled == [1, 2, 3, 4, 5] and last.stats.dead_lettered == 0
    finally:
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])


def _stream_of(key: bytes | None) -> str:
    return (key or b"").decode()


async def test_a_second_member_takes_partitions_and_every_event_is_handled(
    stack: StackSettings, topic: str, unique: str
):
    streams = [f"order-{unique}-{i}" for i in range(12)]
    await produce(stack, topic, [recorded(s, v) for v in range(1, 6) for s in streams])
    seen: dict[str, list[tuple[str, int | None]]] = {"a": [], "b": []}

    def handler(member: str) -> Callable[[Received], Awaitable[None]]:
        async def handle(received: Received) -> None:
            seen[member].append((received.subject or "", received.version))
            await asyncio.sleep(0.15)

        return handle

    group = f"test-rebalance-{unique}"
    first = subscriber(stack, topic, group, handler("a"), max_records=5)
    second = subscriber(stack, topic, group, handler("b"), max_records=5)
    tasks = [asyncio.create_task(first.run())]
    try:
        await eventually(lambda: len(seen["a"]) >= 5, 30, "first member handling")
        tasks.append(asyncio.create_task(second.run()))
        await eventually(lambda: len({*seen["a"], *seen["b"]}) >= 60, 60, "all handled")
    finally:
        first.stop()
        second.stop()
        await asyncio.gather(*tasks)
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])

    assert seen["b"], "the second member never got a partition"
    for member in ("a", "b"):
        for stream in streams:
            versions = [v for s, v in seen[member] if s == stream]
            assert versions == sorted(versions)
    assert {*seen["a"], *seen["b"]} == {(s, v) for s in streams for v in range(1, 6)}
