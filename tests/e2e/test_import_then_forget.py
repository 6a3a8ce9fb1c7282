"""Import, then Forget, end to end: the audit trail, the topic and the read models hold nothing
personal; the event store never held it in clear; a forgotten subject cannot be imported again."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest
from customers.service_layer.handlers import registry

from annals.eventstore.errors import ImportConflict
from annals.eventstore.importer import import_file
from annals.eventstore.pgstores import PostgresKeyStore
from annals.projections.process import registries
from annals.projections.worker import Worker
from annals.topology import topology
from annals.web.auth import mint_token
from tests.e2e.test_command_to_query import apps, serve
from tests.integration.messaging.support import read_topic
from tests.integration.projections.helpers import eventually, running
from tests.integration.projections.rig import Rig

pytestmark = pytest.mark.stack
PROJECTIONS = ("customer_status", "customer_orders")


def history(customer: str, unique: str) -> list[dict]:
    data = {
        "customer_id": customer,
        "name": f"Imported {unique}",
        "email": f"imported-{unique}@example.com",
        "phone": "+1 555 0173",
        "address": {"line1": f"{unique} Import Lane", "city": "Copytown",
                    "postal_code": "77", "country": "US"},
    }  # fmt: skip
    return [{"stream_id": f"customer-{customer}", "event_type": "CustomerRegistered", "data": data}]


def plain(unique: str) -> list[str]:
    return [f"Imported {unique}", f"imported-{unique}@example.com", "555 0173", "Import Lane"]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def read_model_text(dsn: str) -> str:
    """Every row of every table of a database (read models, replicas), as text."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
            "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows = [await conn.fetch(f"SELECT t::text FROM {t[0]} t") for t in tables]
    finally:
        await conn.close()
    return "\n".join(str(r[0]) for table in rows for r in table)


async def test_imported_customer_is_encrypted_and_forgotten_everywhere(
    rig: Rig, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:12]
    customer = f"imp-{unique}"
    _, customers_app, _, settings = apps(rig)
    admin = {"Authorization": "Bearer " + mint_token(settings, ["admin", "read", "read:pii"])}
    dsn = rig.app_dsn("customers")
    async with serve(customers_app, "http://customers") as customers, rig.relay("customers"):
        stats = await import_file(dsn, write(tmp_path / "c.ndjson", history(customer, unique)),
                                  registry=registry())  # fmt: skip
        assert stats.events == 1
        conn = await asyncpg.connect(dsn)
        try:
            stored = await conn.fetchval(
                "SELECT data::text FROM eventstore.events WHERE stream_id = $1",
                f"customer-{customer}",
            )
        finally:
            await conn.close()
        assert '"$pii"' in stored and not any(v in stored for v in plain(unique))
        view = (await customers.get(f"/customers/{customer}", headers=admin)).json()
        assert view["email"] == f"imported-{unique}@example.com"  # decrypts like an append

        keys = PostgresKeyStore(customers_app.state.database)
        workers = [Worker(topology().projections[n], rig.settings(), keys=keys,
                          registries=registries()) for n in PROJECTIONS]  # fmt: skip
        async with running(*workers):
            readmodels = [rig.stack.dsn(rig.databases[d]) for d in ("readmodels", "orders")]
            assert await eventually(lambda: _holds(readmodels, customer))
            forgot = await customers.post(f"/customers/{customer}/forget", headers=admin)
            assert forgot.status_code == 200, forgot.text
            assert await eventually(lambda: _clean(readmodels, unique))

        trail = await customers.get(f"/customers/{customer}/events", headers=admin)
        assert trail.status_code == 200 and not any(v in trail.text for v in plain(unique))
        records = await read_topic(rig.stack.kafka_bootstrap, rig.topic("customers.events"), 2)
        mine = [r for r in records if r.key == f"customer-{customer}".encode()]
        assert len(mine) >= 2
        assert not any(v.encode() in r.value for r in mine for v in plain(unique))

        again = write(tmp_path / "again.ndjson", history(customer, unique))
        with pytest.raises(ImportConflict, match="forgotten"):
            await import_file(dsn, again, registry=registry())


async def _text(dsns: list[str]) -> str:
    return "\n".join([await read_model_text(dsn) for dsn in dsns])


async def _holds(dsns: list[str], customer: str) -> bool:
    """Both read models (customer_orders in readmodels, customer_status in orders) have her."""
    text = await _text(dsns)
    return text.count(customer) >= 2 and customer.replace("imp-", "Imported ") in text


async def _clean(dsns: list[str], unique: str) -> bool:
    text = await _text(dsns)
    return not any(v in text for v in plain(unique))
