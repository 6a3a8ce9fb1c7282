"""Import lines get their personal fields encrypted by the append encoding, or are refused."""

from __future__ import annotations

import json

import pytest
from customers.service_layer.handlers import registry

from annals.cli.eventstore_cmds import service_registry
from annals.eventstore.codec import EventCodec
from annals.eventstore.errors import ImportConflict, InvalidEvent
from annals.eventstore.importseal import PersonalDataSealer
from annals.eventstore.memory import InMemoryKeyStore

EMAIL = "sealed@example.com"


def line(event_type: str = "CustomerRegistered", **data: object) -> bytes:
    body = {"customer_id": "c1", "name": "Sealed Person", "email": EMAIL, **data}
    doc = {"stream_id": "customer-c1", "event_type": event_type, "data": body}
    return json.dumps(doc).encode()


async def test_personal_fields_are_sealed_as_append_seals_them() -> None:
    keys = InMemoryKeyStore()
    codec = EventCodec(registry(), keys)
    sealer = PersonalDataSealer(codec)
    [sealed] = await sealer.seal(1, [line()])
    assert EMAIL.encode() not in sealed and b"Sealed Person" not in sealed
    doc = json.loads(sealed)
    assert doc["data"]["email"]["$pii"] == "v1" and doc["data"]["customer_id"] == "c1"
    change = {"customer_id": "c1", "tier": "gold", "previous_tier": "standard"}
    tier = json.dumps(
        {"stream_id": "customer-c1", "event_type": "CustomerTierChanged", "data": change}
    )
    assert await sealer.seal_line(2, tier.encode()) == tier.encode()  # nothing personal: untouched


async def test_unknown_types_bad_data_and_forgotten_subjects_are_refused() -> None:
    keys = InMemoryKeyStore()
    sealer = PersonalDataSealer(EventCodec(registry(), keys))
    with pytest.raises(InvalidEvent, match="line 3: 'Mystery'"):
        await sealer.seal_line(3, line("Mystery"))
    with pytest.raises(InvalidEvent, match="does not fit"):
        await sealer.seal_line(4, line(email="not an email", name=7))
    await keys.forget("c1")
    with pytest.raises(ImportConflict, match=r"line 5: .*forgotten"):
        await sealer.seal_line(5, line())


def test_declared_services_import_with_their_registry() -> None:
    customers = service_registry("customers")
    assert customers is not None and customers.personal("CustomerRegistered")
    assert service_registry("scratch") is None
