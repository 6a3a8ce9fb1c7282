"""CloudEvents on Kafka: structured out, structured and binary in, one CloudEvent either way."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from annals.eventstore.ports import RecordedEvent
from annals.messaging.cloudevents import (
    STRUCTURED_CONTENT_TYPE,
    format_time,
    from_kafka,
    parse_time,
    to_kafka,
)
from annals.messaging.errors import MalformedEvent

WHEN = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def recorded(
    metadata: dict | None = None, data: str = '{"sku": "A-1", "qty": 2, "note": "é €"}'
) -> RecordedEvent:
    return RecordedEvent(
        41,
        900,
        "order-7",
        "order",
        3,
        uuid.UUID("0195a1b2-0000-7000-8000-000000000001"),
        "OrderPlaced",
        2,
        data,
        json.dumps(metadata or {}),
        WHEN,
    )


def test_structured_value_is_plain_json_with_every_attribute():
    record = to_kafka(recorded({"correlation_id": "corr-1", "causation_id": "cmd-9"}), "orders")
    envelope = json.loads(record.value)
    assert envelope == {
        "specversion": "1.0",
        "id": "0195a1b2-0000-7000-8000-000000000001",
        "source": "/services/orders",
        "type": "orders.OrderPlaced",
        "subject": "order-7",
        "time": "2025-03-01T12:30:15.123456Z",
        "datacontenttype": "application/json",
        "dataschema": "schemas/orders/OrderPlaced.v2.json",
        "streamversion": 3,
        "schemaversion": 2,
        "correlationid": "corr-1",
        "causationid": "cmd-9",
        "data": {"sku": "A-1", "qty": 2, "note": "é €"},
    }
    assert record.key == b"order-7"
    assert dict(record.headers) == {
        "ce_id": b"0195a1b2-0000-7000-8000-000000000001",
        "ce_type": b"orders.OrderPlaced",
        "content-type": STRUCTURED_CONTENT_TYPE.encode(),
    }


def test_attributes_without_trace_ids_are_absent_not_null():
    envelope = json.loads(to_kafka(recorded(), "orders").value)
    assert "correlationid" not in envelope
    assert "causationid" not in envelope


def test_structured_record_decodes_back():
    record = to_kafka(recorded({"correlation_id": "corr-1"}), "orders")
    event = from_kafka(record.value, record.headers)
    assert (event.id, event.type, event.subject, event.streamversion) == (
        "0195a1b2-0000-7000-8000-000000000001",
        "orders.OrderPlaced",
        "order-7",
        3,
    )
    assert event.time == WHEN
    assert event.correlationid == "corr-1"
    assert (event.service, event.event_type) == ("orders", "OrderPlaced")
    assert event.data == {"sku": "A-1", "qty": 2, "note": "é €"}


def debezium_headers(**override: str) -> list[tuple[str, bytes]]:
    """Headers as the outbox connector of deploy/connect/ writes them."""
    headers = {
        "ce_id": "0195a1b2-0000-7000-8000-000000000001",
        "ce_subject": "order-7",
        "ce_time": "2025-03-01T12:30:15.123456Z",
        "ce_streamversion": "3",
        "ce_schemaversion": "2",
        "annals_metadata": '{"correlation_id": "corr-1", "causation_id": "cmd-9"}',
        "ce_type": "orders.OrderPlaced",
        "ce_specversion": "1.0",
        "ce_source": "/services/orders",
        "content-type": "application/json",
        **override,
    }
    return [(k, v.encode()) for k, v in headers.items()]


def test_binary_mode_decodes_to_the_same_cloudevent_as_structured_mode():
    structured = to_kafka(recorded({"correlation_id": "corr-1", "causation_id": "cmd-9"}), "orders")
    binary_value = '{"qty": 2, "sku": "A-1", "note": "é €"}'.encode()
    assert from_kafka(binary_value, debezium_headers()) == from_kafka(
        structured.value, structured.headers
    )


def test_binary_time_with_fewer_fraction_digits_is_the_same_instant():
    event = from_kafka(b"{}", debezium_headers(ce_time="2025-03-01T12:30:15.1234Z"))
    assert event.time == datetime(2025, 3, 1, 12, 30, 15, 123400, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "headers", "message"),
    [
        (b"not json", [], "not JSON"),
        (b'{"hello": 1}', [], "neither"),
        (None, [], "tombstone"),
        (b'{"specversion": "1.0", "id": "x", "type": "t"}', [], "source"),
        (b'{"specversion": "0.3", "id": "x", "type": "t", "source": "/s"}', [], "specversion"),
        (b"{}", debezium_headers(ce_streamversion="three"), "integer"),
        (b"{broken", debezium_headers(), "data is not JSON"),
        (b"{}", debezium_headers(ce_time="yesterday"), "RFC 3339"),
    ],
)
def test_unreadable_records_raise_malformed_event(value, headers, message):
    with pytest.raises(MalformedEvent, match=message):
        from_kafka(value, headers)


def test_time_format_round_trips_and_accepts_offsets():
    assert parse_time(format_time(WHEN)) == WHEN
    assert parse_time("2025-03-01T14:30:15.123456+02:00") == WHEN
    assert parse_time("2025-03-01T12:30:15Z") == WHEN.replace(microsecond=0)
