"""Admission: a record from a stranger or off its schema is poison (forged source, invalid data)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import SchemaLocation, to_kafka
from annals.projections.admission import ForgedSource, admission, admission_for
from annals.projections.events import Event
from annals.projections.intake import decode_one
from annals.projections.records import Poison
from annals.projections.settings import PRODUCER_OF_TOPIC
from annals.schemas.wire import InvalidData, UnknownSchema
from tests.unit.cdc.samples import ROW, key, value

ORDERS, CUSTOMERS, PRODUCTS = "orders.events", "customers.events", "legacy.public.products"
PLACED = {"order_id": "o1", "customer_id": "c1", "currency": "EUR"}
REACTIVATED = {"customer_id": "c-x"}
REGISTRY, LATEST = "https://registry.example:8081", "/versions/latest/schema"
SUBJECTS = f"{REGISTRY}/subjects"


@dataclass
class Record:
    topic: str
    value: bytes | None
    key: bytes | None = b"k"
    partition: int = 1
    offset: int = 7
    timestamp: int = 1_700_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def cloudevent(topic: str, kind: str, data: Any, *, version: int = 4, **changes: Any) -> Record:
    """A relay-made record of `topic`, attributes of its envelope changed (None: removed)."""
    service = kind.split(".")[0]
    stored = RecordedEvent(1, 1, "s-1", "s", version, uuid7(), kind.split(".")[1], 1,
                           json.dumps(data), "{}", datetime.now(UTC))  # fmt: skip
    out = to_kafka(stored, service)
    envelope = json.loads(out.value)
    for name, new in changes.items():
        if new is None:
            envelope.pop(name, None)
        else:
            envelope[name] = new
    return Record(f"t.{topic}", json.dumps(envelope).encode(), out.key, headers=out.headers)


def decode(record: Record, topic: str) -> Event | Poison:
    return decode_one(record, topic, {}, admission())


def poison(record: Record, topic: str, reason: str) -> Poison:
    item = decode(record, topic)
    assert isinstance(item, Poison), item
    assert item.kind == reason, item
    return item


def test_the_producers_record_is_admitted() -> None:
    item = decode(cloudevent(ORDERS, "orders.OrderPlaced", PLACED), ORDERS)
    assert isinstance(item, Event) and item.data == PLACED
    assert item.source == "/services/orders"


def test_each_declared_topic_has_one_producer() -> None:
    assert PRODUCER_OF_TOPIC == {
        ORDERS: "orders",
        CUSTOMERS: "customers",
        "shipping.events": "shipping",
    }
    assert admission().sources[CUSTOMERS] == ("customers", "/services/customers")


def test_a_stranger_claiming_the_next_version_is_a_forged_source() -> None:
    record = cloudevent(CUSTOMERS, "customers.CustomerReactivated", REACTIVATED,
                        source="/services/evil")  # fmt: skip
    item = poison(record, CUSTOMERS, "forged source")
    # its stream parks behind it: the real version 4 is applied when it comes
    assert (item.stream_id, item.version) == ("s-1", 4)
    assert item.event_type == "customers.CustomerReactivated"
    assert item.error_class == f"{ForgedSource.__module__}.ForgedSource"
    assert "'/services/evil' is not /services/customers" in item.reason


@pytest.mark.parametrize(
    ("topic", "kind", "data", "changes"),
    [
        (CUSTOMERS, "orders.OrderPlaced", PLACED, {}),  # another producer's event, its source
        (CUSTOMERS, "orders.OrderPlaced", PLACED, {"source": "/services/customers"}),
        (ORDERS, "orders.OrderPlaced", PLACED, {"source": "/services/orders/../evil"}),
    ],
    ids=["other-topics-producer", "type-of-another-service", "source-look-alike"],
)
def test_a_record_not_of_the_topics_producer_is_forged(
    topic: str, kind: str, data: Any, changes: dict
) -> None:
    poison(cloudevent(topic, kind, data, **changes), topic, "forged source")


def test_a_binary_mode_record_without_source_is_forged() -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e1"), ("ce_type", b"orders.OrderPlaced"),
               ("ce_source", b"/somewhere"), ("ce_subject", b"order-o1"),
               ("ce_streamversion", b"1"), ("ce_schemaversion", b"1")]  # fmt: skip
    poison(Record(ORDERS, json.dumps(PLACED).encode(), headers=headers), ORDERS, "forged source")
    good = [(k, b"/services/orders" if k == "ce_source" else v) for k, v in headers]
    assert isinstance(decode(Record(ORDERS, json.dumps(PLACED).encode(), headers=good), ORDERS),
                      Event)  # fmt: skip  # the outbox connector's records: dataschema derived


def test_an_undeclared_topic_has_no_producer() -> None:
    record = cloudevent(ORDERS, "orders.OrderPlaced", PLACED)
    assert "no producer" in poison(record, "payments.events", "forged source").reason


@pytest.mark.parametrize(
    ("data", "changes", "says"),
    [
        ({**PLACED, "currency": 5}, {}, "currency"),
        ({"order_id": "o1"}, {}, "customer_id"),
        (PLACED, {"dataschema": "schemas/orders/OrderCancelled.v1.json"}, "dataschema"),
        (
            PLACED,
            {"dataschema": f"{SUBJECTS}/orders.events-OrderCancelled.v1{LATEST}"},
            "dataschema",
        ),
        (
            PLACED,
            {"dataschema": f"{SUBJECTS}/customers.events-OrderPlaced.v1{LATEST}"},
            "dataschema",
        ),
    ],
    ids=["wrong-type", "missing-field", "other-dataschema", "other-subject", "other-topic"],
)
def test_data_off_its_schema_is_invalid(data: Any, changes: dict, says: str) -> None:
    item = poison(cloudevent(ORDERS, "orders.OrderPlaced", data, **changes), ORDERS,
                  "invalid data")  # fmt: skip
    assert says in item.reason
    assert item.error_class == f"{InvalidData.__module__}.InvalidData"


def test_a_dataschema_in_a_registry_is_admitted() -> None:
    stored = RecordedEvent(1, 1, "s-1", "s", 4, uuid7(), "OrderPlaced", 1, json.dumps(PLACED),
                           "{}", datetime.now(UTC))  # fmt: skip
    out = to_kafka(stored, "orders", schemas=SchemaLocation(REGISTRY, ORDERS))
    uri = json.loads(out.value)["dataschema"]
    assert uri == f"{REGISTRY}/subjects/orders.events-OrderPlaced.v1/versions/latest/schema"
    assert isinstance(decode(Record(f"t.{ORDERS}", out.value, out.key, headers=out.headers),
                             ORDERS), Event)  # fmt: skip


def test_a_record_without_dataschema_is_checked_by_type_and_version() -> None:
    record = cloudevent(ORDERS, "orders.OrderPlaced", PLACED, dataschema=None)
    assert isinstance(decode(record, ORDERS), Event)


def test_a_version_without_a_schema_is_an_unknown_event() -> None:
    item = poison(cloudevent(ORDERS, "orders.OrderPlaced", PLACED, schemaversion=99), ORDERS,
                  "unknown event")  # fmt: skip
    assert item.error_class == f"{UnknownSchema.__module__}.UnknownSchema"


def test_the_legacy_connectors_change_is_admitted() -> None:
    item = decode(Record(PRODUCTS, value("c", None, ROW), key()), PRODUCTS)
    assert isinstance(item, Event) and item.type == "cdc.products"


@pytest.mark.parametrize(
    "source",
    [{"db": "other_db"}, {"table": "stock_levels"}, {"schema": "private"},
     {"connector": "mysql"}],
    ids=["db", "table", "schema", "connector"],
)  # fmt: skip
def test_a_change_of_another_table_or_database_is_forged(source: dict) -> None:
    record = Record(PRODUCTS, value("c", None, ROW, **source), key())
    poison(record, PRODUCTS, "forged source")


def test_a_tombstone_carries_no_source_and_is_admitted() -> None:
    assert isinstance(decode(Record(PRODUCTS, None, key()), PRODUCTS), Event)


def test_checks_turned_off_admit_anything() -> None:
    assert admission_for(False) is None
    record = cloudevent(CUSTOMERS, "customers.CustomerReactivated", REACTIVATED,
                        source="/services/evil")  # fmt: skip
    assert isinstance(decode_one(record, CUSTOMERS, {}, admission_for(False)), Event)


def test_attributes_admitted_once_still_have_each_records_data_checked() -> None:
    assert isinstance(decode(cloudevent(ORDERS, "orders.OrderPlaced", PLACED), ORDERS), Event)
    again = cloudevent(ORDERS, "orders.OrderPlaced", {**PLACED, "currency": "euro"})
    assert "currency" in poison(again, ORDERS, "invalid data").reason
    assert isinstance(decode(cloudevent(ORDERS, "orders.OrderPlaced", PLACED), ORDERS), Event)
