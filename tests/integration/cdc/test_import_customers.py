"""The strangler path: legacy customers become CustomerRegistered events, idempotently."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from customers.domain.events import CustomerRegistered
from legacy.import_customers import (
    SOURCE,
    CustomerImporter,
    customer_id,
    open_customers_store,
    registered_event_id,
)
from legacy.sandbox import Sandbox, sandbox

from annals.eventstore.postgres import PostgresEventStore
from annals.stack.settings import StackSettings
from tests.integration.cdc.rig import annals

pytestmark = pytest.mark.stack


@pytest.fixture
async def customers_store(stack: StackSettings) -> AsyncIterator[PostgresEventStore]:
    """The customer service's event store, migrated like the service does at start."""
    store = await open_customers_store()
    yield store
    await store.close()


async def _legacy_customers(box: Sandbox, unique: str) -> list[int]:
    """Six legacy rows: three good, one bad phone, one bad email, one duplicate email."""
    base = random.randrange(10**9, 2 * 10**9)  # legacy ids no other test uses
    rows = [
        ("Ada Keller", f"ada.{unique}@example.com", "+49 30 1234567"),
        ("Ben Lang", f"ben.{unique}@example.com", None),
        ("Cleo Meyer", f"CLEO.{unique}@Example.com", "+41 44 765 43 21"),
        ("Dan Novak", f"dan.{unique}@example.com", "call me maybe"),
        ("Eva Ortiz", "not-an-email", None),
        ("Finn Petit", f"ada.{unique}@example.com", None),
    ]
    ids = [base + n for n in range(len(rows))]
    await box.owner.executemany(
        f"INSERT INTO {box.where.table('legacy_customers')} "
        "(legacy_id, customer_no, full_name, email, phone) VALUES ($1, $2, $3, $4, $5)",
        [(i, f"C-{i}", *row) for i, row in zip(ids, rows, strict=True)],
    )
    return ids


async def test_import_is_idempotent_and_keeps_the_legacy_id(
    stack: StackSettings, unique: str, customers_store: PostgresEventStore
):
    async with sandbox(stack, unique) as box:
        ids = await _legacy_customers(box, unique)
        first = await CustomerImporter(customers_store).run(box.owner, box.where)
        second = await CustomerImporter(customers_store).run(box.owner, box.where)
        cli = await asyncio.to_thread(
            annals, "legacy", "import-customers", "--schema", box.where.schema
        )

    assert (first.imported, first.already) == (4, 0)
    assert [legacy_id for legacy_id, _ in first.rejected] == [ids[4], ids[5]]
    assert "email" in first.rejected[0][1]
    assert "another active customer" in first.rejected[1][1]
    assert first.notes["phone left out (invalid)"] == 1
    assert (second.imported, second.already, len(second.rejected)) == (0, 4, 2)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "0 imported, 4 already imported, 2 rejected" in cli.stdout

    importer = CustomerImporter(customers_store)
    for legacy_id in ids[:4]:
        records = await customers_store.read_stream(f"customer-{customer_id(legacy_id)}")
        assert len(records) == 1
        [record] = records
        assert record.event_type == "CustomerRegistered"
        assert record.event_id == registered_event_id(legacy_id)
        assert record.metadata["legacy_id"] == legacy_id
        assert record.metadata["legacy_customer_no"] == f"C-{legacy_id}"
        assert record.metadata["source"] == SOURCE
    [envelope] = await importer.codec.decode(
        await customers_store.read_stream(f"customer-{customer_id(ids[3])}")
    )
    assert isinstance(envelope.event, CustomerRegistered)
    assert envelope.event.name == "Dan Novak"
    assert envelope.event.phone is None
    for legacy_id in ids[4:]:
        assert await customers_store.read_stream(f"customer-{customer_id(legacy_id)}") == []
