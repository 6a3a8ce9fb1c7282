"""Events out of Kafka records (CloudEvents, Debezium, poison) and decrypted personal data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from annals.eventstore.codec import encrypt_value
from annals.eventstore.memory import InMemoryKeyStore
from annals.eventstore.ports import RecordedEvent, uuid7
from annals.messaging.cloudevents import to_kafka
from annals.projections.events import Event, PoisonRecord, decrypt_personal, from_record
from tests.unit.cdc.samples import ROW, key, value


@dataclass
class Record:
    topic: str
    value: bytes | None
    key: bytes | None = b"k"
    partition: int = 2
    offset: int = 41
    timestamp: int = 1_700_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def test_a_cloudevent_becomes_an_event_with_stream_and_version() -> None:
    stored = RecordedEvent(1, 1, "order-o1", "order", 3, uuid7(), "OrderShipped", 1,
                           '{"order_id": "o1"}', "{}", datetime.now(UTC))  # fmt: skip
    out = to_kafka(stored, "orders")
    event = from_record(Record("t.orders.events", out.value, out.key, headers=out.headers),
                        "orders.events")  # fmt: skip
    assert (event.type, event.stream_id, event.version) == ("orders.OrderShipped", "order-o1", 3)
    assert (event.topic, event.partition, event.offset) == ("orders.events", 2, 41)
    assert event.data == {"order_id": "o1"}


def test_a_debezium_change_becomes_a_cdc_event() -> None:
    event = from_record(Record("legacy.public.products", value("u", ROW, ROW), key()),
                        "legacy.public.products")  # fmt: skip
    assert event.type == "cdc.products" and event.stream_id is None
    assert event.change.after == ROW


@pytest.mark.parametrize(
    ("topic", "raw"),
    [
        ("orders.events", b"{nope"),
        (
            "orders.events",
            json.dumps(
                {"specversion": "1.0", "id": "1", "source": "/s", "type": "orders.X", "data": {}}
            ).encode(),
        ),
        ("legacy.public.products", b"[1, 2]"),
    ],
)
def test_records_no_handler_can_read_are_poison(topic: str, raw: bytes) -> None:
    with pytest.raises(PoisonRecord):
        from_record(Record(topic, raw), topic)


async def test_personal_fields_are_decrypted_and_forgotten_ones_redacted() -> None:
    keys = InMemoryKeyStore()
    ada = await keys.get_or_create("ada")
    gone = await keys.get_or_create("gone")
    events = [
        Event("customers.CustomerRegistered",
              {"customer_id": "ada", "email": encrypt_value(ada, "ada", uuid7(), "email", "a@x")},
              datetime.now(UTC)),
        Event("customers.CustomerRegistered",
              {"customer_id": "gone", "email": encrypt_value(gone, "gone", uuid7(), "email", "g")},
              datetime.now(UTC)),
    ]  # fmt: skip
    await keys.forget("gone")
    await decrypt_personal(events, keys)
    assert events[0].data["email"] == "a@x"
    assert events[1].data["email"] is None
