"""The one decode path (decrypt, then upcast, then type), as each reader of stored events takes it.

The event of these tests was stored at v1 with a personal `name`; v2 splits it into `first` and
`last`, so its upcaster can only work on the decrypted value: a reader that upcast before it
decrypted would hand the upcaster an envelope.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import pytest

from annals.eventstore.codec import EventCodec, encrypt_value
from annals.eventstore.decoding import PII_MARK, decoder
from annals.eventstore.domain import PERSONAL, DomainEvent
from annals.eventstore.errors import UndecodableEvent
from annals.eventstore.memory import InMemoryKeyStore
from annals.eventstore.ports import RecordedEvent
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import CloudEvent
from annals.messaging.decoding import EventDecoder
from annals.projections.events import Event
from annals.projections.intake import open_event
from annals.projections.records import Poison

EVENT_ID = uuid.UUID("0195a1b2-0000-7000-8000-000000000001")


class CustomerNamed(DomainEvent):
    schema_version: ClassVar[int] = 2
    subject_field: ClassVar[str | None] = "customer_id"
    customer_id: str
    first: Annotated[str, PERSONAL]
    last: Annotated[str, PERSONAL]


class Counted(DomainEvent):
    n: int


def split_name(data: dict[str, Any]) -> dict[str, Any]:
    name = data.pop("name")
    if not isinstance(name, str):
        raise TypeError(f"the upcaster was handed {name!r}, not the decrypted name")
    first, last = name.split(" ", 1)
    return {**data, "first": first, "last": last}


def registry() -> EventRegistry:
    reg = EventRegistry([CustomerNamed, Counted])
    reg.add_upcaster("CustomerNamed", 1, split_name)
    return reg


async def stored_v1(keys: InMemoryKeyStore) -> dict[str, Any]:
    key = await keys.get_or_create("c-1")
    name = encrypt_value(key, "c-1", EVENT_ID, "name", "Ada Lovelace")
    return {"customer_id": "c-1", "name": name}


def record(data: dict[str, Any], event_type: str = "CustomerNamed", version: int = 1) -> Any:
    return RecordedEvent(
        1, 1, "customer-c-1", "customer", 1, EVENT_ID, event_type, version,
        json.dumps(data), "{}", datetime.now(UTC),
    )  # fmt: skip


async def test_the_command_side_decrypts_then_upcasts_then_types() -> None:
    keys = InMemoryKeyStore()
    [envelope] = await EventCodec(registry(), keys).decode([record(await stored_v1(keys))])
    assert envelope.event == CustomerNamed(customer_id="c-1", first="Ada", last="Lovelace")


async def test_subscribers_decrypt_then_upcast_then_type() -> None:
    keys = InMemoryKeyStore()
    event = CloudEvent(
        id=str(EVENT_ID), source="/services/customers", type="customers.CustomerNamed",
        data=await stored_v1(keys), subject="customer-c-1", streamversion=1, schemaversion=1,
    )  # fmt: skip
    decoded = await EventDecoder({"customers": registry()}, keys).decode(event)
    assert decoded == CustomerNamed(customer_id="c-1", first="Ada", last="Lovelace")


async def test_projectors_decrypt_then_upcast_and_park_nothing_in_clear() -> None:
    keys = InMemoryKeyStore()
    stored = await stored_v1(keys)
    event = Event("customers.CustomerNamed", stored, datetime.now(UTC), "customer-c-1", 1, 1)
    found = {"c-1": await keys.get_or_create("c-1")}
    item = open_event(event, {"customers": registry()}, found)
    assert item is event and event.schema_version == 2
    assert event.data == {"customer_id": "c-1", "first": "Ada", "last": "Lovelace"}
    # the upcaster needs the name in clear, so the parked copy holds no personal value
    assert event.sealed == {"customer_id": "c-1", "first": None, "last": None}


async def test_a_projector_without_keys_keeps_values_sealed() -> None:
    keys = InMemoryKeyStore()
    key = await keys.get_or_create("c-1")
    sealed = {
        "customer_id": "c-1",
        "first": encrypt_value(key, "c-1", EVENT_ID, "first", "Ada"),
        "last": encrypt_value(key, "c-1", EVENT_ID, "last", "Lovelace"),
    }
    event = Event("customers.CustomerNamed", dict(sealed), datetime.now(UTC), "c", 1, 2)
    assert open_event(event, {"customers": registry()}, None) is event
    assert event.data == sealed and PII_MARK in event.data["first"]


async def test_an_envelope_that_does_not_open_is_poison_for_projectors() -> None:
    keys = InMemoryKeyStore()
    stored = await stored_v1(keys)
    event = Event("customers.CustomerNamed", stored, datetime.now(UTC), "customer-c-1", 1, 1)
    item = open_event(event, {"customers": registry()}, {"c-1": bytes(32)})
    assert isinstance(item, Poison) and item.kind == "undecryptable"


def test_plain_records_of_the_current_version_are_typed_from_their_json() -> None:
    path = decoder(registry())
    assert path is decoder(path.registry)  # one decoder (and its per-type plans) per registry
    events = path.decode_all([record({"n": i}, "Counted", 1) for i in range(3)], {})
    assert events == [Counted(n=0), Counted(n=1), Counted(n=2)]
    with pytest.raises(UndecodableEvent, match="Counted v1 at customer-c-1@1"):
        path.decode_all([record({"n": "x"}, "Counted", 1)], {})
