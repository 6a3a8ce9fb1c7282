import random
from collections import Counter
from decimal import Decimal

import pytest
from legacy.import_customers import command_for, customer_id, registered_event_id
from legacy.rows import Product
from legacy.schema import REPLICA_IDENTITY, LegacySchema
from legacy.simulator import KeyBag
from pydantic import ValidationError

from annals.cdc import RowChange, decode
from tests.unit.cdc.samples import ROW, key, value

CUSTOMER = {"legacy_id": 42, "customer_no": "C-42", "full_name": "Ada Keller", "email": "a@b.de"}


def test_event_ids_are_deterministic_per_legacy_id():
    assert registered_event_id(42) == registered_event_id(42)
    assert registered_event_id(42) != registered_event_id(43)
    assert customer_id(42) == "legacy-42"


def test_invalid_phone_is_left_out_and_noted():
    notes: Counter[str] = Counter()
    command = command_for({**CUSTOMER, "phone": "call me"}, notes)
    assert command.phone is None
    assert command.customer_id == "legacy-42"
    assert notes == {"phone left out (invalid)": 1}


def test_invalid_email_rejects_the_row():
    with pytest.raises(ValidationError):
        command_for({**CUSTOMER, "email": None, "phone": None}, Counter())


def test_schema_ddl_sets_identity_grants_and_quotes_names():
    where = LegacySchema(schema='we"ird', publication="p")
    ddl = "\n".join(where.ddl())
    assert 'CREATE SCHEMA IF NOT EXISTS "we""ird"' in ddl
    for table, identity in REPLICA_IDENTITY.items():
        assert f'ALTER TABLE "we""ird"."{table}" REPLICA IDENTITY {identity}' in ddl
    assert 'GRANT SELECT, INSERT, UPDATE ON "we""ird"."debezium_heartbeat" TO "debezium"' in ddl
    assert where.captured_tables[-1] == 'we"ird.debezium_heartbeat'
    assert "ON CONFLICT (id) DO UPDATE" in where.heartbeat_query


def test_bag_is_a_seeded_set():
    bag: KeyBag[int] = KeyBag()
    for n in range(10):
        bag.add(n)
    bag.add(3)
    bag.remove(3)
    bag.remove(99)
    assert len(bag) == 9 and 3 not in bag
    picks = [bag.choice(random.Random(1)) for _ in range(3)]
    assert picks == [bag.choice(random.Random(1))] * 3


def test_typed_rows_from_change_events():
    change = decode(value("u", before=ROW, after={**ROW, "weight_kg": "1.250", "new": 1}), key())
    assert isinstance(change, RowChange)
    before, after = change.before_as(Product), change.after_as(Product)
    assert before is not None and before.weight_kg is None
    assert after is not None and after.weight_kg == Decimal("1.250")
    assert after.unit_price == Decimal("78.46")
