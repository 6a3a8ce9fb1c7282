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
from annals.eventstore.ports import RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.messaging import PermanentError, Received, RetriableError, Subscriber
from annals.messaging.cloudevents import to_kafka
from annals.messaging.dlq import read_dlq_headers
from annals.messaging.topics import delete_topics
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import eventually, read_topic

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
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
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


async def test_poison_records_go_to_the_dlq_with_headers_and_the_consumer_goes_on(
    stack: StackSettings, topic: str, unique: str
):
    stream = f"order-{unique}"
    key = stream.encode()
    items = [
        recorded(stream, 1),
        (key, b"\x00not json at all", [("source", b"test")]),
        recorded(stream, 2, event_type="OrderTeleported"),
        recorded(stream, 3, sku="PERMANENT"),
        recorded(stream, 4, sku="FLAKY"),
        recorded(stream, 5, sku="ALWAYS-FLAKY"),
        recorded(stream, 6),
    ]
    await produce(stack, topic, items)
    handled: list[int | None] = []
    attempts: dict[str, int] = {}

    async def handle(received: Received) -> None:
        sku = received.data["sku"]
        attempts[sku] = attempts.get(sku, 0) + 1
        if sku == "PERMANENT":
            raise PermanentError("this order cannot be billed")
        if sku == "FLAKY" and attempts[sku] < 3:
            raise RetriableError("billing service timed out")
        if sku == "ALWAYS-FLAKY":
            raise ConnectionResetError("billing service went away")
        handled.append(received.version)

    group = f"test-dlq-{unique}"
    sub = subscriber(stack, topic, group, handle, max_attempts=4)
    try:
        await run_until(sub, lambda: 6 in handled)
        assert handled == [1, 4, 6]
        assert attempts == {"SKU-1": 2, "PERMANENT": 1, "FLAKY": 3, "ALWAYS-FLAKY": 4}
        assert (sub.stats.dead_lettered, sub.stats.retries) == (4, 5)

        letters = await read_topic(stack.kafka_bootstrap, f"{group}.dlq", 4, timeout=20)
        assert len(letters) == 4
        infos = [read_dlq_headers(list(r.headers)) for r in letters]
        assert [i["reason"] for i in infos] == [
            "undecodable", "undecodable", "permanent error", "retries exhausted",
        ]  # fmt: skip
        assert "UnknownEvent" in infos[1]["error_class"]
        assert "OrderTeleported" in infos[1]["error_message"]
        assert infos[3]["attempts"] == "4" and infos[3]["retriable"] == "true"
        assert {i["original_topic"] for i in infos} == {topic}
        assert [int(i["original_offset"]) for i in infos] == [1, 2, 3, 5]
        assert all(i["group"] == group and i["timestamp"] for i in infos)
        assert letters[0].value == b"\x00not json at all"
        assert ("source", b"test") in list(letters[0].headers)
        assert all(r.key == key for r in letters)
        assert dict(letters[2].headers)["ce_type"] == b"orders.OrderPlaced"
    finally:
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])


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
