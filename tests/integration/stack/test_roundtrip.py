"""The shared stack carries data for real: Kafka produce/consume and a Debezium CDC round trip."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from annals.connect.secrets import DEBEZIUM_KEY, reference, rest_auth
from annals.messaging.security import client_security
from annals.stack.settings import StackSettings
from annals.stack.stack import COMPONENTS

pytestmark = pytest.mark.stack


async def _consume(settings: StackSettings, topic: str, count: int, timeout: float = 60) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        **client_security("admin"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def test_record_produced_with_aiokafka_is_consumed_back(stack: StackSettings, unique: str):
    topic = f"test.roundtrip.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **client_security("admin"))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap,
        **client_security("admin"),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b'{"hello": "annals"}', key=unique.encode(), headers=[("ce_id", b"1")]
        )
    finally:
        await producer.stop()

    [record] = await _consume(stack, topic, 1)

    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert record.key == unique.encode()
    assert json.loads(record.value) == {"hello": "annals"}
    assert record.headers == (("ce_id", b"1"),)


async def test_row_inserted_in_postgres_arrives_in_kafka_through_debezium(
    stack: StackSettings, unique: str
):
    table, slot, publication = f"scratch_{unique}", f"slot_{unique}", f"pub_{unique}"
    admin = await asyncpg.connect(stack.dsn("legacy_erp"))
    connector = f"scratch-{unique}"
    try:
        await admin.execute(
            f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL);"
            f"GRANT SELECT ON {table} TO debezium;"
            f"CREATE PUBLICATION {publication} FOR TABLE {table};"
            f"INSERT INTO {table} VALUES (1, 'before the connector')"
        )
        config = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": stack.host,
            "database.port": str(stack.pg_port),
            "database.user": "debezium",
            "database.password": reference(stack, DEBEZIUM_KEY),
            "database.dbname": "legacy_erp",
            "topic.prefix": f"sandbox{unique}",  # Connect may write sandbox* (kafka_auth)
            "plugin.name": "pgoutput",
            "slot.name": slot,
            "publication.name": publication,
            "publication.autocreate.mode": "disabled",
            "table.include.list": f"public.{table}",
            "tasks.max": "1",
        }
        auth = rest_auth(stack)
        async with httpx.AsyncClient(base_url=stack.connect_url, timeout=30, auth=auth) as connect:
            response = await connect.put(f"/connectors/{connector}/config", json=config)
            assert response.status_code in (200, 201), response.text
            await _wait_running(connect, connector)
            await admin.execute(f"INSERT INTO {table} VALUES (2, 'after the connector')")

            records = await _consume(stack, f"sandbox{unique}.public.{table}", 2, timeout=90)

            await connect.delete(f"/connectors/{connector}")
        changes = sorted((json.loads(r.value) for r in records), key=lambda c: c["after"]["id"])
        assert [(c["op"], c["after"]["name"]) for c in changes] == [
            ("r", "before the connector"),
            ("c", "after the connector"),
        ]
        assert {json.loads(r.key)["id"] for r in records} == {1, 2}
    finally:
        await _drop_slot(admin, slot)
        await admin.execute(
            f"DROP PUBLICATION IF EXISTS {publication}; DROP TABLE IF EXISTS {table}"
        )
        await admin.close()


async def _wait_running(connect: httpx.AsyncClient, name: str, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            response = await connect.get(f"/connectors/{name}/status")
            if response.status_code == 200:
                body = response.json()
                states = [body["connector"]["state"], *(t["state"] for t in body["tasks"])]
                assert "FAILED" not in states, body
                if body["tasks"] and all(state == "RUNNING" for state in states):
                    return
            await asyncio.sleep(0.5)


async def _drop_slot(admin: asyncpg.Connection, slot: str) -> None:
    async with asyncio.timeout(30):
        while True:
            active = await admin.fetchval(
                "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot
            )
            if active is None:
                return
            if not active:
                await admin.execute("SELECT pg_drop_replication_slot($1)", slot)
                return
            await asyncio.sleep(0.5)


def test_stack_status_reports_every_component_healthy(stack: StackSettings):
    done = subprocess.run(
        [sys.executable, "-m", "annals.cli.main", "stack", "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for component in COMPONENTS:
        assert component in done.stdout
    assert done.stdout.count("healthy") == len(COMPONENTS)
