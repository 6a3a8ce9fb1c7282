"""Relay and Debezium outbox modes on the same events: same keys, attributes and data."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from annals.connect import slots
from annals.connect.client import ConnectClient
from annals.connect.configs import load_spec
from annals.eventstore.domain import DomainEvent
from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.registry import EventRegistry
from annals.eventstore.settings import ServiceDatabase
from annals.messaging import Received, Subscriber
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.messaging.topics import delete_topics
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.messaging.support import (
    create_database,
    create_topic,
    drop_database,
    eventually,
    remove_topics,
)

pytestmark = [pytest.mark.stack, pytest.mark.slow]
CONFIG = REPO_ROOT / "deploy" / "connect" / "orders-outbox.json"


class OrderPlaced(DomainEvent):
    order_id: str
    customer_id: str
    note: str | None = None


class ItemAdded(DomainEvent):
    order_id: str
    sku: str
    quantity: int
    price: float
    tags: list[str]
    extra: dict[str, object]


REGISTRY = EventRegistry([OrderPlaced, ItemAdded])


async def append_commands(store: PostgresEventStore, streams: list[str], tag: str) -> None:
    for stream in streams:
        placed = {"order_id": stream, "customer_id": f"c-{tag}", "note": None}
        first = {
            "order_id": stream, "sku": "SKU-ü €", "quantity": 2, "price": 19.99, "tags": [],
            "extra": {"nested": {"a": [1, 2.5, None]}},
        }  # fmt: skip
        second = {"order_id": stream, "sku": "B", "quantity": 1, "price": 1.0, "tags": ["x"]}
        await store.append(
            stream,
            [NewEvent("OrderPlaced", placed)],
            metadata={"correlation_id": f"corr-{stream}-{tag}", "causation_id": str(uuid.uuid4())},
        )
        await store.append(
            stream,
            [NewEvent("ItemAdded", first), NewEvent("ItemAdded", {**second, "extra": {}})],
        )


async def test_relay_and_debezium_yield_the_same_events(
    stack: StackSettings, unique: str, tmp_path: Path
):
    db = await create_database(stack, "msg_dbz")
    relay_topic = await create_topic(stack, f"test.relay.{unique}")
    # Connect writes only its own, the declared and the sandboxes' topics (annals.stack.kafka_auth).
    dbz_topic = await create_topic(stack, f"sandbox.dbz.{unique}")
    connector, slot = f"test-outbox-{unique}", f"test_outbox_{unique}"
    spec = load_spec(CONFIG, stack).with_overrides(
        {
            "database.dbname": db.name,
            "slot.name": slot,
            "topic.prefix": f"sandbox-outbox-{unique}",
            "transforms.topic.replacement": dbz_topic,
        },
        name=connector,
    )
    streams = [f"order-{unique}-{i}" for i in range(4)]
    store = await PostgresEventStore.connect(db.app_dsn, min_size=1, max_size=4)
    relay = RelayProcess(
        PublisherSettings(service="orders", topic=relay_topic),
        ServiceDatabase(service="orders", dsn=db.app_dsn, owner_dsn=db.owner_dsn),
        KafkaSettings(),
    )
    relaying = asyncio.create_task(relay.run())
    got: dict[str, dict[str, Received]] = {relay_topic: {}, dbz_topic: {}}

    async def collect(received: Received) -> None:
        got[received.topic][received.cloudevent.id] = received

    group = f"test-modes-{unique}"
    subscriber = Subscriber(
        [relay_topic, dbz_topic], group, collect, registry={"orders": REGISTRY},
        bootstrap=stack.kafka_bootstrap,
    )  # fmt: skip
    subscribing = asyncio.create_task(subscriber.run())
    client = ConnectClient(stack.connect_url)
    try:
        await append_commands(store, streams, "before")  # read by Debezium's snapshot
        await asyncio.to_thread(client.apply, spec, True, 90)
        await append_commands(store, streams, "after")  # streamed from the WAL
        await eventually(
            lambda: len(got[relay_topic]) == len(got[dbz_topic]) == 24, 90, "24 events each"
        )
    finally:
        subscriber.stop()
        relay.stop()
        await asyncio.gather(subscribing, relaying, return_exceptions=True)
        await store.close()
        await asyncio.to_thread(_delete_connector, client, connector)
        admin = await asyncpg.connect(stack.dsn(db.name))
        try:
            await slots.drop_slot(admin, slot)
        finally:
            await admin.close()
        await drop_database(stack, db.name)
        await remove_topics(stack, [relay_topic, dbz_topic])
        await delete_topics(stack.kafka_bootstrap, [f"{group}.dlq"])

    assert subscriber.stats.dead_lettered == 0
    assert got[relay_topic].keys() == got[dbz_topic].keys()
    for event_id, relayed in got[relay_topic].items():
        streamed = got[dbz_topic][event_id]
        assert streamed.key == relayed.key
        assert streamed.partition == relayed.partition
        assert streamed.cloudevent == relayed.cloudevent
        assert streamed.event == relayed.event and relayed.event is not None
    sample = next(iter(got[dbz_topic].values())).cloudevent
    assert sample.source == "/services/orders" and sample.dataschema
    assert any(r.cloudevent.correlationid for r in got[dbz_topic].values())
    for stream in streams:
        versions = [r.version for r in got[dbz_topic].values() if r.subject == stream]
        assert sorted(versions) == list(range(1, 7))


def _delete_connector(client: ConnectClient, name: str) -> None:
    try:
        if client.config(name) is not None:
            client.delete(name)
    finally:
        client.close()
