"""Typed decoding of CloudEvents through event registries: upcasts, unknown types and versions."""

from __future__ import annotations

from typing import Annotated, ClassVar

import pytest

from annals.eventstore.domain import PERSONAL, REDACTED, DomainEvent
from annals.eventstore.memory import InMemoryKeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import CloudEvent
from annals.messaging.decoding import EventDecoder
from annals.messaging.errors import MalformedEvent, UnknownEvent


class ItemAdded(DomainEvent):
    schema_version: ClassVar[int] = 2
    sku: str
    quantity: int


class CustomerNamed(DomainEvent):
    name: Annotated[str, PERSONAL]


def registry() -> EventRegistry:
    reg = EventRegistry([ItemAdded, CustomerNamed])
    reg.add_upcaster("ItemAdded", 1, lambda d: {"sku": d["sku"], "quantity": d.get("qty", 1)})
    return reg


def cloudevent(type_: str, data: object, schemaversion: int = 2) -> CloudEvent:
    return CloudEvent(
        id="0195a1b2-0000-7000-8000-000000000001",
        source="/services/orders",
        type=type_,
        data=data,
        subject="order-1",
        streamversion=1,
        schemaversion=schemaversion,
    )


async def test_current_version_decodes_to_the_model():
    event = await EventDecoder(registry()).decode(
        cloudevent("orders.ItemAdded", {"sku": "A", "quantity": 3})
    )
    assert event == ItemAdded(sku="A", quantity=3)


async def test_older_version_is_upcast():
    decoded = await EventDecoder({"orders": registry()}).decode(
        cloudevent("orders.ItemAdded", {"sku": "A", "qty": 4}, schemaversion=1)
    )
    assert decoded == ItemAdded(sku="A", quantity=4)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (cloudevent("orders.ItemRemoved", {}), "unknown event type"),
        (cloudevent("orders.ItemAdded", {"sku": "A", "quantity": 1}, 3), "newer"),
        (cloudevent("billing.ItemAdded", {"sku": "A", "quantity": 1}), "no event registry"),
    ],
)
async def test_unknown_or_undecodable_events_raise_unknown_event(event, message):
    with pytest.raises(UnknownEvent, match=message):
        await EventDecoder({"orders": registry()}).decode(event)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sku": "A"}, "does not fit"),  # a missing field
        ({"sku": "A", "quantity": "many"}, "does not fit"),  # a wrong type
        ({}, "does not fit"),  # the "data": {} of issue 11
    ],
)
async def test_data_that_does_not_fit_its_model_is_malformed_not_unknown(data, message):
    with pytest.raises(MalformedEvent, match=message) as raised:
        await EventDecoder({"orders": registry()}).decode(cloudevent("orders.ItemAdded", data))
    assert not isinstance(raised.value, UnknownEvent)


@pytest.mark.parametrize(
    "sealed",
    [
        {"$pii": "v1", "s": "cust-1"},  # no ciphertext
        {"$pii": "v1", "s": "cust-1", "ct": "%%% not base64"},
        {"$pii": "v1", "s": "cust-1", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},  # wrong key/tag
    ],
)
async def test_a_pii_envelope_that_does_not_open_is_malformed(sealed):
    keys = InMemoryKeyStore()
    await keys.get_or_create("cust-1")
    decoder = EventDecoder(registry(), keys)
    with pytest.raises(MalformedEvent):
        await decoder.decode(cloudevent("orders.CustomerNamed", {"name": sealed}, 1))


async def test_a_retriable_error_of_the_key_store_passes_through_for_a_retry():
    class Down(InMemoryKeyStore):
        async def get_many(self, subjects):  # type: ignore[override]
            raise ConnectionRefusedError("key store away")

    sealed = {"$pii": "v1", "s": "cust-1", "ct": "AAAA"}
    with pytest.raises(ConnectionRefusedError):
        await EventDecoder(registry(), Down()).decode(
            cloudevent("orders.CustomerNamed", {"name": sealed}, 1)
        )


async def test_data_that_is_not_an_object_is_malformed():
    with pytest.raises(MalformedEvent):
        await EventDecoder(registry()).decode(cloudevent("orders.ItemAdded", [1, 2]))


async def test_personal_fields_read_redacted_without_keys():
    sealed = {"$pii": "v1", "s": "cust-1", "ct": "AAAA"}
    event = await EventDecoder(registry()).decode(
        cloudevent("orders.CustomerNamed", {"name": sealed}, 1)
    )
    assert event == CustomerNamed(name=REDACTED)


async def test_without_registries_events_stay_untyped():
    assert await EventDecoder().decode(cloudevent("orders.Anything", {})) is None
