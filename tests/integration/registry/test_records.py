"""Records on a real topic (SASL/SCRAM) against the schema registry.

- confluent-kafka's JSONSerializer/JSONDeserializer, with its SchemaRegistryClient on the
  registry, round-trip a record through a topic of the stack;
- every record the relay's publisher writes for each event type of orders and customers names, in
  `dataschema`, a URI that answers 200 (with a read token) with the schema its data validates
  against, and a subscriber's DataSchemas check passes on each.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import SchemaLocation, from_kafka
from annals.messaging.dataschemas import DataSchemas
from annals.messaging.publisher import KafkaPublisher, make_producer
from annals.schemas.publish import register_all, schema_files
from annals.schemas.wire import wire_form
from annals.stack import kafka_auth
from annals.stack.settings import REPO_ROOT, StackSettings
from tests.integration.messaging.support import create_topic, read_topic, remove_topics
from tests.support.registry import Served, serve_registry

SERVICES = {"orders": "orders.events", "customers": "customers.events"}
SAMPLES = {  # a value for each pattern of schemas/ (the others come from their `examples`)
    "^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,2})?$": "12.50",
    "^[A-Z]{2}$": "DE",
    "^[A-Z]{3}$": "EUR",
    "^[A-Za-z0-9-]{4,64}$": "ab-12",
    "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": "sku-1",
}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve_registry() as registry:
        headers = {"Authorization": f"Bearer {registry.token('admin')}"}
        with httpx.Client(base_url=registry.url, headers=headers) as admin:
            assert not register_all(admin, REPO_ROOT / "schemas", SERVICES).refused
        yield registry


def sample(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value valid under `schema` (the subset of JSON Schema that schemas/ uses)."""
    if "$ref" in schema:
        return sample(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "anyOf" in schema:
        branch = next((b for b in schema["anyOf"] if b.get("type") != "null"), schema["anyOf"][0])
        return sample(branch, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "pattern" in schema:
        return SAMPLES[schema["pattern"]]
    if "examples" in schema:
        return schema["examples"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: sample(p, root) for name, p in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}), root)]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x" * max(1, schema.get("minLength", 1))


def events(service: str) -> list[RecordedEvent]:
    """One stored event of each type and version of a service, its data valid by its schema."""
    out = []
    for at, (event_type, version, path) in enumerate(schema_files(REPO_ROOT / "schemas", service)):
        schema = json.loads(path.read_text())
        data = json.dumps(sample(schema, schema))
        out.append(RecordedEvent(at + 1, at + 1, f"{service}-s{at}", service, 1, uuid7(),
                                 event_type, version, data, "{}", datetime.now(UTC)))  # fmt: skip
    return out


@pytest.fixture
async def topics(stack: StackSettings) -> AsyncIterator[dict[str, str]]:
    """A fresh topic per service, deleted after the test."""
    made = {
        s: await create_topic(stack, f"t{uuid.uuid4().hex[:8]}.{t}") for s, t in SERVICES.items()
    }
    try:
        yield made
    finally:
        await remove_topics(stack, made.values())


async def test_every_record_names_a_schema_that_resolves_and_validates_its_data(
    stack: StackSettings, served: Served, topics: dict[str, str]
) -> None:
    producer = make_producer(stack.kafka_bootstrap)
    await producer.start()
    try:
        for service, topic in topics.items():
            schemas = SchemaLocation(served.url, SERVICES[service])  # the logical topic's subjects
            publisher = KafkaPublisher(producer, topic, service, schemas=schemas)
            await publisher.publish(events(service))
    finally:
        await producer.stop()
    read = {"Authorization": f"Bearer {served.token('read')}"}
    async with httpx.AsyncClient(headers=read, timeout=10) as client:
        schemas = DataSchemas(client, served.url)
        for service, topic in topics.items():
            expected = len(events(service))
            records = await read_topic(stack.kafka_bootstrap, topic, expected)
            assert len(records) == expected
            for record in records:
                event = from_kafka(record.value, record.headers)
                assert event.dataschema is not None
                assert event.dataschema.startswith(f"{served.url}/subjects/{SERVICES[service]}-")
                answer = await client.get(event.dataschema)
                assert answer.status_code == 200, event.dataschema
                path = REPO_ROOT / "schemas" / service / f"{event.event_type}.v1.json"
                assert answer.json() == json.loads(path.read_text())
                validator = jsonschema_rs.Draft202012Validator(wire_form(answer.json()))
                assert validator.is_valid(event.data), event.type
                await schemas.check(event)
        assert schemas.fetched == sum(len(events(s)) for s in SERVICES)  # each once


def _kafka(stack: StackSettings) -> dict[str, str]:
    """librdkafka's login as the stack's admin over SASL/SCRAM-SHA-512."""
    return {
        "bootstrap.servers": stack.kafka_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": kafka_auth.password(stack, "admin"),
    }


async def test_confluent_json_serdes_round_trip_a_record_through_a_topic(
    stack: StackSettings, served: Served, topics: dict[str, str], tmp_path: Path
) -> None:
    assert stack.kafka_auth == "scram"
    topic = topics["orders"]
    registry = SchemaRegistryClient(
        {"url": served.url, "basic.auth.user.info": f"token:{served.token('admin')}"}
    )
    schema = (REPO_ROOT / "schemas" / "orders" / "OrderPlaced.v1.json").read_text()
    serializer = JSONSerializer(schema, registry, conf={"auto.register.schemas": True})
    deserializer = JSONDeserializer(schema, schema_registry_client=registry)
    context = SerializationContext(topic, MessageField.VALUE)
    placed = {"order_id": "o-1", "customer_id": "c-1", "currency": "EUR"}
    producer = Producer(_kafka(stack))
    producer.produce(topic, key=b"order-o-1", value=serializer(placed, context))
    assert producer.flush(30) == 0
    consumer = Consumer({**_kafka(stack), "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None
        value = message.value()
        assert (
            value is not None and value[0] == 0
        )  # Confluent's wire format: magic byte, then the schema id
        schema_id = int.from_bytes(value[1:5], "big")
        assert json.loads(registry.get_schema(schema_id).schema_str or "") == json.loads(schema)
        assert deserializer(value, context) == placed
    finally:
        consumer.close()
