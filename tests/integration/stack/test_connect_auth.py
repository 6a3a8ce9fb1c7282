"""Connect's trust boundary: its REST API needs credentials and never holds a password."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from legacy.sandbox import sandbox

from annals.connect.secrets import DEBEZIUM_KEY, debezium_password, reference, rest_auth
from annals.stack.settings import StackSettings

try:  # SASL client settings when the stack's Kafka requires them
    from annals.messaging.security import client_security
except ImportError:  # pragma: no cover - before authenticated Kafka

    def client_security(principal: str) -> dict[str, Any]:
        return {}


pytestmark = pytest.mark.stack
CONFIG_TOPIC = "_annals_connect_configs"


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("annals-admin", "not-the-password"), 401),
        (("someone-else", "x"), 401),
        ("stack", 200),
    ],
    ids=["no-credentials", "wrong-password", "unknown-user", "stack-credentials"],
)
def test_rest_api_needs_the_stack_credentials(stack: StackSettings, auth: Any, status: int):
    credentials = rest_auth(stack) if auth == "stack" else auth
    with httpx.Client(base_url=stack.connect_url, timeout=10, auth=credentials) as client:
        for path in ("/", "/connectors", "/connector-plugins"):
            assert client.get(path).status_code == status, path


async def test_no_password_in_rest_api_or_config_topic(stack: StackSettings, unique: str):
    password = debezium_password(stack)
    async with sandbox(stack, unique) as rig:
        status = await rig.start()
        config = await asyncio.to_thread(rig.connect.config, rig.name)
        legacy = await asyncio.to_thread(rig.connect.config, "legacy-erp")
        auth = rest_auth(stack)
        async with httpx.AsyncClient(base_url=stack.connect_url, timeout=10, auth=auth) as client:
            tasks = await client.get(f"/connectors/{rig.name}/tasks")
        records = await _config_topic(stack)

    assert status.running  # the worker resolved the reference: Debezium logged in
    assert config is not None
    assert config["database.password"] == reference(stack, DEBEZIUM_KEY)
    for shown in (config, legacy or {}, tasks.json()):
        assert password not in json.dumps(shown)
    assert any(rig.name.encode() in record for record in records)  # the topic was read
    assert not [r for r in records if password.encode() in r]


async def _config_topic(stack: StackSettings) -> list[bytes]:
    """Every key and value of Connect's config topic, from the first offset to the end."""
    security = client_security("admin")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False, **security
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(CONFIG_TOPIC, 0)]  # Connect requires exactly one partition
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[bytes] = []
        async with asyncio.timeout(30):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=1000)
                for messages in batch.values():
                    records.extend((m.key or b"") + b" " + (m.value or b"") for m in messages)
        return records
    finally:
        await consumer.stop()
