"""Poison records of every shape issue 11 names, shared by the unit and the Kafka tests.

Each poison record is of its own stream, so the test can tell what went to the DLQ because of
what it is from what was parked behind it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated

from annals.eventstore.domain import PERSONAL, DomainEvent
from annals.eventstore.ports import RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import to_kafka


class OrderPlaced(DomainEvent):
    order_id: str
    sku: str
    quantity: int


class CustomerRenamed(DomainEvent):
    customer_id: str
    name: Annotated[str, PERSONAL]


REGISTRY = EventRegistry([OrderPlaced, CustomerRenamed])
PERMANENT_SKU, FLAKY_SKU = "PERMANENT", "ALWAYS-FLAKY"


@dataclass(frozen=True)
class Item:
    """One record to produce and the DLQ reason it must get (None: handled)."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: str | None
    stream: str


def recorded(
    stream: str,
    version: int,
    data: object,
    event_type: str = "OrderPlaced",
    schema_version: int = 1,
    event_id: uuid.UUID | None = None,
) -> RecordedEvent:
    """A stored event of the test's shape."""
    return RecordedEvent(
        version, 1, stream, "order", version, event_id or uuid.uuid4(), event_type,
        schema_version, json.dumps(data), "{}", datetime.now(UTC),
    )  # fmt: skip


def good(stream: str, version: int, sku: str = "SKU-1", event_id: uuid.UUID | None = None) -> Item:
    """A record the handler takes."""
    data = {"order_id": stream, "sku": sku, "quantity": version}
    return event(recorded(stream, version, data, event_id=event_id), None)


def event(stored: RecordedEvent, reason: str | None) -> Item:
    """The relay's record of a stored event."""
    out = to_kafka(stored, "orders")
    return Item(out.key, out.value, out.headers, reason, stored.stream_id)


def envelope(stream: str, reason: str, **attributes: object) -> Item:
    """A hand-made structured CloudEvent (attributes override a valid one)."""
    doc: dict[str, object] = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/services/orders",
        "type": "orders.OrderPlaced", "subject": stream, "streamversion": 1,
        "schemaversion": 1, "data": {"order_id": stream, "sku": "X", "quantity": 1},
    }  # fmt: skip
    for name, value in attributes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return Item(stream.encode(), json.dumps(doc).encode(), [], reason, stream)


def poison(prefix: str) -> list[Item]:
    """Every poison shape, each of stream `<prefix>-<n>`, in a fixed order."""
    s = [f"{prefix}-{n}" for n in range(20)]
    sealed = {"$pii": "v1", "s": s[9], "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    return [
        Item(s[0].encode(), b"\x00not json at all", [("source", b"test")], "malformed", s[0]),
        Item(s[1].encode(), b'{"hello": "world"}', [], "malformed", s[1]),  # not a CloudEvent
        envelope(s[2], "malformed", id=None),  # a required attribute missing
        envelope(s[3], "malformed", subject=None),  # no stream to keep in order
        envelope(s[4], "malformed", streamversion="three"),  # an attribute of the wrong type
        event(recorded(s[5], 1, {}), "undecodable"),  # "data": {} (issue 11)
        event(recorded(s[6], 1, {"order_id": s[6], "sku": 7, "quantity": "x"}), "undecodable"),
        event(recorded(s[7], 1, {}, "OrderTeleported"), "unknown type"),
        event(recorded(s[8], 1, {"order_id": s[8]}, schema_version=9), "unknown type"),
        event(
            recorded(s[9], 1, {"customer_id": s[9], "name": sealed}, "CustomerRenamed"),
            "undecodable",
        ),  # a $pii envelope that does not open
        replace(good(s[10], 1, PERMANENT_SKU), reason="permanent error"),
        replace(good(s[11], 1, FLAKY_SKU), reason="retries exhausted"),
    ]
