"""The wire validators of schemas/: compiled once, encrypted values valid, values never shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from customers.domain.events import CustomerRegistered
from orders.domain.events import ItemAdded

from annals.eventstore.codec import EventCodec
from annals.eventstore.memory import InMemoryKeyStore
from annals.eventstore.registry import EventRegistry
from annals.messaging.cloudevents import dataschema_for
from annals.schemas.wire import ENVELOPE, InvalidData, UnknownSchema, WireSchemas, wire_form
from annals.stack.settings import REPO_ROOT

ROOT = REPO_ROOT / "schemas"
ITEM = {"order_id": "o1", "sku": "SKU-1", "quantity": 2,
        "unit_price": {"amount": "12.50", "currency": "EUR"}}  # fmt: skip
ADA = {"customer_id": "c-ada", "name": "Ada Lovelace", "email": "ada@example.org",
       "tier": "gold"}  # fmt: skip


def _files() -> list[Path]:
    return sorted(ROOT.glob("*/*.json"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_committed_schema_compiles_and_names_its_dataschema(path: Path) -> None:
    event_type, _, version = path.name.removesuffix(".json").rpartition(".v")
    contract = WireSchemas(ROOT).contract(path.parent.name, event_type, int(version))
    assert contract.dataschema == dataschema_for(path.parent.name, event_type, int(version))
    assert contract.dataschema == json.loads(path.read_text())["$id"]


def test_a_validator_is_compiled_once_per_type_and_version() -> None:
    schemas = WireSchemas(ROOT)
    first = schemas.contract("orders", "ItemAdded", 1)
    assert schemas.contract("orders", "ItemAdded", 1) is first
    assert schemas.contract("orders", "OrderPlaced", 1) is not first


def test_valid_data_passes() -> None:
    WireSchemas(ROOT).check("orders", "ItemAdded", 1, ITEM)
    WireSchemas(ROOT).check("customers", "CustomerRegistered", 1, ADA)


async def test_an_event_as_the_codec_encrypts_it_is_valid() -> None:
    codec = EventCodec(EventRegistry([CustomerRegistered]), InMemoryKeyStore())
    address = {"line1": "1 Main St", "city": "London", "postal_code": "N1", "country": "GB"}
    event = CustomerRegistered(customer_id="c-ada", name="Ada", email="ada@example.org",
                               phone="+44 1", address=address)  # fmt: skip
    [stored] = await codec.encode("customer-c-ada", [event])
    assert stored.data["email"]["$pii"] and stored.data["address"]["$pii"]
    WireSchemas(ROOT).check("customers", "CustomerRegistered", 1, stored.data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**ITEM, "quantity": "two"}, "quantity"),
        ({**ITEM, "quantity": 0}, "quantity"),
        ({k: v for k, v in ITEM.items() if k != "sku"}, "sku"),
        ({**ITEM, "sku": "../../etc"}, "sku"),
        ({**ITEM, "unit_price": {"amount": "1e9", "currency": "EUR"}}, "unit_price/amount"),
        ({**ITEM, "extra": True}, "extra"),
    ],
    ids=["wrong-type", "below-minimum", "missing", "pattern", "nested", "unknown-field"],
)
def test_invalid_data_says_which_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidData, match=r"schemas/orders/ItemAdded\.v1\.json") as caught:
        WireSchemas(ROOT).check("orders", ItemAdded.event_type, 1, data)
    assert field in str(caught.value)


def test_the_message_never_shows_a_value() -> None:
    secret = "ada-secret@example.org"
    with pytest.raises(InvalidData) as caught:
        WireSchemas(ROOT).check("customers", "CustomerRegistered", 1,
                                {**ADA, "email": [secret], "name": 42})  # fmt: skip
    message = str(caught.value)
    assert "email" in message and "name" in message
    assert secret not in message and "42" not in message


@pytest.mark.parametrize(
    "envelope",
    [
        {"$pii": "v1", "s": "c-ada"},
        {"$pii": "v1", "s": "c-ada", "ct": ""},
        {"$pii": "v1", "s": "c-ada", "ct": "QQ==", "plain": "ada@example.org"},
        {"$pii": 1, "s": "c-ada", "ct": "QQ=="},
    ],
    ids=["no-ciphertext", "empty-ciphertext", "extra-key", "mark-not-a-string"],
)
def test_a_malformed_envelope_is_invalid(envelope: dict) -> None:
    with pytest.raises(InvalidData, match="email"):
        WireSchemas(ROOT).check("customers", "CustomerRegistered", 1, {**ADA, "email": envelope})


def test_an_envelope_is_only_accepted_for_personal_fields() -> None:
    sealed = {"$pii": "v1", "s": "c-ada", "ct": "QQ=="}
    WireSchemas(ROOT).check("customers", "CustomerRegistered", 1, {**ADA, "phone": sealed})
    with pytest.raises(InvalidData, match="tier"):
        WireSchemas(ROOT).check("customers", "CustomerRegistered", 1, {**ADA, "tier": sealed})


def test_wire_form_wraps_only_personal_properties() -> None:
    schema = json.loads((ROOT / "customers/CustomerRegistered.v1.json").read_text())
    wired = wire_form(schema)
    assert wired["properties"]["email"] == {"anyOf": [{"title": "Email", "type": "string"},
                                                      ENVELOPE]}  # fmt: skip
    assert wired["properties"]["tier"] == schema["properties"]["tier"]
    assert "x-personal" in schema["properties"]["email"]  # the committed schema is not changed


@pytest.mark.parametrize(
    ("service", "event_type", "version"),
    [("orders", "OrderPlaced", 99), ("orders", "OrderTeleported", 1),
     ("nobody", "OrderPlaced", 1), ("orders", "..", 1), ("..", "customers/x", 1),
     ("orders", "OrderPlaced", 0)],
)  # fmt: skip
def test_a_type_without_a_schema_is_unknown(service: str, event_type: str, version: int) -> None:
    with pytest.raises(UnknownSchema):
        WireSchemas(ROOT).contract(service, event_type, version)


def test_a_miss_is_not_cached_and_a_new_file_is_found(tmp_path: Path) -> None:
    schemas = WireSchemas(tmp_path)
    with pytest.raises(UnknownSchema):
        schemas.contract("orders", "ItemAdded", 1)
    (tmp_path / "orders").mkdir()
    shutil.copy(ROOT / "orders/ItemAdded.v1.json", tmp_path / "orders/ItemAdded.v1.json")
    schemas.check("orders", "ItemAdded", 1, ITEM)
