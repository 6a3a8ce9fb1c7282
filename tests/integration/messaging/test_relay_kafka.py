"""The relay on the real stack: keys, order, the envelope, and kcat reading it as plain JSON."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from annals.eventstore.ports import Checkpoint, NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.settings import ServiceDatabase
from annals.messaging.cloudevents import from_kafka
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.stack.kafka_auth import password
from annals.stack.settings import StackSettings
from tests.integration.messaging.support import (
    ScratchDatabase,
    caught_up,
    checkpoint_row,
    delivery,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.stack


def relay_process(db: ScratchDatabase, topic: str) -> RelayProcess:
    return RelayProcess(
        PublisherSettings(service="orders", topic=topic, publisher_batch_size=100),
        ServiceDatabase(service="orders", dsn=db.app_dsn, owner_dsn=db.owner_dsn),
        KafkaSettings(),
    )


async def test_appended_events_reach_kafka_keyed_and_in_stream_order(
    stack: StackSettings, msg_db: ScratchDatabase, store: PostgresEventStore, topic: str, unique
):
    streams = [f"order-{unique}-{i}" for i in range(8)]
    process = relay_process(msg_db, topic)
    running = asyncio.create_task(process.run())
    try:
        for round_ in range(25):
            await asyncio.gather(
                *(
                    store.append(s, [NewEvent("OrderPlaced", {"round": round_, "n": 1})])
                    for s in streams
                )
            )
        await caught_up(msg_db, topic)
        records = await read_topic(stack.kafka_bootstrap, topic, 200, timeout=30)
    finally:
        process.stop()
        await running

    got = delivery(records)
    assert got.problems({s: 25 for s in streams}) == []
    partitions = {}
    for record in records:
        partitions.setdefault(record.key, set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions.values())
    *_, published, leader = await checkpoint_row(msg_db, topic)
    assert published >= 200 and leader


async def test_kcat_reads_a_record_as_plain_json(
    stack: StackSettings, msg_db: ScratchDatabase, store: PostgresEventStore, topic: str, unique
):
    stream = f"order-{unique}"
    await store.append(
        stream,
        [NewEvent("OrderPlaced", {"sku": "SKU-1", "quantity": 2})],
        metadata={"correlation_id": f"corr-{unique}"},
    )
    [mine_stored] = await store.read_stream(stream)
    process = relay_process(msg_db, topic)
    running = asyncio.create_task(process.run())
    try:
        await wait_for(
            lambda: _reached(msg_db, topic, mine_stored.checkpoint), 30, what="event published"
        )
    finally:
        process.stop()
        await running

    kcat = ["kcat", "-C", "-b", stack.kafka_bootstrap, "-t", topic, "-o", "beginning", "-e"]
    done = await asyncio.to_thread(
        subprocess.run,
        [*kcat, *_kcat_login(stack), "-q", "-J"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    mine = [m for m in lines if m["key"] == stream]
    assert len(mine) == 1, done.stdout
    envelope = json.loads(mine[0]["payload"])  # the value is plain JSON, nothing of ours needed
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "orders.OrderPlaced"
    assert envelope["source"] == "/services/orders"
    assert envelope["subject"] == stream
    assert envelope["streamversion"] == 1
    assert envelope["correlationid"] == f"corr-{unique}"
    assert envelope["dataschema"] == "schemas/orders/OrderPlaced.v1.json"
    assert envelope["data"] == {"sku": "SKU-1", "quantity": 2}
    headers = dict(zip(mine[0]["headers"][::2], mine[0]["headers"][1::2], strict=True))
    assert headers["ce_id"] == envelope["id"]
    assert headers["ce_type"] == "orders.OrderPlaced"
    event = from_kafka(mine[0]["payload"].encode(), [])
    assert event.id == envelope["id"]


def _kcat_login(stack: StackSettings) -> list[str]:
    """README's kcat login: Debian's kcat (librdkafka 2.0.2) fails SCRAM, admin's PLAIN works."""
    if KafkaSettings().auth != "scram":
        return []
    secret = password(stack, "admin")
    return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=admin", "-X", f"sasl.password={secret}"]  # fmt: skip


async def _reached(db: ScratchDatabase, topic: str, checkpoint: Checkpoint) -> bool:
    tx, pos, *_ = await checkpoint_row(db, topic)
    return Checkpoint(tx, pos) >= checkpoint
