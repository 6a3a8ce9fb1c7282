"""`annals topics ensure|describe` and `annals tail` on the real stack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from annals.eventstore.ports import NewEvent
from annals.eventstore.postgres import PostgresEventStore
from annals.eventstore.settings import ServiceDatabase
from annals.messaging.runner import RelayProcess
from annals.messaging.settings import KafkaSettings, PublisherSettings
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.messaging.support import (
    create_database,
    drop_database,
    read_topic,
    remove_topics,
)

pytestmark = pytest.mark.stack


def annals(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "annals.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


async def test_topics_ensure_creates_with_unlimited_retention_and_describe_shows_it(
    stack: StackSettings, unique: str
):
    topic = f"test.cli.{unique}"
    try:
        created = await asyncio.to_thread(annals, "topics", "ensure", topic, "--partitions", "3")
        again = await asyncio.to_thread(annals, "topics", "ensure", topic)
        described = await asyncio.to_thread(annals, "topics", "describe", topic)
    finally:
        await remove_topics(stack, [topic])
    assert created.returncode == 0, created.stdout + created.stderr
    assert f"{topic}: created" in created.stdout
    assert f"{topic}: unchanged" in again.stdout
    assert "has 3 partitions, not 6" in again.stdout
    row = next(line for line in described.stdout.splitlines() if topic in line)
    assert " 3 " in row and "-1" in row, described.stdout


async def test_tail_prints_events_as_json_filtered_by_type(
    stack: StackSettings, topic: str, unique: str
):
    stream = f"order-{unique}"
    db = await create_database(stack, "msg_cli")  # holds only this test's events
    try:
        store = await PostgresEventStore.connect(db.app_dsn, min_size=1, max_size=2)
        await store.append(
            stream,
            [NewEvent("OrderPlaced", {"n": 1}), NewEvent("ItemAdded", {"n": 2})],
            metadata={"correlation_id": "corr-tail"},
        )
        await store.close()
        process = RelayProcess(
            PublisherSettings(service="orders", topic=topic),
            ServiceDatabase(service="orders", dsn=db.app_dsn, owner_dsn=db.owner_dsn),
            KafkaSettings(),
        )
        running = asyncio.create_task(process.run())
        try:
            await read_topic(stack.kafka_bootstrap, topic, 2, timeout=30)
        finally:
            process.stop()
            await running
    finally:
        await drop_database(stack, db.name)

    done = await asyncio.to_thread(
        annals, "tail", topic, "--from-beginning", "--type", "ItemAdded", "--json",
        "--timeout", "3",
    )  # fmt: skip
    pretty = await asyncio.to_thread(
        annals, "tail", topic, "--from-beginning", "--max", "2", "--timeout", "10"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
    assert line["key"] == stream
    assert line["attributes"]["type"] == "orders.ItemAdded"
    assert line["attributes"]["correlationid"] == "corr-tail"
    assert line["data"] == {"n": 2}
    assert "orders.OrderPlaced" in pretty.stdout and f"{stream}@1" in pretty.stdout
