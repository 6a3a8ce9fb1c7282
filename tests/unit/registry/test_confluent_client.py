"""Conformance: confluent-kafka's SchemaRegistryClient and JSON serdes against annals registry."""

from __future__ import annotations

import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.support.registry import Served

SUBJECT = "orders.events-OrderPlaced.v1"
V1 = {"type": "object", "properties": {"order_id": {"type": "string"}},
      "required": ["order_id"], "additionalProperties": False}  # fmt: skip
V2 = {**V1, "properties": {"order_id": {"type": "string"}, "note": {"type": "string"}}}
BROKEN = {**V1, "properties": {"order_id": {"type": "integer"}}}


@pytest.fixture(scope="module")
def client(served: Served) -> SchemaRegistryClient:
    token = served.token("admin")
    return SchemaRegistryClient({"url": served.url, "basic.auth.user.info": f"token:{token}"})


def _schema(doc: dict[str, object]) -> Schema:
    return Schema(json.dumps(doc), "JSON")


def test_register_get_by_id_latest_and_lookup(client: SchemaRegistryClient) -> None:
    schema_id = client.register_schema(SUBJECT, _schema(V1))
    assert json.loads(client.get_schema(schema_id).schema_str) == V1
    assert client.get_schema(schema_id).schema_type == "JSON"
    latest = client.get_latest_version(SUBJECT)
    assert (latest.schema_id, latest.version, latest.subject) == (schema_id, 1, SUBJECT)
    found = client.lookup_schema(SUBJECT, _schema(V1))
    assert (found.schema_id, found.version) == (schema_id, 1)
    assert SUBJECT in client.get_subjects()
    assert client.get_versions(SUBJECT) == [1]


def test_set_read_and_test_compatibility(client: SchemaRegistryClient) -> None:
    client.register_schema(SUBJECT, _schema(V1))
    assert client.set_compatibility(SUBJECT, "BACKWARD_TRANSITIVE")["compatibility"] == (
        "BACKWARD_TRANSITIVE"
    )
    assert client.get_compatibility(SUBJECT) == "BACKWARD_TRANSITIVE"
    assert client.test_compatibility(SUBJECT, _schema(V2)) is True
    assert client.test_compatibility(SUBJECT, _schema(BROKEN)) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(SUBJECT, _schema(BROKEN))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_latest_version("nope")
    assert missing.value.error_code == 40401


def test_json_serializer_and_deserializer_round_trip(client: SchemaRegistryClient) -> None:
    serializer = JSONSerializer(json.dumps(V1), client, conf={"auto.register.schemas": True})
    deserializer = JSONDeserializer(json.dumps(V1), schema_registry_client=client)
    context = SerializationContext("orders.events", MessageField.VALUE)
    payload = serializer({"order_id": "o-1"}, context)
    assert payload is not None and payload[0] == 0  # Confluent's wire format: magic byte, id
    assert deserializer(payload, context) == {"order_id": "o-1"}
